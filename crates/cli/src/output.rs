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
    lifeboat_daemon::output::local_time(ts)
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
    let mut out = stdout();
    json_to(&mut out, body)?;
    Ok(std::io::Write::flush(&mut out)?)
}

/// Writes `body` as [`json`] does, to `out`, as it is serialized (a long job log is never
/// held whole in memory).
pub fn json_to(out: &mut impl std::io::Write, body: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Versioned { schema_version: JSON_SCHEMA_VERSION, body }).map_err(|e| {
        // An error writing, not serializing: the writer's own error, so a closed standard
        // output is still known as one.
        if e.is_io() { anyhow::Error::from(std::io::Error::from(e)) } else { e.into() }
    })?;
    writeln!(out)?;
    Ok(())
}

/// Standard output, buffered: for output of any length, written as it is made.
pub fn stdout() -> Stdout {
    Stdout(std::io::BufWriter::new(std::io::stdout().lock()))
}

pub struct Stdout(std::io::BufWriter<std::io::StdoutLock<'static>>);

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(StdoutClosed::mark)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(StdoutClosed::mark)
    }
}

/// Standard output's reader has gone (`lifeboat log | head -1`): the command ends quietly.
/// Only writes to standard output are marked so: a broken pipe to a child process (a restore
/// whose `psql` died) stays the failure it is.
#[derive(Debug)]
pub struct StdoutClosed;

impl StdoutClosed {
    fn mark(err: std::io::Error) -> std::io::Error {
        if err.kind() == std::io::ErrorKind::BrokenPipe { std::io::Error::new(err.kind(), StdoutClosed) } else { err }
    }

    /// Whether `err` is, or was caused by, standard output having been closed.
    pub fn caused(err: &anyhow::Error) -> bool {
        err.chain().any(|cause| {
            cause.is::<StdoutClosed>()
                || cause.downcast_ref::<std::io::Error>().and_then(|e| e.get_ref()).is_some_and(|inner| inner.is::<StdoutClosed>())
        })
    }
}

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}
