//! The configuration file (`lifeboat.toml`, DESIGN.md decision 10): read, checked as a whole,
//! and turned into settings the daemon can run without further checks. Every mistake is
//! reported with the setting's place and what to write instead; nothing is half-applied.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use lifeboat_engine::{ClassRule, KeepPolicy, Location, S3Settings, SecretUrl, parse_within};
use serde::Deserialize;

use crate::{
    alerts::{AlertsConfig, EmailChannel, Secret, SmtpTls, WebhookChannel, WebhookFormat},
    cron::Cron,
    error::{DaemonError, Result},
};

/// The backup classes a schedule may name, shortest-lived first: a backup due for several at
/// once is labelled with the last (longest-lived) of them.
pub const SCHEDULED_CLASSES: [&str; 5] = ["hourly", "daily", "weekly", "monthly", "yearly"];

/// The schedules a database gets when its config has no `[databases.schedule]`.
const DEFAULT_SCHEDULE: [(&str, &str); 6] = [
    ("hourly", "0 * * * *"),
    ("daily", "0 2 * * *"),
    ("weekly", "0 3 * * SUN"),
    ("monthly", "0 4 1 * *"),
    ("yearly", "0 5 1 1 *"),
    ("drill", AFTER_EACH_BACKUP),
];

/// The `drill` schedule that drills every backup the daemon takes (the default).
pub const AFTER_EACH_BACKUP: &str = "after-each-backup";

/// The retention a database gets when its config has no `[databases.retention]`.
const DEFAULT_RETENTION: [(&str, u32); 5] = [("hourly", 24), ("daily", 30), ("weekly", 12), ("monthly", 24), ("yearly", 10)];

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    repository: RepositoryFile,
    #[serde(default)]
    state: StateFile,
    #[serde(default)]
    limits: LimitsFile,
    /// IANA time zone the schedules are read in; default the system's.
    time_zone: Option<String>,
    #[serde(default)]
    databases: Vec<DatabaseFile>,
    alerts: Option<AlertsFile>,
    metrics: Option<MetricsFile>,
    api: Option<ApiFile>,
    #[serde(default)]
    mirrors: Vec<RepositoryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    listen: String,
    public_url: Option<String>,
    #[serde(default)]
    insecure_http: bool,
    default_database: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsFile {
    repeat: Option<String>,
    #[serde(default)]
    email: Vec<EmailFile>,
    #[serde(default)]
    webhook: Vec<WebhookFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailFile {
    smtp: String,
    from: String,
    to: Vec<String>,
    user: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    tls: Option<String>,
    cacert: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsFile {
    listen: Option<String>,
    /// A file holding the token Prometheus sends (`bearer_token_file`) to scrape `/metrics`
    /// on the API's listener.
    token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryFile {
    url: String,
    password_file: Option<PathBuf>,
    check: Option<String>,
    check_read_data: Option<String>,
    prune: Option<String>,
    /// S3 only: credentials (else AWS_* from the environment), region, a private CA.
    access_key_id: Option<String>,
    secret_access_key_file: Option<PathBuf>,
    region: Option<String>,
    cacert: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    dir: Option<PathBuf>,
    keep_jobs: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    concurrent_jobs: Option<usize>,
    jitter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFile {
    name: Option<String>,
    url: String,
    max_age: Option<String>,
    schedule: Option<BTreeMap<String, ScheduleText>>,
    retention: Option<BTreeMap<String, RetentionFile>>,
    tables: Option<Vec<String>>,
    schema: Option<Vec<String>>,
    exclude_tables: Option<Vec<String>>,
    integrity: Option<String>,
    scratch: Option<String>,
}

/// A class's retention as written: a count of backups, or an age. Read by hand so that a
/// mistake says what is allowed (serde's untagged enums say only "did not match any variant").
#[derive(Debug)]
enum RetentionFile {
    Count(u32),
    Age(String),
}

impl<'de> Deserialize<'de> for RetentionFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Rule;
        const ALLOWED: &str = "write how many backups to keep (a whole number, e.g. 24) or how long (e.g. \"30d\")";
        impl serde::de::Visitor<'_> for Rule {
            type Value = RetentionFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a count of backups or an age")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<RetentionFile, E> {
                u32::try_from(n).map(RetentionFile::Count).map_err(|_| E::custom(format!("`{n}` is not a retention: {ALLOWED}")))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> std::result::Result<RetentionFile, E> {
                u32::try_from(n).map(RetentionFile::Count).map_err(|_| E::custom(format!("`{n}` is not a retention: {ALLOWED}")))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> std::result::Result<RetentionFile, E> {
                Ok(RetentionFile::Age(text.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> std::result::Result<RetentionFile, E> {
                Err(E::custom(format!("`{n}` is not a retention: {ALLOWED}")))
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> std::result::Result<RetentionFile, E> {
                Err(E::custom(format!("`{b}` is not a retention: {ALLOWED}")))
            }
        }
        deserializer.deserialize_any(Rule)
    }
}

/// A schedule as written: a cron expression in quotes. Read by hand for the same reason.
#[derive(Debug)]
struct ScheduleText(String);

impl<'de> Deserialize<'de> for ScheduleText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(text) => Ok(ScheduleText(text)),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a schedule: write a cron expression in quotes, e.g. \"0 * * * *\" (minute hour day month weekday)"
            ))),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub repository: RepositoryConfig,
    /// Where `state.db` and `health.json` live.
    pub state_dir: PathBuf,
    /// How long the job log keeps a job that ended well (`[state] keep_jobs`); failures,
    /// interruptions and restores twice as long (see `joblog/retention.rs`).
    pub keep_jobs: Duration,
    pub concurrent_jobs: usize,
    /// Each scheduled start is delayed by up to this much (spreads a fleet's load).
    pub jitter: Duration,
    pub time_zone: jiff::tz::TimeZone,
    pub databases: Vec<DatabaseConfig>,
    pub alerts: AlertsConfig,
    /// Second repositories every backup is copied to.
    pub mirrors: Vec<RepositoryConfig>,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The file of the token that may scrape `/metrics` on the API's listener.
    pub metrics_token_file: Option<PathBuf>,
    /// The HTTP API, when `[api]` is there.
    pub api: Option<ApiConfig>,
}

/// `[api]`: where the HTTP API listens.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: std::net::SocketAddr,
    /// How clients reach it (behind a reverse proxy), for links; default `http://<listen>`.
    pub public_url: String,
    /// The database `POST /api/admin/backup` backs up (default: the only one configured).
    pub default_database: Option<String>,
}

/// The primary repository, or a mirror.
#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    pub url: String,
    /// For a mirror without one: the primary's password.
    pub password_file: Option<PathBuf>,
    pub check: Option<Cron>,
    /// Percentage of the packs a scheduled check reads, rotating; 0 reads none.
    pub check_read_data_percent: u8,
    pub prune: Option<Cron>,
    /// How to reach an S3 repository (default for a folder).
    pub s3: S3Settings,
}

impl RepositoryConfig {
    /// Where the repository is, with its S3 settings.
    pub fn location(&self) -> std::result::Result<Location, lifeboat_engine::RepoError> {
        Ok(Location::parse(&self.url)?.with_s3_settings(&self.s3))
    }
}

/// When a database's backups are restore-drilled.
#[derive(Debug, Clone)]
pub enum DrillWhen {
    /// After each backup the daemon takes, at low priority; a backup whose content an earlier
    /// drill already proved is covered by it instead (the default).
    AfterEachBackup,
    /// On a schedule of its own, the newest backup then.
    Schedule(Box<Cron>),
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub name: String,
    /// Shown everywhere with its password as `***` (a URL may carry one).
    pub url: SecretUrl,
    /// Health: a warning when the newest good backup is older, critical past twice this.
    pub max_age: Duration,
    /// Backup schedules per class (`hourly` …) in [`SCHEDULED_CLASSES`] order.
    pub backups: Vec<(String, Cron)>,
    /// When its backups are drilled; `None` with `drill = "off"`.
    pub drill: Option<DrillWhen>,
    pub retention: KeepPolicy,
    pub tables: Vec<String>,
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub integrity: Option<String>,
    pub scratch: Option<String>,
}

impl DatabaseConfig {
    /// What a backup of this database is asked to capture.
    pub fn capture_options(&self) -> lifeboat_engine::CaptureOptions {
        lifeboat_engine::CaptureOptions {
            schemas: self.schemas.clone(),
            tables: self.tables.clone(),
            exclude_tables: self.exclude_tables.clone(),
            integrity: self.integrity.as_deref().map(|level| match level {
                "off" => lifeboat_engine::IntegrityLevel::Off,
                "full" => lifeboat_engine::IntegrityLevel::Full,
                _ => lifeboat_engine::IntegrityLevel::Quick,
            }),
            ..Default::default()
        }
    }
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            DaemonError::config(
                format!("cannot read the configuration {}", path.display()),
                "check the path given to --config / LIFEBOAT_CONFIG",
            )
            .with_source(e)
        })?;
        Self::parse(&text, path)
    }

    /// Checks `text` as the content of the file at `path` (relative paths in it are taken
    /// relative to the file's folder).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let file: File = toml::from_str(text).map_err(|e| {
            // The line, and what is written on it: the key and its value.
            let place = e
                .span()
                .map(|span| {
                    let line = text[..span.start].lines().count().max(1);
                    let written = text.lines().nth(line - 1).map(|l| format!(": `{}`", l.trim())).unwrap_or_default();
                    format!(" (line {line}{written})")
                })
                .unwrap_or_default();
            DaemonError::config(
                format!("{}{place}: {}", path.display(), e.message().trim()),
                "see the configuration section of the README; `lifeboat config check FILE` checks a file",
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let time_zone = match &file.time_zone {
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| {
                DaemonError::config(
                    format!("`time_zone = \"{name}\"` is not a known time zone"),
                    "use an IANA name like Europe/Berlin or UTC",
                )
                .with_source(e)
            })?,
            None => jiff::tz::TimeZone::system(),
        };
        let repository = repository(base, file.repository, "[repository]")?;
        let mut mirrors: Vec<RepositoryConfig> = Vec::new();
        for (i, m) in file.mirrors.into_iter().enumerate() {
            let mirror = self::repository(base, m, &format!("[[mirrors]] #{}", i + 1))?;
            if mirror.url == repository.url || mirrors.iter().any(|other| other.url == mirror.url) {
                return Err(DaemonError::config(
                    format!("{} is named twice as a repository", mirror.url),
                    "each mirror is a repository of its own",
                ));
            }
            mirrors.push(mirror);
        }
        let concurrent_jobs = file.limits.concurrent_jobs.unwrap_or(2);
        if concurrent_jobs == 0 {
            return Err(DaemonError::config("`[limits] concurrent_jobs = 0` would never run a job", "set it to 1 or more (default 2)"));
        }
        let jitter = match &file.limits.jitter {
            Some(text) => interval(text, "[limits] jitter")?,
            None => Duration::ZERO,
        };
        let mut databases = Vec::new();
        for (index, db) in file.databases.into_iter().enumerate() {
            let config = database(db, index, base)?;
            if databases.iter().any(|d: &DatabaseConfig| d.name == config.name) {
                return Err(DaemonError::config(
                    format!("two [[databases]] are named `{}`", config.name),
                    "each database needs a name of its own: the name groups its backups, retention and health",
                ));
            }
            databases.push(config);
        }
        let keep_jobs = match &file.state.keep_jobs {
            Some(text) => interval(text, "[state] keep_jobs")?,
            None => crate::joblog::DEFAULT_KEEP_JOBS,
        };
        if keep_jobs < MIN_KEEP_JOBS {
            return Err(DaemonError::config(
                format!("[state] keep_jobs = \"{}\" would forget jobs within a day", file.state.keep_jobs.as_deref().unwrap_or_default()),
                "the job log is what health, drills and `lifeboat log` read: keep at least 1d (default 400d)",
            ));
        }
        let state_dir = file.state.dir.map(|d| base.join(d)).unwrap_or_else(|| PathBuf::from("/var/lib/lifeboat"));
        let alerts = match file.alerts {
            Some(alerts) => self::alerts(alerts, base)?,
            None => AlertsConfig::default(),
        };
        let metrics_token_file = file.metrics.as_ref().and_then(|m| m.token_file.as_ref()).map(|f| base.join(f));
        let metrics_listen = file
            .metrics
            .and_then(|m| m.listen)
            .map(|listen| {
                listen.parse().map_err(|_| {
                    DaemonError::config(
                        format!("[metrics] listen = \"{listen}\" is not an address"),
                        "write host:port, e.g. \"127.0.0.1:9187\"",
                    )
                })
            })
            .transpose()?;
        let api = file.api.map(|api| self::api(api, &databases)).transpose()?;
        Ok(Self {
            path: path.to_path_buf(),
            repository,
            state_dir,
            keep_jobs,
            concurrent_jobs,
            jitter,
            time_zone,
            databases,
            alerts,
            mirrors,
            metrics_listen,
            metrics_token_file,
            api,
        })
    }

    /// Checks that the files the configuration names can be read now (the password files):
    /// the daemon and `config check` call it, so a typo is found before the first job.
    /// Fails, naming every one, when a file the daemon reads (passwords, secrets, a CA) cannot
    /// be read or is readable by others, or the state directory cannot be written: what a
    /// daemon start trips on. `lifeboat config check` reports these and more (`review`).
    pub fn check_files(&self) -> Result<()> {
        let problems = crate::config_check::file_problems(self);
        if problems.is_empty() {
            return Ok(());
        }
        Err(DaemonError::config(problems.join("\n  "), "fix each, then start again; `lifeboat config check FILE` lists them all"))
    }

    pub fn database(&self, name: &str) -> Option<&DatabaseConfig> {
        self.databases.iter().find(|d| d.name == name)
    }
}

fn database(db: DatabaseFile, index: usize, base: &Path) -> Result<DatabaseConfig> {
    let place = format!("[[databases]] #{} ({})", index + 1, lifeboat_engine::redact(&db.url));
    // The name keys the job log, health and metrics before any backup has run, and must not
    // change when a path does: so it is written down, not derived.
    let Some(name) = db.name else {
        return Err(DaemonError::config(format!("{place} has no `name`"), "add `name = \"...\"`: the name its backups are grouped under"));
    };
    lifeboat_engine::validate_name(&name)
        .map_err(|e| DaemonError::config(format!("{place}: {e}"), "use letters, digits, `-`, `_` and `.`"))?;
    let place = format!("[[databases]] `{name}`");
    let schedule: Vec<(String, String)> = match db.schedule {
        Some(map) => map.into_iter().map(|(class, text)| (class, text.0)).collect(),
        None => DEFAULT_SCHEDULE.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    let mut backups = Vec::new();
    // A schedule that does not name the drill still gets one after each backup: every backup
    // proven to restore is the point; `drill = "off"` says otherwise on purpose.
    let mut drill = Some(DrillWhen::AfterEachBackup);
    for (class, text) in schedule {
        match (class.as_str(), text.as_str()) {
            ("drill", AFTER_EACH_BACKUP) => continue,
            ("drill", "off") => {
                drill = None;
                continue;
            }
            _ => {}
        }
        let cron = Cron::parse(&text).map_err(|e| {
            let also = if class == "drill" { format!(" (or \"{AFTER_EACH_BACKUP}\", or \"off\")") } else { String::new() };
            DaemonError::config(format!("{place} schedule.{class}: {e}{also}"), "see `lifeboat config check`")
        })?;
        match class.as_str() {
            "drill" => drill = Some(DrillWhen::Schedule(Box::new(cron))),
            class if SCHEDULED_CLASSES.contains(&class) => backups.push((class.to_string(), cron)),
            other => {
                return Err(DaemonError::config(
                    format!("{place} schedule.{other}: `{other}` is not a class that can be scheduled"),
                    format!("schedule one of {} (or `drill`)", SCHEDULED_CLASSES.join(", ")),
                ));
            }
        }
    }
    backups.sort_by_key(|(class, _)| SCHEDULED_CLASSES.iter().position(|c| c == class));
    let retention = retention(db.retention, &place)?;
    let max_age = match &db.max_age {
        Some(text) => interval(text, &format!("{place} max_age"))?,
        None => default_max_age(&backups),
    };
    if let Some(level) = &db.integrity
        && !["off", "quick", "full"].contains(&level.as_str())
    {
        return Err(DaemonError::config(format!("{place} integrity = \"{level}\""), "write off, quick or full"));
    }
    Ok(DatabaseConfig {
        name,
        url: SecretUrl::new(lifeboat_engine::database_relative_to(base, &db.url)),
        max_age,
        backups,
        drill,
        retention,
        tables: db.tables.unwrap_or_default(),
        schemas: db.schema.unwrap_or_default(),
        exclude_tables: db.exclude_tables.unwrap_or_default(),
        integrity: db.integrity,
        scratch: db.scratch,
    })
}

/// A repository's settings, checked; `place` names its section in errors.
fn repository(base: &Path, file: RepositoryFile, place: &str) -> Result<RepositoryConfig> {
    let s3 = S3Settings {
        access_key_id: file.access_key_id,
        secret_access_key_file: file.secret_access_key_file.map(|p| base.join(p)),
        region: file.region,
        cacert: file.cacert.map(|p| base.join(p)),
    };
    if !file.url.starts_with("s3:") && s3 != S3Settings::default() {
        return Err(DaemonError::config(
            format!("{place}: access_key_id, secret_access_key_file, region and cacert apply to s3: URLs, not `{}`", file.url),
            "remove them, or write the url as s3:https://host/bucket/prefix",
        ));
    }
    if s3.access_key_id.is_some() != s3.secret_access_key_file.is_some() {
        return Err(DaemonError::config(
            format!("{place}: access_key_id and secret_access_key_file go together"),
            "give both (the secret in a file of its own), or neither to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ));
    }
    let url = resolve(base, &file.url);
    Location::parse(&url).map_err(|e| {
        DaemonError::config(
            format!("{place} url = \"{url}\" is not a repository location"),
            "write a folder path or s3:https://host/bucket/prefix",
        )
        .with_source(e)
    })?;
    Ok(RepositoryConfig {
        url,
        password_file: file.password_file.map(|p| base.join(p)),
        check: optional_cron(file.check.as_deref(), &format!("{place} check"))?,
        check_read_data_percent: match &file.check_read_data {
            None => 0,
            Some(text) => percent(text)?,
        },
        prune: optional_cron(file.prune.as_deref(), &format!("{place} prune"))?,
        s3,
    })
}

fn alerts(file: AlertsFile, base: &Path) -> Result<AlertsConfig> {
    let repeat = match &file.repeat {
        Some(text) => interval(text, "[alerts] repeat")?,
        None => AlertsConfig::default().repeat,
    };
    let mut email = Vec::new();
    for (i, e) in file.email.into_iter().enumerate() {
        let place = format!("[alerts] email #{}", i + 1);
        let (scheme, rest) = e.smtp.split_once("://").unwrap_or(("", &e.smtp));
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((host, port)) => (
                host.to_string(),
                Some(port.parse::<u16>().map_err(|_| {
                    DaemonError::config(format!("{place}: `{}` has no valid port", e.smtp), "write smtp://host:587 or smtps://host:465")
                })?),
            ),
            None => (rest.trim_end_matches('/').to_string(), None),
        };
        let tls = match (e.tls.as_deref(), scheme) {
            (Some("starttls"), _) | (None, "smtp") => SmtpTls::StartTls,
            (Some("implicit"), _) | (None, "smtps") => SmtpTls::Implicit,
            (Some("none"), _) => SmtpTls::None,
            (Some(other), _) => {
                return Err(DaemonError::config(
                    format!("{place}: tls = \"{other}\""),
                    "write starttls, implicit, or none (a relay on this host only)",
                ));
            }
            (None, _) => {
                return Err(DaemonError::config(
                    format!("{place}: smtp = \"{}\"", e.smtp),
                    "write smtp://host:587 (STARTTLS) or smtps://host:465 (TLS)",
                ));
            }
        };
        if e.to.is_empty() {
            return Err(DaemonError::config(format!("{place} has no recipient"), "add to = [\"ops@example.com\"]"));
        }
        let password = match (e.password, &e.password_file, &e.password_env) {
            (Some(text), None, None) => Some(Secret::Inline(text)),
            (None, Some(file), None) => Some(Secret::File(base.join(file))),
            (None, None, Some(var)) => Some(Secret::Env(var.clone())),
            (None, None, None) => None,
            _ => {
                return Err(DaemonError::config(
                    format!("{place} gives more than one of password, password_file and password_env"),
                    "give one of them",
                ));
            }
        };
        if password.is_some() && e.user.is_none() {
            return Err(DaemonError::config(format!("{place} has a password but no user"), "add user = \"...\""));
        }
        let port = port.unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None => 25,
        });
        email.push(EmailChannel {
            host,
            port,
            tls,
            from: e.from,
            to: e.to,
            user: e.user,
            password,
            cacert: e.cacert.map(|c| base.join(c)),
        });
    }
    let mut webhook = Vec::new();
    for (i, w) in file.webhook.into_iter().enumerate() {
        let format = match w.format.as_deref() {
            None | Some("json") => WebhookFormat::Json,
            Some("slack") => WebhookFormat::Slack,
            Some(other) => {
                return Err(DaemonError::config(format!("[alerts] webhook #{}: format = \"{other}\"", i + 1), "write json or slack"));
            }
        };
        if !w.url.starts_with("http://") && !w.url.starts_with("https://") {
            return Err(DaemonError::config(
                format!("[alerts] webhook #{}: `{}` is not an http(s) URL", i + 1, w.url),
                "write https://...",
            ));
        }
        webhook.push(WebhookChannel { url: w.url, format });
    }
    Ok(AlertsConfig { repeat, email, webhook })
}

fn retention(rules: Option<BTreeMap<String, RetentionFile>>, place: &str) -> Result<KeepPolicy> {
    let rules: Vec<(String, RetentionFile)> = match rules {
        Some(map) => map.into_iter().collect(),
        None => DEFAULT_RETENTION.iter().map(|(k, n)| (k.to_string(), RetentionFile::Count(*n))).collect(),
    };
    let mut policy = KeepPolicy::default();
    for (class, rule) in rules {
        lifeboat_engine::validate_class(&class)
            .map_err(|e| DaemonError::config(format!("{place} retention.{class}: {e}"), "name a class"))?;
        let rule = match rule {
            RetentionFile::Count(n) => ClassRule::Count(n),
            RetentionFile::Age(text) => ClassRule::Within(parse_within(&text).map_err(|e| {
                DaemonError::config(format!("{place} retention.{class} = \"{text}\": {e}"), "a count (24) or an age (\"30d\")")
            })?),
        };
        if class == lifeboat_engine::SAFETY_CLASS {
            match rule {
                ClassRule::Within(span) => policy.safety = Some(span),
                ClassRule::Count(_) => {
                    return Err(DaemonError::config(
                        format!("{place} retention.safety is a count"),
                        "safety backups are kept by age: write safety = \"30d\"",
                    ));
                }
            }
        } else {
            policy.classes.insert(class, rule);
        }
    }
    Ok(policy)
}

/// Twice the shortest interval between two backups (over the next few slots), or a day.
fn default_max_age(backups: &[(String, Cron)]) -> Duration {
    let tz = jiff::tz::TimeZone::UTC;
    let mut slots: Vec<jiff::Timestamp> = Vec::new();
    let start = jiff::Timestamp::now();
    for (_, cron) in backups {
        let mut at = start;
        for _ in 0..3 {
            match cron.next_after(at, &tz) {
                Some(next) => {
                    slots.push(next);
                    at = next;
                }
                None => break,
            }
        }
    }
    slots.sort();
    slots.dedup();
    let shortest = slots.windows(2).map(|w| w[1].duration_since(w[0])).min();
    shortest.and_then(|d| Duration::try_from(d * 2).ok()).unwrap_or(Duration::from_secs(2 * 86_400))
}

fn optional_cron(text: Option<&str>, place: &str) -> Result<Option<Cron>> {
    text.map(|t| Cron::parse(t).map_err(|e| DaemonError::config(format!("{place}: {e}"), "see `lifeboat config check`"))).transpose()
}

/// `10%` → 10.
fn percent(text: &str) -> Result<u8> {
    text.trim().strip_suffix('%').and_then(|n| n.trim().parse::<u8>().ok()).filter(|n| *n <= 100).ok_or_else(|| {
        DaemonError::config(format!("check_read_data = \"{text}\""), "write a percentage of the packs to read, e.g. \"10%\"")
    })
}

/// A duration in seconds, minutes, hours or days: `30s`, `10m`, `2h`, `1d`, `1h30m`.
pub fn interval(text: &str, place: &str) -> Result<Duration> {
    let span: jiff::Span = text
        .parse()
        .map_err(|_| DaemonError::config(format!("{place} = \"{text}\" is not a duration"), "write it like 30s, 10m, 2h or 1d"))?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()
        .and_then(|d| Duration::try_from(d).ok())
        .ok_or_else(|| DaemonError::config(format!("{place} = \"{text}\" is not a duration"), "write it like 30s, 10m, 2h or 1d"))?;
    Ok(duration)
}

/// The shortest `[state] keep_jobs`.
const MIN_KEEP_JOBS: Duration = Duration::from_secs(86_400);

/// A repository path relative to the config file's folder (restic URLs with a scheme stay).
fn resolve(base: &Path, url: &str) -> String {
    if url.contains(':') || Path::new(url).is_absolute() { url.to_string() } else { base.join(url).display().to_string() }
}

/// `[api]`, checked: an address, and plain HTTP only on this machine unless asked for.
fn api(file: ApiFile, databases: &[DatabaseConfig]) -> Result<ApiConfig> {
    let listen: std::net::SocketAddr = file.listen.parse().map_err(|_| {
        DaemonError::config(format!("[api] listen = \"{}\" is not an address", file.listen), "write host:port, e.g. \"127.0.0.1:8080\"")
    })?;
    if !listen.ip().is_loopback() && !file.insecure_http {
        return Err(DaemonError::config(
            format!("[api] listen = \"{listen}\" would serve tokens, passwords and backups over plain HTTP to the network"),
            "listen on 127.0.0.1 behind a reverse proxy that terminates TLS (see the README), or set insecure_http = true if the network itself is trusted",
        ));
    }
    if let Some(name) = &file.default_database
        && !databases.iter().any(|d| &d.name == name)
    {
        return Err(DaemonError::config(
            format!("[api] default_database = \"{name}\" is not a configured database"),
            "name one of the [[databases]] of this file",
        ));
    }
    Ok(ApiConfig {
        listen,
        public_url: file.public_url.unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_string(),
        default_database: file.default_database,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/lifeboat/lifeboat.toml"))
    }

    #[test]
    fn defaults_follow_the_design() {
        let config = parse("[repository]\nurl = \"repo\"\n[[databases]]\nname = \"app\"\nurl = \"app.db\"\n").unwrap();
        assert_eq!(config.repository.url, "/etc/lifeboat/repo");
        assert_eq!(config.concurrent_jobs, 2);
        assert_eq!(config.keep_jobs, Duration::from_secs(400 * 86_400));
        assert_eq!(parse("[repository]\nurl = \"r\"\n[state]\nkeep_jobs = \"90d\"\n").unwrap().keep_jobs, Duration::from_secs(90 * 86_400));
        let db = &config.databases[0];
        assert_eq!(db.url.expose(), "/etc/lifeboat/app.db");
        let classes: Vec<&str> = db.backups.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(classes, SCHEDULED_CLASSES);
        assert!(matches!(db.drill, Some(DrillWhen::AfterEachBackup)));
        assert!(matches!(db.retention.classes.get("daily"), Some(ClassRule::Count(30))));
        assert_eq!(db.max_age, Duration::from_secs(2 * 3600), "twice the hourly interval");
    }

    #[test]
    fn an_s3_repository_takes_its_settings_relative_to_the_file() {
        let config = parse(
            "[repository]\nurl = \"s3:https://s3.example.com/bkt/app\"\naccess_key_id = \"AK\"\nsecret_access_key_file = \"s3-secret\"\nregion = \"eu-west-1\"\ncacert = \"ca.pem\"\n",
        )
        .unwrap();
        let lifeboat_engine::Location::S3(url, settings) = config.repository.location().unwrap() else { panic!("not S3") };
        assert_eq!((url.host.as_str(), url.bucket.as_str(), url.prefix.as_str()), ("s3.example.com", "bkt", "app"));
        assert_eq!(settings.secret_access_key_file.as_deref(), Some(Path::new("/etc/lifeboat/s3-secret")));
        assert_eq!(settings.cacert.as_deref(), Some(Path::new("/etc/lifeboat/ca.pem")));
        assert_eq!((settings.access_key_id.as_deref(), settings.region.as_deref()), (Some("AK"), Some("eu-west-1")));
        let err = config.check_files().unwrap_err().to_string();
        assert!(err.contains("[repository] secret_access_key_file"), "{err}");
    }

    #[test]
    fn mistakes_name_the_setting_and_what_to_write() {
        let cases = [
            ("[repository]\nurl = \"r\"\n[[mirrors]]\nurl = \"r\"\n", "named twice"),
            ("[repository]\nurl = \"r\"\n[[mirrors]]\nurl = \"m\"\nprune = \"soon\"\n", "[[mirrors]] #1 prune"),
            ("[repository]\nurl = \"r\"\n[replicas]\nurl = \"m\"\n", "unknown field `replicas`"),
            ("[repository]\nurl = \"r\"\n[alerts]\nemail = [{ smtp = \"mail:25\", from = \"a@b\", to = [\"c@d\"] }]\n", "smtp://host:587"),
            ("[repository]\nurl = \"r\"\n[metrics]\nlisten = \"everywhere\"\n", "not an address"),
            ("[repository]\nurl = \"r\"\n[api]\nlisten = \"0.0.0.0:8080\"\n", "over plain HTTP to the network"),
            ("[repository]\nurl = \"r\"\n[api]\nlisten = \"127.0.0.1:8080\"\ndefault_database = \"nope\"\n", "not a configured database"),
            ("[repository]\nurl = \"r\"\n[api]\nlisten = \"127.0.0.1:8080\"\ntls = true\n", "unknown field"),
            (
                "[repository]\nurl = \"r\"\n[alerts]\nemail = [{ smtp = \"smtp://m:587\", from = \"a@b\", to = [\"c@d\"], user = \"u\", password = \"p\", password_env = \"P\" }]\n",
                "more than one of password",
            ),
            ("[repository]\nurl = \"r\"\n[[databases]]\nurl = \"a.db\"\n", "has no `name`"),
            (
                "[repository]\nurl = \"r\"\n[[databases]]\nname = \"a\"\nurl = \"a.db\"\n[databases.schedule]\nminutely = \"* * * * *\"\n",
                "not a class",
            ),
            (
                "[repository]\nurl = \"r\"\n[[databases]]\nname = \"a\"\nurl = \"a.db\"\n[databases.schedule]\ndaily = \"0 2 * *\"\n",
                "schedule.daily",
            ),
            (
                "[repository]\nurl = \"r\"\n[[databases]]\nname = \"a\"\nurl = \"a.db\"\n[databases.retention]\ndaily = \"soon\"\n",
                "retention.daily",
            ),
            ("[repository]\nurl = \"r\"\n[limits]\nconcurrent_jobs = 0\n", "concurrent_jobs = 0"),
            (
                "[repository]\nurl = \"r\"\n[[databases]]\nname = \"a\"\nurl = \"a.db\"\n[[databases]]\nname = \"a\"\nurl = \"b.db\"\n",
                "two [[databases]]",
            ),
            ("time_zone = \"Mars/Olympus\"\n[repository]\nurl = \"r\"\n", "not a known time zone"),
            ("[repository]\nurl = \"/srv/r\"\nregion = \"eu\"\n", "apply to s3: URLs"),
            ("[repository]\nurl = \"s3:http://h/bkt\"\naccess_key_id = \"AK\"\n", "go together"),
            ("[repository]\nurl = \"s3:http://h\"\n", "bucket is missing"),
            ("[repository]\nurl = \"r\"\n[state]\nkeep_jobs = \"12h\"\n", "keep at least 1d"),
            ("[repository]\nurl = \"r\"\n[state]\nkeep_jobs = \"forever\"\n", "[state] keep_jobs = \"forever\" is not a duration"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("hint: "), "{expected}: {err}");
        }
    }
}
