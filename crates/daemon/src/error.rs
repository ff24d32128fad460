//! The daemon's errors: a bad configuration, a job log that cannot be written, a job that
//! failed. Same shape as every lifeboat error (see `lifeboat-error`).

use std::error::Error as StdError;

pub type Result<T, E = DaemonError> = std::result::Result<T, E>;

/// What kind of thing went wrong, for exit codes and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonErrorKind {
    /// The configuration file is missing, unreadable or says something that cannot be.
    Config,
    /// The state directory or its job log cannot be used.
    State,
    /// A job's work failed (the engine's error is the cause).
    Job,
    /// Another daemon already runs on the same state directory.
    AlreadyRunning,
    /// A token, user or role asked for that does not exist or cannot be (a name taken, a
    /// password too short): nothing was changed.
    Access,
    /// Credentials that do not prove who they claim (a wrong password, an unknown, expired
    /// or revoked token, a wrong second factor).
    Denied,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", lifeboat_error::render(context, source.as_deref(), hint))]
pub struct DaemonError {
    pub kind: DaemonErrorKind,
    context: String,
    hint: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl DaemonError {
    pub fn new(kind: DaemonErrorKind, context: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { kind, context: context.into(), hint: hint.into(), source: None }
    }

    pub fn config(context: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(DaemonErrorKind::Config, context, hint)
    }

    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// A job log error: the state directory's file could not be read or written.
    pub(crate) fn state(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Self::new(
            DaemonErrorKind::State,
            context,
            "check that the state directory exists, is writable by this user, and its disk is not full",
        )
        .with_source(source)
    }
}

impl lifeboat_error::Actionable for DaemonError {
    fn hint(&self) -> &str {
        &self.hint
    }

    fn retryable(&self) -> bool {
        // A broken configuration or state directory stays broken until someone fixes it.
        false
    }
}
