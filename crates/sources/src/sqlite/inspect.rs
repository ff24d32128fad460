//! Reading a SQLite database's catalog: tables, columns, foreign keys, indexes, views,
//! triggers, header settings, row counts and per-table content hashes.
//!
//! The content hash is the same function at backup, verification and table restore, so two
//! databases with the same rows in the same tables hash alike whatever their page layout.

use std::collections::BTreeMap;

use crate::content_hash::OrderedHash;
use rusqlite::{Connection, types::ValueRef};

use crate::{Catalog, ColumnInfo, ForeignKey, IntegrityLevel, Result, SchemaObject, SourceError, SourceErrorKind, TableInfo};

fn db_error(doing: String, err: rusqlite::Error) -> SourceError {
    let kind = match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => SourceErrorKind::Corrupt,
        Some(rusqlite::ErrorCode::OperationInterrupted) => SourceErrorKind::Interrupted,
        _ => SourceErrorKind::Database,
    };
    SourceError::new(kind, doing, "").with_source(err)
}

/// Double quotes an identifier for SQL.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single quotes a string for SQL.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The header settings a faithful restore keeps.
const PROPERTIES: [&str; 6] = ["page_size", "user_version", "application_id", "journal_mode", "encoding", "auto_vacuum"];

/// What the integrity check at `level` says of the database, as seen by `conn`'s current
/// transaction: `"ok"`, its findings, or `None` when the check is off.
///
/// Run on the pinned point in time, so a restore of this image (whose SHA-256 it verifies)
/// need not repeat it: a corrupt live database is reported at backup time.
pub fn integrity(conn: &Connection, level: IntegrityLevel) -> Result<Option<serde_json::Value>> {
    if level == IntegrityLevel::Off {
        return Ok(None);
    }
    let problems = integrity_problems(conn, level).map_err(|e| db_error(format!("running PRAGMA {}", check_pragma(level)), e))?;
    Ok(Some(if problems.is_empty() { serde_json::Value::from("ok") } else { serde_json::Value::from(problems) }))
}

/// Records in `catalog` which check ran and what [`integrity`] found.
pub fn record_integrity(catalog: &mut Catalog, level: IntegrityLevel, found: Option<serde_json::Value>) {
    if let Some(found) = found {
        catalog.properties.insert(INTEGRITY.to_string(), found);
    }
    catalog.properties.insert(INTEGRITY_LEVEL.to_string(), serde_json::to_value(level).expect("a level serializes"));
}

/// The catalog without the integrity check (see [`integrity`]), as seen by `conn`'s current
/// transaction.
pub fn catalog(conn: &Connection) -> Result<Catalog> {
    let version: String =
        conn.query_row("SELECT sqlite_version()", [], |r| r.get(0)).map_err(|e| db_error("reading the SQLite version".into(), e))?;
    let mut properties = BTreeMap::new();
    for name in PROPERTIES {
        let value: rusqlite::types::Value =
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(|e| db_error(format!("reading PRAGMA {name}"), e))?;
        let json = match value {
            rusqlite::types::Value::Integer(i) => serde_json::Value::from(i),
            rusqlite::types::Value::Text(t) => serde_json::Value::from(t.to_ascii_lowercase()),
            _ => serde_json::Value::Null,
        };
        properties.insert(name.to_string(), json);
    }

    let mut tables = Vec::new();
    let mut objects = Vec::new();
    for entry in schema_entries(conn)? {
        match entry.kind.as_str() {
            "table" => tables.push(table_info(conn, &entry)?),
            _ => objects.push(SchemaObject { kind: entry.kind, name: entry.name, table: entry.table, sql: entry.sql }),
        }
    }
    mark_virtual_tables(&mut tables);
    table_sizes(conn, &mut tables);
    let database_bytes: i64 = conn
        .query_row("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", [], |r| r.get(0))
        .map_err(|e| db_error("reading the database's size".into(), e))?;
    Ok(Catalog {
        engine: "sqlite".into(),
        server_version: version,
        database_bytes: u64::try_from(database_bytes).ok(),
        properties,
        tables,
        objects,
    })
}

/// Names each virtual table's module, and each shadow table's virtual table.
fn mark_virtual_tables(tables: &mut [TableInfo]) {
    let catalog = Catalog { tables: tables.to_vec(), ..Default::default() };
    for vt in super::virtual_table::virtual_tables(&catalog) {
        let shadows: Vec<String> = vt.shadows(&catalog).iter().map(|t| t.name.clone()).collect();
        for table in tables.iter_mut() {
            if table.name == vt.name {
                table.module = Some(vt.module.clone());
            } else if shadows.contains(&table.name) {
                table.shadow_of = Some(vt.name.clone());
            }
        }
    }
}

/// Each table's size on disk with its indexes, from the `dbstat` table (one row per b-tree);
/// a virtual table's is its shadow tables'. Left unknown when the library lacks `dbstat`.
fn table_sizes(conn: &Connection, tables: &mut [TableInfo]) {
    let read = || -> rusqlite::Result<BTreeMap<String, u64>> {
        let mut stmt = conn.prepare(
            "SELECT s.tbl_name, sum(d.pgsize) FROM dbstat('main', 1) d JOIN sqlite_schema s ON s.name = d.name GROUP BY s.tbl_name",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        rows.collect()
    };
    let Ok(sizes) = read() else { return };
    let shadow_bytes = |vt: &str, tables: &[TableInfo]| -> u64 {
        tables.iter().filter(|t| t.shadow_of.as_deref() == Some(vt)).filter_map(|t| sizes.get(&t.name)).sum()
    };
    let totals: Vec<u64> = tables
        .iter()
        .map(|t| if t.module.is_some() { shadow_bytes(&t.name, tables) } else { sizes.get(&t.name).copied().unwrap_or(0) })
        .collect();
    for (table, bytes) in tables.iter_mut().zip(totals) {
        table.bytes = Some(bytes);
    }
}

/// Page cache of the connection that runs a full integrity check, in KiB. The check looks up
/// every index entry in its table; with SQLite's default 2 MiB cache each lookup is a read()
/// call and the check takes three times as long. Fixed, so memory stays bounded.
const CHECK_CACHE_KIB: u32 = 64 * 1024;

/// The catalog property holding the backup-time integrity check's result: `"ok"`, or its
/// findings; absent when the check was off.
pub const INTEGRITY: &str = crate::catalog::INTEGRITY_PROPERTY;

/// The catalog property saying which check that was (`quick`, `full`, `off`); absent in
/// backups that always ran the full check.
pub const INTEGRITY_LEVEL: &str = "integrity_level";

/// The catalog property holding the xxh3-128 of every page of the image, so the next backup
/// can tell an unchanged database without reading its rows.
pub const IMAGE_HASH: &str = "image_xxh3";

fn check_pragma(level: IntegrityLevel) -> &'static str {
    if level == IntegrityLevel::Full { "integrity_check" } else { "quick_check" }
}

/// What SQLite's check at `level` finds (the first 100 problems); empty when the database is
/// sound. `Full` is `PRAGMA integrity_check`, anything else `PRAGMA quick_check`.
pub(crate) fn integrity_problems(conn: &Connection, level: IntegrityLevel) -> rusqlite::Result<Vec<String>> {
    if level == IntegrityLevel::Full {
        conn.execute_batch(&format!("PRAGMA cache_size = -{CHECK_CACHE_KIB}"))?;
    }
    let mut stmt = conn.prepare(&format!("PRAGMA {}(100)", check_pragma(level)))?;
    let rows: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// One row of `sqlite_schema` that has SQL (automatic indexes have none).
#[derive(Debug, Clone)]
pub(crate) struct SchemaEntry {
    pub kind: String,
    pub name: String,
    pub table: String,
    pub sql: String,
}

pub(crate) fn schema_entries(conn: &Connection) -> Result<Vec<SchemaEntry>> {
    let read = || -> rusqlite::Result<Vec<SchemaEntry>> {
        let mut stmt = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok(SchemaEntry { kind: r.get(0)?, name: r.get(1)?, table: r.get(2)?, sql: r.get(3)? }))?;
        rows.collect()
    };
    read().map_err(|e| db_error("reading the schema".into(), e))
}

pub(crate) fn is_virtual(sql: &str) -> bool {
    sql.trim_start().get(..20).is_some_and(|s| s.eq_ignore_ascii_case("CREATE VIRTUAL TABLE"))
}

fn table_info(conn: &Connection, entry: &SchemaEntry) -> Result<TableInfo> {
    let name = &entry.name;
    let columns = columns(conn, name)?;
    let foreign_keys = foreign_keys(conn, name)?;
    let rows: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {}", quote(name)), [], |r| r.get(0))
        .map_err(|e| db_error(format!("counting the rows of {name}"), e))?;
    // No content hash: the image's SHA-256 proves every row, and reading every row again cost
    // a first backup more than its pages did. A one-table restore hashes the table in the
    // restored image it already has and compares the live table with that.
    Ok(TableInfo { name: name.clone(), rows: rows as u64, sql: entry.sql.clone(), columns, foreign_keys, ..Default::default() })
}

pub(crate) fn columns(conn: &Connection, table: &str) -> Result<Vec<ColumnInfo>> {
    columns_of(conn, table).map_err(|e| db_error(format!("reading the columns of {table}"), e))
}

fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Vec<ColumnInfo>> {
    let mut stmt = conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)")?;
    let rows = stmt.query_map([table], |r| {
        let hidden: i64 = r.get(5)?;
        let generated_as = match hidden {
            2 => Some("virtual".to_string()),
            3 => Some("stored".to_string()),
            _ => None,
        };
        let column = ColumnInfo {
            name: r.get(0)?,
            decl_type: r.get(1)?,
            not_null: r.get(2)?,
            default: r.get(3)?,
            primary_key: r.get(4)?,
            generated: generated_as.is_some(),
            generated_as,
        };
        // Hidden 1: a virtual table's own hidden columns (FTS5's table-named column, `rank`),
        // which hold no data of the row.
        Ok((hidden != 1).then_some(column))
    })?;
    rows.filter_map(Result::transpose).collect()
}

fn foreign_keys(conn: &Connection, table: &str) -> Result<Vec<ForeignKey>> {
    let read = || -> rusqlite::Result<Vec<ForeignKey>> {
        let mut stmt =
            conn.prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq")?;
        let mut keys: Vec<(i64, ForeignKey)> = Vec::new();
        let mut rows = stmt.query([table])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if keys.last().is_none_or(|(last, _)| *last != id) {
                let fk = ForeignKey { references_table: r.get(1)?, on_update: r.get(4)?, on_delete: r.get(5)?, ..Default::default() };
                keys.push((id, fk));
            }
            let fk = &mut keys.last_mut().expect("pushed above").1;
            fk.columns.push(r.get(2)?);
            fk.references_columns.push(r.get::<_, Option<String>>(3)?.unwrap_or_default());
        }
        Ok(keys.into_iter().map(|(_, fk)| fk).collect())
    };
    read().map_err(|e| db_error(format!("reading the foreign keys of {table}"), e))
}

/// Whether `table` has an implicit rowid, and under which name it can be selected.
pub(crate) fn rowid_alias(conn: &Connection, table: &str) -> Result<Option<&'static str>> {
    let without_rowid: bool = conn
        .query_row("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1", [table], |r| r.get(0))
        .map_err(|e| db_error(format!("reading the table list for {table}"), e))?;
    if without_rowid {
        return Ok(None);
    }
    let names: Vec<String> = columns(conn, table)?.into_iter().map(|c| c.name.to_ascii_lowercase()).collect();
    Ok(["rowid", "_rowid_", "oid"].into_iter().find(|alias| !names.iter().any(|n| n == alias)))
}

/// A hash over the table's rows in key order: for each value a type tag and its bytes,
/// with the rowid first for rowid tables (other tables may point at it).
pub(crate) fn content_hash(conn: &Connection, table: &str) -> Result<String> {
    let order = match rowid_alias(conn, table)? {
        Some(alias) => (format!("{alias}, *"), format!(" ORDER BY {alias}")),
        None => ("*".to_string(), String::new()),
    };
    let sql = format!("SELECT {} FROM {}{}", order.0, quote(table), order.1);
    let hash = || -> rusqlite::Result<String> {
        let mut stmt = conn.prepare(&sql)?;
        let width = stmt.column_count();
        let mut hasher = OrderedHash::default();
        // Values are a few bytes each; the hash takes them in batches (a streaming hash of the
        // same bytes is the same however they are cut), one call per batch instead of three
        // per value, which made this scan a quarter of a first backup.
        let mut batch = Vec::with_capacity(BATCH + 4096);
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for i in 0..width {
                encode_value(&mut batch, row.get_ref(i)?);
            }
            if batch.len() >= BATCH {
                hasher.update(&batch);
                batch.clear();
            }
        }
        hasher.update(&batch);
        Ok(hasher.finish())
    };
    hash().map_err(|e| db_error(format!("reading the rows of {table}"), e))
}

/// Bytes of encoded values the content hash takes at once.
const BATCH: usize = 64 * 1024;

/// Appends one value as the content hash reads it: a type letter, then its bytes (text and
/// blobs preceded by their length, so no two rows run together the same way).
fn encode_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push(b'n'),
        ValueRef::Integer(i) => {
            out.push(b'i');
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            out.push(b'r');
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            out.push(if matches!(value, ValueRef::Text(_)) { b't' } else { b'b' });
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

/// The first `limit` rows of `table`: column names, declared types, and each value as JSON of
/// its own kind (a blob as hex).
pub(crate) fn sample_rows(conn: &Connection, table: &str, limit: usize) -> Result<crate::Sample> {
    let read = || -> rusqlite::Result<crate::Sample> {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {} LIMIT {limit}", quote(table)))?;
        let columns: Vec<String> = stmt.column_names().map(String::from).collect();
        let declared: std::collections::HashMap<String, String> =
            columns_of(conn, table)?.into_iter().map(|c| (c.name, c.decl_type)).collect();
        let types = columns.iter().map(|c| declared.get(c).cloned().unwrap_or_default()).collect();
        let width = columns.len();
        let mut out = Vec::new();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            out.push((0..width).map(|i| row.get_ref(i).map(json_value)).collect::<rusqlite::Result<_>>()?);
        }
        Ok(crate::Sample { columns, types, rows: out })
    };
    read().map_err(|e| db_error(format!("reading sample rows of {table}"), e))
}

fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => serde_json::Value::from(i),
        // Infinities have no JSON number: they stay text.
        ValueRef::Real(f) => {
            serde_json::Number::from_f64(f).map_or_else(|| serde_json::Value::from(f.to_string()), serde_json::Value::Number)
        }
        ValueRef::Text(t) => serde_json::Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => crate::blob_value(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The content hash is recorded in every manifest and compared by later drills and
    /// one-table restores, so how it reads values must never change: this spells it out value
    /// by value, as it was first written, over rows that fill several batches.
    #[test]
    fn the_content_hash_reads_values_as_it_always_has() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, n, i INT, r REAL, s TEXT, b BLOB);
             WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < 3000)
             INSERT INTO t SELECT k, NULL, -k, k / 7.0, printf('row %d ', k) || hex(randomblob(k % 50)), randomblob(k % 40) FROM g;",
        )
        .unwrap();
        let mut expected = OrderedHash::default();
        let mut stmt = conn.prepare("SELECT rowid, * FROM t ORDER BY rowid").unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..7 {
                match row.get_ref(i).unwrap() {
                    ValueRef::Null => expected.update(b"n"),
                    ValueRef::Integer(v) => {
                        expected.update(b"i");
                        expected.update(&v.to_le_bytes());
                    }
                    ValueRef::Real(v) => {
                        expected.update(b"r");
                        expected.update(&v.to_bits().to_le_bytes());
                    }
                    ValueRef::Text(v) => {
                        expected.update(b"t");
                        expected.update(&(v.len() as u64).to_le_bytes());
                        expected.update(v);
                    }
                    ValueRef::Blob(v) => {
                        expected.update(b"b");
                        expected.update(&(v.len() as u64).to_le_bytes());
                        expected.update(v);
                    }
                }
            }
        }
        drop(rows);
        assert_eq!(content_hash(&conn, "t").unwrap(), expected.finish());
    }
}
