use anyhow::Result;
use lifeboat_daemon::{AFTER_EACH_BACKUP, Config, DrillWhen};

use crate::{
    flags::{ConfigCommand, Global},
    output,
};

pub fn run(global: &Global, command: &ConfigCommand) -> Result<i32> {
    let ConfigCommand::Check { file } = command;
    let config = Config::load(file)?;
    let review = config.review();
    let now = jiff::Timestamp::now();
    let next = |cron: &lifeboat_daemon::Cron| cron.next_after(now, &config.time_zone);
    let mut schedules = Vec::new();
    for db in &config.databases {
        for (class, cron) in &db.backups {
            schedules.push((format!("{} backup {class}", db.name), cron.text().to_string(), next(cron)));
        }
        match &db.drill {
            Some(DrillWhen::Schedule(cron)) => schedules.push((format!("{} drill", db.name), cron.text().to_string(), next(cron))),
            Some(DrillWhen::AfterEachBackup) => schedules.push((format!("{} drill", db.name), AFTER_EACH_BACKUP.to_string(), None)),
            None => {}
        }
    }
    for (what, cron) in [("repository check", &config.repository.check), ("repository prune", &config.repository.prune)] {
        if let Some(cron) = cron {
            schedules.push((what.to_string(), cron.text().to_string(), next(cron)));
        }
    }
    if global.json {
        let schedules = schedules
            .iter()
            .map(|(what, cron, next)| lifeboat_daemon::output::Schedule { schedule: what.clone(), cron: cron.clone(), next: *next })
            .collect();
        output::json(&lifeboat_daemon::output::ConfigCheck {
            ok: review.problems.is_empty(),
            problems: &review.problems,
            warnings: &review.warnings,
            repository: &config.repository.url,
            state_dir: &config.state_dir,
            databases: config.databases.iter().map(|d| d.name.as_str()).collect(),
            schedules,
        })?;
        return Ok(if review.problems.is_empty() { 0 } else { 1 });
    }
    for problem in &review.problems {
        eprintln!("error: {problem}");
    }
    for warning in &review.warnings {
        eprintln!("warning: {warning}");
    }
    if !review.problems.is_empty() {
        eprintln!("{}: {} found; nothing was started or changed", file.display(), output::count(review.problems.len() as u64, "problem"));
        return Ok(1);
    }
    println!("{}: ok", file.display());
    println!(
        "  repository {}; state in {}; at most {} jobs at once",
        config.repository.url,
        config.state_dir.display(),
        config.concurrent_jobs
    );
    for db in &config.databases {
        println!("  database `{}`: {} (health: a warning past {})", db.name, db.url, lifeboat_daemon::human(db.max_age));
    }
    println!("next runs ({}):", config.time_zone.iana_name().unwrap_or("system time zone"));
    for (what, cron, next) in schedules {
        let next = next.map_or("never".to_string(), output::time);
        println!("  {what:<30} {cron:<20} {next}");
    }
    Ok(0)
}
