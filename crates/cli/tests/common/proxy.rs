//! A TCP proxy between lifeboat and a server, to break the connection on purpose: it can
//! refuse or cut every n-th connection (a flaky network), flip a byte in what clients upload
//! (a damaged network path), and be killed mid-transfer (a server that dies), while counting
//! the bytes it passed so a test acts on observed progress.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

pub struct Proxy {
    pub port: u16,
    /// Bytes passed from clients to the server.
    pub uploaded: Arc<AtomicU64>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Connections cut on purpose.
    pub dropped: Arc<AtomicUsize>,
    dead: Arc<AtomicBool>,
    /// Flip a byte in the body of every HTTP PUT of more than [`FLIP_AT`] bytes.
    pub corrupt: Arc<AtomicBool>,
    /// Bodies damaged so far.
    pub flipped: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

/// Which byte of a PUT's body the corrupting proxy flips.
const FLIP_AT: usize = 1000;

impl Proxy {
    /// Forwards connections on a free port to `target`; with `drop_every = n > 0`, every n-th
    /// connection is closed after the client's first bytes, before they reach the server.
    pub fn start(target: u16, drop_every: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            uploaded: Arc::default(),
            connections: Arc::default(),
            dropped: Arc::default(),
            dead: Arc::default(),
            corrupt: Arc::default(),
            flipped: Arc::default(),
            open: Arc::default(),
        };
        let (uploaded, connections, dropped, dead, open, corrupt, flipped) = (
            proxy.uploaded.clone(),
            proxy.connections.clone(),
            proxy.dropped.clone(),
            proxy.dead.clone(),
            proxy.open.clone(),
            proxy.corrupt.clone(),
            proxy.flipped.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                if dead.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                if drop_every > 0 && n % drop_every == 0 {
                    let mut first = [0u8; 64];
                    let _ = client.read(&mut first);
                    let _ = client.shutdown(Shutdown::Both);
                    dropped.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                open.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (client_in, server_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let counter = uploaded.clone();
                let damage = corrupt.load(Ordering::SeqCst).then(|| Damage { flipped: flipped.clone(), ..Damage::default() });
                std::thread::spawn(move || pipe(client_in, server_out, Some(counter), damage));
                std::thread::spawn(move || pipe(server, client, None, None));
            }
        });
        proxy
    }

    /// The server "dies": every open connection is cut and new ones are refused.
    pub fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The server is back.
    pub fn revive(&self) {
        self.dead.store(false, Ordering::SeqCst);
    }
}

/// Follows the HTTP requests of one connection to flip a byte in each large PUT body.
#[derive(Default)]
struct Damage {
    /// The current request's head, until it is complete.
    head: Vec<u8>,
    /// Bytes of the current body still to come, and whether to damage it.
    body_left: usize,
    body_seen: usize,
    damage_this: bool,
    flipped: Arc<AtomicUsize>,
}

impl Damage {
    fn apply(&mut self, bytes: &mut [u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len() - i);
                if self.damage_this && (self.body_seen..self.body_seen + take).contains(&FLIP_AT) {
                    bytes[i + FLIP_AT - self.body_seen] ^= 0x5a;
                    self.flipped.fetch_add(1, Ordering::SeqCst);
                }
                self.body_seen += take;
                self.body_left -= take;
                i += take;
                continue;
            }
            self.head.push(bytes[i]);
            i += 1;
            if self.head.ends_with(b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.head).to_ascii_lowercase();
                let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                (self.body_left, self.body_seen, self.damage_this) = (length, 0, head.starts_with("put ") && length > FLIP_AT);
                self.head.clear();
            }
        }
    }
}

/// Copies `from` to `to` until either closes; counts into `counter`; damages PUT bodies
/// with `damage`.
fn pipe(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicU64>>, mut damage: Option<Damage>) {
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(damage) = &mut damage {
                    damage.apply(&mut buffer[..n]);
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                if let Some(counter) = &counter {
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
