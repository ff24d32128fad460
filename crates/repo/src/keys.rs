//! The repository's keys: each key file holds the master key encrypted with one password
//! (scrypt), in restic's format, so stock restic opens the repository with any of them.
//!
//! Every change keeps at least one key the user can open the repository with: removing the
//! last key, or the key in use, is refused, and `change_password` stores the new key and opens
//! the repository with it before it removes the old one.

use rustic_core::{Credentials, ReadBackend, repofile::KeyId};
use serde::Deserialize;

use crate::{
    LockKind, Repo,
    error::{RepoError, RepoErrorKind, Result, RusticMessage, storage},
    keyfile,
    repository::unopened,
};

/// One key, as `lifeboat key list` shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct KeyInfo {
    pub id: String,
    pub short_id: String,
    /// The key this repository handle was opened with.
    pub current: bool,
    pub username: Option<String>,
    pub hostname: Option<String>,
    pub created: Option<String>,
}

/// The unencrypted part of a key file.
#[derive(Deserialize)]
struct KeyFileHeader {
    username: Option<String>,
    hostname: Option<String>,
    created: Option<String>,
}

impl Repo {
    /// Every key of the repository, in id order.
    pub fn keys(&self) -> Result<Vec<KeyInfo>> {
        let handle = self.handle()?;
        let mut ids: Vec<String> =
            handle.list::<KeyId>().map_err(|e| storage("could not list the keys", *e))?.map(|id| id.to_hex().to_string()).collect();
        ids.sort();
        ids.into_iter()
            .map(|id| {
                let key_id: KeyId =
                    id.parse().map_err(|_| RepoError::new(RepoErrorKind::Internal, format!("key id {id} is not hex"), ""))?;
                let bytes = self.files().read_full(rustic_core::FileType::Key, &key_id).map_err(|e| {
                    RepoError::new(RepoErrorKind::Storage, format!("could not read key {id}"), "").with_source(RusticMessage(e.to_string()))
                })?;
                let header: KeyFileHeader = serde_json::from_slice(&bytes)
                    .map_err(|e| RepoError::new(RepoErrorKind::Storage, format!("key file {id} is not a restic key"), "").with_source(e))?;
                Ok(KeyInfo {
                    short_id: id[..8].to_string(),
                    current: self.key_id.as_deref() == Some(id.as_str()),
                    id,
                    username: header.username,
                    hostname: header.hostname,
                    created: header.created,
                })
            })
            .collect()
    }

    /// Adds a key for `password`; returns its id.
    pub fn add_key(&self, password: &str) -> Result<String> {
        let _lock = self.lock(LockKind::Shared)?;
        keyfile::write_key(self.store.as_ref(), &self.key, password)
    }

    /// Removes the key whose id starts with `prefix`; returns its id. Refused for the key this
    /// handle was opened with and for the repository's last key.
    pub fn remove_key(&self, prefix: &str) -> Result<String> {
        let _lock = self.lock(LockKind::Shared)?;
        let keys = self.keys()?;
        let matching: Vec<&KeyInfo> = keys.iter().filter(|k| k.id.starts_with(prefix) && !prefix.is_empty()).collect();
        let key = match matching.as_slice() {
            [one] => *one,
            [] => return Err(RepoError::new(RepoErrorKind::KeyNotFound, format!("no key has an id starting with `{prefix}`"), "")),
            _ => {
                return Err(RepoError::new(
                    RepoErrorKind::KeyNotFound,
                    format!("several keys start with `{prefix}`"),
                    "give more of the id",
                ));
            }
        };
        if keys.len() == 1 {
            return Err(RepoError::new(RepoErrorKind::KeyRefused, format!("key {} is the repository's only key", key.short_id), ""));
        }
        if key.current {
            return Err(RepoError::new(
                RepoErrorKind::KeyRefused,
                format!("key {} is the one this command opened the repository with", key.short_id),
                "open the repository with another key's password to remove this one, or use `lifeboat key passwd`",
            ));
        }
        self.delete(&key.id)?;
        Ok(key.id.clone())
    }

    /// Replaces the key in use with one for `new_password`: the new key is stored and proven
    /// to open the repository before the old one is removed, so the repository is never left
    /// without a working key. Returns the new key's id.
    pub fn change_password(&self, new_password: &str) -> Result<String> {
        let Some(old) = self.key_id.clone() else {
            return Err(RepoError::new(
                RepoErrorKind::KeyRefused,
                "this handle was not opened with a password",
                "open the repository with its password",
            ));
        };
        let new = self.add_key(new_password)?;
        let base = unopened(&self.store, None, None)?;
        let opened = base.open(&Credentials::password(new_password)).map_err(|e| {
            RepoError::new(RepoErrorKind::Internal, "the new key does not open the repository; the old key was kept", "")
                .with_source(RusticMessage(e.to_string()))
        })?;
        if opened.key_id().map(|id| id.to_hex().to_string()).as_deref() != Some(new.as_str()) {
            return Err(RepoError::new(RepoErrorKind::Internal, "the new password opened another key; the old key was kept", ""));
        }
        let _lock = self.lock(LockKind::Shared)?;
        self.delete(&old)?;
        Ok(new)
    }

    fn delete(&self, id: &str) -> Result<()> {
        let key_id: KeyId = id.parse().map_err(|_| RepoError::new(RepoErrorKind::Internal, format!("key id {id} is not hex"), ""))?;
        self.handle()?.delete_key(&key_id).map_err(|e| storage(format!("could not remove key {}", &id[..8]), *e))
    }
}
