//! The repositories the daemon writes: the primary, opened once at start (its key derived
//! once), and the mirrors, each opened when first needed and again after it failed, so a mirror
//! that is down at start, or goes down later, is picked up when it is back.

use std::sync::Mutex;

use lifeboat_engine::Repo;

use crate::{
    config::{Config, RepositoryConfig},
    error::{DaemonError, DaemonErrorKind, Result},
};

/// Which repository a job works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Primary,
    /// The mirror at this index of the configuration's `[[mirrors]]`.
    Mirror(usize),
}

pub struct Repos {
    pub primary: Repo,
    mirrors: Vec<MirrorHandle>,
}

struct MirrorHandle {
    config: RepositoryConfig,
    /// The primary's password, for a mirror without a password file of its own.
    fallback_password: String,
    opened: Mutex<Option<Repo>>,
}

impl Repos {
    pub fn new(primary: Repo, config: &Config, primary_password: &str) -> Self {
        let mirrors = config
            .mirrors
            .iter()
            .map(|m| MirrorHandle { config: m.clone(), fallback_password: primary_password.to_string(), opened: Mutex::new(None) })
            .collect();
        Self { primary, mirrors }
    }

    pub fn mirror_count(&self) -> usize {
        self.mirrors.len()
    }

    /// A mirror's URL as configured; `None` for the primary.
    pub fn mirror_url(&self, target: Target) -> Option<&str> {
        match target {
            Target::Primary => None,
            Target::Mirror(i) => Some(&self.mirrors[i].config.url),
        }
    }

    /// The repository `target`, opened (a mirror's key is derived on its first use).
    pub fn get(&self, target: Target) -> Result<Repo> {
        let Target::Mirror(i) = target else { return Ok(self.primary.clone()) };
        let mirror = &self.mirrors[i];
        let mut opened = mirror.opened.lock().expect("mirror lock");
        if let Some(repo) = opened.as_ref() {
            return Ok(repo.clone());
        }
        let password = match &mirror.config.password_file {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| {
                    DaemonError::new(
                        DaemonErrorKind::Job,
                        format!("cannot read the mirror's password file {}", file.display()),
                        "check the file",
                    )
                    .with_source(e)
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            None => mirror.fallback_password.clone(),
        };
        let location = mirror
            .config
            .location()
            .map_err(|e| DaemonError::new(DaemonErrorKind::Job, "the mirror's url", "check [[mirrors]] url").with_source(e))?;
        let repo = Repo::open(&location, &password).map_err(|e| {
            DaemonError::new(
                DaemonErrorKind::Job,
                format!("mirror {} cannot be opened", mirror.config.url),
                "it is retried after the next backup",
            )
            .with_source(e)
        })?;
        *opened = Some(repo.clone());
        Ok(repo)
    }

    /// Forgets an opened mirror after it failed, so the next use opens it afresh.
    pub fn reset(&self, target: Target) {
        if let Target::Mirror(i) = target {
            *self.mirrors[i].opened.lock().expect("mirror lock") = None;
        }
    }
}
