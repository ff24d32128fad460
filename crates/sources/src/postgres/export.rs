//! A PostgreSQL backup as one plain SQL script that `psql` loads into an empty database, in
//! the same order a restore uses, so nobody needs lifeboat to read their backup.

use std::io::{self, Write};

use super::{
    capture::{POST_DATA, PRE_DATA, SEQUENCES, large_object_stream},
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
    Ok(())
}

/// The first `limit` rows of a table's first stream, split into text values (`NULL` for
/// COPY's `\N`), for reports.
pub fn sample_rows(table: &crate::TableInfo, read: ReadStream<'_>, limit: usize) -> io::Result<Vec<Vec<String>>> {
    let Some(stream) = table.streams.first() else { return Ok(Vec::new()) };
    let mut lines = FirstLines { limit, lines: Vec::new(), current: Vec::new() };
    // Reading stops with an error once enough lines arrived; that error is expected.
    let _ = read(stream, &mut lines);
    Ok(lines.lines.iter().map(|l| String::from_utf8_lossy(l).split('\t').map(unescape).collect()).collect())
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

/// One COPY text field as a person reads it.
fn unescape(field: &str) -> String {
    if field == "\\N" {
        return "NULL".to_string();
    }
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
