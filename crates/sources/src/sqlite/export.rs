//! Plain SQL that `sqlite3 new.db < dump.sql` loads into an equal database, so that no one
//! needs lifeboat to read a backup.
//!
//! The layout follows the sqlite3 shell's `.dump`: header pragmas, then tables with their rows
//! in creation order, then `sqlite_sequence`, then indexes, triggers and views in creation
//! order, all inside one transaction. Virtual tables are created with their own statement
//! and their shadow tables' rows are loaded after it. Reals are written in exponent form with
//! 20 significant digits, so they come back as reals, bit for bit, in the stock shell; text
//! that is not plain UTF-8 is written as hex.

use std::io::Write;

use rusqlite::{Connection, types::ValueRef};

use super::inspect::{SchemaEntry, columns, is_virtual, quote, schema_entries};
use crate::{Result, SourceError, SourceErrorKind};

fn write_error(err: std::io::Error) -> SourceError {
    SourceError::new(SourceErrorKind::Io, "writing the SQL export failed", "check the output file's disk").with_source(err)
}

fn db_error(doing: &str, err: rusqlite::Error) -> SourceError {
    SourceError::new(SourceErrorKind::Database, doing.to_string(), "").with_source(err)
}

/// Writes the whole database on `conn` as SQL to `out`.
pub fn export_sql(conn: &Connection, out: &mut dyn Write) -> Result<()> {
    let pragma = |name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(|e| db_error("reading the header", e))
    };
    let entries = schema_entries(conn)?;
    let shadow_of_virtual =
        |name: &str| entries.iter().any(|e| e.kind == "table" && is_virtual(&e.sql) && name.starts_with(&format!("{}_", e.name)));

    // page_size only takes effect on an empty database, so it comes first.
    writeln!(out, "PRAGMA page_size={};", pragma("page_size")?).map_err(write_error)?;
    writeln!(out, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;").map_err(write_error)?;
    let mut shadows = Vec::new();
    for entry in entries.iter().filter(|e| e.kind == "table" && e.name != "sqlite_sequence") {
        if entry.name.starts_with("sqlite_") {
            // sqlite_stat1 and friends: created by ANALYZE, loaded like the shell does.
            writeln!(out, "ANALYZE sqlite_schema;").map_err(write_error)?;
            write_rows(conn, entry, out)?;
        } else if shadow_of_virtual(&entry.name) {
            shadows.push(entry);
        } else {
            writeln!(out, "{};", entry.sql).map_err(write_error)?;
            if !is_virtual(&entry.sql) {
                write_rows(conn, entry, out)?;
            }
        }
    }
    for entry in shadows {
        // Created by their virtual table above, with initial rows to replace.
        writeln!(out, "DELETE FROM {};", quote(&entry.name)).map_err(write_error)?;
        write_rows(conn, entry, out)?;
    }
    if let Some(sequence) = entries.iter().find(|e| e.name == "sqlite_sequence") {
        writeln!(out, "DELETE FROM sqlite_sequence;").map_err(write_error)?;
        write_rows(conn, sequence, out)?;
    }
    for entry in entries.iter().filter(|e| e.kind != "table") {
        writeln!(out, "{};", entry.sql).map_err(write_error)?;
    }
    writeln!(out, "PRAGMA user_version={};", pragma("user_version")?).map_err(write_error)?;
    writeln!(out, "PRAGMA application_id={};", pragma("application_id")?).map_err(write_error)?;
    writeln!(out, "COMMIT;").map_err(write_error)?;
    out.flush().map_err(write_error)
}

fn write_rows(conn: &Connection, entry: &SchemaEntry, out: &mut dyn Write) -> Result<()> {
    let all = columns(conn, &entry.name)?;
    let has_generated = all.iter().any(|c| c.generated);
    let list = all.iter().filter(|c| !c.generated).map(|c| quote(&c.name)).collect::<Vec<_>>().join(",");
    let target = if has_generated { format!("{}({list})", quote(&entry.name)) } else { quote(&entry.name) };
    let sql = format!("SELECT {list} FROM {}", quote(&entry.name));
    let mut stmt = conn.prepare(&sql).map_err(|e| db_error("reading rows", e))?;
    let width = stmt.column_count();
    let mut rows = stmt.query([]).map_err(|e| db_error("reading rows", e))?;
    let mut line = String::new();
    while let Some(row) = rows.next().map_err(|e| db_error("reading rows", e))? {
        line.clear();
        line.push_str("INSERT INTO ");
        line.push_str(&target);
        line.push_str(" VALUES(");
        for i in 0..width {
            if i > 0 {
                line.push(',');
            }
            literal(&mut line, row.get_ref(i).map_err(|e| db_error("reading rows", e))?);
        }
        line.push_str(");\n");
        out.write_all(line.as_bytes()).map_err(write_error)?;
    }
    Ok(())
}

/// A SQL literal that reads back as exactly this value, type included.
fn literal(out: &mut String, value: ValueRef<'_>) {
    use std::fmt::Write as _;
    match value {
        ValueRef::Null => out.push_str("NULL"),
        ValueRef::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Real(f) if f.is_nan() => out.push_str("NULL"),
        ValueRef::Real(f) if f.is_infinite() => out.push_str(if f > 0.0 { "9.0e999" } else { "-9.0e999" }),
        ValueRef::Real(f) => {
            // 20 significant digits, as the shell's `.dump` writes them: the shortest form that
            // round-trips in Rust is parsed one ulp off by some SQLite versions (3.40's, e.g.).
            let _ = write!(out, "{f:.19e}");
        }
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => {
                out.push('\'');
                out.push_str(&text.replace('\'', "''"));
                out.push('\'');
            }
            _ => {
                out.push_str("CAST(X'");
                out.push_str(&hex::encode_upper(bytes));
                out.push_str("' AS TEXT)");
            }
        },
        ValueRef::Blob(bytes) => {
            out.push_str("X'");
            out.push_str(&hex::encode_upper(bytes));
            out.push('\'');
        }
    }
}
