use anyhow::Result;

use crate::{
    context,
    flags::{Global, HealthArgs},
    output,
};

pub fn run(global: &Global, args: &HealthArgs) -> Result<i32> {
    let report = match evaluate(global) {
        Ok(report) => report,
        // A monitoring system must see "unknown", not a generic failure, when health cannot
        // be determined at all.
        Err(err) if args.nagios => {
            println!("LIFEBOAT UNKNOWN - {}", crate::describe(&err).lines().next().unwrap_or_default());
            return Ok(3);
        }
        Err(err) => return Err(err),
    };
    if global.json {
        output::json(&report)?;
    } else if args.nagios {
        let worst =
            report.findings.iter().max_by_key(|f| f.level).map_or_else(|| "every database is protected".to_string(), |f| f.message.clone());
        let perf: Vec<String> = report
            .databases
            .iter()
            .map(|d| {
                let age = d.age_seconds.map_or(String::new(), |a| a.to_string());
                format!("'{}_age'={age}s;{};{}", d.name, d.max_age_seconds, d.max_age_seconds * 2)
            })
            .collect();
        println!("LIFEBOAT {} - {worst} | {}", report.level.name().to_uppercase(), perf.join(" "));
    } else {
        for db in &report.databases {
            let last = db.age_seconds.map_or("no backup".to_string(), |age| {
                format!("newest backup {} ago", lifeboat_daemon::human(std::time::Duration::from_secs(age)))
            });
            println!("{:<8} {:<16} {last}, {} in the repository", db.level.name(), db.name, output::count(db.backups as u64, "backup"));
        }
        for f in &report.findings {
            println!("{}: {}\n  hint: {}", f.level.name(), f.message, f.hint);
        }
        println!("health: {}", report.level.name());
    }
    Ok(report.level.exit_code())
}

fn evaluate(global: &Global) -> Result<lifeboat_daemon::HealthReport> {
    let config = context::required_config(global)?;
    let password = context::password(global, false)?;
    let repo = lifeboat_engine::Repo::open(&context::location(global)?, &password)?.for_job(crate::JOB.clone(), None)?;
    Ok(lifeboat_daemon::evaluate_health(&config, &lifeboat_daemon::Repos::new(repo, &config, &password))?)
}
