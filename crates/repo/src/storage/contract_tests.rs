//! Every store keeps the contract written on [`Store`]: the same test runs on a folder and on
//! an S3 bucket (a moto server started here), including listings longer than one S3 page.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{Location, S3Settings, Store};
use crate::RepoErrorKind;

/// More files than S3 returns in one listing page (1000).
const MANY: usize = 1005;

fn honours_the_contract(store: &dyn Store) {
    assert!(store.is_empty().unwrap(), "a place that does not exist yet is empty");
    store.create().unwrap();
    store.create().unwrap();
    assert!(!store.exists("config").unwrap());

    store.put("config", &[Bytes::from_static(b"first")]).unwrap();
    assert!(store.exists("config").unwrap());
    assert!(!store.is_empty().unwrap());
    store.put("config", &[Bytes::from_static(b"sec"), Bytes::from_static(b"ond")]).unwrap();
    assert_eq!(&store.get("config").unwrap()[..], b"second", "a put replaces, its parts in order");
    assert_eq!(&store.get_range("config", 2, 3).unwrap()[..], b"con");
    assert!(store.get_range("config", 4, 10).is_err(), "a short range is an error, never a short read");
    assert_eq!(store.get("keys/absent").unwrap_err().kind, RepoErrorKind::NotFound);

    assert!(store.list("index").unwrap().is_empty(), "a folder that does not exist holds nothing");
    for i in 0..MANY {
        store.put(&format!("data/{:02x}/{i:04}", i % 256), &[Bytes::from(vec![7u8; i % 3])]).unwrap();
    }
    let mut listed = store.list("data").unwrap();
    listed.sort();
    assert_eq!(listed.len(), MANY, "every file, in every subfolder, past the first page");
    assert_eq!(listed[4], ("0004".to_string(), 1));
    assert!(store.list("dat").unwrap().is_empty(), "a folder is not a name prefix");

    // A pack read piece by piece, as a restore reads its blobs (on S3 through windows of
    // several MiB): every piece is the bytes at its place, across window edges and at the end.
    let pack: Vec<u8> = (0..(20 << 20) + 123).map(|i: usize| (i * 7 % 251) as u8).collect();
    store.put("data/ab/pack", &[Bytes::from(pack.clone())]).unwrap();
    let piece = 300_001;
    for offset in (0..pack.len()).step_by(piece) {
        let length = piece.min(pack.len() - offset);
        let got = store.get_range("data/ab/pack", offset as u64, length as u64).unwrap();
        assert!(got[..] == pack[offset..offset + length], "the {length} bytes at {offset}");
    }
    assert!(store.get_range("data/ab/pack", pack.len() as u64 - 10, 11).is_err(), "past the end");
    store.remove("data/ab/pack").unwrap();

    store.remove("data/00/0000").unwrap();
    store.remove("data/00/0000").unwrap();
    assert!(!store.exists("data/00/0000").unwrap(), "removed, and removing again is no error");
    assert_eq!(store.list("data").unwrap().len(), MANY - 1);
}

#[test]
fn a_folder_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = super::open(&Location::Local(dir.path().join("repo"))).unwrap();
    honours_the_contract(&*store);
}

/// moto's S3 server on a free port, stopped when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_s3_bucket_keeps_the_store_contract() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server is installed by scripts/setup");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "moto_server exited at start");
        assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _moto = Moto(child);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), "any\n").unwrap();
    let settings = S3Settings {
        access_key_id: Some("contract".into()),
        secret_access_key_file: Some(dir.path().join("secret")),
        ..S3Settings::default()
    };
    let location = Location::parse(&format!("s3:http://127.0.0.1:{port}/contract/under/a/prefix")).unwrap().with_s3_settings(&settings);
    let store = super::open(&location).unwrap();
    honours_the_contract(&*store);
}
