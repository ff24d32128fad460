//! What a backup records about a database's structure and content: the engine-neutral part of
//! the manifest. Sources fill it in at backup time; restores and verification compare with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The structure and content summary of one database at one point in time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Catalog {
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The database software's version, e.g. `3.46.0`.
    pub server_version: String,
    /// The database's own size at backup time as its engine counts it (SQLite: its pages;
    /// PostgreSQL: `pg_database_size`), which is what a person calls "the database's size".
    /// The streams may be smaller (a dump leaves out indexes) or compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_bytes: Option<u64>,
    /// Engine-specific settings that a faithful restore must reproduce, e.g. `page_size`.
    #[serde(default)]
    pub properties: BTreeMap<String, serde_json::Value>,
    pub tables: Vec<TableInfo>,
    /// Indexes, views and triggers, in creation order.
    #[serde(default)]
    pub objects: Vec<SchemaObject>,
}

/// The catalog property under which an engine records its structural check at backup:
/// `"ok"`, or its findings; absent when no check ran. (The name is SQLite's pragma's, from
/// when it was the only engine; manifests keep it.)
pub const INTEGRITY_PROPERTY: &str = "integrity_check";

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Whether the engine's integrity check at backup time found problems (or could not run),
    /// as recorded in the [`INTEGRITY_PROPERTY`].
    pub fn damaged_at_backup(&self) -> bool {
        self.integrity_findings().is_some()
    }

    /// What the engine's integrity check at backup time found, when it was not clean, as text
    /// for a person: one finding after another.
    pub fn integrity_findings(&self) -> Option<String> {
        let found = self.properties.get(INTEGRITY_PROPERTY).filter(|v| *v != "ok")?;
        Some(match found {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Array(items) => {
                items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect::<Vec<_>>().join("; ")
            }
            other => other.to_string(),
        })
    }

    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// One table: its definition, size and a hash of its content.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
    /// Its size in the database with its indexes (PostgreSQL: `pg_total_relation_size`;
    /// SQLite: its b-trees' pages as `dbstat` counts them); absent when the engine cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The statement that creates it.
    pub sql: String,
    pub columns: Vec<ColumnInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// A hash over every row in a canonical encoding, `<algorithm>:<hex>` (see
    /// [`crate::content_hash`]); empty for tables whose content is not hashed (virtual tables).
    pub content_hash: String,
    /// The schema (namespace) holding the table, for engines that have them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The streams holding the table's rows, in order, for engines that store them per table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// The partitioned table this one is a partition of (`schema.name`), and its bounds
    /// (`FOR VALUES FROM (…) TO (…)`, `DEFAULT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_bound: Option<String>,
    /// The tables it inherits from (PostgreSQL's `INHERITS`), not counting a partition's parent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherits: Vec<String>,
    /// Every table above it, through partitioning or inheritance, nearest first: restoring
    /// any of them restores this one too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<String>,
    /// A virtual table's module (`fts5`, `rtree`, …); its rows live in its shadow tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The virtual table whose data this shadow table holds: not a table of the user's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_of: Option<String>,
}

/// What `restore --table NAME` restores as one unit.
#[derive(Debug, Clone)]
pub struct TableSet {
    /// The table the person named, as the backup records it.
    pub name: String,
    /// The tables whose rows are restored, together in one transaction: the named table, or
    /// a partitioned table's partitions, an inheritance parent with its children, a virtual
    /// table with its shadow tables.
    pub members: Vec<TableInfo>,
    /// The rows a person counts in it: the named table's as a query of it sees them (a
    /// virtual table's own rows, not its shadow tables'; a parent's with its partitions').
    pub rows: u64,
    /// What the set holds in words, when it is more (or other) than the named table.
    pub note: Option<String>,
}

/// The error of `restore --table name` for a backup without that table, listing `tables` (the
/// ones a person can name).
pub fn no_such_table<'a>(name: &str, tables: impl Iterator<Item = &'a str>) -> crate::SourceError {
    crate::SourceError::new(
        crate::SourceErrorKind::TableNotFound,
        format!("the backup has no table `{name}`"),
        format!("tables in it: {}", tables.collect::<Vec<_>>().join(", ")),
    )
}

impl TableSet {
    /// The named table alone.
    pub fn single(table: &TableInfo) -> Self {
        Self { name: table.name.clone(), members: vec![table.clone()], rows: table.rows, note: None }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub decl_type: String,
    pub not_null: bool,
    /// Position in the primary key, 1-based; 0 when not part of it.
    pub primary_key: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// A generated column's values are computed, never stored by a restore.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generated: bool,
    /// How a generated column is kept: `stored` (written to disk) or `virtual` (computed on
    /// every read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_as: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub references_table: String,
    pub references_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

/// An index, view or trigger.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SchemaObject {
    /// `index`, `view` or `trigger`.
    pub kind: String,
    pub name: String,
    /// The table it belongs to (the view's own name for a view).
    pub table: String,
    pub sql: String,
}
