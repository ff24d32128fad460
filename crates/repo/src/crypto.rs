//! restic's encryption of repository files, for the few files lifeboat writes itself (locks,
//! and the tree blobs that record each stream's true size).
//!
//! restic's format (`doc/design.rst` in restic): every encrypted file or blob is a random
//! 16-byte IV, the AES-256-CTR ciphertext, and a Poly1305-AES MAC over the ciphertext; the
//! 64-byte key is the master key's AES key, then its MAC key `k` and `r`. rustic implements
//! the same with the same crate, but keeps it private, so we use the crate directly with the
//! master key rustic unlocked. A file's id is the SHA-256 of its stored bytes.

use aes256ctr_poly1305aes::{Aes256CtrPoly1305Aes, Key, Nonce, aead::Aead};
use ring::rand::{SecureRandom, SystemRandom};
use rustic_core::repofile::MasterKey;

/// The master key, ready to encrypt and decrypt.
#[derive(Clone)]
pub(crate) struct Cipher(Aes256CtrPoly1305Aes);

impl Cipher {
    pub(crate) fn new(key: &MasterKey) -> Self {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&key.encrypt);
        bytes[32..48].copy_from_slice(&key.mac.k);
        bytes[48..].copy_from_slice(&key.mac.r);
        Self::from_bytes(&bytes)
    }

    /// A key in restic's 64-byte layout: AES key, then the MAC's `k` and `r`.
    pub(crate) fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self(Aes256CtrPoly1305Aes::new(Key::from_slice(bytes)))
    }

    /// IV, ciphertext and MAC of `plain`.
    pub(crate) fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = Nonce::default();
        SystemRandom::new().fill(&mut nonce).expect("the system's random source works");
        let sealed = self.0.encrypt(&nonce, plain).expect("encrypting a buffer in memory cannot fail");
        let mut out = Vec::with_capacity(16 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a file or blob written by [`encrypt`](Self::encrypt) (or restic);
    /// `None` when it is too short or its MAC does not match.
    pub(crate) fn decrypt(&self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < 32 {
            return None;
        }
        self.0.decrypt(Nonce::from_slice(&data[..16]), &data[16..]).ok()
    }

    /// The JSON of an unpacked file (a lock, a snapshot): in repository version 2 it may be
    /// stored zstd-compressed behind a `2` byte, else it is the JSON itself.
    pub(crate) fn decrypt_unpacked(&self, data: &[u8]) -> Option<Vec<u8>> {
        let plain = self.decrypt(data)?;
        match plain.first() {
            Some(2) => zstd::decode_all(&plain[1..]).ok(),
            _ => Some(plain),
        }
    }
}

/// The id of a stored file or blob: the lower-case hex SHA-256 of its bytes.
pub(crate) fn id_of(bytes: &[u8]) -> String {
    let mut hash = crate::Sha256::default();
    hash.update(bytes);
    hash.finish()
}
