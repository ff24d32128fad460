use anyhow::Result;

use crate::{commands::log, flags::Global, output};

pub fn run(global: &Global) -> Result<i32> {
    let report = lifeboat_daemon::stats(&log::open(global)?, jiff::Timestamp::now())?;
    if global.json {
        output::json(&report)?;
        return Ok(0);
    }
    println!(
        "{:<16}  {:>7}  {:>9}  {:>6}  {:>7}  {:<30}  {:>10}  LAST DRILL",
        "DATABASE", "BACKUPS", "AUTOMATED", "MANUAL", "SUCCESS", "LAST GOOD BACKUP", "ADDED"
    );
    for s in report.databases.iter().chain(std::iter::once(&report.total)) {
        let last_good = match (s.last_good_backup, s.last_good_age_seconds) {
            (Some(t), Some(age)) => {
                format!("{} ({} ago)", output::time(t), lifeboat_daemon::human(std::time::Duration::from_secs(age.max(0) as u64)))
            }
            _ => "never".into(),
        };
        println!(
            "{:<16}  {:>7}  {:>9}  {:>6}  {:>7}  {:<30}  {:>10}  {}",
            s.totals.database,
            s.totals.backups,
            s.totals.automated,
            s.totals.manual,
            s.success_rate.map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            last_good,
            output::size(s.totals.bytes_added),
            s.last_drill.as_deref().unwrap_or("-")
        );
    }
    Ok(0)
}
