//! The engine's error: what failed, in which step, and what the user can do next. Errors of
//! the layers below keep their kind so the CLI can choose an exit code and a message.

use lifeboat_repo::{RepoError, RepoErrorKind};
use lifeboat_sources::{SourceError, SourceErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Source(SourceError),
    /// The user's input is wrong (bad database spec, unknown snapshot, ambiguous prefix, ...).
    #[error("{}", lifeboat_error::render(context, None, hint))]
    Input { context: String, hint: String },
    /// The user declined, or confirmation was needed and no terminal could ask for it.
    #[error("{}", lifeboat_error::render(context, None, hint))]
    NotConfirmed { context: String, hint: String },
    /// A backup or restored copy does not match what was recorded.
    #[error("{}", lifeboat_error::render(context, None, hint))]
    Mismatch { context: String, hint: String },
}

impl From<SourceError> for EngineError {
    /// An engine's failure, or, when the engine failed because reading the backup failed, that
    /// failure itself: a damaged repository is reported as such, with its own hint, not as
    /// "writing the copy failed".
    fn from(err: SourceError) -> Self {
        let SourceError { kind, context, hint, source } = err;
        let source = match source.map(|s| s.downcast::<std::io::Error>()) {
            Some(Ok(io)) => {
                if io.get_ref().is_some_and(|inner| inner.is::<EngineError>()) {
                    let inner = (*io).into_inner().expect("checked above");
                    return *inner.downcast::<EngineError>().expect("checked above");
                }
                Some(io as Box<dyn std::error::Error + Send + Sync>)
            }
            Some(Err(other)) => Some(other),
            None => None,
        };
        Self::Source(SourceError { kind, context, hint, source })
    }
}

impl lifeboat_error::Actionable for EngineError {
    fn hint(&self) -> &str {
        match self {
            Self::Repo(e) => &e.hint,
            Self::Source(e) => &e.hint,
            Self::Input { hint, .. } | Self::NotConfirmed { hint, .. } | Self::Mismatch { hint, .. } => hint,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Self::Repo(e) => e.retryable(),
            Self::Source(e) => e.retryable(),
            Self::Input { .. } | Self::NotConfirmed { .. } | Self::Mismatch { .. } => false,
        }
    }
}

impl EngineError {
    pub fn input(context: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Input { context: context.into(), hint: hint.into() }
    }

    /// Whether the error is the user's input rather than a failure (exit code 2 vs 1).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Input { .. } => true,
            Self::Repo(e) => matches!(e.kind, RepoErrorKind::SnapshotNotFound | RepoErrorKind::AmbiguousSnapshot),
            Self::Source(e) => matches!(e.kind, SourceErrorKind::TableNotFound | SourceErrorKind::Usage),
            _ => false,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
