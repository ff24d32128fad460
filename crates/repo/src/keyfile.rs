//! Writing a key file (restic's `keys/<id>`): the master key, encrypted with a key derived
//! from one password by scrypt.
//!
//! rustic writes key files with scrypt's single-lane parameters (N = 2^17, r = 8, p = 1), which
//! cost one core about 0.35 s on every command that opens the repository. We write N = 2^16,
//! p = 2 instead: the same work for anyone guessing passwords (N·r·p is unchanged), 64 MiB per
//! lane (restic's own calibration stops at 32 MiB), and the two lanes run on two cores, so
//! opening the repository takes half as long. restic and rustic read the parameters from the
//! key file, so both open these keys; older keys keep working with whatever they were written
//! with.

use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};
use rustic_core::repofile::{KeyFile, MasterKey};

use crate::{
    crypto::{Cipher, id_of},
    error::{RepoError, RepoErrorKind, Result},
    storage::Store,
};

/// scrypt's cost parameters for new keys: log2(N), r, p (see the module's comment).
pub(crate) const SCRYPT: (u8, u32, u32) = (16, 8, 2);

/// Stores a new key file that opens `master` with `password`, labelled with this machine's
/// name and the user running lifeboat (as `key list` shows them); returns its id.
pub(crate) fn write_key(store: &dyn Store, master: &MasterKey, password: &str) -> Result<String> {
    let (log_n, r, p) = SCRYPT;
    let params = scrypt::Params::new(log_n, r, p)
        .map_err(|e| RepoError::new(RepoErrorKind::Internal, "scrypt refused lifeboat's parameters", "").with_source(e))?;
    let mut salt = vec![0u8; 64];
    SystemRandom::new().fill(&mut salt).map_err(|_| RepoError::new(RepoErrorKind::Internal, "no random numbers for a key's salt", ""))?;
    let mut derived = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut derived)
        .map_err(|e| RepoError::new(RepoErrorKind::Internal, "scrypt refused the output length", "").with_source(e))?;
    let plain = serde_json::to_vec(master)
        .map_err(|e| RepoError::new(RepoErrorKind::Internal, "the master key does not serialize", "").with_source(e))?;
    let file = KeyFile {
        hostname: Some(crate::write::hostname()),
        username: Some(crate::write::user_name()),
        created: Some(jiff::Zoned::now()),
        kdf: "scrypt".to_string(),
        n: 1 << log_n,
        r,
        p,
        data: Cipher::from_bytes(&derived).encrypt(&plain),
        salt,
    };
    let bytes = serde_json::to_vec(&file)
        .map_err(|e| RepoError::new(RepoErrorKind::Internal, "a key file does not serialize", "").with_source(e))?;
    let id = id_of(&bytes);
    store.put(&format!("keys/{id}"), &[Bytes::from(bytes)])?;
    Ok(id)
}
