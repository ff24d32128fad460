//! The command line, parsed and validated before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "lifeboat", version, about = "Backups of application databases that provably restore.", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The repository: a folder path, or S3 as restic writes it
    /// (s3:https://host[:port]/bucket[/prefix]; credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY).
    #[arg(long, global = true, env = "LIFEBOAT_REPO", value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// Trust the PEM certificates in this file for an S3 endpoint (a private certificate
    /// authority) instead of the public ones.
    #[arg(long, global = true, env = "LIFEBOAT_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Read the repository password from this file (else LIFEBOAT_PASSWORD, else a prompt).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Print machine-readable JSON instead of text (and no progress bars).
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait for a conflicting repository lock (a prune waits for running
    /// backups, a backup for a running prune), e.g. 30s, 10m, 1h.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10m", value_parser = parse_wait)]
    pub lock_wait: std::time::Duration,
    /// The configuration file (lifeboat.toml): the repository, password file and state
    /// directory come from it unless given here.
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new repository (asks for the password twice).
    #[command(after_help = "Example:\n  lifeboat init --repo /var/backups/lifeboat")]
    Init,
    /// Back up a database.
    #[command(
        after_help = "Examples:\n  lifeboat backup app.db --reason \"before migration 42\"\n  lifeboat backup sqlite:/srv/app/data.db --tag daily-cron --class daily\n  lifeboat backup postgres://app@db.internal/shop --class pre-deployment --reason \"migration 42\""
    )]
    Backup(BackupArgs),
    /// List backups.
    #[command(after_help = "Example:\n  lifeboat snapshots --db app")]
    Snapshots(SnapshotsArgs),
    /// Show what a backup holds: tables, rows, schema, relationships, indexes.
    #[command(after_help = "Examples:\n  lifeboat show latest\n  lifeboat show 3f2a9c1e --format markdown --sample 5")]
    Show(ShowArgs),
    /// Restore a backup into a database file, or one table of it.
    #[command(
        after_help = "Examples:\n  lifeboat restore latest --to /srv/app/app.db\n  lifeboat restore 3f2a9c1e --to /srv/app/app.db --table users --yes\n  lifeboat restore latest --db shop --to postgres://postgres@db.internal/shop --terminate-connections"
    )]
    Restore(RestoreArgs),
    /// Restore drill: restore into a scratch folder and compare with the manifest.
    #[command(
        after_help = "Example:\n  lifeboat verify latest --db app\n  lifeboat verify latest --db shop --scratch postgres://postgres@scratch-host/lifeboat_drill"
    )]
    Verify(VerifyArgs),
    /// Check the repository's integrity.
    #[command(after_help = "Example:\n  lifeboat check --read-data")]
    Check(CheckArgs),
    /// Remove backups by retention policy, per database.
    #[command(
        after_help = "Examples:\n  lifeboat forget --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune --yes\n  lifeboat forget 3f2a9c1e 77b01d2a --yes\n\nWithout a terminal (cron) it removes nothing unless --yes is given; --dry-run only shows the plan."
    )]
    Forget(ForgetArgs),
    /// Write a backup as plain SQL that sqlite3 or psql loads without lifeboat.
    #[command(
        after_help = "Examples:\n  lifeboat export latest --db app --format sql -o app.sql && sqlite3 new.db < app.sql\n  lifeboat export latest --db shop --format sql -o shop.sql && psql -d empty_db -f shop.sql"
    )]
    Export(ExportArgs),
    /// Run on schedule from the configuration: backups per class, retention, drills, checks,
    /// prunes; logs one line per event to stderr; stops cleanly on SIGTERM, reloads on SIGHUP.
    #[command(after_help = "Example:\n  lifeboat daemon --config /etc/lifeboat/lifeboat.toml")]
    Daemon(DaemonArgs),
    /// Check a configuration file and print the next run of every schedule.
    #[command(subcommand, after_help = "Example:\n  lifeboat config check /etc/lifeboat/lifeboat.toml")]
    Config(ConfigCommand),
    /// Every job logged: what ran, why, who started it, how it ended.
    #[command(after_help = "Examples:\n  lifeboat log --config lifeboat.toml --since 7d\n  lifeboat log --db app --status failed --json")]
    Log(LogArgs),
    /// Totals per database: backups logged, automated vs manual, success rate, last good
    /// backup, last drill.
    #[command(after_help = "Example:\n  lifeboat stats --config lifeboat.toml")]
    Stats,
    /// Is every configured database protected? Exit 0 ok, 1 warning, 2 critical.
    #[command(
        after_help = "Examples:\n  lifeboat health --config lifeboat.toml\n  lifeboat health --nagios   # exit 3 when unknown, with performance data"
    )]
    Health(HealthArgs),
    /// Copy backups to a second repository (a mirror, e.g. on another disk or host), sending
    /// only the data it lacks; the mirror is a full repository with its own password.
    #[command(
        after_help = "Examples:\n  lifeboat init --repo /mnt/offsite/lifeboat\n  lifeboat copy --all --to /mnt/offsite/lifeboat --to-password-file /etc/lifeboat/offsite-password\n  lifeboat copy latest --db app --to /mnt/offsite/lifeboat"
    )]
    Copy(CopyArgs),
    /// The repository's keys (one per password): list, add, remove, change a password.
    #[command(
        subcommand,
        after_help = "Examples:\n  lifeboat key list\n  lifeboat key add --new-password-file /etc/lifeboat/second-password\n  lifeboat key passwd"
    )]
    Key(KeyCommand),
    /// Alert channels: `alerts test` sends a test to every configured channel.
    #[command(subcommand, after_help = "Example:\n  lifeboat alerts test --config /etc/lifeboat/lifeboat.toml")]
    Alerts(AlertsCommand),
    /// API tokens for machines (`Authorization: Bearer TOKEN`): add (shown once), list, revoke.
    #[command(
        subcommand,
        after_help = "Examples:\n  lifeboat token add ci --role operator --database app --expires 90d --config /etc/lifeboat/lifeboat.toml\n  lifeboat token list\n  lifeboat token revoke ci"
    )]
    Token(TokenCommand),
    /// Dashboard users: add, list, enrol a TOTP second factor, change a password, remove.
    #[command(
        subcommand,
        after_help = "Examples:\n  lifeboat user add alice --role admin --config /etc/lifeboat/lifeboat.toml\n  lifeboat user totp alice\n  lifeboat user passwd alice"
    )]
    User(UserCommand),
    /// The audit log: who changed access, logged in, backed up, restored or downloaded what.
    #[command(after_help = "Examples:\n  lifeboat audit --since 7d\n  lifeboat audit verify")]
    Audit(AuditArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  lifeboat completions bash > /etc/bash_completion.d/lifeboat")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The database: a SQLite file path, sqlite:PATH, or a postgres:// URL; with --config,
    /// also the name of a database configured there.
    pub database: String,
    /// The database's name in the repository, which groups its backups for `latest`,
    /// retention and health [default: the file's stem, or the PostgreSQL database's name].
    /// Needed when two databases would get the same name (prod/app.db and staging/app.db).
    #[arg(long)]
    pub name: Option<String>,
    /// Extra tags for this backup (repeat or separate with commas).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Why this backup is taken; kept in the manifest and the listing.
    #[arg(long)]
    pub reason: Option<String>,
    /// The backup's class: hourly, daily, weekly, monthly, yearly, manual, pre-deployment, or
    /// safety (what restores take of what they replace). Kept as a tag on the snapshot; forget
    /// keeps a class with `--keep-tag CLASS` (the calendar rules go by time, not class).
    #[arg(long, default_value = "manual")]
    pub class: String,
    /// PostgreSQL: only the tables of these schemas (repeat or separate with commas).
    #[arg(long = "schema", value_delimiter = ',')]
    pub schemas: Vec<String>,
    /// PostgreSQL: only these tables, `name` or `schema.name` (a named subset, e.g. before a migration).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// PostgreSQL: leave these tables out, `name` or `schema.name`.
    #[arg(long = "exclude-table", value_delimiter = ',')]
    pub exclude_tables: Vec<String>,
    /// PostgreSQL: also keep roles and tablespaces (`pg_dumpall --globals-only --no-role-passwords`).
    #[arg(long)]
    pub globals: bool,
    /// PostgreSQL: at most N sessions read the database at once (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
    /// SQLite: how thoroughly to check the database's structure before storing it: `quick`
    /// (pages, records, free lists; the default), `full` (also every index against its table,
    /// several times as long; restore drills always run it), or `off`.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub integrity: Option<Integrity>,
}

/// `--integrity` on the command line.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Integrity {
    Off,
    Quick,
    Full,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only backups of this database.
    #[arg(long)]
    pub db: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A snapshot id prefix, or `latest`.
    pub snapshot: String,
    /// With `latest`: the latest backup of this database.
    #[arg(long)]
    pub db: Option<String>,
    /// How to print the report: text for a terminal, json for programs, markdown for notes.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also show the first N rows of each table.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A snapshot id prefix, or `latest`.
    pub snapshot: String,
    /// With `latest`: the latest backup of this database.
    #[arg(long)]
    pub db: Option<String>,
    /// Where to restore: a SQLite file path or a postgres:// URL (created if missing, else
    /// replaced after a safety backup; PostgreSQL swaps in a checked copy by rename).
    #[arg(long, value_name = "DB")]
    pub to: String,
    /// Restore only this table into the existing database (PostgreSQL: `schema.table`).
    #[arg(long)]
    pub table: Option<String>,
    /// PostgreSQL, with --table: restore the table beside the original under this name.
    #[arg(long = "as", value_name = "NAME", requires = "table")]
    pub table_as: Option<String>,
    /// Replace existing data without asking (a safety backup is still taken first).
    #[arg(long)]
    pub yes: bool,
    /// Restore a backup whose database already failed its integrity check when it was
    /// taken, exactly as it was (it may be the best copy there is).
    #[arg(long)]
    pub accept_damaged: bool,
    /// PostgreSQL: end the sessions connected to the database being replaced, so the swap
    /// can happen (otherwise the restore names them and stops).
    #[arg(long)]
    pub terminate_connections: bool,
    /// PostgreSQL: first create the roles and tablespaces kept by `backup --globals`
    /// (existing roles are left as they are).
    #[arg(long)]
    pub globals: bool,
    /// PostgreSQL: load tables and build indexes with N sessions at once (default: one per
    /// core, at least two).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
    /// How much of the restored copy is checked beyond its checksums: `recorded` (default)
    /// trusts the checks the backup recorded, which ran on these very bytes; `full` runs the
    /// engine's full check now and reads back every table's content hash.
    #[arg(long, value_enum, default_value = "recorded")]
    pub check: Check,
}

/// `--check` of `restore`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Check {
    Recorded,
    Full,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A snapshot id prefix, or `latest`.
    #[arg(required_unless_present = "all")]
    pub snapshot: Option<String>,
    /// Drill the newest backup of every database (or of --db), one after the other.
    #[arg(long, conflicts_with = "snapshot")]
    pub all: bool,
    /// With `latest`: the latest backup of this database.
    #[arg(long)]
    pub db: Option<String>,
    /// Where the drill restores: a folder for SQLite (default: the system's temporary
    /// folder), a postgres:// URL of a database to create and drop for PostgreSQL (default: a
    /// temporary database on the server the backup came from).
    #[arg(long, value_name = "DIR|URL")]
    pub scratch: Option<String>,
    /// PostgreSQL: load the drill with N sessions at once (default: one per core, at least two).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// How each event line is written: text for people, json for log shippers.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check FILE: every setting, and the next run of every schedule.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The backups to copy: id prefixes, or `latest` (with --db).
    #[arg(required_unless_present = "all")]
    pub snapshots: Vec<String>,
    /// Copy every backup (of --db, when given).
    #[arg(long, conflicts_with = "snapshots")]
    pub all: bool,
    /// Only this database's backups (with --all or `latest`).
    #[arg(long)]
    pub db: Option<String>,
    /// The mirror: the folder of a repository made with `lifeboat init`.
    #[arg(long, value_name = "PATH")]
    pub to: String,
    /// The mirror's password file (else LIFEBOAT_TO_PASSWORD, else asked on the terminal).
    #[arg(long, value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List the keys, marking the one this command opened the repository with.
    List,
    /// Add a key with a new password; every key opens the same backups.
    Add(NewPassword),
    /// Remove a key (never the one in use, never the last).
    Remove {
        /// The key's id, or the start of it, as `key list` shows it.
        id: String,
    },
    /// Change the password of the key in use: the new key is stored and proven to open the
    /// repository before the old one is removed.
    Passwd(NewPassword),
}

#[derive(Debug, Args)]
pub struct NewPassword {
    /// Read the new password from this file's first line (else it is asked twice).
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it, once: only its hash is kept.
    Add {
        /// The token's name, as `token list` and the audit log show it.
        name: String,
        #[command(flatten)]
        grant: Grant,
        /// It stops working this long from now, e.g. 90d, 12w, 1y (default: never).
        #[arg(long, value_name = "AGE")]
        expires: Option<String>,
    },
    /// List the tokens: name, role, databases, created, expires, last used.
    List,
    /// Revoke a token, at once (a running daemon refuses it at its next request).
    Revoke {
        /// The token's name, as `token list` shows it.
        name: String,
    },
}

/// What a token or user may do.
#[derive(Debug, Args)]
pub struct Grant {
    /// viewer (reads), operator (also backs up and drills) or admin (also restores,
    /// downloads, and manages tokens, users and the audit log).
    #[arg(long)]
    pub role: String,
    /// Only these databases (comma-separated names of the configuration); default: every one.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub database: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (the password from --user-password-file, else asked twice).
    Add {
        /// The user's name, for logging in and in the audit log.
        name: String,
        #[command(flatten)]
        grant: Grant,
        #[command(flatten)]
        password: UserPassword,
    },
    /// List the users: name, role, databases, whether a second factor is enrolled.
    List,
    /// Enrol a TOTP second factor (replacing any earlier one): prints the secret, the
    /// otpauth:// URI and a QR code for an authenticator app.
    Totp {
        /// The user's name.
        name: String,
    },
    /// Change a user's password.
    Passwd {
        /// The user's name.
        name: String,
        #[command(flatten)]
        password: UserPassword,
    },
    /// Remove a user.
    Remove {
        /// The user's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct UserPassword {
    /// Read the user's password from this file's first line (else it is asked twice).
    #[arg(long = "user-password-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub verify: Option<AuditCommand>,
    /// Only what happened this recently, e.g. 36h, 7d, 2w.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no row was edited or removed since it was written (exit 1 if one was).
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to every email and webhook channel of the configuration and report
    /// each result (exit 1 when any failed).
    Test,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this database's jobs.
    #[arg(long)]
    pub db: Option<String>,
    /// Only jobs started this recently, e.g. 36h, 7d, 2w.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// Only jobs that ended so: ok, failed, interrupted, skipped, running.
    #[arg(long)]
    pub status: Option<String>,
    /// Only the newest N jobs (of those the other options select), still oldest first
    /// [default for the text listing: 100; --json gives every job unless this is given].
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub last: Option<usize>,
    /// Every job the other options select, however many (the text listing shows the newest
    /// 100 without it).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Nagios plugin output: one status line with performance data; exit 3 when health
    /// cannot be determined.
    #[arg(long, conflicts_with = "json")]
    pub nagios: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Read and hash every pack, not only the structure.
    #[arg(long)]
    pub read_data: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Remove these backups (id prefixes) instead of applying --keep-* rules; a database's
    /// newest backup is kept even when named.
    #[arg(value_name = "SNAPSHOT", conflicts_with_all = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within", "keep_tags", "keep_safety"])]
    pub snapshots: Vec<String>,
    /// Keep the N newest backups (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours that have one (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days that have one (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N weeks (ISO) that have one (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months that have one (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years that have one (safety backups are not counted).
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every backup newer than this, e.g. 7d, 2w, 6m, 1y.
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Keep every backup with this tag (repeatable).
    #[arg(long = "keep-tag", value_name = "TAG")]
    pub keep_tags: Vec<String>,
    /// Keep safety backups (taken by restores) younger than this; the rules above never
    /// count them [default: 30d].
    #[arg(long, value_name = "DURATION")]
    pub keep_safety: Option<String>,
    /// Only this database's backups.
    #[arg(long)]
    pub db: Option<String>,
    /// Also remove the data that only the forgotten backups used.
    #[arg(long)]
    pub prune: bool,
    /// Show what would be removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Sql,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A snapshot id prefix, or `latest`.
    pub snapshot: String,
    /// With `latest`: the latest backup of this database.
    #[arg(long)]
    pub db: Option<String>,
    /// The output's format: `sql`, a script that the engine's own shell (sqlite3, psql) loads
    /// into an empty database.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A duration such as `30s`, `10m` or `1h`.
fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    let parsed: jiff::SignedDuration = text.parse().map_err(|_| format!("`{text}` is not a duration; write it like 30s, 10m or 1h"))?;
    std::time::Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every option and argument of every command says what it is for.
    #[test]
    fn every_option_has_a_description() {
        let mut missing = Vec::new();
        let cli = Cli::command();
        // Every command at every depth (`config check`, `alerts test`, …).
        let mut commands = vec![&cli];
        while let Some(command) = commands.pop() {
            commands.extend(command.get_subcommands());
            for arg in command.get_arguments() {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version") {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
            assert!(command.get_about().is_some() || command.get_name() == "lifeboat", "{} has no description", command.get_name());
        }
        assert!(missing.is_empty(), "options without a description: {missing:?}");
    }
}
