//! The shape of every `--json` output, one type per command, shared by the CLI and the coming
//! HTTP API, so that a field changes in one place (and in `docs/json.md`, which documents
//! them). Each borrows what it shows from the operation's own report; the CLI adds
//! `schema_version` in front.

use jiff::Timestamp;
use lifeboat_engine::{BackupEntry, CheckReport, CopyReport, GroupPlan, KeyInfo, StreamRecord, VerifyReport};
use serde::Serialize;

/// `lifeboat backup`.
#[derive(Debug, Serialize)]
pub struct Backup<'a> {
    pub snapshot: &'a BackupEntry,
    pub tables: usize,
    pub streams: &'a [StreamRecord],
    pub warnings: &'a [String],
}

/// `lifeboat snapshots`.
#[derive(Debug, Serialize)]
pub struct Snapshots<'a> {
    pub snapshots: &'a [BackupEntry],
}

/// `lifeboat verify`: every drill, and whether all passed.
#[derive(Debug, Serialize)]
pub struct Verify<'a> {
    pub ok: bool,
    pub drills: &'a [VerifyReport],
}

/// `lifeboat check`.
#[derive(Debug, Serialize)]
pub struct Check<'a> {
    pub ok: bool,
    pub read_data: bool,
    pub snapshots_checked: usize,
    pub findings: Vec<CheckFinding<'a>>,
    pub affected_snapshots: Vec<&'a str>,
}

/// One thing a check found: an error damages data, a warning is something to tidy.
#[derive(Debug, Serialize)]
pub struct CheckFinding<'a> {
    pub error: bool,
    pub message: &'a str,
}

impl<'a> Check<'a> {
    pub fn of(report: &'a CheckReport, read_data: bool) -> Self {
        Self {
            ok: !report.has_errors(),
            read_data,
            snapshots_checked: report.snapshots_checked,
            findings: report.findings.iter().map(|f| CheckFinding { error: f.error, message: &f.message }).collect(),
            affected_snapshots: report.affected.iter().map(|s| s.id.as_str()).collect(),
        }
    }
}

/// `lifeboat forget`: the plan, and what it removed (nothing in a dry run).
#[derive(Debug, Serialize)]
pub struct Forget<'a> {
    pub dry_run: bool,
    pub removed: usize,
    /// What the prune freed in the storage; `None` without `--prune`.
    pub pruned_bytes: Option<u64>,
    pub plan: &'a [GroupPlan],
}

/// `lifeboat copy`.
#[derive(Debug, Serialize)]
pub struct Copy<'a> {
    pub to: &'a str,
    pub copied: &'a [String],
    pub present: &'a [String],
}

impl<'a> Copy<'a> {
    pub fn of(to: &'a str, report: &'a CopyReport) -> Self {
        Self { to, copied: &report.copied, present: &report.present }
    }
}

/// `lifeboat init`.
#[derive(Debug, Serialize)]
pub struct Init {
    /// The repository, as a person reads it.
    pub created: String,
}

/// `lifeboat key list`.
#[derive(Debug, Serialize)]
pub struct Keys<'a> {
    pub keys: &'a [KeyInfo],
}

/// `lifeboat key add|remove|passwd`: the key added and the key removed (a new password is
/// both).
#[derive(Debug, Serialize)]
pub struct KeyChange<'a> {
    pub added: Option<&'a str>,
    pub removed: Option<&'a str>,
}

/// `lifeboat alerts test`.
#[derive(Debug, Serialize)]
pub struct AlertTest {
    pub ok: bool,
    pub channels: Vec<ChannelResult>,
}

/// One alert channel's test: whether the message went out, and why not.
#[derive(Debug, Serialize)]
pub struct ChannelResult {
    pub channel: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// `lifeboat config check`.
#[derive(Debug, Serialize)]
pub struct ConfigCheck<'a> {
    pub ok: bool,
    pub problems: &'a [String],
    pub warnings: &'a [String],
    pub repository: &'a str,
    pub state_dir: &'a std::path::Path,
    pub databases: Vec<&'a str>,
    pub schedules: Vec<Schedule>,
}

/// One schedule of a configuration and when it next fires (`None`: after each backup).
#[derive(Debug, Serialize)]
pub struct Schedule {
    pub schedule: String,
    pub cron: String,
    pub next: Option<Timestamp>,
}

/// A command that failed, under `--json` (on standard output, besides the text on stderr).
#[derive(Debug, Serialize)]
pub struct Failure<'a> {
    pub error: FailureDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct FailureDetail<'a> {
    /// `usage`, `interrupted` or `failure`.
    pub kind: &'a str,
    pub exit_code: i32,
    pub message: &'a str,
    pub hint: &'a str,
}
