//! A repository in an S3-compatible bucket, in restic's layout under the URL's prefix, so
//! stock restic opens the same URL.
//!
//! Requests are plain blocking HTTP through `ureq` (already used for webhooks), signed with
//! `aws-sigv4` (`sign.rs`) and their XML read with `quick-xml` (`xml.rs`): rustic's backend
//! traits are blocking, and a whole S3 client library would bring an async runtime and dozens
//! of crates for the six requests a repository needs. Retries and errors are ours.
//!
//! Durable and checked: a PUT carries the SHA-256 of its body twice, signed
//! (`x-amz-content-sha256`, which the server must match or refuse the request) and as
//! `x-amz-checksum-sha256`, which servers that keep checksums store and send back; we compare
//! what comes back. A PUT replaces an object whole or not at all, so an upload cut short leaves
//! nothing under the name.

mod client;
mod credentials;
mod read_ahead;
mod sign;
mod xml;

use bytes::Bytes;
use client::{Client, Request};

use super::{S3Settings, Store, location::S3Url};
use crate::error::{RepoError, RepoErrorKind, Result};

#[derive(Debug)]
pub(crate) struct S3Store {
    client: Client,
    /// Windows of packs read lately: a restore reads a pack's blobs one after another.
    read_ahead: read_ahead::Windows,
}

impl S3Store {
    pub(crate) fn new(url: &S3Url, settings: &S3Settings) -> Result<Self> {
        Ok(Self { client: Client::new(url, settings)?, read_ahead: read_ahead::Windows::default() })
    }

    /// `length` bytes from `offset` of `path` in one request (fewer when the object ends first).
    fn fetch_range(&self, path: &str, offset: u64, length: u64) -> Result<Bytes> {
        let mut request = Request::new("GET", Some(path));
        request.range = Some((offset, length));
        let reply = self.client.send(&request)?;
        match reply.status {
            206 => Ok(reply.body.into()),
            // A server that ignores ranges sends the whole object.
            200 => {
                let whole = Bytes::from(reply.body);
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(whole.len());
                let end = usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(whole.len());
                Ok(whole.slice(start..end))
            }
            _ => Err(self.client.unexpected(&format!("reading {path}"), &reply)),
        }
    }

    /// Every object under `prefix` (a key prefix within the repository), following pages.
    fn list_keys(&self, prefix: &str, max: Option<usize>) -> Result<Vec<(String, u64)>> {
        let mut objects = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut request = Request::new("GET", None);
            request.query = vec![("list-type", "2".into()), ("prefix", self.client.key(prefix))];
            if let Some(max) = max {
                request.query.push(("max-keys", max.to_string()));
            }
            if let Some(token) = next.take() {
                request.query.push(("continuation-token", token));
            }
            let reply = self.client.send(&request)?;
            if reply.status != 200 {
                return Err(self.client.unexpected(&format!("listing {prefix}"), &reply));
            }
            let page = xml::list_page(&String::from_utf8_lossy(&reply.body)).ok_or_else(|| {
                RepoError::new(RepoErrorKind::Storage, format!("the listing of {prefix} in {} is not S3's XML", self.client.url), "")
            })?;
            objects.extend(page.objects);
            next = page.next;
            if next.is_none() || max.is_some_and(|max| objects.len() >= max) {
                return Ok(objects);
            }
        }
    }

    fn bucket_exists(&self) -> Result<bool> {
        let reply = self.client.send(&Request::new("HEAD", None))?;
        match reply.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.client.unexpected("looking for the bucket", &reply)),
        }
    }
}

impl Store for S3Store {
    fn describe(&self) -> String {
        self.client.url.to_string()
    }

    fn create(&self) -> Result<()> {
        if self.bucket_exists()? {
            return Ok(());
        }
        let reply = self.client.send(&Request::new("PUT", None))?;
        // Another init that created it a moment ago is as good as ours.
        let created = reply.status == 200 || reply.code().is_some_and(|(code, _)| code == "BucketAlreadyOwnedByYou");
        if !created {
            return Err(self.client.unexpected("creating the bucket", &reply));
        }
        Ok(())
    }

    fn is_empty(&self) -> Result<bool> {
        if !self.bucket_exists()? {
            return Ok(true);
        }
        Ok(self.list_keys("", Some(1))?.is_empty())
    }

    fn exists(&self, path: &str) -> Result<bool> {
        let reply = self.client.send(&Request::new("HEAD", Some(path)))?;
        match reply.status {
            200 => Ok(true),
            // A HEAD reply has no body to say which is missing, the object or its bucket.
            404 if self.bucket_exists()? => Ok(false),
            404 => Err(self.client.no_bucket()),
            _ => Err(self.client.unexpected(&format!("looking for {path}"), &reply)),
        }
    }

    fn put(&self, path: &str, content: &[Bytes]) -> Result<()> {
        let mut request = Request::new("PUT", Some(path));
        request.body = content;
        // The client signed the body's SHA-256 and compared any checksum the server returned.
        let reply = self.client.send(&request)?;
        if reply.status != 200 {
            return Err(self.client.unexpected(&format!("storing {path}"), &reply));
        }
        Ok(())
    }

    fn get(&self, path: &str) -> Result<Bytes> {
        let reply = self.client.send(&Request::new("GET", Some(path)))?;
        let no_bucket = || reply.code().is_some_and(|(code, _)| code == "NoSuchBucket");
        match reply.status {
            200 => Ok(reply.body.into()),
            404 if !no_bucket() => Err(RepoError::new(RepoErrorKind::NotFound, format!("{path} is not in {}", self.client.url), "")),
            _ => Err(self.client.unexpected(&format!("reading {path}"), &reply)),
        }
    }

    fn get_range(&self, path: &str, offset: u64, length: u64) -> Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let body = if path.starts_with("data/") {
            // Packs never change once written, so what was read of one stays true.
            match self.read_ahead.get(path, offset, length) {
                Some(bytes) => bytes,
                None => {
                    let window = self.fetch_range(path, offset, length.max(read_ahead::WINDOW))?;
                    self.read_ahead.put(path, offset, window.clone());
                    window
                }
            }
        } else {
            self.fetch_range(path, offset, length)?
        };
        let wanted = usize::try_from(length).expect("a range fits in memory");
        if body.len() < wanted {
            return Err(RepoError::new(
                RepoErrorKind::Storage,
                format!("{path} in {} ended after {} of the {length} bytes asked at {offset}", self.client.url, body.len()),
                "",
            ));
        }
        Ok(body.slice(..wanted))
    }

    fn list(&self, folder: &str) -> Result<Vec<(String, u64)>> {
        let objects = self.list_keys(&format!("{folder}/"), None)?;
        Ok(objects.into_iter().map(|(key, size)| (key.rsplit('/').next().unwrap_or_default().to_string(), size)).collect())
    }

    fn remove(&self, path: &str) -> Result<()> {
        let reply = self.client.send(&Request::new("DELETE", Some(path)))?;
        match reply.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(self.client.unexpected(&format!("removing {path}"), &reply)),
        }
    }

    fn remove_leftovers(&self) -> Result<u64> {
        Ok(0)
    }
}
