//! `lifeboat config check`: everything a configuration gets wrong, found at once, one line
//! each, through the engines' own URL parsing (no engine is named here).

use std::{collections::BTreeMap, os::unix::fs::PermissionsExt, path::Path};

use lifeboat_engine::{CaptureOptions, SourceErrorKind};

use crate::config::Config;

/// What a configuration gets wrong: problems fail the check (exit 1), warnings do not (a
/// server that is down now may be up when the daemon runs).
#[derive(Debug, Default)]
pub struct Review {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl Config {
    /// Checks the files, the state directory and every database (see [`Review`]).
    pub fn review(&self) -> Review {
        let mut review = Review { problems: file_problems(self), warnings: Vec::new() };
        let mut identities: BTreeMap<String, &str> = BTreeMap::new();
        for db in &self.databases {
            let database = match lifeboat_engine::open_database(db.url.expose()) {
                Ok(database) => database,
                Err(err) => {
                    review.problems.push(format!("database `{}`: {}", db.name, first_line(&err.to_string())));
                    continue;
                }
            };
            // Options its engine cannot honour would fail every backup: say so now.
            let refused = db.capture_options().refused_by(database.engine().caps());
            if !refused.is_empty() {
                let settings: Vec<String> = refused.iter().map(|flag| setting_of(flag)).collect();
                review.problems.push(format!(
                    "database `{}`: {} cannot be used with a {} database; remove it from its [[databases]] entry",
                    db.name,
                    settings.join(", "),
                    database.engine().name()
                ));
            }
            if let Err(err) = database.probe() {
                let line = format!("database `{}`: {}", db.name, first_line(&err.to_string()));
                // What stays wrong until someone fixes it fails the check; a server that does
                // not answer now is a warning.
                match err.kind {
                    SourceErrorKind::NotFound
                    | SourceErrorKind::NotADatabase
                    | SourceErrorKind::PermissionDenied
                    | SourceErrorKind::Corrupt
                    | SourceErrorKind::Usage => review.problems.push(line),
                    _ => review.warnings.push(line),
                }
                continue;
            }
            // Two names for one database would split its backups into two retention groups.
            if let Ok(identity) = database.source(&CaptureOptions::default()).map(|source| source.identity()) {
                match identities.get(&identity) {
                    Some(other) => review
                        .problems
                        .push(format!("databases `{other}` and `{}` are the same database ({identity}): list it once", db.name)),
                    None => {
                        identities.insert(identity, &db.name);
                    }
                }
            }
        }
        review
    }
}

/// The files a daemon reads and the state directory it writes: what a start trips on.
pub(crate) fn file_problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let repositories = std::iter::once(("[repository]", &config.repository)).chain(config.mirrors.iter().map(|m| ("[[mirrors]]", m)));
    let mut files: Vec<(String, &Path, bool)> = Vec::new();
    for (section, repository) in repositories {
        files.extend(repository.password_file.as_deref().map(|f| (format!("{section} password_file"), f, true)));
        files.extend(repository.s3.secret_access_key_file.as_deref().map(|f| (format!("{section} secret_access_key_file"), f, true)));
        files.extend(repository.s3.cacert.as_deref().map(|f| (format!("{section} cacert"), f, false)));
    }
    for email in &config.alerts.email {
        if let Some(crate::alerts::Secret::File(file)) = &email.password {
            files.push(("[alerts] email password_file".into(), file, true));
        }
    }
    files.extend(config.metrics_token_file.as_deref().map(|f| ("[metrics] token_file".to_string(), f, true)));
    for (setting, file, secret) in files {
        match std::fs::File::open(file).and_then(|f| f.metadata()) {
            Err(err) => problems.push(format!("{setting} = \"{}\" cannot be read: {err}", file.display())),
            Ok(meta) if secret && meta.permissions().mode() & 0o077 != 0 => problems.push(format!(
                "{setting} = \"{}\" is readable by others (mode {:o}): run `chmod 600 {}`",
                file.display(),
                meta.permissions().mode() & 0o777,
                file.display()
            )),
            Ok(_) => {}
        }
    }
    if let Some(why) = not_writable(&config.state_dir) {
        problems.push(format!("[state] dir = \"{}\" {why}", config.state_dir.display()));
    }
    problems
}

/// Why this user cannot write `dir` (or create it), if it cannot.
fn not_writable(dir: &Path) -> Option<String> {
    let existing = dir.ancestors().find(|a| a.exists())?;
    if !existing.is_dir() {
        return Some(format!("cannot be a folder: {} is a file", existing.display()));
    }
    let c_path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path; access only reads it.
    let writable = unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } == 0;
    match (writable, existing == dir) {
        (true, _) => None,
        (false, true) => Some("cannot be written by this user: fix its owner or mode, or choose another".into()),
        (false, false) => Some(format!("cannot be created: {} is not writable by this user", existing.display())),
    }
}

/// The configuration key of a command-line option (`--exclude-table` is `exclude_tables`).
fn setting_of(flag: &str) -> String {
    match flag {
        "--schema" => "`schema`".into(),
        "--exclude-table" => "`exclude_tables`".into(),
        other => format!("`{}`", other.trim_start_matches("--")),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
