//! Small presentation helpers shared by the commands.

/// Bytes in binary units, e.g. `12.3 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A timestamp in the local time zone, to the second, with the zone's name.
pub fn time(ts: jiff::Timestamp) -> String {
    ts.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// `1 row`, `2 rows`: a count and its noun.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The version of every `--json` output's shape, documented in `docs/json.md`: bumped when a
/// field changes meaning or goes away (new fields do not bump it).
pub const JSON_SCHEMA_VERSION: u32 = 2;

/// A `--json` output: `body`'s fields after `schema_version`.
#[derive(serde::Serialize)]
struct Versioned<'a, T: serde::Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// Prints `body` (a struct or map, so that every output is an object with the same first
/// field) as pretty JSON on standard output.
pub fn json(body: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&Versioned { schema_version: JSON_SCHEMA_VERSION, body })?);
    Ok(())
}
