//! Who may read a database file: its mode and owner, recorded at backup and given back to a
//! file a restore creates, so a restore never leaves a database more readable than it was.
//!
//! A file being replaced keeps its own mode and owner (its content is replaced through
//! SQLite, in place). A new file gets the recorded ones; its owner only when lifeboat runs as
//! root (no one else may give a file away). Working copies are created `0600` from the start
//! and only then filled, so no moment exists in which the data is readable by more people.

use std::{collections::BTreeMap, os::unix::fs::MetadataExt, path::Path};

use crate::{Catalog, Result, SourceError, SourceErrorKind};

const MODE: &str = "file_mode";
const UID: &str = "file_uid";
const GID: &str = "file_gid";

/// The mode every working copy is created with.
pub(crate) const PRIVATE: u32 = 0o600;

/// A file's permission bits and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileMode {
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl FileMode {
    pub(crate) fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self { mode: meta.mode() & 0o7777, uid: meta.uid(), gid: meta.gid() })
    }

    /// Adds the mode and owner to a catalog's properties.
    pub(crate) fn record(&self, properties: &mut BTreeMap<String, serde_json::Value>) {
        properties.insert(MODE.into(), serde_json::Value::from(format!("{:04o}", self.mode)));
        properties.insert(UID.into(), serde_json::Value::from(self.uid));
        properties.insert(GID.into(), serde_json::Value::from(self.gid));
    }

    /// What the backup recorded; `None` for backups made before modes were recorded.
    pub(crate) fn recorded(catalog: &Catalog) -> Option<Self> {
        let props = &catalog.properties;
        let mode = u32::from_str_radix(props.get(MODE)?.as_str()?, 8).ok()?;
        let id = |key: &str| props.get(key).and_then(|v| v.as_u64()).and_then(|v| u32::try_from(v).ok());
        Some(Self { mode, uid: id(UID)?, gid: id(GID)? })
    }

    /// Gives `path` this mode, and this owner when running as root.
    pub(crate) fn apply(&self, path: &Path) -> Result<()> {
        let failed = |what: &str, err: std::io::Error| {
            SourceError::new(SourceErrorKind::Io, format!("cannot set the {what} of {}", path.display()), "").with_source(err)
        };
        if running_as_root() {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(|e| failed("owner", e))?;
        }
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(self.mode)).map_err(|e| failed("mode", e))
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
