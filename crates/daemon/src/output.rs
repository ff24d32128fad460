//! The shape of every `--json` output, one type per command, shared by the CLI and the coming
//! HTTP API, so that a field changes in one place (and in `docs/json.md`, which documents
//! them). Each borrows what it shows from the operation's own report; the CLI adds
//! `schema_version` in front.

use jiff::Timestamp;
use lifeboat_engine::{BackupEntry, CheckReport, CopyReport, GroupPlan, KeyInfo, StreamRecord, VerifyReport};
use schemars::JsonSchema;
use serde::Serialize;

use crate::joblog::{Filter, JobLog, JobRecord};

/// A time as people read it: in the system's time zone, to the second, with the zone.
pub fn local_time(ts: Timestamp) -> String {
    ts.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
}

/// `lifeboat backup`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Backup<'a> {
    pub snapshot: &'a BackupEntry,
    pub tables: usize,
    pub streams: &'a [StreamRecord],
    pub warnings: &'a [String],
}

/// `lifeboat snapshots`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Snapshots<'a> {
    pub snapshots: &'a [BackupEntry],
}

/// `lifeboat verify`: every drill, and whether all passed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Verify<'a> {
    pub ok: bool,
    pub drills: &'a [VerifyReport],
}

/// `lifeboat check`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Check<'a> {
    pub ok: bool,
    pub read_data: bool,
    pub snapshots_checked: usize,
    pub findings: Vec<CheckFinding<'a>>,
    pub affected_snapshots: Vec<&'a str>,
}

/// One thing a check found: an error damages data, a warning is something to tidy.
#[derive(Debug, Serialize, JsonSchema)]
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
#[derive(Debug, Serialize, JsonSchema)]
pub struct Forget<'a> {
    pub dry_run: bool,
    pub removed: usize,
    /// What the prune freed in the storage; `None` without `--prune`.
    pub pruned_bytes: Option<u64>,
    pub plan: &'a [GroupPlan],
}

/// `lifeboat copy`.
#[derive(Debug, Serialize, JsonSchema)]
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
#[derive(Debug, Serialize, JsonSchema)]
pub struct Init {
    /// The repository, as a person reads it.
    pub created: String,
}

/// `lifeboat key list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Keys<'a> {
    pub keys: &'a [KeyInfo],
}

/// `lifeboat key add|remove|passwd`: the key added and the key removed (a new password is
/// both).
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyChange<'a> {
    pub added: Option<&'a str>,
    pub removed: Option<&'a str>,
}

/// `lifeboat token add`: the token, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenAdded<'a> {
    pub name: &'a str,
    pub token: &'a str,
    pub role: crate::access::Role,
    pub expires_at: Option<Timestamp>,
}

/// `lifeboat token list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Tokens<'a> {
    pub tokens: &'a [crate::access::TokenInfo],
}

/// `lifeboat user list`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Users<'a> {
    pub users: &'a [crate::access::UserInfo],
}

/// `lifeboat token revoke`, `user add`, `user passwd`, `user remove`: what changed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccessChange<'a> {
    /// `token.revoke`, `user.add`, … as the audit log names it.
    pub action: &'a str,
    pub name: &'a str,
}

/// `lifeboat audit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Audit<'a> {
    pub rows: &'a [crate::access::AuditRecord],
}

/// `lifeboat alerts test`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertTest {
    pub ok: bool,
    pub channels: Vec<ChannelResult>,
}

/// One alert channel's test: whether the message went out, and why not.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChannelResult {
    pub channel: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// `lifeboat config check`.
#[derive(Debug, Serialize, JsonSchema)]
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
#[derive(Debug, Serialize, JsonSchema)]
pub struct Schedule {
    pub schedule: String,
    pub cron: String,
    pub next: Option<Timestamp>,
}

/// A command that failed, under `--json` (on standard output, besides the text on stderr).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Failure<'a> {
    pub error: FailureDetail<'a>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FailureDetail<'a> {
    /// `usage`, `interrupted` or `failure`.
    pub kind: &'a str,
    pub exit_code: i32,
    pub message: &'a str,
    pub hint: &'a str,
}

/// `lifeboat log`.
#[derive(Serialize, JsonSchema)]
pub struct Log<'a> {
    /// Oldest first.
    pub jobs: JobList<'a>,
}

/// The jobs a filter selects (with `last`, the newest `last`), serialized as they are read
/// from the log: a log of any length is never held in memory.
pub struct JobList<'a> {
    pub log: &'a JobLog,
    pub filter: &'a Filter,
    pub last: Option<usize>,
}

impl Serialize for JobList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = serializer.serialize_seq(None)?;
        let mut failed = None;
        let read = self.log.listing(self.filter, self.last, |job| {
            seq.serialize_element(&job).map_err(|e| {
                let text = e.to_string();
                failed = Some(e);
                crate::DaemonError::new(crate::DaemonErrorKind::State, text, "")
            })
        });
        // The serializer's own error first: it may be standard output having closed.
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

impl JsonSchema for JobList<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JobList".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Vec::<JobRecord>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;

    use super::*;

    /// An output as the CLI prints it: `schema_version` first, then the body's fields.
    #[derive(JsonSchema)]
    #[allow(dead_code)] // only its schema is used
    struct Versioned<T> {
        schema_version: u32,
        #[serde(flatten)]
        body: T,
    }

    /// `docs/json-schema.json` is the JSON Schema of every output, generated from these types:
    /// a field cannot change, appear or go without that file changing in the same commit (and
    /// `docs/json.md`, which `crates/cli/tests/json.rs` checks against real outputs).
    /// `LIFEBOAT_WRITE_SCHEMA=1 cargo test -p lifeboat-daemon json_schema` writes it anew.
    #[test]
    fn the_committed_json_schema_is_the_outputs_own() {
        let mut all = serde_json::Map::new();
        macro_rules! outputs {
            ($($name:literal => $ty:ty),* $(,)?) => {$(
                all.insert($name.to_string(), serde_json::to_value(schemars::schema_for!(Versioned<$ty>)).unwrap());
            )*};
        }
        outputs! {
            "init" => Init,
            "backup" => Backup<'static>,
            "snapshots" => Snapshots<'static>,
            "show" => lifeboat_engine::ShowReport,
            "restore" => lifeboat_engine::RestoreReport,
            "verify" => Verify<'static>,
            "check" => Check<'static>,
            "forget" => Forget<'static>,
            "copy" => Copy<'static>,
            "log" => Log<'static>,
            "stats" => crate::StatsReport,
            "health" => crate::HealthReport,
            "config check" => ConfigCheck<'static>,
            "alerts test" => AlertTest,
            "key list" => Keys<'static>,
            "key add, key remove, key passwd" => KeyChange<'static>,
            "token add" => TokenAdded<'static>,
            "token list" => Tokens<'static>,
            "user list" => Users<'static>,
            "user totp" => crate::access::Enrolment,
            "token revoke, user add, user passwd, user remove" => AccessChange<'static>,
            "audit" => Audit<'static>,
            "audit verify" => crate::access::AuditVerdict,
            "error" => Failure<'static>,
        }
        all.insert("webhook (format = \"json\")".into(), serde_json::to_value(schemars::schema_for!(crate::Alert)).unwrap());
        let generated = serde_json::to_string_pretty(&all).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/json-schema.json");
        if std::env::var_os("LIFEBOAT_WRITE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/json-schema.json differs from the output types: update docs/json.md for the change, then run \
             `LIFEBOAT_WRITE_SCHEMA=1 cargo test -p lifeboat-daemon json_schema` and commit both"
        );
    }
}
