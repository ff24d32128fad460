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

/// Writes the whole database on `conn` as SQL to `out`; `journal_mode` is the source's (the
/// copy `conn` reads is opened in a mode of its own).
pub fn export_sql(conn: &Connection, journal_mode: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let pragma = |name: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(|e| db_error("reading the header", e))
    };
    let entries = schema_entries(conn)?;
    let shadow_of_virtual =
        |name: &str| entries.iter().any(|e| e.kind == "table" && is_virtual(&e.sql) && name.starts_with(&format!("{}_", e.name)));

    // These take effect only on an empty database, so they come first.
    writeln!(out, "PRAGMA page_size={};", pragma("page_size")?).map_err(write_error)?;
    writeln!(out, "PRAGMA auto_vacuum={};", pragma("auto_vacuum")?).map_err(write_error)?;
    let encoding: String = conn.query_row("PRAGMA encoding", [], |r| r.get(0)).map_err(|e| db_error("reading the header", e))?;
    writeln!(out, "PRAGMA encoding='{encoding}';").map_err(write_error)?;
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
    // Outside the transaction, where a journal mode can change.
    if journal_mode.is_some_and(|mode| mode.eq_ignore_ascii_case("wal")) {
        writeln!(out, "PRAGMA journal_mode=WAL;").map_err(write_error)?;
    }
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

/// A finite double as SQL that every SQLite evaluates to exactly it.
///
/// No decimal will do: SQLite before 3.43 did not convert text to double correctly rounded
/// (Debian 12's 3.40 reads some of its own `.dump` output one ulp off, with 17 digits or 20).
/// Every double is `m × 2^e` with an odd integer `m` below 2^53, which SQLite reads exactly
/// (`m.0`), and multiplying or dividing by a power of two up to 2^62 (an integer literal) is
/// exact in IEEE arithmetic as long as the result is a double, which the last step's is.
/// Integral values below 2^53 stay plain (`42.0`), as do those that are small binary fractions.
fn exact_real(out: &mut String, f: f64) {
    use std::fmt::Write as _;
    if f == 0.0 {
        // `-0.0` is the negation of 0.0, which SQLite evaluates to the negative zero.
        out.push_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let bits = f.to_bits();
    let (exponent, fraction) = (((bits >> 52) & 0x7ff) as i32, bits & ((1 << 52) - 1));
    let (mut mantissa, mut power) = if exponent == 0 { (fraction, -1074) } else { (fraction | 1 << 52, exponent - 1075) };
    let zeros = mantissa.trailing_zeros();
    mantissa >>= zeros;
    power += zeros as i32;
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if (0..=53 - (64 - mantissa.leading_zeros() as i32)).contains(&power) {
        let _ = write!(out, "{sign}{}.0", mantissa << power);
        return;
    }
    let _ = write!(out, "({sign}{mantissa}.0");
    let operator = if power < 0 { '/' } else { '*' };
    let mut left = power.unsigned_abs();
    while left > 0 {
        let step = left.min(62);
        let _ = write!(out, "{operator}{}", 1u64 << step);
        left -= step;
    }
    out.push(')');
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
        ValueRef::Real(f) => exact_real(out, f),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reloaded(f: f64) -> f64 {
        let mut sql = String::from("SELECT ");
        exact_real(&mut sql, f);
        rusqlite::Connection::open_in_memory().unwrap().query_row(&sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn reals_are_written_in_a_form_that_reads_back_exactly() {
        let cases =
            [0.1, -2.5, 42.0, 9007199254740993.0, 1.7976931348623157e308, f64::MIN_POSITIVE, 5e-324, -5e-324, 1e-310, 1e300, 3.0e-5];
        for f in cases {
            assert_eq!(reloaded(f).to_bits(), f.to_bits(), "{f:e}");
        }
        let mut plain = String::new();
        exact_real(&mut plain, 42.0);
        assert_eq!(plain, "42.0");
        assert_eq!(reloaded(-0.0).to_bits(), (-0.0f64).to_bits());
    }
}
