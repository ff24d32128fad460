//! Retention: which backups a grandfather-father-son policy keeps, and why.
//!
//! Rules follow restic's `forget`: backups are considered newest first; `last N` keeps the N
//! newest; each calendar rule (hourly ... yearly) keeps the newest backup of each of the N most
//! recent periods that have one; `within D` keeps every backup newer than D before now;
//! `tag T` keeps every backup with tag T. A backup is kept if any
//! rule keeps it, and every reason is reported. Policies apply per database, and the newest
//! backup of a database is never removed, whatever the policy says.
//!
//! Class rules (the daemon's `[databases.retention]`, DESIGN.md decision 10) keep backups by
//! the classes they carry as tags: a count keeps the newest N backups of that class, an age
//! keeps those younger than it. A backup none of whose classes has a rule is kept: a rule
//! left out must never remove backups nobody decided about (a manual one, say).
//!
//! Safety backups (the state a restore replaced) are not part of the calendar: counting them
//! would let one restore push a good backup out of `daily 1`. They are kept by age alone
//! (`safety`, default [`DEFAULT_SAFETY`]), and never count as a database's newest backup.

use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

use crate::{EngineError, Result, manifest::BackupEntry};

/// How many backups of each kind to keep. `None` means the rule is not used.
#[derive(Debug, Clone, Default)]
pub struct KeepPolicy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub within: Option<jiff::Span>,
    pub tags: Vec<String>,
    /// How long safety backups are kept; `None` means [`DEFAULT_SAFETY`].
    pub safety: Option<jiff::Span>,
    /// Per class (`hourly`, `manual`, …): how many of its backups, or how old, to keep.
    pub classes: std::collections::BTreeMap<String, ClassRule>,
}

/// What a class rule keeps.
#[derive(Debug, Clone, Copy)]
pub enum ClassRule {
    /// The newest N backups of the class.
    Count(u32),
    /// Every backup of the class younger than this.
    Within(jiff::Span),
}

/// How long safety backups are kept unless the policy says otherwise.
pub const DEFAULT_SAFETY: &str = "30d";

/// The class of the backups a restore takes of what it replaces.
pub const SAFETY_CLASS: &str = "safety";

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
            && self.hourly.is_none()
            && self.daily.is_none()
            && self.weekly.is_none()
            && self.monthly.is_none()
            && self.yearly.is_none()
            && self.within.is_none()
            && self.tags.is_empty()
            && self.safety.is_none()
            && self.classes.is_empty()
    }
}

/// The decision for one backup.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Decision {
    pub snapshot: BackupEntry,
    pub keep: bool,
    /// The rules that keep it, e.g. `daily 2/7`; empty for a backup to remove.
    pub reasons: Vec<String>,
}

/// The decisions for one database, newest first.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GroupPlan {
    pub database: String,
    pub decisions: Vec<Decision>,
}

/// The moment `text` (a duration as [`parse_within`] reads it: `7d`, `36h`) before now, counted
/// in the system's calendar (a month back from the 31st lands on the month's last day).
pub fn ago(text: &str) -> Result<jiff::Timestamp> {
    let span = parse_within(text)?;
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::system())
        .checked_sub(span)
        .map(|t| t.timestamp())
        .map_err(|e| EngineError::input(format!("`{text}` reaches before the calendar's start: {e}"), "give a shorter duration"))
}

/// Parses a duration like `36h`, `7d`, `2w`, `6m` (months) or `1y6m`.
pub fn parse_within(text: &str) -> Result<jiff::Span> {
    let invalid = || {
        EngineError::input(
            format!("`{text}` is not a duration"),
            "write it like 36h, 7d, 2w, 6m or 1y6m (h hours, d days, w weeks, m months, y years)",
        )
    };
    let mut span = jiff::Span::new();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        span = match c {
            'h' => span.try_hours(n),
            'd' => span.try_days(n),
            'w' => span.try_weeks(n),
            'm' => span.try_months(n),
            'y' => span.try_years(n),
            _ => return Err(invalid()),
        }
        .map_err(|_| invalid())?;
    }
    if !number.is_empty() || span.is_zero() {
        return Err(invalid());
    }
    Ok(span)
}

/// The calendar period of `time` for a rule, in the given time zone.
fn period(rule: &str, time: Timestamp, tz: &TimeZone) -> (i32, i32, i32, i32) {
    let dt = time.to_zoned(tz.clone()).datetime();
    let (y, m, d, h) = (i32::from(dt.year()), i32::from(dt.month()), i32::from(dt.day()), i32::from(dt.hour()));
    match rule {
        "hourly" => (y, m, d, h),
        "daily" => (y, m, d, 0),
        "weekly" => {
            let week = dt.date().iso_week_date();
            (i32::from(week.year()), i32::from(week.week()), 0, 0)
        }
        "monthly" => (y, m, 0, 0),
        _ => (y, 0, 0, 0),
    }
}

/// Applies `policy` to every database's backups. `now` anchors `within`.
pub fn plan(entries: &[BackupEntry], policy: &KeepPolicy, now: Timestamp, tz: &TimeZone) -> Result<Vec<GroupPlan>> {
    if policy.is_empty() {
        return Err(EngineError::input(
            "no retention rule given, so nothing would be kept",
            "give at least one --keep-* option, e.g. --keep-daily 7",
        ));
    }
    let mut databases: Vec<&str> = entries.iter().map(|e| e.summary.database.as_str()).collect();
    databases.sort_unstable();
    databases.dedup();
    databases
        .into_iter()
        .map(|db| {
            let mut group: Vec<&BackupEntry> = entries.iter().filter(|e| e.summary.database == db).collect();
            group.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
            Ok(GroupPlan { database: db.to_string(), decisions: decide(&group, policy, now, tz)? })
        })
        .collect()
}

/// `now - span` in `tz` (months and years follow the calendar).
fn cutoff(now: Timestamp, span: jiff::Span, tz: &TimeZone, what: &str) -> Result<Timestamp> {
    Ok(now
        .to_zoned(tz.clone())
        .checked_sub(span)
        .map_err(|e| EngineError::input(format!("{what} reaches too far back: {e}"), "give a shorter duration"))?
        .timestamp())
}

/// Decisions for one database's backups, given newest first.
fn decide(all: &[&BackupEntry], policy: &KeepPolicy, now: Timestamp, tz: &TimeZone) -> Result<Vec<Decision>> {
    let (safety, group): (Vec<&BackupEntry>, Vec<&BackupEntry>) = all.iter().partition(|e| e.summary.class == SAFETY_CLASS);
    let mut decisions = decide_regular(&group, policy, now, tz)?;
    let safety_span = match policy.safety {
        Some(span) => span,
        None => parse_within(DEFAULT_SAFETY)?,
    };
    let safety_cutoff = cutoff(now, safety_span, tz, "--keep-safety")?;
    for (i, entry) in safety.iter().enumerate() {
        let mut reasons = Vec::new();
        if entry.time >= safety_cutoff {
            reasons.push(format!("safety within {safety_span:#}"));
        } else if i == 0 && group.is_empty() {
            // Nothing else holds this database: its newest safety backup is all there is.
            reasons.push("newest of its database (always kept)".to_string());
        }
        decisions.push(Decision { snapshot: (*entry).clone(), keep: !reasons.is_empty(), reasons });
    }
    decisions.sort_by(|a, b| b.snapshot.time.cmp(&a.snapshot.time).then_with(|| b.snapshot.id.cmp(&a.snapshot.id)));
    Ok(decisions)
}

/// Decisions for the backups of one database that are not safety backups, newest first.
fn decide_regular(group: &[&BackupEntry], policy: &KeepPolicy, now: Timestamp, tz: &TimeZone) -> Result<Vec<Decision>> {
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); group.len()];
    if let Some(n) = policy.last {
        for (i, r) in reasons.iter_mut().enumerate().take(n as usize) {
            r.push(format!("last {}/{n}", i + 1));
        }
    }
    let calendar = [
        ("hourly", policy.hourly),
        ("daily", policy.daily),
        ("weekly", policy.weekly),
        ("monthly", policy.monthly),
        ("yearly", policy.yearly),
    ];
    for (rule, count) in calendar {
        let Some(n) = count else { continue };
        let mut kept = 0;
        let mut last_period = None;
        for (i, entry) in group.iter().enumerate() {
            if kept >= n {
                break;
            }
            let p = period(rule, entry.time, tz);
            if last_period != Some(p) {
                kept += 1;
                last_period = Some(p);
                reasons[i].push(format!("{rule} {kept}/{n}"));
            }
        }
    }
    if let Some(span) = policy.within {
        let cutoff = cutoff(now, span, tz, "--keep-within")?;
        for (i, entry) in group.iter().enumerate() {
            if entry.time >= cutoff {
                reasons[i].push(format!("within {span:#}"));
            }
        }
    }
    for tag in &policy.tags {
        for (i, entry) in group.iter().enumerate() {
            if entry.tags.iter().any(|t| t == tag) {
                reasons[i].push(format!("tag {tag}"));
            }
        }
    }
    if !policy.classes.is_empty() {
        keep_by_class(group, &policy.classes, &mut reasons, now, tz)?;
    }
    if let Some(newest) = reasons.first_mut()
        && newest.is_empty()
    {
        newest.push("newest of its database (always kept)".into());
    }
    Ok(group
        .iter()
        .zip(reasons)
        .map(|(entry, reasons)| Decision { snapshot: (*entry).clone(), keep: !reasons.is_empty(), reasons })
        .collect())
}

/// Adds the reasons the class rules keep each of `group` (newest first) for.
fn keep_by_class(
    group: &[&BackupEntry],
    rules: &std::collections::BTreeMap<String, ClassRule>,
    reasons: &mut [Vec<String>],
    now: Timestamp,
    tz: &TimeZone,
) -> Result<()> {
    for (class, rule) in rules {
        let members = group.iter().enumerate().filter(|(_, e)| e.classes().contains(&class.as_str()));
        match *rule {
            ClassRule::Count(n) => {
                for (rank, (i, _)) in members.take(n as usize).enumerate() {
                    reasons[i].push(format!("{class} {}/{n}", rank + 1));
                }
            }
            ClassRule::Within(span) => {
                let cutoff = cutoff(now, span, tz, &format!("retention.{class}"))?;
                for (i, _) in members.filter(|(_, e)| e.time >= cutoff) {
                    reasons[i].push(format!("{class} within {span:#}"));
                }
            }
        }
    }
    for (entry, reasons) in group.iter().zip(reasons.iter_mut()) {
        let classes = entry.classes();
        if classes.iter().all(|c| !rules.contains_key(*c)) {
            reasons.push(format!("no retention rule for {}", classes.join(", ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Summary;

    fn entry(id: &str, time: &str, db: &str, tags: &[&str]) -> BackupEntry {
        BackupEntry {
            id: id.into(),
            short_id: id.into(),
            time: time.parse().unwrap(),
            hostname: "h".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            summary: Summary { database: db.into(), class: "manual".into(), engine: "sqlite".into(), ..Default::default() },
            added_bytes: 0,
        }
    }

    /// One backup every 6 hours for 60 days, ending 2026-03-01T00:00Z.
    fn timeline(db: &str) -> Vec<BackupEntry> {
        let end: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        (0..240)
            .map(|i| {
                let t = end - jiff::SignedDuration::from_hours(6 * i);
                entry(&format!("{db}{i:04}"), &t.to_string(), db, &[])
            })
            .collect()
    }

    fn kept(plan: &[GroupPlan], db: &str) -> Vec<String> {
        plan.iter().find(|g| g.database == db).unwrap().decisions.iter().filter(|d| d.keep).map(|d| d.snapshot.id.clone()).collect()
    }

    fn now() -> Timestamp {
        "2026-03-01T01:00:00Z".parse().unwrap()
    }

    #[test]
    fn daily_keeps_newest_of_each_day() {
        let policy = KeepPolicy { daily: Some(3), ..Default::default() };
        let plan = plan(&timeline("a"), &policy, now(), &TimeZone::UTC).unwrap();
        // 03-01 00:00 (i=0), 02-28 18:00 (i=1), 02-27 18:00 (i=5).
        assert_eq!(kept(&plan, "a"), vec!["a0000", "a0001", "a0005"]);
    }

    #[test]
    fn rules_combine_and_report_every_reason() {
        let policy = KeepPolicy { last: Some(2), daily: Some(2), weekly: Some(2), monthly: Some(3), ..Default::default() };
        let plan = plan(&timeline("a"), &policy, now(), &TimeZone::UTC).unwrap();
        let decisions = &plan[0].decisions;
        assert_eq!(decisions[0].reasons, vec!["last 1/2", "daily 1/2", "weekly 1/2", "monthly 1/3"]);
        // 02-28 18:00 is in the same ISO week as Sunday 03-01, so weekly does not keep it.
        assert_eq!(decisions[1].reasons, vec!["last 2/2", "daily 2/2", "monthly 2/3"]);
        // Weekly 2: Sunday 02-22 18:00 (i = 25). Monthly 3: 01-31 18:00, 28 days and 6 hours back (i = 113).
        assert_eq!(kept(&plan, "a"), vec!["a0000", "a0001", "a0025", "a0113"]);
        assert_eq!(decisions[25].reasons, vec!["weekly 2/2"]);
        assert_eq!(decisions[113].reasons, vec!["monthly 3/3"]);
    }

    #[test]
    fn weekly_uses_iso_weeks() {
        let policy = KeepPolicy { weekly: Some(3), ..Default::default() };
        let plan = plan(&timeline("a"), &policy, now(), &TimeZone::UTC).unwrap();
        // Sunday 03-01 00:00 closes ISO week 9; week 8 ends Sunday 02-22 18:00 (i = 25);
        // week 7 ends 02-15 18:00 (i = 53).
        assert_eq!(kept(&plan, "a"), vec!["a0000", "a0025", "a0053"]);
    }

    #[test]
    fn within_and_tags_keep_more() {
        let mut entries = timeline("a");
        entries[100].tags.push("pre-deployment".into());
        let policy = KeepPolicy { within: Some(parse_within("1d").unwrap()), tags: vec!["pre-deployment".into()], ..Default::default() };
        let plan = plan(&entries, &policy, now(), &TimeZone::UTC).unwrap();
        // Within a day of 03-01 01:00: 02-28 01:00 onwards, i.e. i = 0..=3; plus the tagged one.
        assert_eq!(kept(&plan, "a"), vec!["a0000", "a0001", "a0002", "a0003", "a0100"]);
    }

    #[test]
    fn groups_by_database_and_never_removes_the_last_backup() {
        let mut entries = timeline("a");
        entries.push(entry("b0000", "2020-01-01T00:00:00Z", "b", &[]));
        let policy = KeepPolicy { within: Some(parse_within("2d").unwrap()), ..Default::default() };
        let plan = plan(&entries, &policy, now(), &TimeZone::UTC).unwrap();
        assert_eq!(kept(&plan, "b"), vec!["b0000"]);
        assert_eq!(plan[1].decisions[0].reasons, vec!["newest of its database (always kept)"]);
        assert_eq!(kept(&plan, "a").len(), 8);
    }

    #[test]
    fn the_newest_backup_is_kept_whatever_the_rules_say() {
        let mut entries = timeline("a");
        entries[5].tags.push("pre-deployment".into());
        let policy = KeepPolicy { tags: vec!["pre-deployment".into()], ..Default::default() };
        let plan = plan(&entries, &policy, now(), &TimeZone::UTC).unwrap();
        assert_eq!(kept(&plan, "a"), vec!["a0000", "a0005"]);
        assert_eq!(plan[0].decisions[0].reasons, vec!["newest of its database (always kept)"]);
    }

    #[test]
    fn safety_backups_are_kept_by_age_and_never_count_as_newest() {
        let mut entries = timeline("a");
        // The two newest are safety backups: one a day old, one 40 days old.
        entries[0].summary.class = "safety".into();
        entries[0].time = now() - jiff::SignedDuration::from_hours(24);
        entries[1].summary.class = "safety".into();
        entries[1].time = now() - jiff::SignedDuration::from_hours(24 * 40);
        let policy = KeepPolicy { daily: Some(1), ..Default::default() };
        let plan = plan(&entries, &policy, now(), &TimeZone::UTC).unwrap();
        // daily 1 keeps the newest regular backup (i = 2), not a safety backup.
        let sorted = |mut ids: Vec<String>| {
            ids.sort();
            ids
        };
        assert_eq!(sorted(kept(&plan, "a")), vec!["a0000", "a0002"]);
        let reasons = |id: &str| plan[0].decisions.iter().find(|d| d.snapshot.id == id).unwrap().reasons.clone();
        assert_eq!(reasons("a0000"), vec!["safety within 30d"]);
        assert!(reasons("a0001").is_empty());
        assert_eq!(reasons("a0002"), vec!["daily 1/1"]);

        let policy = KeepPolicy { last: Some(1), safety: Some(parse_within("50d").unwrap()), ..Default::default() };
        let longer = super::plan(&entries, &policy, now(), &TimeZone::UTC).unwrap();
        assert_eq!(sorted(kept(&longer, "a")), vec!["a0000", "a0001", "a0002"]);
    }

    #[test]
    fn an_empty_policy_is_refused() {
        assert!(plan(&timeline("a"), &KeepPolicy::default(), now(), &TimeZone::UTC).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_within("1y6m").unwrap().fieldwise(), jiff::Span::new().years(1).months(6).fieldwise());
        assert_eq!(parse_within("36h").unwrap().fieldwise(), jiff::Span::new().hours(36).fieldwise());
        for bad in ["", "7", "d", "7x", "0d"] {
            assert!(parse_within(bad).is_err(), "{bad}");
        }
    }

    /// The daemon's rules on a synthetic day: a backup every hour, the one at 02:00 also
    /// daily, and two manual backups.
    #[test]
    fn class_rules_keep_the_newest_of_each_class_and_what_no_rule_names() {
        let end: Timestamp = "2026-03-03T23:00:00Z".parse().unwrap();
        let mut entries: Vec<BackupEntry> = (0..72)
            .map(|i| {
                let t = end - jiff::SignedDuration::from_hours(i);
                let hour = t.to_zoned(TimeZone::UTC).hour();
                let mut e = entry(&format!("h{i:03}"), &t.to_string(), "app", if hour == 2 { &["hourly", "daily"] } else { &["hourly"] });
                e.summary.class = if hour == 2 { "daily".into() } else { "hourly".into() };
                e
            })
            .collect();
        entries.push(entry("m1", "2026-03-03T12:30:00Z", "app", &["manual"]));
        entries.push(entry("m2", "2025-01-01T12:30:00Z", "app", &["manual"]));
        let mut policy = KeepPolicy::default();
        policy.classes.insert("hourly".into(), ClassRule::Count(24));
        policy.classes.insert("daily".into(), ClassRule::Count(2));
        let plan = plan(&entries, &policy, end, &TimeZone::UTC).unwrap();
        let kept = kept(&plan, "app");
        let hourly: Vec<&String> = kept.iter().filter(|id| id.starts_with('h')).collect();
        // 24 newest hourly, plus the 02:00 backup of the day before that is daily 2/2.
        assert_eq!(hourly.len(), 25, "{kept:?}");
        assert!(kept.contains(&"h045".to_string()), "2026-03-02T02:00 is daily 2/2: {kept:?}");
        assert!(!kept.contains(&"h069".to_string()), "2026-03-01T02:00 is a third daily: {kept:?}");
        assert!(kept.contains(&"m1".to_string()) && kept.contains(&"m2".to_string()), "no rule for manual: kept");

        policy.classes.insert("manual".into(), ClassRule::Within(parse_within("30d").unwrap()));
        let plan = super::plan(&entries, &policy, end, &TimeZone::UTC).unwrap();
        let kept = super::tests::kept(&plan, "app");
        assert!(kept.contains(&"m1".to_string()) && !kept.contains(&"m2".to_string()), "manual within 30d: {kept:?}");
    }
}
