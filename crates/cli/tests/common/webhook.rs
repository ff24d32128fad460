//! A real HTTP receiver for webhook alerts: it records what it was sent.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

/// An HTTP server that records every request's path and body and answers 200.
#[derive(Clone, Default)]
pub struct Receiver {
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1; returns the receiver and its port.
    pub fn start() -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let receiver = Self::default();
        let requests = receiver.requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                requests.lock().unwrap().push((path, serde_json::from_slice(&body).unwrap_or_default()));
                let _ = reader.into_inner().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        (receiver, port)
    }

    pub fn on(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests.lock().unwrap().iter().filter(|(p, _)| p == path).map(|(_, body)| body.clone()).collect()
    }
}
