//! Per-table content hashes: what `verify` compares a restored table with.
//!
//! These detect differences, they do not authenticate (the repository's SHA-256 and MACs do
//! that), so they use xxh3-128: a full logical scan of a table is on the backup's critical
//! path, and SHA-256 over millions of small values cost three times the backup itself. The
//! text form names the algorithm (`xxh3-128:<hex>`) so a manifest says how it was computed.

use xxhash_rust::xxh3::Xxh3;

const LABEL: &str = "xxh3-128";

/// A hash over values fed in a fixed order (SQLite: rows in key order).
#[derive(Default, Clone)]
pub struct OrderedHash(Xxh3);

impl OrderedHash {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(&self) -> String {
        format!("{LABEL}:{:032x}", self.0.digest128())
    }
}

/// A hash over a set of rows, independent of their order: the wrapping sum of each row's
/// hash. A table loaded in parallel comes back in another physical order and must still match.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct RowSetHash {
    sum: u128,
    pub rows: u64,
}

impl RowSetHash {
    /// Adds one row and returns its hash.
    pub fn add_row(&mut self, row: &[u8]) -> u128 {
        let hash = xxhash_rust::xxh3::xxh3_128(row);
        self.sum = self.sum.wrapping_add(hash);
        self.rows += 1;
        hash
    }

    /// Combines the hashes of two parts of one table.
    pub fn merge(&mut self, other: RowSetHash) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.rows += other.rows;
    }

    pub fn finish(&self) -> String {
        format!("{LABEL}-rowset:{:032x}", self.sum)
    }
}
