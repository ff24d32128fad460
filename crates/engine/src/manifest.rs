//! The manifest stored with every backup (`/<engine>/<database>/manifest.json`), and the short
//! summary kept in the snapshot's description so listings need not read every manifest.

use lifeboat_repo::{SnapshotInfo, StreamDigest};
use lifeboat_sources::Catalog;
use serde::{Deserialize, Serialize};

/// The manifest format's version; bumped when a field changes meaning.
pub const MANIFEST_VERSION: u32 = 1;

/// Everything a backup records about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Manifest {
    pub manifest_version: u32,
    pub lifeboat_version: String,
    pub database: String,
    /// Where the database was read from (a path; credentials never appear here).
    pub source: String,
    /// What makes the source this database and not another of the same name (engine, host
    /// and path, or cluster and database); absent in backups of lifeboat 0.1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    pub streams: Vec<StreamRecord>,
    /// The engine, its version, settings, tables and schema objects.
    #[serde(flatten)]
    pub catalog: Catalog,
}

/// One stream of the backup, with its size and SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct StreamRecord {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

impl From<&StreamDigest> for StreamRecord {
    fn from(d: &StreamDigest) -> Self {
        Self { name: d.name.clone(), bytes: d.bytes, sha256: d.sha256.clone() }
    }
}

impl Manifest {
    pub fn stream(&self, name: &str) -> Option<&StreamRecord> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// What `lifeboat snapshots` shows, kept as JSON in the snapshot's description.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Summary {
    pub engine: String,
    pub database: String,
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rows: u64,
    /// The size of the backup's streams as read, before compression and deduplication.
    pub bytes: u64,
    /// The database's own size when it was backed up ([`Catalog::database_bytes`]); known
    /// once the manifest is read, like `rows` and `bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_bytes: Option<u64>,
    /// The source's identity (see [`Manifest::source_identity`]), kept here so that a backup
    /// can be checked against its name's group without reading every manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// A snapshot with its lifeboat summary, as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BackupEntry {
    pub id: String,
    pub short_id: String,
    pub time: jiff::Timestamp,
    pub hostname: String,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub summary: Summary,
    /// Bytes this backup added to the repository after compression.
    pub added_bytes: u64,
}

impl BackupEntry {
    /// `None` for snapshots lifeboat did not write (e.g. made with restic by hand).
    pub fn from_snapshot(info: &SnapshotInfo) -> Option<Self> {
        let summary: Summary = serde_json::from_str(info.description.as_deref()?).ok()?;
        Some(Self {
            id: info.id.clone(),
            short_id: info.short_id().to_string(),
            time: info.time,
            hostname: info.hostname.clone(),
            tags: info.tags.clone(),
            summary,
            added_bytes: info.bytes_added_packed,
        })
    }

    /// Fills in the row and byte totals from the backup's manifest (a listing alone has zeros).
    pub fn add_totals(&mut self, manifest: &Manifest) {
        self.summary.rows = manifest.catalog.total_rows();
        self.summary.bytes = manifest.streams.iter().map(|s| s.bytes).sum();
        self.summary.database_bytes = manifest.catalog.database_bytes;
    }

    /// The user's own tags: all tags but the classes and lifeboat's `db:`/`engine:` tags.
    pub fn user_tags(&self) -> Vec<&str> {
        self.tags
            .iter()
            .map(String::as_str)
            .filter(|t| !crate::CLASSES.contains(t) && !t.starts_with("db:") && !t.starts_with("engine:"))
            .collect()
    }

    /// Every class the backup counts as: its class, then those it also carries as tags.
    pub fn classes(&self) -> Vec<&str> {
        let mut classes = vec![self.summary.class.as_str()];
        classes.extend(self.tags.iter().map(String::as_str).filter(|t| crate::CLASSES.contains(t) && *t != self.summary.class));
        classes
    }
}
