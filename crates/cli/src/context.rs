//! What most commands need first: the repository location and its password.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::{Context, Result, bail};
use lifeboat_daemon::Config;
use lifeboat_engine::{EngineError, Location, Repo, S3Settings};

use crate::flags::Global;

/// The configuration file given by --config or LIFEBOAT_CONFIG, checked. Read once per
/// process: the repository, the password and the state directory all come from it.
pub fn config(global: &Global) -> Result<Option<Config>> {
    static LOADED: OnceLock<Option<Config>> = OnceLock::new();
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded.clone());
    }
    let loaded = global.config.as_deref().map(Config::load).transpose()?;
    Ok(LOADED.get_or_init(|| loaded).clone())
}

/// The configuration, for commands that cannot work without one.
pub fn required_config(global: &Global) -> Result<Config> {
    config(global)?.ok_or_else(|| {
        EngineError::input("this command needs the configuration file", "pass --config /etc/lifeboat/lifeboat.toml or set LIFEBOAT_CONFIG")
            .into()
    })
}

/// The repository: --repo, else the configuration's (with its S3 settings); --cacert applies
/// to either.
pub fn location(global: &Global) -> Result<Location> {
    let location = match (&global.repo, config(global)?) {
        (Some(text), _) => Location::parse(text)?,
        (None, Some(config)) => config.repository.location()?,
        (None, None) => {
            return Err(EngineError::input("no repository given", "pass --repo PATH, set LIFEBOAT_REPO, or give --config").into());
        }
    };
    Ok(with_cacert(global, location))
}

/// `location` trusting the certificates of --cacert, if given.
pub fn with_cacert(global: &Global, location: Location) -> Location {
    location.with_s3_settings(&S3Settings { cacert: global.cacert.clone(), ..S3Settings::default() })
}

/// Where the job log lives: the configuration's state directory, else LIFEBOAT_STATE_DIR;
/// `None` when neither is given (then jobs are not logged).
pub fn state_dir(global: &Global) -> Result<Option<PathBuf>> {
    if let Some(config) = config(global)? {
        return Ok(Some(config.state_dir));
    }
    Ok(std::env::var_os("LIFEBOAT_STATE_DIR").filter(|d| !d.is_empty()).map(PathBuf::from))
}

/// Tokens, users and the audit log of the state directory (which must be known).
pub fn access(global: &Global) -> Result<lifeboat_daemon::access::Access> {
    let dir = state_dir(global)?.ok_or_else(|| {
        EngineError::input(
            "this command needs the state directory, where tokens, users and the audit log are kept",
            "pass --config /etc/lifeboat/lifeboat.toml (its [state] dir) or set LIFEBOAT_STATE_DIR",
        )
    })?;
    Ok(lifeboat_daemon::access::Access::open(&dir)?)
}

/// The moment `age` (`7d`, `36h`) ago, for `--since`.
pub fn since(age: Option<&str>) -> Result<Option<jiff::Timestamp>> {
    Ok(age.map(lifeboat_engine::ago).transpose()?)
}

/// The password from --password-file, the configuration's password_file, LIFEBOAT_PASSWORD,
/// or a prompt on the terminal.
pub fn password(global: &Global, twice: bool) -> Result<String> {
    let configured = match &global.password_file {
        Some(_) => None,
        None => config(global)?.and_then(|c| c.repository.password_file),
    };
    let source = PasswordSource {
        file: global.password_file.as_deref().or(configured.as_deref()),
        env: "LIFEBOAT_PASSWORD",
        flag: "--password-file",
    };
    source.read("repository password", twice)
}

/// Where one repository's password comes from: a file, else an environment variable, else
/// the terminal.
pub struct PasswordSource<'a> {
    pub file: Option<&'a Path>,
    pub env: &'a str,
    /// The option that names the file, for the hint.
    pub flag: &'a str,
}

impl PasswordSource<'_> {
    /// The password; asked twice on the terminal when `twice` (a new repository).
    pub fn read(&self, what: &str, twice: bool) -> Result<String> {
        if let Some(file) = self.file {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read the password file {}", file.display()))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(file)?.permissions());
            if mode & 0o077 != 0 {
                eprintln!(
                    "warning: the password file {} can be read by others (mode {:04o})\n  hint: chmod 600 {}; whoever reads it can read every backup",
                    file.display(),
                    mode & 0o7777,
                    file.display()
                );
            }
            let password = text.lines().next().unwrap_or_default().to_string();
            if password.is_empty() {
                bail!("the password file {} is empty", file.display());
            }
            return Ok(password);
        }
        if let Ok(password) = std::env::var(self.env)
            && !password.is_empty()
        {
            return Ok(password);
        }
        if !std::io::stdin().is_terminal() {
            return Err(EngineError::input(
                format!("no {what} given"),
                format!("set {} or pass {} FILE (no terminal to ask on)", self.env, self.flag),
            )
            .into());
        }
        let password = rpassword::prompt_password(format!("{what}: "))?;
        if twice && rpassword::prompt_password("repeat the password: ")? != password {
            bail!("the passwords do not match; nothing was created");
        }
        if password.is_empty() {
            bail!("an empty password is not allowed");
        }
        Ok(password)
    }
}

/// The repository for this process's job (see [`crate::JOB`]).
pub fn open(global: &Global) -> Result<Repo> {
    let location = location(global)?;
    let repo = Repo::open(&location, &password(global, false)?)?.with_lock_wait(global.lock_wait);
    Ok(repo.for_job(crate::JOB.clone(), None)?)
}
