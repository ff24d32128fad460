//! A repository in a folder.
//!
//! Done means durable: each file is written under a temporary name (`<name>-tmp-`), synced,
//! renamed into place, and then its folder is synced, so a power cut can neither lose a file
//! that was reported written nor leave half of one under its real name. Removals sync their
//! folder too: a forgotten snapshot must not come back after a crash, pointing at data a prune
//! already deleted.
//!
//! Nobody else may read it, as with restic: folders are made 0700, files 0600, and key files
//! 0400 (they are never rewritten, only added and removed). The modes are set when each file
//! or folder is made, never loosened afterwards, whatever the umask.

use std::{
    fs::{DirBuilder, File, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use bytes::Bytes;

use super::Store;
use crate::error::{RepoError, RepoErrorKind, Result};

/// The suffix of a file being written; renamed away once complete.
const PARTIAL: &str = "-tmp-";

/// Modes of what the store makes (see the module's documentation).
const FOLDER_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
const KEY_MODE: u32 = 0o400;

/// Makes `dir` and any missing parents, each 0700.
fn make_dirs(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(FOLDER_MODE).create(dir)
}

#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Writes `content` to `path` under its temporary name, synced; then renames it into place.
    fn write_file(&self, path: &Path, content: &[Bytes], mode: u32) -> std::io::Result<()> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = path.with_file_name(format!("{name}{PARTIAL}"));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&partial)?;
            // A killed writer's leftover under this name keeps the mode it was made with.
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            for part in content {
                file.write_all(part)?;
            }
            file.sync_all()
        })();
        if let Err(err) = written.and_then(|()| std::fs::rename(&partial, path)) {
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
        Ok(())
    }
}

/// fsync of a folder, so that the names created or removed in it survive a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An I/O error of `doing` on `path`, with the kind and hint the error calls for.
fn io_error(doing: &str, path: &Path, err: std::io::Error) -> RepoError {
    let (kind, hint) = match err.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => (
            RepoErrorKind::Storage,
            "the repository's disk is full: free space there (or `lifeboat forget --prune`), then run the command again; nothing was changed",
        ),
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM) => {
            (RepoErrorKind::Denied, "check that this user may read and write the repository folder (and that it is not mounted read-only)")
        }
        Some(libc::ENOENT) => (RepoErrorKind::NotFound, ""),
        _ => (RepoErrorKind::Storage, ""),
    };
    RepoError::new(kind, format!("{doing} {}", path.display()), hint).with_source(err)
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn create(&self) -> Result<()> {
        let mut dirs = vec![self.root.clone()];
        dirs.extend(["keys", "snapshots", "index", "locks", "data"].map(|d| self.root.join(d)));
        dirs.extend((0..=255u8).map(|i| self.root.join("data").join(hex::encode([i]))));
        for dir in &dirs {
            make_dirs(dir).map_err(|e| io_error("could not create the folder", dir, e))?;
        }
        // Children first, then the root's own entry in its parent: the whole layout is durable.
        if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(0, parent.to_path_buf());
        }
        for dir in dirs.iter().rev() {
            sync_dir(dir).map_err(|e| io_error("could not sync the folder", dir, e))?;
        }
        Ok(())
    }

    fn is_empty(&self) -> Result<bool> {
        match std::fs::read_dir(&self.root) {
            Ok(mut entries) => Ok(entries.next().is_none()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(io_error("could not read the folder", &self.root, e)),
        }
    }

    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.path(path).is_file())
    }

    fn put(&self, path: &str, content: &[Bytes]) -> Result<()> {
        let path = self.path(path);
        let dir = path.parent().expect("a file in the repository has a folder").to_path_buf();
        if !dir.is_dir() {
            make_dirs(&dir).map_err(|e| io_error("could not create the folder", &dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent).map_err(|e| io_error("could not sync the folder", parent, e))?;
            }
        }
        let mode = if path.parent().and_then(Path::file_name).is_some_and(|d| d == "keys") { KEY_MODE } else { FILE_MODE };
        self.write_file(&path, content, mode).map_err(|e| io_error("could not write", &path, e))?;
        sync_dir(&dir).map_err(|e| io_error("could not sync the folder", &dir, e))
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        let path = self.path(path);
        std::fs::read(&path).map(Bytes::from).map_err(|e| io_error("could not read", &path, e))
    }

    fn get_range(&self, path: &str, offset: u64, length: u64) -> Result<Bytes> {
        let path = self.path(path);
        let file = File::open(&path).map_err(|e| io_error("could not open", &path, e))?;
        let mut buffer = vec![0; usize::try_from(length).expect("a range fits in memory")];
        file.read_exact_at(&mut buffer, offset)
            .map_err(|e| io_error(&format!("could not read {length} bytes at {offset} of"), &path, e))?;
        Ok(buffer.into())
    }

    fn list(&self, folder: &str) -> Result<Vec<(String, u64)>> {
        let mut found = Vec::new();
        let mut pending = vec![self.path(folder)];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("could not list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error("could not list", &dir, e))?;
                // A file removed between listing and looking at it was simply removed.
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    pending.push(entry.path());
                } else {
                    found.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
                }
            }
        }
        Ok(found)
    }

    fn remove(&self, path: &str) -> Result<()> {
        let path = self.path(path);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("could not remove", &path, e)),
        }
        let dir = path.parent().expect("a file in the repository has a folder");
        sync_dir(dir).map_err(|e| io_error("could not sync the folder", dir, e))
    }

    fn remove_leftovers(&self) -> Result<u64> {
        let mut folders = vec![self.root.join("index"), self.root.join("snapshots"), self.root.join("keys")];
        if let Ok(entries) = std::fs::read_dir(self.root.join("data")) {
            folders.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        let mut freed = 0;
        for folder in folders {
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            let mut removed = false;
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(PARTIAL) {
                    freed += entry.metadata().map_or(0, |m| m.len());
                    std::fs::remove_file(entry.path()).map_err(|e| io_error("could not remove", &entry.path(), e))?;
                    removed = true;
                }
            }
            if removed {
                sync_dir(&folder).map_err(|e| io_error("could not sync the folder", &folder, e))?;
            }
        }
        Ok(freed)
    }
}
