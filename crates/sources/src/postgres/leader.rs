//! The leader session: one transaction whose snapshot every other session of a backup imports.
//!
//! `pg_export_snapshot()` names the leader's snapshot; another session can adopt it with
//! `SET TRANSACTION SNAPSHOT` only while the leader's transaction is still open. So the leader
//! is a `psql` kept waiting on its standard input until the last stream has started, and it
//! holds ACCESS SHARE locks on the tables being copied so no DDL can drop or rewrite them
//! mid-backup (writes go on as usual).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Stdio},
};

use super::{conn::Conn, psql, tools::Tools};
use crate::{Result, SourceError, SourceErrorKind};

pub(crate) struct Leader {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
    conn: Conn,
    pub(crate) snapshot: String,
}

impl Leader {
    pub(crate) fn begin(tools: &Tools, conn: &Conn) -> Result<Self> {
        let mut cmd = psql::psql(tools, conn);
        cmd.args(["-A", "-t"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| psql::spawn_failed("psql", e))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let stderr = child.stderr.take().map(crate::child::drain);
        let mut leader = Self { child, stdin, stdout, stderr, conn: conn.clone(), snapshot: String::new() };
        leader.snapshot = leader
            .ask(&format!("{} BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();", psql::SESSION_SETTINGS))?;
        Ok(leader)
    }

    /// Locks `tables` (already quoted, qualified) against DDL for the rest of the backup.
    pub(crate) fn lock(&mut self, tables: &[String]) -> Result<()> {
        for batch in tables.chunks(500) {
            self.ask(&format!("LOCK TABLE {} IN ACCESS SHARE MODE; SELECT 'locked';", batch.join(", ")))?;
        }
        Ok(())
    }

    /// Sends `sql`, whose last statement returns one value, and reads that value.
    fn ask(&mut self, sql: &str) -> Result<String> {
        let sent = writeln!(self.stdin, "{sql}").and_then(|_| self.stdin.flush());
        let mut line = String::new();
        let read = sent.and_then(|_| self.stdout.read_line(&mut line));
        match read {
            Ok(n) if n > 0 => Ok(line.trim().to_string()),
            _ => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
                if stderr.trim().is_empty() {
                    Err(SourceError::new(
                        SourceErrorKind::Connection,
                        format!("the leader session on {} ended unexpectedly", self.conn.label()),
                        "",
                    ))
                } else {
                    Err(psql::server_error(&self.conn, &stderr))
                }
            }
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Closing psql's input ends the session; its read-only transaction rolls back.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
