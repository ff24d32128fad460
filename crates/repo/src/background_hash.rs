//! SHA-256 of a stream, computed on a thread of its own.
//!
//! rustic's archiver reads a stream on one thread and already hashes every chunk with SHA-256
//! there; hashing the whole stream again on that same thread would make a single large stream
//! (a SQLite image) wait for two SHA-256 passes in a row. Reading back is alike: rustic
//! decrypts and decompresses on the reading thread, and the check against the manifest's
//! SHA-256 runs beside it. Batches of the stream are handed to a
//! second thread instead, so the two passes run side by side. Memory is bounded by the channel:
//! at most a few batches of [`BATCH`] bytes are in flight.

use std::{
    sync::mpsc::{SyncSender, sync_channel},
    thread::JoinHandle,
};

use crate::Sha256;

const BATCH: usize = 1 << 20;
const IN_FLIGHT: usize = 4;

pub struct BackgroundSha256 {
    batch: Vec<u8>,
    sender: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<String>>,
}

impl BackgroundSha256 {
    /// Starts the hashing thread (which is why this is not `Default`: a default value should
    /// not start a thread).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let (sender, receiver) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            let mut hasher = Sha256::default();
            for batch in receiver {
                hasher.update(&batch);
            }
            hasher.finish()
        });
        Self { batch: Vec::with_capacity(BATCH), sender: Some(sender), worker: Some(worker) }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(sender) = &self.sender {
            // The worker only stops when the sender is dropped, so this cannot fail.
            let _ = sender.send(full);
        }
    }

    /// The lower-case hex digest of everything passed to [`update`](Self::update).
    pub fn finish(mut self) -> String {
        self.send();
        self.sender = None;
        self.worker.take().expect("finish is called once").join().expect("the hashing thread does not panic")
    }
}

impl Drop for BackgroundSha256 {
    fn drop(&mut self) {
        // A stream abandoned mid-way: stop the worker without waiting for a digest.
        self.sender = None;
    }
}
