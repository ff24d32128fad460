//! Running libpq's tools: queries through `psql`, dumps through `pg_dump`, and turning what
//! they print on failure into errors a person can act on.

use std::{
    io,
    process::{Command, Stdio},
};

use super::{conn::Conn, tools::Tools};
use crate::{Result, SourceError, SourceErrorKind, child::ChildOutput};

/// Settings every session uses, so COPY text is the same bytes at backup and at verification
/// (dates, floats, bytea and time zones all print per session settings), and so RLS policies
/// raise an error instead of silently hiding rows. The search path is fixed too: a database's
/// own `ALTER DATABASE … SET search_path` would otherwise change how names print (`regclass`
/// values in rows, the names in the catalog `show` reports).
pub(crate) const SESSION_SETTINGS: &str = "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, MDY'; \
     SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET TimeZone = 'UTC'; \
     SET bytea_output = 'hex'; SET row_security = off; SET statement_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0; SET search_path = public;";

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// `psql` against `conn`, quiet, stopping at the first error, without reading ~/.psqlrc.
pub(crate) fn psql(tools: &Tools, conn: &Conn) -> Command {
    let mut cmd = conn.command(&tools.path("psql"));
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    cmd
}

/// Runs two independent pieces of work (catalog queries, each its own short `psql` session)
/// at the same time and returns both results: each query costs a process and a connection,
/// tens of milliseconds before any row, and a backup asks several before its first copy.
pub(crate) fn at_once<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|scope| {
        let first = scope.spawn(a);
        let second = b();
        (first.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), second)
    })
}

/// Runs `statements` (each one `-c`, in one session) and returns the rows of the last one.
pub(crate) fn query(tools: &Tools, conn: &Conn, statements: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut cmd = psql(tools, conn);
    cmd.args(["-A", "-t", "-F", &FIELD.to_string(), "-R", &RECORD.to_string()]);
    for statement in statements {
        cmd.arg("-c").arg(statement);
    }
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| spawn_failed("psql", e))?;
    if !output.status.success() {
        return Err(server_error(conn, &String::from_utf8_lossy(&output.stderr)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .trim_end_matches('\n')
        .split(RECORD)
        .map(|r| r.trim_start_matches('\n'))
        .filter(|r| !r.is_empty())
        .map(|r| r.split(FIELD).map(str::to_string).collect())
        .collect())
}

/// Runs `statements` for their effect.
pub(crate) fn execute(tools: &Tools, conn: &Conn, statements: &[&str]) -> Result<()> {
    query(tools, conn, statements).map(drop)
}

pub(crate) fn spawn_failed(program: &str, err: io::Error) -> SourceError {
    SourceError::new(
        SourceErrorKind::Tool,
        format!("cannot run {program}"),
        "install PostgreSQL's client tools, e.g. `apt-get install postgresql-client`",
    )
    .with_source(err)
}

/// What libpq or the server said, as an error with a kind and a hint.
pub(crate) fn server_error(conn: &Conn, stderr: &str) -> SourceError {
    let message = stderr
        .lines()
        .map(|l| l.trim().trim_start_matches("psql: ").trim_start_matches("pg_dump: ").trim_start_matches("error: "))
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let target = conn.label();
    let (kind, context, hint) = if message.contains("password authentication failed") || message.contains("no password supplied") {
        (
            SourceErrorKind::PermissionDenied,
            format!("the server refused the credentials for {target}"),
            "check the user and password (URL, PGPASSWORD or ~/.pgpass)".to_string(),
        )
    } else if message.contains("does not exist") && message.contains("role \"") {
        (
            SourceErrorKind::PermissionDenied,
            format!("the server has no such role (user) as {target} names"),
            "check the user name in the URL or PGUSER; `\\du` in psql lists the roles".to_string(),
        )
    } else if message.contains("does not exist") && message.contains("database") {
        (
            SourceErrorKind::NotFound,
            format!("the database of {target} does not exist"),
            "check the database name in the URL; `psql -l` lists them".to_string(),
        )
    } else if message.contains("SSL") || message.contains("certificate") {
        (SourceErrorKind::Connection, format!("the TLS connection to {target} failed"), "check sslmode and sslrootcert in the URL: verify-full needs the CA that signed the server's certificate and a host name the certificate names".to_string())
    } else if message.contains("Connection refused")
        || message.contains("could not translate host name")
        || message.contains("timeout expired")
        || message.contains("No such file or directory")
        || message.contains("could not connect")
    {
        (
            SourceErrorKind::Connection,
            format!("cannot reach the server of {target}"),
            "check host and port, and that the server is running and accepts connections from here".to_string(),
        )
    } else if message.contains("row-level security") {
        (
            SourceErrorKind::PermissionDenied,
            "row-level security would hide rows from this role".to_string(),
            "back up as the tables' owner or a role with BYPASSRLS, so the backup is complete".to_string(),
        )
    } else if message.contains("permission denied") {
        (
            SourceErrorKind::PermissionDenied,
            format!("permission denied on {target}"),
            "grant this role SELECT on every table (or use the owner), then back up again".to_string(),
        )
    } else if message.contains("terminating connection")
        || message.contains("server closed the connection")
        || message.contains("connection to server")
    {
        (
            SourceErrorKind::Connection,
            format!("the server of {target} went away"),
            "check the server's log; nothing was kept from the interrupted work".to_string(),
        )
    } else {
        (SourceErrorKind::Database, format!("PostgreSQL reported an error on {target}"), String::new())
    };
    SourceError::new(kind, context, hint).with_source(io::Error::other(message))
}

/// The standard output of `cmd` (a PostgreSQL tool connected to `conn`) as a stream that
/// fails unless the tool exits 0, its failure read as the server's error.
pub(crate) fn tool_output(cmd: Command, what: impl Into<String>, conn: &Conn) -> io::Result<ChildOutput> {
    let conn = conn.clone();
    ChildOutput::spawn(cmd, what, Box::new(move |stderr| server_error(&conn, stderr).to_string()))
}

/// `'text'` as an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `"name"` as an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// The quoted names of the columns COPY moves: generated columns are computed, not stored.
pub(crate) fn copy_columns(columns: &[crate::ColumnInfo]) -> Vec<String> {
    columns.iter().filter(|c| !c.generated).map(|c| ident(&c.name)).collect()
}

/// ` ("a", "b")` for COPY, or nothing for a table without columns (COPY rejects `()`).
pub(crate) fn column_list(columns: &[crate::ColumnInfo]) -> String {
    let names = copy_columns(columns);
    if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) }
}
