//! Writing one snapshot from named streams plus a manifest.
//!
//! Streams are handed to rustic's archiver as a custom source: each is opened lazily on one
//! of rustic's worker threads, read once to its end, chunked, deduplicated, compressed and
//! encrypted. While it is read we count its bytes and compute its SHA-256, so the manifest can
//! record what each stream held without a second pass.
//!
//! The manifest is the subtle part: it must describe streams that have not been read yet when
//! the backup starts. So it is the *last* entry of the source and its reader blocks until every
//! other stream reached its end, then renders the manifest from their digests. rustic's worker
//! pool takes entries in order, so when the manifest is taken every other stream is already in
//! the hands of a worker and the wait cannot deadlock. For the same reason every stream name
//! must sort before `manifest.json` (rustic trees are sorted by name and built in entry order);
//! [`Repo::write_snapshot`] checks this.
//!
//! Whether the snapshot appears at all is decided by the [`CommitGate`] in the backend: only if
//! every stream and the manifest were read to the end and no write failed.

use std::{
    collections::BTreeMap,
    io::{self, Read},
    path::PathBuf,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{
    background_hash::BackgroundSha256,
    cancel::{self, CancelToken},
    error::{RepoError, RepoErrorKind, Result, RusticMessage},
    guarded_backend::{CommitGate, Failure},
    lock::LockKind,
    repository::{Repo, SnapshotInfo},
};
use rustic_core::{
    BackupOptions, ErrorKind, ReadSource, ReadSourceEntry, ReadSourceOpen, RusticError, RusticResult, StringList,
    repofile::{Metadata, Node, NodeType, SnapshotFile},
};

/// The name of the manifest inside a snapshot's root folder.
pub const MANIFEST: &str = "manifest.json";

/// Opens a stream's reader. Called once, on a worker thread, when the archiver reaches it.
pub type OpenStream = Box<dyn FnOnce() -> io::Result<Box<dyn Read + Send>> + Send>;

/// Renders the manifest once every stream's digest is known.
pub type RenderManifest = Box<dyn FnOnce(&[StreamDigest]) -> io::Result<Vec<u8>> + Send>;

/// One named stream of a backup, e.g. `database.sqlite` or `tables/public.users`.
pub struct Stream {
    /// Path relative to the snapshot's root folder, `/`-separated.
    pub name: String,
    pub open: OpenStream,
}

/// What a stream turned out to hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDigest {
    pub name: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the stream's bytes.
    pub sha256: String,
}

/// The snapshot to be written: where its streams live and how it is labelled.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// The root folder of the streams inside the snapshot, e.g. `/sqlite/app`.
    pub root: String,
    pub tags: Vec<String>,
    pub description: String,
    pub hostname: Option<String>,
}

/// A snapshot that was written, with the digests of its streams.
#[derive(Debug, Clone)]
pub struct WrittenSnapshot {
    pub info: SnapshotInfo,
    pub digests: Vec<StreamDigest>,
}

/// Digests shared between the stream readers and the manifest reader.
struct Tally {
    digests: Mutex<Vec<Option<StreamDigest>>>,
    done: Condvar,
    gate: Arc<CommitGate>,
    manifest_bytes: AtomicU64,
}

impl Tally {
    fn finished(&self, index: usize, digest: StreamDigest) {
        self.digests.lock().expect("tally lock")[index] = Some(digest);
        self.gate.stream_completed();
        self.done.notify_all();
    }

    fn failed(&self, why: String) {
        self.gate.fail(Failure::source(why));
        self.done.notify_all();
    }

    /// Blocks until every stream finished, or one failed.
    fn wait_all(&self) -> io::Result<Vec<StreamDigest>> {
        let mut digests = self.digests.lock().expect("tally lock");
        loop {
            if let Some(why) = self.gate.failure() {
                return Err(io::Error::other(why.message));
            }
            if digests.iter().all(Option::is_some) {
                return Ok(digests.iter().flatten().cloned().collect());
            }
            digests = self.done.wait(digests).expect("tally lock");
        }
    }
}

/// Counts and hashes a stream as the archiver reads it; reports its end or failure.
struct HashingReader {
    inner: Box<dyn Read + Send>,
    index: usize,
    name: String,
    hasher: Option<BackgroundSha256>,
    bytes: u64,
    finished: bool,
    tally: Arc<Tally>,
    cancel: CancelToken,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished {
            return Ok(0);
        }
        if self.cancel.is_cancelled() {
            let err = cancel::error();
            self.tally.failed(format!("{}: {err}", self.name));
            return Err(err);
        }
        match self.inner.read(buf) {
            Ok(0) => {
                self.finished = true;
                let sha256 = self.hasher.take().map(BackgroundSha256::finish).unwrap_or_default();
                let digest = StreamDigest { name: self.name.clone(), bytes: self.bytes, sha256 };
                self.tally.finished(self.index, digest);
                Ok(0)
            }
            Ok(n) => {
                if let Some(hasher) = &mut self.hasher {
                    hasher.update(&buf[..n]);
                }
                self.bytes += n as u64;
                Ok(n)
            }
            Err(err) => {
                self.tally.failed(format!("reading {} failed: {err}", self.name));
                Err(err)
            }
        }
    }
}

/// How an entry of our source is opened.
enum Opener {
    Stream { index: usize, name: String, open: OpenStream, tally: Arc<Tally>, cancel: CancelToken },
    Manifest { render: RenderManifest, tally: Arc<Tally> },
}

impl ReadSourceOpen for Opener {
    type Reader = Box<dyn Read + Send>;

    fn open(self) -> RusticResult<Self::Reader> {
        let as_rustic = |name: &str, err: io::Error| {
            RusticError::with_source(ErrorKind::InputOutput, "could not open stream `{name}`", err).attach_context("name", name.to_string())
        };
        match self {
            // rustic's chunker reads in small pieces (a probe, then a byte window); the buffer
            // turns them into large reads of our stream, whose layers (hashing, row counting,
            // a pipe) each cost per call.
            Opener::Stream { index, name, open, tally, cancel } => match open() {
                Ok(inner) => Ok(Box::new(io::BufReader::with_capacity(
                    1 << 20,
                    HashingReader { inner, index, name, hasher: Some(BackgroundSha256::new()), bytes: 0, finished: false, tally, cancel },
                ))),
                Err(err) => {
                    tally.failed(format!("opening {name} failed: {err}"));
                    Err(as_rustic(&name, err))
                }
            },
            Opener::Manifest { render, tally } => {
                let rendered = tally.wait_all().and_then(|digests| render(&digests));
                match rendered {
                    Ok(bytes) => {
                        tally.manifest_bytes.store(bytes.len() as u64, Ordering::SeqCst);
                        tally.gate.stream_completed();
                        Ok(Box::new(io::Cursor::new(bytes)))
                    }
                    Err(err) => {
                        tally.failed(format!("writing the manifest failed: {err}"));
                        Err(as_rustic(MANIFEST, err))
                    }
                }
            }
        }
    }
}

/// The streams and manifest of one backup, as a rustic source.
struct StreamSource {
    entries: Mutex<Option<Vec<ReadSourceEntry<Opener>>>>,
}

impl ReadSource for StreamSource {
    type Open = Opener;
    type Iter = std::vec::IntoIter<RusticResult<ReadSourceEntry<Opener>>>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let entries = self.entries.lock().expect("source lock").take().unwrap_or_default();
        entries.into_iter().map(Ok).collect::<Vec<_>>().into_iter()
    }
}

fn file_entry(path: PathBuf, open: Opener, mtime: &jiff::Zoned) -> ReadSourceEntry<Opener> {
    let name = path.file_name().expect("stream paths have a file name").to_owned();
    let meta = Metadata { mode: Some(0o100_600), mtime: Some(mtime.timestamp()), ..Default::default() };
    ReadSourceEntry { path, node: Node::new_node(&name, NodeType::File, meta), open: Some(open) }
}

impl Repo {
    /// Writes one snapshot holding `streams` under `meta.root`, plus `manifest.json` rendered
    /// from their digests.
    ///
    /// All or nothing: if any stream fails to open or read, or any write to the storage fails,
    /// no snapshot is written and the error says which stream and why. Data already uploaded
    /// stays unreferenced until `prune`.
    pub fn write_snapshot(&self, meta: NewSnapshot, mut streams: Vec<Stream>, render: RenderManifest) -> Result<WrittenSnapshot> {
        streams.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(late) = streams.iter().find(|s| s.name.as_str() >= MANIFEST || s.name.is_empty()) {
            return Err(RepoError::new(
                RepoErrorKind::Internal,
                format!("stream `{}` does not sort before {MANIFEST}", late.name),
                "this is a bug in lifeboat: stream names must sort before the manifest",
            ));
        }
        let _lock = self.lock(LockKind::Shared)?;
        let gate = Arc::new(CommitGate::new(streams.len() + 1));
        let tally = Arc::new(Tally {
            digests: Mutex::new(vec![None; streams.len()]),
            done: Condvar::new(),
            gate: gate.clone(),
            manifest_bytes: AtomicU64::new(0),
        });

        let now = jiff::Zoned::now();
        let root = PathBuf::from(&meta.root);
        let mut entries: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(index, stream)| {
                let path = root.join(&stream.name);
                let opener =
                    Opener::Stream { index, name: stream.name, open: stream.open, tally: tally.clone(), cancel: self.cancel.clone() };
                file_entry(path, opener, &now)
            })
            .collect();
        entries.push(file_entry(root.join(MANIFEST), Opener::Manifest { render, tally: tally.clone() }, &now));
        let source = StreamSource { entries: Mutex::new(Some(entries)) };

        let mut tags = StringList::default();
        for tag in meta.tags {
            tags.add(tag);
        }
        let snap = SnapshotFile {
            time: now,
            program_version: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            hostname: meta.hostname.unwrap_or_else(hostname),
            description: Some(meta.description),
            label: meta.root.clone(),
            tags,
            ..Default::default()
        };

        let indexed = self
            .gated_handle(gate.clone())?
            .to_indexed_ids()
            .map_err(|e| crate::error::storage("could not read the repository index", *e))?;
        // Every stream is read in full (no parent): a database whose bytes changed while its
        // size and mtime did not must still be backed up (DESIGN.md decision 1, the trap).
        let mut opts = BackupOptions::default();
        opts.parent_opts.force = true;
        opts.no_scan = true;
        let result = indexed.archive(&opts, &source, snap, std::slice::from_ref(&root));

        if let Some(why) = gate.failure() {
            let (kind, hint) = match (why.storage, why.disk_full) {
                (true, true) => (
                    RepoErrorKind::Storage,
                    "the repository's disk is full: free space there, then back up again; no snapshot was written and earlier backups are intact",
                ),
                (true, false) => (RepoErrorKind::Storage, "check the repository's storage, then back up again; no snapshot was written"),
                (false, _) => (
                    RepoErrorKind::SourceFailed,
                    "no snapshot was written; fix the cause and back up again (leftover data is removed by `lifeboat forget --prune`)",
                ),
            };
            return Err(RepoError::new(kind, "the backup did not complete", hint).with_source(RusticMessage(why.message)));
        }
        // Cancelled after every stream was read (rustic may still have been packing them): the
        // job stops before its snapshot is published, as it would have mid-stream.
        if self.is_cancelled() {
            return Err(RepoError::new(RepoErrorKind::SourceFailed, "the backup was interrupted", "no snapshot was written")
                .with_source(cancel::error()));
        }
        // The gate held the archiver's snapshot back; it is published with true sizes.
        let snap = result.map_err(|e| crate::error::storage("the backup did not complete", *e))?;
        let digests: Vec<StreamDigest> = tally.digests.lock().expect("tally lock").iter().flatten().cloned().collect();
        let mut sizes: BTreeMap<String, u64> = digests.iter().map(|d| (format!("{}/{}", meta.root, d.name), d.bytes)).collect();
        sizes.insert(format!("{}/{MANIFEST}", meta.root), tally.manifest_bytes.load(Ordering::SeqCst));
        let snap = self.publish_with_sizes(snap, &sizes)?;
        Ok(WrittenSnapshot { info: SnapshotInfo::from_rustic(&snap), digests })
    }
}

/// The OS user running this process, as key files, locks and the job log record it: `USER`,
/// else the name `/etc/passwd` gives the effective uid (services and cron jobs often have no
/// `USER`), else `uid N`.
pub fn user_name() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|passwd| {
                passwd
                    .lines()
                    .find(|l| l.split(':').nth(2) == Some(&uid.to_string()))
                    .map(|l| l.split(':').next().unwrap_or_default().to_string())
            })
            .unwrap_or_else(|| format!("uid {uid}"))
    })
}

/// This machine's host name, as snapshots and locks record it.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;
    use crate::Location;

    fn repo(dir: &tempfile::TempDir) -> Repo {
        Repo::init(&Location::Local(dir.path().join("repo")), "pw").unwrap()
    }

    fn stream(name: &str, bytes: Vec<u8>) -> Stream {
        Stream { name: name.into(), open: Box::new(move || Ok(Box::new(Cursor::new(bytes)) as Box<dyn Read + Send>)) }
    }

    /// A stream that gives `good` bytes, then fails.
    fn failing(name: &str, good: usize) -> Stream {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("the source went away"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        Stream { name: name.into(), open: Box::new(move || Ok(Box::new(Failing(good)) as Box<dyn Read + Send>)) }
    }

    fn meta() -> NewSnapshot {
        NewSnapshot { root: "/test/db".into(), tags: vec!["manual".into()], description: "{}".into(), hostname: Some("h".into()) }
    }

    /// The manifest lists every stream's digest, however many there are.
    fn render() -> RenderManifest {
        Box::new(|digests: &[StreamDigest]| {
            Ok(digests.iter().map(|d| format!("{} {} {}\n", d.name, d.bytes, d.sha256)).collect::<String>().into_bytes())
        })
    }

    #[test]
    fn the_manifest_is_rendered_after_every_stream_and_sizes_are_true() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(&dir);
        let big = vec![42u8; 3 << 20];
        let streams = vec![stream("b/two", big.clone()), stream("a", b"first".to_vec()), stream("c.zst", Vec::new())];
        let written = repo.write_snapshot(meta(), streams, render()).unwrap();
        let names: Vec<&str> = written.digests.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a", "b/two", "c.zst"], "streams are taken in name order");
        let reader = repo.reader(&written.info.id).unwrap();
        let manifest = String::from_utf8(reader.manifest().unwrap()).unwrap();
        assert_eq!(manifest.lines().count(), 3);
        assert!(manifest.contains(&format!("b/two {} ", big.len())));
        let sizes: Vec<(String, u64)> = reader.streams().unwrap().into_iter().map(|s| (s.name, s.bytes)).collect();
        assert_eq!(sizes, [("a".into(), 5), ("b/two".into(), big.len() as u64), ("c.zst".into(), 0)], "the trees record true sizes");
        let mut back = Vec::new();
        reader.read("b/two", &mut back).unwrap();
        assert_eq!(back, big);
    }

    #[test]
    fn a_failed_stream_writes_no_snapshot_and_does_not_poison_the_next_backup() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(&dir);
        let err = repo.write_snapshot(meta(), vec![stream("a", vec![1; 1000]), failing("b", 600 << 10)], render()).unwrap_err();
        assert_eq!(err.kind, RepoErrorKind::SourceFailed);
        assert!(err.to_string().contains("the source went away"), "{err}");
        assert!(repo.snapshots().unwrap().is_empty());
        // The same handle, the next backup: its own gate, unaffected by the failed one.
        repo.write_snapshot(meta(), vec![stream("a", vec![1; 1000])], render()).unwrap();
        assert_eq!(repo.snapshots().unwrap().len(), 1);
    }

    #[test]
    fn two_backups_on_one_handle_at_once_each_get_their_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(&dir);
        let (good, bad) = std::thread::scope(|scope| {
            let good = scope.spawn(|| repo.write_snapshot(meta(), vec![stream("a", vec![3; 2 << 20])], render()));
            let bad = scope.spawn(|| repo.write_snapshot(meta(), vec![failing("a", 1 << 20)], render()));
            (good.join().unwrap(), bad.join().unwrap())
        });
        assert!(good.is_ok(), "{:?}", good.err());
        assert!(bad.is_err());
        assert_eq!(repo.snapshots().unwrap().len(), 1);
    }

    #[test]
    fn a_stream_named_after_the_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(&dir);
        let err = repo.write_snapshot(meta(), vec![stream("zzz", vec![1])], render()).unwrap_err();
        assert_eq!(err.kind, RepoErrorKind::Internal);
        assert!(repo.snapshots().unwrap().is_empty());
    }

    #[test]
    fn backups_and_checks_report_their_bytes_to_their_job() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Arc::new(AtomicU64::new(0));
        let repo = repo(&dir).for_job(CancelToken::default(), Some(progress.clone())).unwrap();
        repo.write_snapshot(meta(), vec![stream("a", vec![5; 3 << 20])], render()).unwrap();
        let backed_up = progress.swap(0, Ordering::SeqCst);
        assert!(backed_up >= 3 << 20, "{backed_up}");
        repo.check(true).unwrap();
        assert!(progress.load(Ordering::SeqCst) > 0, "a check that reads the data reports it");
    }

    #[test]
    fn a_cancelled_job_writes_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancelToken::default();
        let repo = repo(&dir).for_job(cancel.clone(), None).unwrap();
        cancel.cancel();
        assert!(repo.write_snapshot(meta(), vec![stream("a", vec![1; 1000])], render()).is_err());
        assert!(repo.snapshots().unwrap().is_empty());
    }

    #[test]
    fn listing_snapshots_survives_a_forget_running_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(&dir);
        for _ in 0..40 {
            repo.write_snapshot(meta(), vec![stream("a", vec![1; 100])], render()).unwrap();
        }
        let ids: Vec<String> = repo.snapshots().unwrap().into_iter().map(|s| s.id).collect();
        let done = std::sync::atomic::AtomicBool::new(false);
        let listings = std::thread::scope(|scope| {
            let lister = scope.spawn(|| {
                let mut listings = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    // Regression: a file forgotten between rustic's listing and its reading
                    // failed the whole listing (a daemon's backup of another database failed).
                    repo.snapshots().expect("a snapshot forgotten meanwhile is just gone");
                    listings += 1;
                }
                listings
            });
            for id in &ids {
                repo.forget(std::slice::from_ref(id)).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            lister.join().unwrap()
        });
        assert!(listings > 10, "the listing ran beside the forgets ({listings} times)");
        assert!(repo.snapshots().unwrap().is_empty());
    }
}
