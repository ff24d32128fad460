//! The audit log: who did what to whose data, append-only in `state.db`. Each row carries the
//! hash of the one before it and its own (SHA-256 over both and every field), so a row edited
//! or removed with `sqlite3` breaks the chain at that row, and `audit verify` says where. The
//! newest rows could still be cut off without a trace inside the file: `audit verify` prints
//! the head (the newest row's id and hash) for a monitor to keep elsewhere and compare.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{Access, role::Role};
use crate::error::{DaemonError, Result};

/// The hash before the first row.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to put on the record.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// The user or token name (never a token itself), or the OS user on the host.
    pub actor: String,
    pub role: Option<Role>,
    /// Where it came from: `cli` (a command on the host), or the client's address.
    pub source: String,
    /// What was done: `token.add`, `user.remove`, `login`, `backup.start`, …
    pub action: String,
    /// What it was done to: a token's or user's name, a database, a snapshot, a job.
    pub target: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub request_id: Option<String>,
    /// Anything else worth keeping (a reason, why it was refused); never a secret.
    pub detail: Option<String>,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub role: Option<String>,
    pub source: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    /// The previous row's hash, and this row's.
    pub prev_hash: String,
    pub hash: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AuditVerdict {
    pub ok: bool,
    pub rows: u64,
    /// The first row that does not hold, and why.
    pub problem: Option<String>,
    /// The newest row's id and hash: keep them elsewhere to notice rows cut off at the end.
    pub head_id: Option<i64>,
    pub head_hash: String,
}

impl Access {
    /// Appends `event` to the audit log; returns its id.
    pub fn audit(&self, event: &AuditEvent) -> Result<i64> {
        let failed = |e| DaemonError::state("writing the audit log", e);
        // One writer at a time reads the head and appends after it.
        let tx = rusqlite::Transaction::new_unchecked(&self.log.conn, TransactionBehavior::Immediate).map_err(failed)?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(failed)?;
        let (id, prev_hash) = head.map_or((1, GENESIS.to_string()), |(id, hash)| (id + 1, hash));
        let mut record = AuditRecord {
            id,
            at: Timestamp::now(),
            actor: event.actor.clone(),
            role: event.role.map(|r| r.as_str().to_string()),
            source: event.source.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            outcome: if event.outcome.is_empty() { "ok".into() } else { event.outcome.clone() },
            request_id: event.request_id.clone(),
            detail: event.detail.clone(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = hash_of(&record);
        tx.execute(
            "INSERT INTO audit (id, at, actor, role, source, action, target, outcome, request_id, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                record.id,
                record.at.to_string(),
                record.actor,
                record.role,
                record.source,
                record.action,
                record.target,
                record.outcome,
                record.request_id,
                record.detail,
                record.prev_hash,
                record.hash
            ],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        Ok(id)
    }

    /// The audit log since `since` (every row when `None`), oldest first.
    pub fn audit_rows(&self, since: Option<Timestamp>) -> Result<Vec<AuditRecord>> {
        let failed = |e| DaemonError::state("reading the audit log", e);
        let mut stmt = self
            .log
            .conn
            .prepare(
                "SELECT id, at, actor, role, source, action, target, outcome, request_id, detail, prev_hash, hash
                 FROM audit WHERE at >= ?1 ORDER BY id",
            )
            .map_err(failed)?;
        let since = since.map_or_else(String::new, |t| t.to_string());
        let rows = stmt
            .query_map([since], |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: r.get::<_, String>(1)?.parse().unwrap_or_default(),
                    actor: r.get(2)?,
                    role: r.get(3)?,
                    source: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    outcome: r.get(7)?,
                    request_id: r.get(8)?,
                    detail: r.get(9)?,
                    prev_hash: r.get(10)?,
                    hash: r.get(11)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<_>>().map_err(failed)
    }

    /// Walks the chain from the first row: each row must follow the one before it and hash to
    /// what it says.
    pub fn verify_audit(&self) -> Result<AuditVerdict> {
        let mut expected = GENESIS.to_string();
        let mut rows = 0;
        let mut head_id = None;
        for record in self.audit_rows(None)? {
            let problem = if record.prev_hash != expected {
                Some(format!("row {}: the row before it was removed or changed (its chain does not follow)", record.id))
            } else if hash_of(&record) != record.hash {
                Some(format!("row {} was changed after it was written ({} {} at {})", record.id, record.action, record.actor, record.at))
            } else {
                None
            };
            if problem.is_some() {
                return Ok(AuditVerdict { ok: false, rows, problem, head_id, head_hash: expected });
            }
            rows += 1;
            head_id = Some(record.id);
            expected = record.hash;
        }
        Ok(AuditVerdict { ok: true, rows, problem: None, head_id, head_hash: expected })
    }
}

/// The row's hash: of its predecessor's hash and every field, written unambiguously (as JSON).
fn hash_of(r: &AuditRecord) -> String {
    let fields =
        (&r.prev_hash, r.id, r.at.to_string(), &r.actor, &r.role, &r.source, &r.action, &r.target, &r.outcome, &r.request_id, &r.detail);
    let text = serde_json::to_string(&fields).expect("strings serialize");
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}
