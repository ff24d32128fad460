//! A PostgreSQL backup as one plain SQL script that `psql` loads into an empty database, in
//! the same order a restore uses, so nobody needs lifeboat to read their backup. It ends by
//! giving the database it is loaded into the backed-up database's own properties.

use std::io::{self, Write};

use super::{
    capture::{POST_DATA, PRE_DATA, SEQUENCES, large_object_stream},
    database::DatabaseProperties,
    psql::ident,
    restore::{LoScript, ReadStream, copy_target, large_objects, partial_schemas},
};
use crate::Catalog;

pub fn export_sql(catalog: &Catalog, read: ReadStream<'_>, out: &mut dyn Write) -> io::Result<()> {
    for schema in partial_schemas(catalog) {
        writeln!(out, "CREATE SCHEMA IF NOT EXISTS {};", ident(schema))?;
    }
    read(PRE_DATA, out)?;
    for table in &catalog.tables {
        for stream in &table.streams {
            writeln!(out, "\nCOPY {} FROM stdin;", copy_target(table))?;
            read(stream, out)?;
            writeln!(out, "\\.")?;
        }
    }
    read(SEQUENCES, out)?;
    for oid in large_objects(catalog) {
        read(&large_object_stream(oid), &mut LoScript::new(oid, out))?;
    }
    read(POST_DATA, out)?;
    // pg_dump's sections leave out what belongs to the database itself.
    if let Some(props) = DatabaseProperties::of(catalog) {
        writeln!(out, "\n{}", props.export_block())?;
    }
    Ok(())
}

/// The first `limit` rows of a table's first stream, each value as JSON of its column's kind:
/// integers and floats as numbers, booleans, `null` for COPY's `\N`, `bytea` as hex, the rest
/// (numeric included, to keep every digit) as text.
pub fn sample_rows(table: &crate::TableInfo, read: ReadStream<'_>, limit: usize) -> io::Result<crate::Sample> {
    let stored: Vec<&crate::ColumnInfo> = table.columns.iter().filter(|c| !c.generated).collect();
    let columns = stored.iter().map(|c| c.name.clone()).collect();
    let types: Vec<String> = stored.iter().map(|c| c.decl_type.clone()).collect();
    let mut lines = FirstLines { limit, lines: Vec::new(), current: Vec::new() };
    if let Some(stream) = table.streams.first() {
        // Reading stops with an error once enough lines arrived; that error is expected.
        let _ = read(stream, &mut lines);
    }
    let rows = lines
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).split('\t').zip(&types).map(|(field, kind)| typed(field, kind)).collect())
        .collect();
    Ok(crate::Sample { columns, types, rows })
}

/// One COPY text field as JSON of its column's kind.
fn typed(field: &str, kind: &str) -> serde_json::Value {
    if field == "\\N" {
        return serde_json::Value::Null;
    }
    let text = unescape(field);
    let number = match kind {
        "smallint" | "integer" | "bigint" => text.parse::<i64>().ok().map(serde_json::Value::from),
        "real" | "double precision" => text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(serde_json::Value::Number),
        "boolean" => Some(serde_json::Value::Bool(text == "t")),
        "bytea" => text.strip_prefix("\\x").and_then(|h| hex::decode(h).ok()).map(|b| crate::blob_value(&b)),
        _ => None,
    };
    number.unwrap_or(serde_json::Value::String(text))
}

struct FirstLines {
    limit: usize,
    lines: Vec<Vec<u8>>,
    current: Vec<u8>,
}

impl Write for FirstLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            if self.lines.len() >= self.limit {
                return Err(io::Error::other("enough rows"));
            }
            if byte == b'\n' {
                self.lines.push(std::mem::take(&mut self.current));
            } else {
                self.current.push(byte);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One COPY text field's value (backslash escapes undone).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
