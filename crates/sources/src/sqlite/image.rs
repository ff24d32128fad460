//! Streaming the database image page by page out of the pinned read transaction.
//!
//! A producer thread reads `sqlite_dbpage` in page order and hands batches of pages over a
//! small bounded channel, so memory stays at a few MiB whatever the database size, and the
//! consumer (the repository's chunker) reads a plain byte stream. If the consumer goes away,
//! the producer's next send fails and it stops.

use std::{
    io::{self, Read},
    sync::mpsc::{Receiver, SyncSender, sync_channel},
};

use super::{capture::EndGuard, pin::PinnedConnection};

/// Bytes of pages per message; with [`QUEUE`] messages in flight this bounds memory.
const BATCH: usize = 1 << 20;
const QUEUE: usize = 4;

/// A batch of pages, the end of the image, or why reading stopped. The end is said explicitly
/// so that a producer that died is never mistaken for a complete image.
type Message = io::Result<Option<Vec<u8>>>;

/// The database image as a byte stream.
pub(crate) struct ImageReader {
    rx: Receiver<Message>,
    ended: bool,
    current: Vec<u8>,
    offset: usize,
}

impl ImageReader {
    /// Starts reading the pages; `end` is told the hash of all pages once the last one was
    /// read (and that the image was abandoned otherwise).
    pub(crate) fn start(conn: PinnedConnection, end: EndGuard) -> io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new().name("sqlite-image".into()).spawn(move || conn.with(|c| produce(c, &tx, end)))?;
        Ok(Self { rx, ended: false, current: Vec::new(), offset: 0 })
    }
}

/// Sends every page, then tells `end` the xxh3-128 of them all before the end of the stream
/// (so whoever sees the end also sees the hash).
fn produce(conn: &rusqlite::Connection, tx: &SyncSender<Message>, end: EndGuard) {
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    let result = (|| -> rusqlite::Result<bool> {
        let mut stmt = conn.prepare("SELECT data FROM sqlite_dbpage('main') ORDER BY pgno")?;
        let mut rows = stmt.query([])?;
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(row) = rows.next()? {
            let page = row.get_ref(0)?.as_blob()?;
            hash.update(page);
            batch.extend_from_slice(page);
            if batch.len() >= BATCH && tx.send(Ok(Some(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))).is_err() {
                return Ok(false);
            }
        }
        if !batch.is_empty() && tx.send(Ok(Some(batch))).is_err() {
            return Ok(false);
        }
        Ok(true)
    })();
    match result {
        Ok(true) => {
            end.complete(format!("xxh3-128:{:032x}", hash.digest128()));
            let _ = tx.send(Ok(None));
        }
        Ok(false) => {}
        Err(err) => {
            let _ = tx.send(Err(io::Error::other(format!("reading the database pages failed: {err}"))));
        }
    }
}

impl Read for ImageReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.offset == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(Some(batch))) => {
                    self.current = batch;
                    self.offset = 0;
                }
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(err)) => return Err(err),
                Err(_) => return Err(io::Error::other("the page reader stopped before the end of the database")),
            }
        }
        let n = buf.len().min(self.current.len() - self.offset);
        buf[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}
