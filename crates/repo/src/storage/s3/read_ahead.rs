//! Reading packs in large windows instead of blob by blob.
//!
//! A restore asks for each blob of a stream in turn: one ranged GET of about 256 KiB per chunk.
//! On a folder that is one pread; on S3 each is a round trip (tens of milliseconds to a remote
//! server), and a 300 MB database took 20 s to restore from a server on the same machine. The
//! blobs of a stream lie one after another in its packs, so a miss fetches a window of
//! [`WINDOW`] bytes from where it starts, and the next blobs are cut from memory. Packs are
//! written once and never changed (their name is their hash), so a window never goes stale.
//! At most [`KEPT`] windows are kept: memory stays bounded whatever the repository's size.

use std::{collections::VecDeque, sync::Mutex};

use bytes::Bytes;

/// How much of a pack one request reads.
pub(super) const WINDOW: u64 = 8 << 20;
/// Windows kept, newest first: enough for the parallel readers of a restore each to keep theirs.
const KEPT: usize = 4;

/// The windows of packs read lately.
#[derive(Debug, Default)]
pub(super) struct Windows(Mutex<VecDeque<Window>>);

#[derive(Debug)]
struct Window {
    path: String,
    start: u64,
    bytes: Bytes,
}

impl Windows {
    /// `length` bytes at `offset` of `path`, when a kept window holds them all.
    pub(super) fn get(&self, path: &str, offset: u64, length: u64) -> Option<Bytes> {
        let windows = self.0.lock().expect("read-ahead windows");
        windows.iter().find_map(|w| {
            let end = w.start + w.bytes.len() as u64;
            (w.path == path && offset >= w.start && offset + length <= end).then(|| {
                let from = usize::try_from(offset - w.start).expect("inside the window");
                w.bytes.slice(from..from + usize::try_from(length).expect("inside the window"))
            })
        })
    }

    /// Keeps `bytes`, read from `offset` of `path`, dropping the oldest window beyond [`KEPT`].
    pub(super) fn put(&self, path: &str, offset: u64, bytes: Bytes) {
        let mut windows = self.0.lock().expect("read-ahead windows");
        windows.push_front(Window { path: path.to_string(), start: offset, bytes });
        windows.truncate(KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_what_a_kept_window_holds_and_forgets_the_oldest() {
        let windows = Windows::default();
        windows.put("data/00/a", 100, Bytes::from_static(b"0123456789"));
        assert_eq!(&windows.get("data/00/a", 102, 3).unwrap()[..], b"234");
        assert_eq!(&windows.get("data/00/a", 100, 10).unwrap()[..], b"0123456789");
        assert!(windows.get("data/00/a", 105, 6).is_none(), "past the window's end");
        assert!(windows.get("data/00/a", 99, 2).is_none(), "before its start");
        assert!(windows.get("data/00/b", 102, 3).is_none(), "another pack");
        for name in ["b", "c", "d", "e"] {
            windows.put(&format!("data/00/{name}"), 0, Bytes::from_static(b"x"));
        }
        assert!(windows.get("data/00/a", 102, 3).is_none(), "the oldest window was dropped");
        assert!(windows.get("data/00/e", 0, 1).is_some());
    }
}
