//! One table part loaded through several `COPY … FROM STDIN` sessions at once.
//!
//! A restore loads table parts `jobs` at a time, one session each. Once no part is left to
//! start, a session that falls idle joins a big table's part that is still loading instead of
//! waiting for it: the part's one reader then hands each batch of whole rows to its sessions in
//! turn. Without that, the last part of a big table loads alone while the other sessions wait
//! (pgbench at scale 30: three parts on two sessions, the third alone for a quarter of the
//! restore). Rows keep no order in a table, and a PostgreSQL drill's content hash does not
//! depend on it.

use std::{
    io::{self, Write},
    process::ChildStdin,
    sync::Mutex,
};

/// Bytes of rows handed to one session at a time: large enough that switching between
/// sessions costs nothing, small enough that each gets work at once.
const BATCH: usize = 1 << 20;

/// The sessions loading one part; see the module's documentation.
#[derive(Default)]
pub(crate) struct SharedFeed {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: Vec<ChildStdin>,
    next: usize,
    /// The part was read to its end (or failed): no session may join any more.
    ended: bool,
}

impl SharedFeed {
    /// Starts a session with `start` and adds its input, unless the part has ended (then
    /// `None`, and nothing was started). The lock is held meanwhile, so a session never joins
    /// a part whose rows were all handed out.
    pub(crate) fn join<T>(&self, start: impl FnOnce() -> crate::Result<(T, ChildStdin)>) -> Option<crate::Result<T>> {
        let mut state = self.state.lock().expect("feed lock");
        if state.ended {
            return None;
        }
        Some(start().map(|(session, stdin)| {
            state.sessions.push(stdin);
            session
        }))
    }

    /// Whether sessions may still join.
    pub(crate) fn is_open(&self) -> bool {
        !self.state.lock().expect("feed lock").ended
    }

    /// Ends the part: every session's input is closed, so each commits what it was given.
    pub(crate) fn end(&self) {
        let mut state = self.state.lock().expect("feed lock");
        state.ended = true;
        state.sessions.clear();
    }

    /// Hands `rows` (whole rows) to the next session.
    fn send(&self, rows: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock().expect("feed lock");
        let count = state.sessions.len();
        if count == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "no session is loading this part"));
        }
        let index = state.next % count;
        state.next += 1;
        state.sessions[index].write_all(rows)
    }

    /// The writer the part's reader writes the decoded COPY text into.
    pub(crate) fn writer(&self) -> FeedWriter<'_> {
        FeedWriter { feed: self, pending: Vec::with_capacity(2 * BATCH) }
    }
}

/// Cuts COPY text into batches of whole rows for a [`SharedFeed`]. In COPY text a raw newline
/// only ever ends a row (one inside a value is written `\n`), so a batch ends at a newline.
pub(crate) struct FeedWriter<'a> {
    feed: &'a SharedFeed,
    pending: Vec<u8>,
}

impl FeedWriter<'_> {
    /// Hands out what is left; call once the part has been read in full.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.pending);
        self.feed.send(&rest)
    }
}

impl Write for FeedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= BATCH
            && let Some(end) = self.pending.iter().rposition(|&b| b == b'\n')
        {
            self.feed.send(&self.pending[..=end])?;
            self.pending.drain(..=end);
        }
        Ok(buf.len())
    }

    /// Nothing to do: a partial row must never go out alone (the next bytes of it could go to
    /// another session), and each session's pipe is written whole.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
