use std::fmt::Write as _;

use anyhow::Result;
use lifeboat_engine::ShowReport;

use crate::{
    context,
    flags::{Format, Global, ShowArgs},
    output,
};

pub fn run(global: &Global, args: &ShowArgs) -> Result<i32> {
    let repo = context::open(global)?;
    let entry = lifeboat_engine::resolve(&repo, &args.snapshot, args.db.as_deref())?;
    let report = lifeboat_engine::show(&repo, &entry, args.sample, None)?;
    let format = if global.json { Format::Json } else { args.format };
    match format {
        Format::Json => output::json(&report)?,
        Format::Text => print!("{}", render(&report, false)),
        Format::Markdown => print!("{}", render(&report, true)),
    }
    Ok(0)
}

/// The report as text, or as Markdown with headings and tables.
fn render(r: &ShowReport, md: bool) -> String {
    let m = &r.manifest;
    let mut s = String::new();
    let h = |s: &mut String, level: usize, title: &str| {
        if md {
            let _ = writeln!(s, "\n{} {title}\n", "#".repeat(level));
        } else {
            let _ = writeln!(s, "\n{title}\n{}", if level == 1 { "=" } else { "-" }.repeat(title.chars().count()));
        }
    };
    h(&mut s, 1, &format!("Snapshot {} of {} `{}`", r.snapshot.short_id, m.catalog.engine, m.database));
    let streamed: u64 = m.streams.iter().map(|st| st.bytes).sum();
    let mut facts = vec![
        ("taken", format!("{} (took {:.1}s)", output::time(m.started_at), m.finished_at.duration_since(m.started_at).as_secs_f64())),
        ("class", m.class.clone()),
        ("reason", m.reason.clone().unwrap_or_else(|| "-".into())),
        ("source", m.source.clone()),
        ("version", format!("{} {}", m.catalog.engine, m.catalog.server_version)),
        (
            "tables",
            format!(
                "{}, {}",
                output::count(m.catalog.tables.iter().filter(|t| t.shadow_of.is_none()).count() as u64, "table"),
                output::count(m.catalog.tables.iter().filter(|t| t.shadow_of.is_none()).map(|t| t.rows).sum::<u64>(), "row")
            ),
        ),
        (
            "size",
            format!(
                "database {}; backup streams {}; {} added to the repository",
                m.catalog.database_bytes.map_or("unknown".into(), output::size),
                output::size(streamed),
                output::size(r.snapshot.added_bytes)
            ),
        ),
    ];
    for (k, v) in &m.catalog.properties {
        facts.push((k.as_str(), property(v)));
    }
    for (k, v) in facts {
        let _ = if md { writeln!(s, "- **{k}**: {v}") } else { writeln!(s, "{k:>15}: {v}") };
    }

    h(&mut s, 2, "Tables");
    if md {
        let _ = writeln!(s, "| table | rows | size | columns | content hash |\n|---|---:|---:|---|---|");
    }
    // Shadow tables are shown under their virtual table, not as tables of their own.
    for t in m.catalog.tables.iter().filter(|t| t.shadow_of.is_none()) {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let mut typed = if c.decl_type.is_empty() { c.name.clone() } else { format!("{} {}", c.name, c.decl_type) };
                if c.generated {
                    typed.push_str(format!(" GENERATED {}", c.generated_as.as_deref().unwrap_or("").to_uppercase()).trim_end());
                }
                if c.primary_key > 0 { format!("{typed} PK") } else { typed }
            })
            .collect();
        let mut cols = cols.join(", ");
        if let Some(parent) = &t.partition_of {
            cols = format!("partition of {parent} {}; {cols}", t.partition_bound.as_deref().unwrap_or_default());
        } else if !t.inherits.is_empty() {
            cols = format!("inherits {}; {cols}", t.inherits.join(", "));
        } else if let Some(module) = &t.module {
            let shadows: Vec<&str> =
                m.catalog.tables.iter().filter(|s| s.shadow_of.as_ref() == Some(&t.name)).map(|s| s.name.as_str()).collect();
            cols = format!("virtual table ({module}; shadow tables {}); {cols}", shadows.join(", "));
        }
        let hash = t.content_hash.get(..21).unwrap_or("-");
        let size = t.bytes.map_or("-".into(), output::size);
        let _ = if md {
            writeln!(s, "| {} | {} | {size} | {cols} | `{hash}` |", t.name, t.rows)
        } else {
            writeln!(s, "{:<30} {:>12} rows {size:>10}  ({cols})", t.name, t.rows)
        };
    }
    // A partitioned table holds no rows itself: a query of it sees its partitions'.
    for parent in m.catalog.objects.iter().filter(|o| o.kind == "partitioned table") {
        let below: Vec<_> = m.catalog.tables.iter().filter(|t| t.ancestors.contains(&parent.name)).collect();
        let rows: u64 = below.iter().map(|t| t.rows).sum();
        let size = output::size(below.iter().filter_map(|t| t.bytes).sum());
        let what = format!("partitioned table: its rows are in {}", output::count(below.len() as u64, "partition"));
        let _ = if md {
            writeln!(s, "| {} | {rows} | {size} | {what} | - |", parent.name)
        } else {
            writeln!(s, "{:<30} {rows:>12} rows {size:>10}  ({what})", parent.name)
        };
    }

    let fks: Vec<String> = m
        .catalog
        .tables
        .iter()
        .flat_map(|t| {
            t.foreign_keys.iter().map(move |fk| {
                format!(
                    "{}({}) → {}({}) on delete {}",
                    t.name,
                    fk.columns.join(", "),
                    fk.references_table,
                    fk.references_columns.join(", "),
                    fk.on_delete.to_lowercase()
                )
            })
        })
        .collect();
    h(&mut s, 2, "Relationships");
    if fks.is_empty() {
        let _ = writeln!(s, "(no foreign keys)");
    }
    for fk in fks {
        let _ = writeln!(s, "{}{fk}", if md { "- " } else { "" });
    }

    h(&mut s, 2, "Partitioned tables, indexes, views, rules, triggers, functions and aggregates");
    if m.catalog.objects.is_empty() {
        let _ = writeln!(s, "(none)");
    }
    for o in &m.catalog.objects {
        // A view or function "belongs" to itself; naming it twice says nothing.
        let on = if o.table.is_empty() || o.table == o.name { String::new() } else { format!(" on {}", o.table) };
        let _ = writeln!(s, "{}{} {}{on}", if md { "- " } else { "" }, o.kind, o.name);
    }

    h(&mut s, 2, "Schema");
    if md {
        let _ = writeln!(s, "```sql");
    }
    for sql in m.catalog.tables.iter().map(|t| &t.sql).chain(m.catalog.objects.iter().map(|o| &o.sql)) {
        let _ = writeln!(s, "{};", sql.trim_end().trim_end_matches(';'));
    }
    if md {
        let _ = writeln!(s, "```");
    }

    for (table, sample) in &r.samples {
        h(&mut s, 2, &format!("First rows of {table}"));
        if md {
            let _ = writeln!(s, "| {} |\n|{}", sample.columns.join(" | "), "---|".repeat(sample.columns.len()));
            for row in &sample.rows {
                let _ = writeln!(s, "| {} |", row.iter().map(|v| shown(v).replace('|', "\\|")).collect::<Vec<_>>().join(" | "));
            }
        } else {
            let _ = writeln!(s, "{}", sample.columns.join(" | "));
            for row in &sample.rows {
                let _ = writeln!(s, "{}", row.iter().map(shown).collect::<Vec<_>>().join(" | "));
            }
        }
    }

    h(&mut s, 2, "Streams");
    for st in &m.streams {
        let _ = writeln!(s, "{}{} {} sha256 {}", if md { "- " } else { "" }, st.name, output::size(st.bytes), st.sha256);
    }
    s
}

/// An engine property as a person reads it: text without quotes, lists joined.
fn property(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) if items.is_empty() => "none".into(),
        serde_json::Value::Array(items) if items.len() > 8 => {
            format!("{} ({}, …)", items.len(), items.iter().take(5).map(property).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Array(items) => items.iter().map(property).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A sample value as a person reads it: NULL, numbers and text as they are (long text cut),
/// a blob as its size.
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "NULL".into(),
        serde_json::Value::String(text) if text.chars().count() > 60 => format!("{}…", text.chars().take(60).collect::<String>()),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(blob) => {
            blob.get("hex").and_then(|h| h.as_str()).map_or("?".into(), |h| format!("<{} bytes>", h.len() / 2))
        }
        other => other.to_string(),
    }
}
