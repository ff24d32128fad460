//! Prometheus metrics at `[metrics] listen` `/metrics`, in the OpenMetrics text format that
//! Prometheus scrapes. Rendered on each scrape from the job log and the latest health report,
//! so the figures are exactly what `lifeboat log` and `lifeboat health` say.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, atomic::AtomicU64},
};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};

use crate::{
    error::{DaemonError, DaemonErrorKind, Result},
    health::HealthReport,
    joblog::{JobKind, JobLog},
};

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The latest health report, shared with the daemon's loop.
pub type SharedHealth = Arc<Mutex<Option<HealthReport>>>;

/// Serves `/metrics` on `addr` from a thread of its own until the process ends.
pub fn serve(addr: SocketAddr, state_dir: PathBuf, health: SharedHealth) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|e| {
        DaemonError::new(DaemonErrorKind::Config, format!("cannot serve metrics on {addr}: {e}"), "choose a free [metrics] listen address")
    })?;
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let response = if request.url() == "/metrics" {
                match scrape(&state_dir, &health) {
                    Ok(text) => tiny_http::Response::from_string(text)
                        .with_header(tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE).expect("a valid header")),
                    Err(err) => tiny_http::Response::from_string(format!("cannot read the job log: {err}\n")).with_status_code(500),
                }
            } else {
                tiny_http::Response::from_string("lifeboat serves /metrics\n").with_status_code(404)
            };
            let _ = request.respond(response);
        }
    });
    Ok(())
}

/// What a scrape answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape: every metric, from the job log of `state_dir` and the latest health report.
pub fn scrape(state_dir: &std::path::Path, health: &SharedHealth) -> Result<String> {
    let log = JobLog::open(state_dir)?;
    // So that a killed job counts as interrupted (see `JobLog::mark_interrupted`).
    let _ = log.mark_interrupted();
    render(&log, health.lock().unwrap_or_else(|p| p.into_inner()).as_ref())
}

/// Every metric, from the job log and the latest health report.
pub fn render(log: &JobLog, health: Option<&HealthReport>) -> Result<String> {
    let mut registry = Registry::with_prefix("lifeboat");
    let gauge = |registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>| {
        let family = Family::<Labels, FloatGauge>::default();
        match unit {
            Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
            None => registry.register(name, help, family.clone()),
        }
        family
    };
    let last_success = gauge(
        &mut registry,
        "backup_last_success_timestamp",
        "When the newest good backup started, per database and class",
        Some(Unit::Seconds),
    );
    let last_status =
        gauge(&mut registry, "job_last_success", "1 when the last job of this kind for this database succeeded, else 0", None);
    let duration =
        gauge(&mut registry, "backup_last_duration", "How long the last good backup took, per database and class", Some(Unit::Seconds));
    let read = gauge(&mut registry, "backup_last_read", "Bytes the last good backup read, per database and class", Some(Unit::Bytes));
    let added = gauge(&mut registry, "backup_last_added", "Bytes the last good backup added to the repository", Some(Unit::Bytes));
    let rows = gauge(&mut registry, "backup_last_rows", "Rows in the last good backup, per database and class", None);
    let drill_time = gauge(&mut registry, "drill_last_timestamp", "When the last restore drill started", Some(Unit::Seconds));
    let drill_ok = gauge(&mut registry, "drill_last_success", "1 when the last restore drill passed, else 0", None);
    let total = Family::<Labels, Counter>::default();
    registry.register("jobs", "Jobs logged, by kind and how they ended", total.clone());
    let lock_waits = Counter::<u64>::default();
    registry.register("lock_waits", "Jobs that waited for another job's repository lock", lock_waits.clone());
    let lock_wait = Counter::<f64, AtomicU64>::default();
    registry.register_with_unit("lock_wait", "Time jobs spent waiting for repository locks", Unit::Seconds, lock_wait.clone());

    let (counts, waits, waited) = log.kind_counts()?;
    for count in counts {
        total.get_or_create(&vec![("kind".into(), count.kind), ("status".into(), count.status)]).inc_by(count.jobs);
    }
    lock_waits.inc_by(waits);
    lock_wait.inc_by(waited);
    let db = |database: &str| ("database".to_string(), database.to_string());
    for job in log.newest_per_database(&[], &[])? {
        let ok = if job.status == "ok" { 1.0 } else { 0.0 };
        last_status.get_or_create(&vec![db(job.database.as_deref().unwrap_or_default()), ("kind".into(), job.kind)]).set(ok);
    }
    // Oldest first: a class carried by several sets of classes ends with its newest backup.
    for job in log.newest_good_backups()? {
        for class in &job.classes {
            let labels = vec![db(job.database.as_deref().unwrap_or_default()), ("class".to_string(), class.clone())];
            last_success.get_or_create(&labels).set(job.started_at.as_millisecond() as f64 / 1000.0);
            duration.get_or_create(&labels).set(job.seconds().unwrap_or(0.0));
            read.get_or_create(&labels).set(job.bytes_read.unwrap_or(0) as f64);
            added.get_or_create(&labels).set(job.bytes_added.unwrap_or(0) as f64);
            rows.get_or_create(&labels).set(job.rows.unwrap_or(0) as f64);
        }
    }
    for job in log.newest_per_database(&[JobKind::Drill], &["ok", "failed"])? {
        let labels = vec![db(job.database.as_deref().unwrap_or_default())];
        drill_time.get_or_create(&labels).set(job.started_at.as_millisecond() as f64 / 1000.0);
        drill_ok.get_or_create(&labels).set(if job.status == "ok" { 1.0 } else { 0.0 });
    }

    if let Some(report) = health {
        let level = gauge(&mut registry, "health_level", "0 ok, 1 warning, 2 critical: overall and per database", None);
        level.get_or_create(&Vec::new()).set(f64::from(report.level.exit_code()));
        for db in &report.databases {
            level.get_or_create(&vec![("database".into(), db.name.clone())]).set(f64::from(db.level.exit_code()));
        }
        let snapshots = gauge(&mut registry, "repository_snapshots", "Snapshots in the repository", None);
        snapshots.get_or_create(&Vec::new()).set(report.repository.snapshots as f64);
        let size = gauge(&mut registry, "repository_size", "Bytes the repository's files take", Some(Unit::Bytes));
        size.get_or_create(&Vec::new()).set(report.repository.bytes as f64);
    }

    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    Ok(text)
}
