//! When to alert, and what to say: a state machine fed by job ends and health evaluations,
//! kept apart from sending so that it can be tested on a timeline of its own.

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;

use serde::{Deserialize, Serialize};

use super::Alert;
use crate::health::{FIRST_BACKUP_PENDING, HealthReport, Level};

/// Gathered changes are sent at the latest this long after the first, even while jobs run.
const GATHER_AT_MOST: Duration = Duration::from_secs(60);

/// The name under which repository-wide findings and jobs are tracked.
const REPOSITORY: &str = "(repository)";

/// One change to tell.
#[derive(Debug, Clone)]
struct Change {
    level: Level,
    subject: String,
    line: String,
}

/// What the alerter must remember across restarts, kept in `state.db`: what was told, which
/// job kinds were failing, and when the last alert went out. Without it every restart
/// re-sent every alert ("ok → critical" again) and restarted the reminder clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertMemory {
    pub told: BTreeMap<String, Level>,
    /// `(subject, job kind)` pairs whose last job failed.
    pub failing: Vec<(String, String)>,
    pub last_sent: Option<Timestamp>,
}

#[derive(Debug)]
pub struct Alerter {
    repeat: Duration,
    /// Each database's (and the repository's) level at the last evaluation, with why.
    levels: BTreeMap<String, (Level, Vec<String>)>,
    /// The levels as last told: a change is a difference from these, so a level that moves
    /// and moves back between two alerts is not news.
    told: BTreeMap<String, Level>,
    /// Per database (or the repository) and job kind: whether its last job failed.
    failing: BTreeMap<(String, String), bool>,
    /// Job changes not covered by health (a prune that fails or recovers).
    pending: Vec<Change>,
    /// Since when there has been something to tell.
    pending_since: Option<Timestamp>,
    last_sent: Option<Timestamp>,
    /// Nothing is sent before the first job ended (or [`GATHER_AT_MOST`] passed): at start
    /// every database looks unprotected until its first backup, which is not news.
    started: Timestamp,
    armed: bool,
    host: String,
}

impl Alerter {
    pub fn new(now: Timestamp, repeat: Duration) -> Self {
        Self {
            repeat,
            levels: BTreeMap::new(),
            told: BTreeMap::new(),
            failing: BTreeMap::new(),
            pending: Vec::new(),
            pending_since: None,
            last_sent: None,
            started: now,
            armed: false,
            host: lifeboat_engine::host_name(),
        }
    }

    pub fn set_repeat(&mut self, repeat: Duration) {
        self.repeat = repeat;
    }

    /// Continues from what an earlier run told (see [`AlertMemory`]).
    pub fn remember(&mut self, memory: AlertMemory) {
        self.told = memory.told;
        self.failing = memory.failing.into_iter().map(|key| (key, true)).collect();
        self.last_sent = memory.last_sent;
    }

    /// What a later run must know to go on without repeating itself.
    pub fn memory(&self) -> AlertMemory {
        AlertMemory {
            told: self.told.clone(),
            failing: self.failing.iter().filter(|(_, failing)| **failing).map(|(key, _)| key.clone()).collect(),
            last_sent: self.last_sent,
        }
    }

    /// A job ended with `status` (`ok`, `failed`, …): its first failure and its recovery are
    /// changes; a failure that repeats is not (the reminder covers it). Backups, drills and
    /// checks are told through health, which their failures change (see [`Alerter::health`]):
    /// telling them here too would say one thing twice.
    pub fn job_ended(&mut self, now: Timestamp, database: Option<&str>, kind: &str, status: &str, error: Option<&str>) {
        self.armed = true;
        if matches!(kind, "backup" | "drill" | "check") {
            return;
        }
        let subject = database.unwrap_or(REPOSITORY).to_string();
        let was_failing = self.failing.get(&(subject.clone(), kind.to_string())).copied().unwrap_or(false);
        let on = database.map_or_else(|| "of the repository".to_string(), |d| format!("of `{d}`"));
        let line = match status {
            "failed" if !was_failing => {
                Some((Level::Warning, format!("{kind} {on} failed: {}", error.unwrap_or("no error recorded").replace('\n', " "))))
            }
            "ok" if was_failing => Some((Level::Ok, format!("{kind} {on} works again (recovered)"))),
            _ => None,
        };
        if let Some((level, line)) = line {
            self.pending_since.get_or_insert(now);
            self.pending.push(Change { level, subject: subject.clone(), line });
        }
        match status {
            "failed" => self.failing.insert((subject, kind.to_string()), true),
            "ok" => self.failing.insert((subject, kind.to_string()), false),
            _ => None,
        };
    }

    /// Health was evaluated: the levels to compare with what was last told.
    pub fn health(&mut self, now: Timestamp, report: &HealthReport) {
        // A database whose first backup is merely still to come is not news (a new daemon's
        // first round): its level for alerts leaves that finding out.
        let why = |database: Option<&str>| -> Vec<String> {
            news(report, database).map(|f| format!("{} (hint: {})", f.message, f.hint)).collect()
        };
        let level = |database: &str| news(report, Some(database)).map(|f| f.level).max().unwrap_or(Level::Ok);
        self.levels = report.databases.iter().map(|d| (d.name.clone(), (level(&d.name), why(Some(&d.name))))).collect();
        let repository = report.findings.iter().filter(|f| f.database.is_none()).map(|f| f.level).max().unwrap_or(Level::Ok);
        self.levels.insert(REPOSITORY.to_string(), (repository, why(None)));
        if self.health_changes().is_empty() && self.pending.is_empty() {
            self.pending_since = None;
        } else {
            self.pending_since.get_or_insert(now);
        }
    }

    /// Each subject whose level differs from what was last told.
    fn health_changes(&self) -> Vec<Change> {
        self.levels
            .iter()
            .filter_map(|(subject, (level, why))| {
                let before = self.told.get(subject).copied().unwrap_or(Level::Ok);
                if before == *level {
                    return None;
                }
                let line = if *level == Level::Ok {
                    format!("`{subject}` recovered (was {})", before.name())
                } else if why.is_empty() {
                    format!("{subject}: {} → {}", before.name(), level.name())
                } else {
                    format!("{subject}: {} → {}: {}", before.name(), level.name(), why.join("; "))
                };
                Some(Change { level: *level, subject: subject.clone(), line })
            })
            .collect()
    }

    /// What to send now, if anything. `quiet` says no job is running or due: gathered changes
    /// go out then (or after [`GATHER_AT_MOST`]), so failures at one moment make one message.
    /// While anything stays broken, a reminder goes out every `repeat` after the last alert.
    pub fn due(&mut self, now: Timestamp, quiet: bool, latest: Option<&HealthReport>) -> Option<Alert> {
        if !self.armed && elapsed(self.started, now) < GATHER_AT_MOST {
            return None;
        }
        self.armed = true;
        let gathered_long_enough = self.pending_since.is_some_and(|since| elapsed(since, now) >= GATHER_AT_MOST);
        let health_changes = self.health_changes();
        let news = !self.pending.is_empty() || !health_changes.is_empty();
        if news && (quiet || gathered_long_enough) {
            let mut changes = std::mem::take(&mut self.pending);
            changes.extend(health_changes);
            self.told = self.levels.iter().map(|(subject, (level, _))| (subject.clone(), *level)).collect();
            self.pending_since = None;
            self.last_sent = Some(now);
            return Some(self.change_alert(&changes));
        }
        let broken = latest.filter(|r| r.level > Level::Ok)?;
        let last = self.last_sent?;
        if !news && elapsed(last, now) >= self.repeat {
            self.last_sent = Some(now);
            let lines: Vec<String> =
                broken.findings.iter().map(|f| format!("{}: {} (hint: {})", f.level.name(), f.message, f.hint)).collect();
            return Some(Alert {
                level: broken.level,
                subject: format!("lifeboat: still {} (reminder)", broken.level.name()),
                text: format!("Still not resolved:\n{}", lines.join("\n")),
                kind: "reminder",
                host: self.host.clone(),
            });
        }
        None
    }

    fn change_alert(&self, changes: &[Change]) -> Alert {
        let level = changes.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
        let mut subjects: Vec<&str> = Vec::new();
        for change in changes {
            if !subjects.contains(&change.subject.as_str()) {
                subjects.push(&change.subject);
            }
        }
        let subject = if level == Level::Ok {
            format!("lifeboat: recovered: {}", subjects.join(", "))
        } else if subjects.len() > 1 {
            format!("lifeboat: {} for {} ({})", level.name(), subjects.len(), subjects.join(", "))
        } else {
            format!("lifeboat: {} {}", subjects.join(", "), level.name())
        };
        let text = changes.iter().map(|c| format!("{}: {}", c.level.name(), c.line)).collect::<Vec<_>>().join("\n");
        Alert { level, subject, text, kind: "change", host: self.host.clone() }
    }
}

/// The findings of `database` (or the repository's) that are news for alerts.
fn news<'a>(report: &'a HealthReport, database: Option<&'a str>) -> impl Iterator<Item = &'a crate::health::Finding> {
    report.findings.iter().filter(move |f| f.database.as_deref() == database && f.check != FIRST_BACKUP_PENDING)
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{DatabaseHealth, Finding};

    fn report(levels: &[(&str, Level)]) -> HealthReport {
        let databases = levels
            .iter()
            .map(|(name, level)| DatabaseHealth {
                name: name.to_string(),
                level: *level,
                last_good_backup: None,
                age_seconds: None,
                max_age_seconds: 0,
                backups: 0,
                last_drill: None,
            })
            .collect();
        let findings = levels
            .iter()
            .filter(|(_, l)| *l > Level::Ok)
            .map(|(name, level)| Finding {
                level: *level,
                database: Some(name.to_string()),
                check: "backup_failed",
                message: format!("{name} is down"),
                hint: "fix it".into(),
            })
            .collect();
        let level = levels.iter().map(|(_, l)| *l).max().unwrap_or(Level::Ok);
        HealthReport { level, checked_at: Timestamp::UNIX_EPOCH, databases, repository: Default::default(), mirrors: Vec::new(), findings }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn one_alert_per_transition_one_summary_reminders_and_a_recovery() {
        let mut alerter = Alerter::new(at(0), Duration::from_secs(3600));
        let ok = report(&[("a", Level::Ok), ("b", Level::Ok)]);
        alerter.health(at(0), &ok);
        assert!(alerter.due(at(0), true, Some(&ok)).is_none(), "all well: nothing to say");

        // Two databases fail in one round: one message, sent once the round is over.
        alerter.job_ended(at(10), Some("a"), "backup", "failed", Some("disk full"));
        let half = report(&[("a", Level::Warning), ("b", Level::Ok)]);
        alerter.health(at(10), &half);
        alerter.job_ended(at(11), Some("b"), "backup", "failed", Some("gone"));
        let broken = report(&[("a", Level::Warning), ("b", Level::Critical)]);
        alerter.health(at(11), &broken);
        assert!(alerter.due(at(11), false, Some(&broken)).is_none(), "jobs still running: keep gathering");
        let summary = alerter.due(at(12), true, Some(&broken)).expect("the round is over");
        assert_eq!(summary.level, Level::Critical);
        assert_eq!(summary.subject, "lifeboat: critical for 2 (a, b)");
        assert!(
            summary.text.contains("a: ok → warning: a is down (hint: fix it)") && summary.text.contains("b: ok → critical"),
            "{}",
            summary.text
        );

        // Failing again is not news; the reminder comes after `repeat`.
        alerter.job_ended(at(20), Some("a"), "backup", "failed", Some("disk full"));
        alerter.health(at(20), &broken);
        assert!(alerter.due(at(20), true, Some(&broken)).is_none());
        assert!(alerter.due(at(12 + 3599), true, Some(&broken)).is_none());
        let reminder = alerter.due(at(12 + 3600), true, Some(&broken)).expect("a reminder");
        assert_eq!(reminder.kind, "reminder");
        assert!(alerter.due(at(12 + 3601), true, Some(&broken)).is_none(), "one reminder per repeat");

        // Recovery is news.
        alerter.job_ended(at(4000), Some("a"), "backup", "ok", None);
        alerter.job_ended(at(4000), Some("b"), "backup", "ok", None);
        alerter.health(at(4000), &ok);
        let recovered = alerter.due(at(4001), true, Some(&ok)).expect("a recovery");
        assert_eq!(recovered.level, Level::Ok);
        assert!(recovered.subject.starts_with("lifeboat: recovered: a, b"), "{}", recovered.subject);
        assert!(recovered.text.contains("`b` recovered (was critical)"), "{}", recovered.text);
        assert!(alerter.due(at(9000), true, Some(&ok)).is_none(), "no reminders while all is well");

        // A prune is not part of health: its failure and recovery are told as such.
        alerter.job_ended(at(9100), None, "prune", "failed", Some("locked"));
        let failed = alerter.due(at(9101), true, Some(&ok)).expect("prune failed");
        assert!(failed.text.contains("prune of the repository failed: locked"), "{}", failed.text);
        alerter.job_ended(at(9200), None, "prune", "ok", None);
        assert!(alerter.due(at(9201), true, Some(&ok)).unwrap().text.contains("works again"));
    }
}
