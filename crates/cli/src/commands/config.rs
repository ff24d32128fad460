use anyhow::Result;
use lifeboat_daemon::Config;

use crate::{
    flags::{ConfigCommand, Global},
    output,
};

pub fn run(global: &Global, command: &ConfigCommand) -> Result<i32> {
    let ConfigCommand::Check { file } = command;
    let config = Config::load(file)?;
    config.check_files()?;
    let now = jiff::Timestamp::now();
    let next = |cron: &lifeboat_daemon::Cron| cron.next_after(now, &config.time_zone);
    let mut schedules = Vec::new();
    for db in &config.databases {
        for (class, cron) in &db.backups {
            schedules.push((format!("{} backup {class}", db.name), cron.text().to_string(), next(cron)));
        }
        if let Some(cron) = &db.drill {
            schedules.push((format!("{} drill", db.name), cron.text().to_string(), next(cron)));
        }
    }
    for (what, cron) in [("repository check", &config.repository.check), ("repository prune", &config.repository.prune)] {
        if let Some(cron) = cron {
            schedules.push((what.to_string(), cron.text().to_string(), next(cron)));
        }
    }
    if global.json {
        let list: Vec<serde_json::Value> =
            schedules.iter().map(|(what, cron, next)| serde_json::json!({ "schedule": what, "cron": cron, "next": next })).collect();
        output::json(&serde_json::json!({
            "ok": true,
            "repository": config.repository.url,
            "state_dir": config.state_dir,
            "databases": config.databases.iter().map(|d| &d.name).collect::<Vec<_>>(),
            "schedules": list,
        }))?;
        return Ok(0);
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
