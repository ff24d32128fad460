//! A SQLite backup: the page image, and beside it the catalog (integrity, row counts, content
//! hashes) of the very same point in time.
//!
//! The catalog reads every row, which costs more than reading the pages. When every page is
//! the same as in the previous backup, so is everything the catalog would find: the image
//! reader hashes the pages as they stream (xxh3, recorded as `image_xxh3`), and when the hash
//! equals the previous backup's, the previous catalog is reused and the scan is stopped (WAL
//! mode, where it runs beside the image on its own connection) or never started (rollback
//! mode, where it shares the image's connection and waits for it). A change that keeps the
//! file's size and mtime still changes a page, so the hash, so the catalog is read anew. The
//! integrity result is reused only when the previous backup checked at least as thoroughly as
//! this one is asked to.

use std::{
    path::Path,
    sync::{Arc, Condvar, Mutex},
};

use super::{
    IMAGE_STREAM,
    file_mode::FileMode,
    image::ImageReader,
    inspect::{self, IMAGE_HASH, INTEGRITY_LEVEL},
    pin::{PinnedConnection, PinnedRead},
};
use crate::{Capture, Catalog, IntegrityLevel, Result, SourceError, SourceErrorKind, SourceStream};

/// How the image stream ended: not yet, abandoned (the backup failed, or never read it), or
/// complete with the hash of all its pages.
#[derive(Default)]
pub(crate) struct ImageEnd {
    state: Mutex<Option<Option<String>>>,
    ended: Condvar,
}

impl ImageEnd {
    fn finish(&self, digest: Option<String>) {
        let mut state = self.state.lock().expect("image end");
        if state.is_none() {
            *state = Some(digest);
        }
        self.ended.notify_all();
    }

    /// The hash of the complete image; `None` while it is being read, or when abandoned.
    fn get(&self) -> Option<String> {
        self.state.lock().expect("image end").clone().flatten()
    }

    /// Waits for the end of the image; `None` when it was abandoned.
    fn wait(&self) -> Option<String> {
        let mut state = self.state.lock().expect("image end");
        while state.is_none() {
            state = self.ended.wait(state).expect("image end");
        }
        state.clone().flatten()
    }
}

/// Called with the image's digest once it has been read in full.
type OnComplete = Box<dyn FnOnce(&str) + Send>;

/// Reports the end of the image: complete with [`ImageEnd::complete`], else, when dropped
/// (a failed read, a stream never opened), abandoned, so no one waits for it forever.
pub(crate) struct EndGuard {
    end: Arc<ImageEnd>,
    on_complete: Option<OnComplete>,
}

impl EndGuard {
    pub(crate) fn complete(mut self, digest: String) {
        if let Some(on_complete) = self.on_complete.take() {
            on_complete(&digest);
        }
        self.end.finish(Some(digest));
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.end.finish(None);
    }
}

/// The previous catalog, if it can stand for an image whose hash is `digest`.
fn reusable(previous: Option<&Catalog>, digest: Option<&str>, level: IntegrityLevel) -> Option<Catalog> {
    let previous = previous?;
    let same_pages = previous.properties.get(IMAGE_HASH).and_then(|v| v.as_str()) == Some(digest?);
    let checked: IntegrityLevel =
        previous.properties.get(INTEGRITY_LEVEL).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or(IntegrityLevel::Full);
    (same_pages && checked >= level).then(|| {
        let mut reused = previous.clone();
        reused.properties.insert(CATALOG_REUSED.into(), serde_json::Value::Bool(true));
        reused
    })
}

/// Set in a catalog that was taken over from the previous backup (every page the same).
const CATALOG_REUSED: &str = "catalog_reused";

pub(super) fn capture(path: &Path, level: IntegrityLevel, previous: Option<&Catalog>, stop: &dyn Fn() -> bool) -> Result<Capture> {
    // Pinning checks the file first: missing, not a database, not readable.
    let PinnedRead { image: image_conn, catalog: catalog_conn, check: check_conn, shared } = PinnedRead::begin(path, stop)?;
    let mode = FileMode::of(path)
        .map_err(|e| SourceError::new(SourceErrorKind::Io, format!("cannot read the mode of {}", path.display()), "").with_source(e))?;
    let end = Arc::new(ImageEnd::default());
    let previous = previous.cloned();

    // When the pages turn out the same, the catalog's reads running beside the image are stopped.
    let interrupts: Vec<_> =
        [Some(&catalog_conn), check_conn.as_ref()].into_iter().flatten().map(|c| c.with(|c| c.get_interrupt_handle())).collect();
    let guard = {
        let previous = previous.clone();
        let on_complete = move |digest: &str| {
            if !shared && reusable(previous.as_ref(), Some(digest), level).is_some() {
                interrupts.iter().for_each(|i| i.interrupt());
            }
        };
        EndGuard { end: end.clone(), on_complete: Some(Box::new(on_complete)) }
    };
    let image = SourceStream {
        name: IMAGE_STREAM.to_string(),
        open: Box::new(move || ImageReader::start(image_conn, guard).map(|r| Box::new(r) as _)),
    };

    let worker = {
        let end = end.clone();
        std::thread::spawn(move || -> Result<Catalog> {
            crate::background::lower_this_thread();
            if shared {
                // One connection: the image goes first, then the catalog only if needed.
                let digest = end.wait();
                if let Some(reused) = reusable(previous.as_ref(), digest.as_deref(), level) {
                    return Ok(reused);
                }
            }
            match read_catalog(&catalog_conn, check_conn.as_ref(), level) {
                Err(err) if err.kind == SourceErrorKind::Interrupted => reusable(previous.as_ref(), end.get().as_deref(), level).ok_or(err),
                other => other,
            }
        })
    };
    let catalog = Box::new(move || {
        let mut catalog = worker.join().unwrap_or_else(|_| {
            Err(SourceError::new(SourceErrorKind::Database, "reading the catalog panicked", "this is a bug in lifeboat"))
        })?;
        // Called once every stream was read, so the image's hash is known.
        if let Some(digest) = end.get() {
            catalog.properties.insert(IMAGE_HASH.into(), serde_json::Value::from(digest));
        }
        mode.record(&mut catalog.properties);
        Ok(catalog)
    });
    Ok(Capture::new(vec![image], catalog))
}

/// The catalog with the integrity check at `level`: side by side when the check has a
/// connection of its own, else the check first, then the rows, on `catalog`.
fn read_catalog(catalog: &PinnedConnection, check: Option<&PinnedConnection>, level: IntegrityLevel) -> Result<Catalog> {
    let (mut scanned, found) = match check {
        None => catalog.with(|c| inspect::integrity(c, level).and_then(|found| Ok((inspect::catalog(c)?, found))))?,
        Some(check) => std::thread::scope(|s| -> Result<_> {
            let checking = s.spawn(|| {
                crate::background::lower_this_thread();
                check.with(|c| inspect::integrity(c, level))
            });
            let scanned = catalog.with(inspect::catalog);
            let found = checking.join().unwrap_or_else(|_| {
                Err(SourceError::new(SourceErrorKind::Database, "the integrity check panicked", "this is a bug in lifeboat"))
            });
            Ok((scanned?, found?))
        })?,
    };
    inspect::record_integrity(&mut scanned, level, found);
    Ok(scanned)
}
