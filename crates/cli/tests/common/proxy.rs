//! A TCP proxy between lifeboat and a server, to break the connection on purpose: it can
//! refuse or cut every n-th connection (a flaky network), and be killed mid-transfer (a server
//! that dies), while counting the bytes it passed so a test acts on observed progress.

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
    open: Arc<Mutex<Vec<TcpStream>>>,
}

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
            open: Arc::default(),
        };
        let (uploaded, connections, dropped, dead, open) =
            (proxy.uploaded.clone(), proxy.connections.clone(), proxy.dropped.clone(), proxy.dead.clone(), proxy.open.clone());
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
                std::thread::spawn(move || pipe(client_in, server_out, Some(counter)));
                std::thread::spawn(move || pipe(server, client, None));
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

fn pipe(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicU64>>) {
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
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
