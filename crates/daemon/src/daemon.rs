//! The daemon: one loop that fires schedules, and workers that run jobs side by side.
//!
//! - A slot that comes due queues a job; backups of one database due together (or while one
//!   is queued) merge into one job carrying every class.
//! - A database never has two jobs at once: its next job waits for the running one. At most
//!   `concurrent_jobs` jobs run in all.
//! - Catch-up: each schedule's last fired slot is kept in the job log; at start, a schedule
//!   that missed slots while the daemon was down runs once, not once per missed slot.
//! - SIGTERM/SIGINT: no new jobs; running ones are cancelled through their normal error path
//!   (no snapshot is written) and logged `interrupted`; then the loop returns. SIGHUP reloads
//!   the configuration; a new one that does not check is reported and the old one kept.
//! - A job whose process died (kill -9) is marked `interrupted` at the next start; the
//!   repository needs nothing, as an unfinished backup never wrote its snapshot.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        mpsc::{self, RecvTimeoutError},
    },
    time::Duration,
};

use jiff::Timestamp;
use lifeboat_engine::{CancelToken, Repo};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::{
    alerts::{self, Alert, Alerter},
    config::{Config, DrillWhen},
    cron::Cron,
    error::{DaemonError, Result},
    events::Events,
    front_door::{self, Door, FrontDoor, Submission, Submitter},
    health::{self, HealthReport},
    instance::InstanceLock,
    joblog::{JobKind, JobLog, Trigger},
    jobs::{self, JobContext, Work},
    metrics,
    repos::{Repos, Target},
    runner::{Runner, Start},
};

/// One schedule the loop watches.
struct Slot {
    /// `backup:<db>:<class>`, `drill:<db>`, `check`, `prune`: the key of its mark in the log.
    key: String,
    database: Option<String>,
    work: Work,
    cron: Cron,
    next: Option<Timestamp>,
}

/// A job waiting for its turn.
struct Queued {
    database: Option<String>,
    work: Work,
    /// Not before this (jitter).
    not_before: Timestamp,
    /// Who asked for it, when a person did (through a front door); else the schedule.
    asked: Option<Asked>,
}

/// Who asked for a queued job, and why.
#[derive(Clone)]
struct Asked {
    actor: String,
    reason: Option<String>,
}

pub(crate) enum Message {
    Signal(i32),
    /// A job asked for through a front door.
    Submitted(Submission),
    /// A health evaluation ended (`None`: it could not be made; said in an event line).
    Health(Option<HealthReport>),
    Done {
        lane: String,
        database: Option<String>,
        kind: JobKind,
        status: &'static str,
        error: Option<String>,
        /// The snapshot it wrote or worked on.
        snapshot: Option<String>,
    },
}

/// Health is evaluated when a round of jobs is over (or this long into a busy one: listing the
/// repository after each of fifty jobs would cost more than the jobs)...
const HEALTH_WHILE_BUSY: Duration = Duration::from_secs(60);
/// ...and at least this often, since ages grow without jobs.
const HEALTH_EVERY: Duration = Duration::from_secs(300);

/// The lane a job runs in: its database, or the repository a repository-wide job (check,
/// prune, copy) works on. One job per lane at a time.
fn lane(database: Option<&str>, work: &Work) -> String {
    database.map_or_else(|| format!("repository:{:?}", work.target()), |d| format!("db:{d}"))
}

/// Runs until SIGTERM or SIGINT. `reload` reads the configuration again (for SIGHUP).
/// `primary` is the configuration's repository, opened with `password` (which also opens the
/// mirrors that have no password file of their own).
///
/// `front_door` (the HTTP API), when given, is opened once this daemon holds the state
/// directory and closed before it returns.
pub fn run(
    mut config: Config,
    primary: Repo,
    password: String,
    events: Events,
    reload: impl Fn() -> Result<Config>,
    mut front_door: Option<Box<dyn FrontDoor>>,
) -> Result<()> {
    let log = JobLog::open(&config.state_dir)?;
    // Held until this function returns: one daemon per state directory (instance.rs).
    let _instance = InstanceLock::acquire(&config.state_dir)?;
    let mut repos = Arc::new(Repos::new(primary, &config, &password));
    let interrupted = log.mark_interrupted()?;
    if interrupted > 0 {
        events.note("startup", &format!("{interrupted} job(s) of an earlier run were interrupted (marked in the log)"));
    }
    forget_old_jobs(&log, &config, &events);
    let mut forgot_jobs_at = std::time::Instant::now();
    let (tx, rx) = mpsc::channel::<Message>();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| DaemonError::config("cannot listen for signals", "this should not happen; report it").with_source(e))?;
    let signal_handle = signals.handle();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if tx.send(Message::Signal(signal)).is_err() {
                    break;
                }
            }
        });
    }

    let cancel = CancelToken::default();
    // Each job gets its own token under `cancel`: SIGTERM stops every job, and one job can be
    // stopped without the others.
    let runner = Arc::new(Runner::new(cancel.clone(), Some(config.state_dir.clone())));
    let mut slots = slots(&config, &log, &events)?;
    let mut queue: Vec<Queued> = Vec::new();
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut stopping = false;
    events.note(
        "started",
        &format!("{} databases, {} schedules, at most {} jobs at once", config.databases.len(), slots.len(), config.concurrent_jobs),
    );
    let mut alerter = Alerter::new(Timestamp::now(), config.alerts.repeat);
    // What earlier runs told is not told again (one alert per transition across restarts).
    if let Some(memory) = log.alert_memory()? {
        alerter.remember(memory);
    }
    let remember = |alerter: &Alerter| {
        if let Err(err) = log.set_alert_memory(&alerter.memory()) {
            events.note("warning", &format!("the alert state was not saved: {err}"));
        }
    };
    let shared_health = metrics::SharedHealth::default();
    if let Some(addr) = config.metrics_listen {
        metrics::serve(addr, config.state_dir.clone(), shared_health.clone())?;
        events.note("metrics", &format!("serving http://{addr}/metrics"));
    }
    if let Some(door) = front_door.as_mut() {
        door.open(Door {
            submit: Submitter(tx.clone()),
            repo: repos.primary.clone(),
            runner: runner.clone(),
            health: shared_health.clone(),
        })?;
    }
    let close = |door: &mut Option<Box<dyn FrontDoor>>| {
        if let Some(door) = door.as_mut() {
            door.close();
        }
    };
    // Health is evaluated on a thread of its own: listing a repository or probing a busy
    // database must not hold up the schedule.
    let mut health: Option<HealthReport> = None;
    let mut health_running = true;
    evaluate_health(&config, &repos, events, &tx);
    // Mirrors catch up at start on whatever they missed while the daemon was down.
    for mirror in 0..repos.mirror_count() {
        enqueue(&mut queue, None, Work::Copy { mirror }, Timestamp::now());
    }
    let mut health_at = std::time::Instant::now();
    let mut health_stale = false;

    loop {
        let now = Timestamp::now();
        if !stopping {
            // Catch-up slots were set to `now` at start; every due slot fires once.
            for slot in slots.iter_mut() {
                let Some(due) = slot.next.filter(|due| *due <= now) else { continue };
                enqueue(&mut queue, slot.database.clone(), slot.work.clone(), jitter(&config, &slot.key, now));
                log.set_last_slot(&slot.key, due.min(now))?;
                slot.next = slot.cron.next_after(now, &config.time_zone);
            }
            start_ready(&mut queue, &mut running, &config, &repos, &runner, &events, &tx);
            if forgot_jobs_at.elapsed() >= FORGET_JOBS_EVERY {
                forget_old_jobs(&log, &config, &events);
                forgot_jobs_at = std::time::Instant::now();
            }
            let quiet = running.is_empty() && queue.iter().all(|q| q.not_before > now);
            let since = health_at.elapsed();
            if !health_running && ((health_stale && (quiet || since >= HEALTH_WHILE_BUSY)) || since >= HEALTH_EVERY) {
                evaluate_health(&config, &repos, events, &tx);
                health_running = true;
                health_at = std::time::Instant::now();
                health_stale = false;
            }
            // A round is over for alerts once its health is in: telling a change before the
            // evaluation that shows the next one would split one round into two messages.
            let settled = quiet && !health_running && !health_stale;
            if let Some(alert) = alerter.due(now, settled, health.as_ref()) {
                send_alert(&config, alert, &events);
                remember(&alerter);
            }
        }
        if stopping && running.is_empty() {
            close(&mut front_door);
            events.note("stopped", "no job is running; exiting");
            signal_handle.close();
            return Ok(());
        }
        // A queued job whose time has come waits for its lane or a free place, which a
        // finished job's message announces; only slots and jittered starts are timed.
        let now = Timestamp::now();
        let next_due = slots.iter().filter_map(|s| s.next).chain(queue.iter().map(|q| q.not_before).filter(|t| *t > now)).min();
        // Woken by a signal or a finished job; otherwise at the next slot (at least every
        // 30 s, so a clock that jumps is followed).
        let wait = next_due.map_or(Duration::from_secs(30), |due| {
            Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO).min(Duration::from_secs(30))
        });
        match rx.recv_timeout(wait) {
            Ok(Message::Done { lane, database, kind, status, error, snapshot }) => {
                running.remove(&lane);
                // Each good backup goes to every mirror (a mirror that is down gets it with
                // the next one, or at the next start).
                if kind == JobKind::Backup && status == "ok" && !stopping {
                    for mirror in 0..repos.mirror_count() {
                        enqueue(&mut queue, None, Work::Copy { mirror }, Timestamp::now());
                    }
                    // Every backup is drilled (or covered by an earlier drill of the same content).
                    if let Some(db) = database.as_deref().and_then(|d| config.database(d))
                        && matches!(db.drill, Some(DrillWhen::AfterEachBackup))
                    {
                        enqueue(&mut queue, Some(db.name.clone()), Work::Drill { snapshot }, Timestamp::now());
                    }
                }
                alerter.job_ended(Timestamp::now(), database.as_deref(), kind.as_str(), status, error.as_deref());
                remember(&alerter);
                health_stale = true;
            }
            Ok(Message::Health(report)) => {
                health_running = false;
                if let Some(report) = &report {
                    alerter.health(Timestamp::now(), report);
                }
                health = report;
                *shared_health.lock().expect("health lock") = health.clone();
            }
            Ok(Message::Signal(SIGHUP)) => match reload() {
                Ok(new) => {
                    config = new;
                    repos = Arc::new(Repos::new(repos.primary.clone(), &config, &password));
                    alerter.set_repeat(config.alerts.repeat);
                    slots = self::slots(&config, &log, &events)?;
                    queue.retain(|q| q.database.as_deref().is_none_or(|d| config.database(d).is_some()));
                    events.note("reloaded", &format!("configuration {} reloaded: {} schedules", config.path.display(), slots.len()));
                }
                Err(err) => events.error("reload", None, &format!("the new configuration was not applied, the old one stays: {err}")),
            },
            Ok(Message::Submitted(submission)) if !stopping => {
                let database = Some(submission.database.clone());
                let work = match &submission.asked {
                    front_door::Asked::Backup { class } => Work::Backup { classes: vec![class.clone()] },
                    front_door::Asked::Drill => Work::Drill { snapshot: None },
                };
                events.note("job asked", &format!("{} by {}", describe(&work, database.as_deref(), &repos), submission.actor));
                queue.push(Queued {
                    database,
                    work,
                    not_before: Timestamp::now(),
                    asked: Some(Asked { actor: submission.actor, reason: submission.reason }),
                });
            }
            Ok(Message::Submitted(_)) => {}
            Ok(Message::Signal(_)) => {
                if !stopping {
                    close(&mut front_door);
                    stopping = true;
                    queue.clear();
                    cancel.cancel();
                    events.note("stopping", &format!("cancelling {} running job(s)", running.len()));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

/// How often the job log's retention (`[state] keep_jobs`) runs, besides at start.
const FORGET_JOBS_EVERY: Duration = Duration::from_secs(86_400);

/// Removes the jobs `[state] keep_jobs` no longer keeps. A failure is a warning: the log only
/// grows until the next try.
fn forget_old_jobs(log: &JobLog, config: &Config, events: &Events) {
    match log.apply_retention(config.keep_jobs, Timestamp::now()) {
        Ok(0) => {}
        Ok(n) => events.note("job-log", &format!("removed {n} job(s) older than [state] keep_jobs from the job log")),
        Err(err) => events.note("warning", &format!("old jobs were not removed from the job log: {err}")),
    }
}

/// The schedules of `config`, each with its next slot: now for a schedule that missed a slot
/// since its last recorded one (catch-up, once), else its next slot from now.
fn slots(config: &Config, log: &JobLog, events: &Events) -> Result<Vec<Slot>> {
    let mut slots = Vec::new();
    for db in &config.databases {
        for (class, cron) in &db.backups {
            slots.push((
                format!("backup:{}:{class}", db.name),
                Some(db.name.clone()),
                Work::Backup { classes: vec![class.clone()] },
                cron.clone(),
            ));
        }
        if let Some(DrillWhen::Schedule(cron)) = &db.drill {
            slots.push((format!("drill:{}", db.name), Some(db.name.clone()), Work::Drill { snapshot: None }, (**cron).clone()));
        }
    }
    if let Some(cron) = &config.repository.check {
        slots.push((
            "check".into(),
            None,
            Work::Check { percent: config.repository.check_read_data_percent, on: Target::Primary },
            cron.clone(),
        ));
    }
    if let Some(cron) = &config.repository.prune {
        slots.push(("prune".into(), None, Work::Prune { on: Target::Primary }, cron.clone()));
    }
    for (i, mirror) in config.mirrors.iter().enumerate() {
        if let Some(cron) = &mirror.check {
            let work = Work::Check { percent: mirror.check_read_data_percent, on: Target::Mirror(i) };
            slots.push((format!("check:{}", mirror.url), None, work, cron.clone()));
        }
        if let Some(cron) = &mirror.prune {
            slots.push((format!("prune:{}", mirror.url), None, Work::Prune { on: Target::Mirror(i) }, cron.clone()));
        }
    }
    let now = Timestamp::now();
    slots
        .into_iter()
        .map(|(key, database, work, cron)| {
            let missed = log.last_slot(&key)?.and_then(|last| cron.next_after(last, &config.time_zone)).filter(|slot| *slot <= now);
            if missed.is_some() {
                events.note("catch-up", &format!("{key} missed a slot while the daemon was down; running it once now"));
            }
            let next = missed.map(|_| now).or_else(|| cron.next_after(now, &config.time_zone));
            Ok(Slot { key, database, work, cron, next })
        })
        .collect()
}

/// Queues `work`, merging a backup into one already queued for the same database.
fn enqueue(queue: &mut Vec<Queued>, database: Option<String>, work: Work, not_before: Timestamp) {
    if let Work::Backup { classes } = &work
        && let Some(Queued { work: Work::Backup { classes: queued }, .. }) =
            queue.iter_mut().find(|q| q.database == database && q.asked.is_none() && matches!(q.work, Work::Backup { .. }))
    {
        for class in classes {
            if !queued.contains(class) {
                queued.push(class.clone());
            }
        }
        return;
    }
    if queue.iter().any(|q| q.database == database && q.work == work) {
        return;
    }
    queue.push(Queued { database, work, not_before, asked: None });
}

/// Starts queued jobs whose lane is free, up to the limit, oldest first.
fn start_ready(
    queue: &mut Vec<Queued>,
    running: &mut BTreeSet<String>,
    config: &Config,
    repos: &Arc<Repos>,
    runner: &Arc<Runner>,
    events: &Events,
    tx: &mpsc::Sender<Message>,
) {
    let now = Timestamp::now();
    let mut index = 0;
    while index < queue.len() && running.len() < config.concurrent_jobs {
        let lane = lane(queue[index].database.as_deref(), &queue[index].work);
        if running.contains(&lane) || queue[index].not_before > now {
            index += 1;
            continue;
        }
        let job = queue.remove(index);
        running.insert(lane.clone());
        let database = job.database.as_deref().and_then(|d| config.database(d)).cloned();
        let (repos, runner, events, tx) = (repos.clone(), runner.clone(), *events, tx.clone());
        let databases = config.databases.clone();
        std::thread::spawn(move || {
            let what = describe(&job.work, job.database.as_deref(), &repos);
            events.note("job started", &what);
            let started = std::time::Instant::now();
            let cx = JobContext { repos: &repos, databases: &databases, runner: &runner };
            let start = match &job.asked {
                Some(asked) => Start { trigger: Trigger::Api, actor: Some(&asked.actor), reason: asked.reason.as_deref() },
                None => Start { trigger: Trigger::Schedule, actor: None, reason: None },
            };
            let (outcome, unlogged) = jobs::run(&cx, database.as_ref(), &job.work, start);
            if let Some(err) = unlogged {
                events.error("job log", job.database.as_deref(), &format!("{what}: {err}"));
            }
            let (status, error, snapshot) = match outcome {
                outcome if outcome.status == "ok" => {
                    let covered = outcome.covered_by.as_deref().map(|s| format!(", covered by the drill of {}", &s[..8.min(s.len())]));
                    let snapshot = outcome.snapshot.as_deref().map(|s| format!(", snapshot {}", &s[..8.min(s.len())])).unwrap_or_default();
                    let how = covered.unwrap_or_default();
                    events.note("job ok", &format!("{what} in {:.1}s{snapshot}{how}", started.elapsed().as_secs_f64()));
                    ("ok", None, outcome.snapshot)
                }
                outcome => {
                    let error = outcome.error.unwrap_or_default();
                    events.error(&format!("job {}", outcome.status), job.database.as_deref(), &format!("{what}: {error}"));
                    (outcome.status, Some(error), outcome.snapshot)
                }
            };
            let _ = tx.send(Message::Done { lane, database: job.database, kind: job.work.kind(), status, error, snapshot });
        });
    }
}

fn describe(work: &Work, database: Option<&str>, repos: &Repos) -> String {
    let on = match (database, repos.mirror_url(work.target())) {
        (Some(d), _) => format!(" of `{d}`"),
        (None, Some(url)) if matches!(work, Work::Copy { .. }) => format!(" to mirror {url}"),
        (None, Some(url)) => format!(" of mirror {url}"),
        (None, None) => " of the repository".into(),
    };
    match work {
        Work::Backup { classes } => format!("backup{on} [{}]", classes.join(",")),
        other => format!("{}{on}", other.kind()),
    }
}

/// A delay in `[0, jitter)` that differs per schedule and slot (no randomness needed, only
/// spread).
fn jitter(config: &Config, key: &str, now: Timestamp) -> Timestamp {
    if config.jitter.is_zero() {
        return now;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain(now.as_second().to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    let millis = hash % (config.jitter.as_millis().max(1) as u64);
    now + Duration::from_millis(millis)
}

/// Evaluates health and writes `health.json` on a thread of its own; the report comes back
/// as a message.
fn evaluate_health(config: &Config, repos: &Arc<Repos>, events: Events, tx: &mpsc::Sender<Message>) {
    let (config, repos, tx) = (config.clone(), repos.clone(), tx.clone());
    std::thread::spawn(move || {
        let report = health::evaluate(&config, &repos).and_then(|report| health::write(&config.state_dir, &report).map(|()| report));
        let report = report.map_err(|err| events.error("health", None, &err.to_string())).ok();
        let _ = tx.send(Message::Health(report));
    });
}

/// Sends `alert` to every channel on a thread of its own (a slow mail server must not hold
/// up the schedule) and reports each channel's result as an event.
fn send_alert(config: &Config, alert: Alert, events: &Events) {
    if config.alerts.is_empty() {
        return;
    }
    let (channels, events) = (config.alerts.clone(), *events);
    std::thread::spawn(move || {
        for (channel, result) in alerts::send(&channels, &alert) {
            match result {
                Ok(()) => events.note("alert sent", &format!("{} to {channel}", alert.subject)),
                Err(err) => events.error("alert not sent", None, &format!("{} to {channel}: {err}", alert.subject)),
            }
        }
    });
}
