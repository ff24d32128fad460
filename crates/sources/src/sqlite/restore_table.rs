//! Restoring one table of a SQLite database in place, changing that table and nothing else.
//!
//! Replacing a table's rows with `DELETE` + `INSERT` would run the database's own logic: a
//! foreign key `ON DELETE CASCADE` empties other tables, `SET NULL` rewrites them, and the
//! table's triggers write audit rows or change the rows being restored. None of that may
//! happen, so within one write transaction:
//!
//! * foreign-key enforcement is off (it can only be switched outside a transaction), so no
//!   cascade runs; instead the references from and to the table are checked after the load,
//!   and any reference the restore breaks rolls everything back, naming the rows;
//! * the table's triggers are dropped and created again from their own SQL after the load,
//!   so they do not fire (DDL is transactional in SQLite: other connections never see the
//!   table without them);
//! * the loaded rows are hashed as the backup hashed them, and must match the manifest.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use rusqlite::{Connection, OpenFlags};

use super::{
    inspect::{content_hash, quote, rowid_alias},
    open::{BUSY_TIMEOUT, database},
    restore::{RestoredCopy, uri_path},
    virtual_table::{VirtualTable, virtual_tables},
};
use crate::{Catalog, KeepReplaced, Result, SourceError, SourceErrorKind, TableInfo, TableSet};

/// One broken reference as `PRAGMA foreign_key_check` reports it: (table, rowid, parent).
type Violation = (String, Option<i64>, String);

/// Replaces the rows of the tables of `set` in the live database `target` with those of the
/// checked copy, in one transaction. Returns the number of rows restored.
///
/// Rowids are kept (other tables may refer to them), generated columns are recomputed and
/// AUTOINCREMENT state is restored. A virtual table comes back with its shadow tables, and
/// its module's own check of index against content must pass; an FTS5 index of another
/// table (external content) is rebuilt from it, also when that table is the one restored.
/// Fails, with nothing changed, when a table's columns differ from the backup's, when the
/// restore would leave references dangling, or when the restored rows do not hash to the
/// manifest's content hash.
pub fn restore_table(copy: &RestoredCopy, target: &Path, set: &TableSet, expected: &Catalog, keep: KeepReplaced) -> Result<u64> {
    // Our own reads of the file while the lock is held must not drop it (deferred_close.rs).
    let _scope = super::deferred_close::LockScope::enter();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(target, flags).map_err(|e| database(target, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| database(target, "cannot configure", e))?;
    // Off for this connection only: no cascade, no SET NULL; references are checked below.
    conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(|e| database(target, "configuring", e))?;
    conn.execute("ATTACH ?1 AS lifeboat_src", [format!("file:{}?immutable=1", uri_path(copy.path()))])
        .map_err(|e| database(copy.path(), "cannot attach the restored copy", e))?;

    // What each table's rows must hash to once restored, read from the restored image before
    // the write lock is taken (virtual tables' rows are their shadow tables').
    let image = copy.open()?;
    let mut hashes = BTreeMap::new();
    for info in set.members.iter().filter(|m| VirtualTable::parse(&m.name, &m.sql).is_none()) {
        hashes.insert(info.name.clone(), content_hash(&image, &info.name)?);
    }
    drop(image);

    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| database(target, "cannot lock", e))?;
    // The write lock is held: what is kept now is all that was committed before the restore.
    keep()?;
    let mut rows = 0;
    let mut broken = Vec::new();
    for info in &set.members {
        let exists: bool = tx
            .query_row("SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = ?1", [&info.name], |r| r.get(0))
            .map_err(|e| database(target, "reading the schema of", e))?;
        if VirtualTable::parse(&info.name, &info.sql).is_some() {
            // Its rows are its shadow tables', restored next; created, they exist.
            if !exists {
                tx.execute_batch(&info.sql).map_err(|e| database(target, "creating the virtual table in", e))?;
            }
            continue;
        }
        let related = related_tables(&tx, &info.name, exists)?;
        let broken_before = violations(&tx, &related, &info.name)?;
        rows += replace_rows(&tx, target, info, exists, expected, &hashes[&info.name])?;
        broken.extend(violations(&tx, &related, &info.name)?.into_iter().filter(|v| !broken_before.contains(v)));
    }
    let virtuals = virtual_tables(expected);
    for vt in &virtuals {
        let indexes_restored = vt.external_content.as_ref().is_some_and(|c| set.members.iter().any(|m| &m.name == c));
        let restored = set.members.iter().any(|m| m.name == vt.name);
        if vt.external_content.is_some() && (restored || indexes_restored) {
            let q = quote(&vt.name);
            tx.execute_batch(&format!("INSERT INTO main.{q}({q}) VALUES ('rebuild')"))
                .map_err(|e| database(target, &format!("rebuilding the full-text index {} from its content in", vt.name), e))?;
        }
        if (restored || indexes_restored)
            && let Some(check) = vt.integrity_check()
        {
            let outcome: rusqlite::Result<Option<String>> = tx.query_row(&check, [], |r| r.get(0)).or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows | rusqlite::Error::InvalidColumnIndex(_) => Ok(None),
                e => Err(e),
            });
            match outcome {
                Ok(None) => {}
                Ok(Some(found)) if found == "ok" => {}
                Ok(Some(found)) => return Err(index_mismatch(vt, target, &found)),
                Err(e) => return Err(index_mismatch(vt, target, &e.to_string())),
            }
        }
    }
    if !broken.is_empty() {
        return Err(broken_references(&set.name, target, &broken));
    }
    tx.commit().map_err(|e| database(target, "committing the restored table to", e))?;
    // A virtual table's rows are those a query of it sees, not its shadow tables'.
    Ok(if set.members.len() == 1 { rows } else { set.rows })
}

/// A virtual table whose index does not match its content after the restore.
fn index_mismatch(vt: &VirtualTable, target: &Path, found: &str) -> SourceError {
    SourceError::new(
        SourceErrorKind::Corrupt,
        format!("after restoring, the {} index `{}` in {} fails its own check: {found}", vt.module, vt.name, target.display()),
        "nothing was changed; restore the whole database, or run `lifeboat verify` on this snapshot",
    )
}

/// Replaces the rows of the ordinary table `info` (creating it, with its indexes, when the
/// target no longer has it) with the attached copy's, its triggers set aside meanwhile, and
/// checks them against the manifest. Returns the rows copied.
/// Replaces the rows of one table with the restored image's, which must hash to `hash`.
fn replace_rows(tx: &Connection, target: &Path, info: &TableInfo, exists: bool, expected: &Catalog, hash: &str) -> Result<u64> {
    let table = info.name.as_str();
    let source_columns = stored_columns(tx, "lifeboat_src", table)?;
    let triggers: Vec<String> = if exists {
        let target_columns = stored_columns(tx, "main", table)?;
        if target_columns != source_columns {
            return Err(SourceError::new(
                SourceErrorKind::Incompatible,
                format!(
                    "table `{table}` has different columns now ({}) than in the backup ({})",
                    target_columns.join(", "),
                    source_columns.join(", ")
                ),
                "restore the whole database, or restore the table beside it and copy what you need",
            ));
        }
        let triggers = table_triggers(tx, table)?;
        for (name, _) in &triggers {
            tx.execute_batch(&format!("DROP TRIGGER main.{}", quote(name)))
                .map_err(|e| database(target, "setting aside the triggers of", e))?;
        }
        tx.execute(&format!("DELETE FROM main.{}", quote(table)), []).map_err(|e| database(target, "clearing the table in", e))?;
        triggers.into_iter().map(|(_, sql)| sql).collect()
    } else {
        // A table dropped since the backup comes back with its indexes, and its triggers
        // once the rows are in.
        tx.execute_batch(&info.sql).map_err(|e| database(target, "creating the table in", e))?;
        for object in expected.objects.iter().filter(|o| o.table == table && o.kind == "index") {
            tx.execute_batch(&object.sql).map_err(|e| database(target, &format!("creating index {} in", object.name), e))?;
        }
        expected.objects.iter().filter(|o| o.table == table && o.kind == "trigger").map(|o| o.sql.clone()).collect()
    };
    let list = source_columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let (cols, select) = match rowid_alias(tx, table)? {
        Some(alias) => (format!("{alias}, {list}"), format!("{alias}, {list}")),
        None => (list.clone(), list),
    };
    let rows = tx
        .execute(&format!("INSERT INTO main.{q}({cols}) SELECT {select} FROM lifeboat_src.{q}", q = quote(table)), [])
        .map_err(|e| database(target, "copying the rows into", e))?;
    for sql in &triggers {
        tx.execute_batch(sql).map_err(|e| database(target, "creating the triggers again in", e))?;
    }
    restore_sequence(tx, target, table)?;
    if rows as u64 != info.rows {
        return Err(SourceError::new(
            SourceErrorKind::Corrupt,
            format!("restoring `{table}` copied {rows} rows but the backup recorded {}", info.rows),
            "nothing was changed; run `lifeboat verify` on this snapshot",
        ));
    }
    if content_hash(tx, table)? != hash {
        return Err(SourceError::new(
            SourceErrorKind::Corrupt,
            format!("the restored rows of `{table}` do not match the rows of the backup's image"),
            "nothing was changed; run `lifeboat verify` on this snapshot, or restore an older one",
        ));
    }
    Ok(rows as u64)
}

/// The triggers on `table`, as (name, SQL).
fn table_triggers(conn: &Connection, table: &str) -> Result<Vec<(String, String)>> {
    let read = || -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = conn.prepare("SELECT name, sql FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    read().map_err(|e| database(Path::new(table), "reading the triggers of", e))
}

/// `table` and every table whose foreign keys point at it: the only places a one-table
/// restore can break a reference.
fn related_tables(conn: &Connection, table: &str, exists: bool) -> Result<Vec<String>> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT m.name FROM main.sqlite_schema m, pragma_foreign_key_list(m.name) f
             WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> ?1",
        )?;
        let rows = stmt.query_map([table], |r| r.get(0))?;
        rows.collect()
    };
    let mut tables = read().map_err(|e| database(Path::new(table), "reading the foreign keys that point at", e))?;
    if exists {
        tables.insert(0, table.to_string());
    }
    Ok(tables)
}

/// The references among `tables` that point nowhere: those of `restored` itself, and those of
/// the other tables that point at `restored`.
fn violations(conn: &Connection, tables: &[String], restored: &str) -> Result<BTreeSet<Violation>> {
    let mut found = BTreeSet::new();
    for table in tables {
        let read = || -> rusqlite::Result<Vec<Violation>> {
            let mut stmt = conn.prepare("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check(?1, 'main')")?;
            let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        };
        let rows = read().map_err(|e| database(Path::new(table), "checking the foreign keys of", e))?;
        found.extend(rows.into_iter().filter(|(child, _, parent): &Violation| child == restored || parent.eq_ignore_ascii_case(restored)));
    }
    Ok(found)
}

fn broken_references(table: &str, target: &Path, broken: &[Violation]) -> SourceError {
    let shown: Vec<String> = broken
        .iter()
        .take(5)
        .map(|(child, rowid, parent)| format!("{child} rowid {} → {parent}", rowid.map_or("?".to_string(), |r| r.to_string())))
        .collect();
    let more = if broken.len() > shown.len() { format!(" and {} more", broken.len() - shown.len()) } else { String::new() };
    SourceError::new(
        SourceErrorKind::Incompatible,
        format!(
            "restoring `{table}` would break foreign keys in {}: {} row(s) would point at rows that are not there ({}{more})",
            target.display(),
            broken.len(),
            shown.join(", ")
        ),
        "nothing was changed; restore the referring tables too, or the whole database (or restore into a new file and copy what you need)",
    )
}

/// AUTOINCREMENT state of `table` as the backup had it, in the row the target already has
/// for it (an update, not a delete and insert: the row keeps its place in `sqlite_sequence`).
fn restore_sequence(conn: &Connection, target: &Path, table: &str) -> Result<()> {
    let has_sequence = |schema: &str| -> bool {
        conn.query_row(&format!("SELECT count(*) FROM {schema}.sqlite_schema WHERE name = 'sqlite_sequence'"), [], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            > 0
    };
    if !(has_sequence("lifeboat_src") && has_sequence("main")) {
        return Ok(());
    }
    let failed = |e| database(target, "restoring AUTOINCREMENT state in", e);
    let backed_up: Option<i64> = conn
        .query_row("SELECT seq FROM lifeboat_src.sqlite_sequence WHERE name = ?1", [table], |r| r.get(0))
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        .map_err(failed)?;
    match backed_up {
        None => conn.execute("DELETE FROM main.sqlite_sequence WHERE name = ?1", [table]).map(drop).map_err(failed),
        Some(seq) => {
            let updated =
                conn.execute("UPDATE main.sqlite_sequence SET seq = ?2 WHERE name = ?1", rusqlite::params![table, seq]).map_err(failed)?;
            if updated == 0 {
                conn.execute("INSERT INTO main.sqlite_sequence(name, seq) VALUES (?1, ?2)", rusqlite::params![table, seq])
                    .map_err(failed)?;
            }
            Ok(())
        }
    }
}

/// The columns of `schema.table` that hold stored values (not generated ones).
fn stored_columns(conn: &Connection, schema: &str, table: &str) -> Result<Vec<String>> {
    let read = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1, ?2)")?;
        let rows = stmt.query_map([table, schema], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().filter(|(_, h)| *h != 2 && *h != 3).map(|(n, _)| n).collect())
    };
    read().map_err(|e| database(Path::new(table), "reading the columns of", e))
}
