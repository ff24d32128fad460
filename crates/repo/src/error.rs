//! Errors of the repository layer.
//!
//! Every error carries a [`RepoErrorKind`] (what went wrong, for code to match on), a context
//! sentence (what we were doing, with the names involved) and a hint (what the user can do
//! next). rustic's own errors are folded into this shape here so that nothing above this crate
//! sees a rustic type.

/// What kind of thing went wrong, coarse enough for callers to decide an exit code or a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoErrorKind {
    /// No repository at the location, or the location is not a repository.
    NotFound,
    /// The location itself cannot be understood (a malformed or unsupported URL): a usage error.
    BadLocation,
    /// A repository already exists where one was to be created.
    AlreadyExists,
    /// The password opens no key of the repository.
    WrongPassword,
    /// The snapshot id or prefix matches nothing, or more than one snapshot.
    SnapshotNotFound,
    /// The id prefix matches more than one snapshot.
    AmbiguousSnapshot,
    /// A stream the caller asked for is not in the snapshot.
    StreamNotFound,
    /// Reading from or writing to the storage failed (disk full, network, server errors).
    Storage,
    /// Writing what was read out of the repository failed (the caller's file, its disk).
    Output,
    /// The storage refuses this user: a read-only mount or folder, or credentials the server
    /// does not accept.
    Denied,
    /// Another process holds a lock that conflicts with ours for longer than we wait.
    Locked,
    /// No key matches the id given, or more than one does.
    KeyNotFound,
    /// The key change would leave no key that the user can open the repository with.
    KeyRefused,
    /// A source stream failed while being backed up; no snapshot was written.
    SourceFailed,
    /// Anything else; a bug or an unexpected state of the repository.
    Internal,
}

impl RepoErrorKind {
    /// What to do about an error of this kind when the place it happened knows nothing better.
    pub fn hint(self) -> &'static str {
        match self {
            Self::NotFound => "check --repo / LIFEBOAT_REPO, or create one with `lifeboat init`",
            Self::BadLocation => "write a folder path, or S3 as restic does: s3:https://host[:port]/bucket[/prefix]",
            Self::AlreadyExists => "choose a new or empty folder; nothing was changed",
            Self::WrongPassword => "check LIFEBOAT_PASSWORD or --password-file; the repository itself is unchanged",
            Self::SnapshotNotFound | Self::AmbiguousSnapshot => "list the snapshots with `lifeboat snapshots`",
            Self::StreamNotFound => "see what the snapshot holds with `lifeboat show <SNAPSHOT>`",
            Self::Storage => "check that the repository's storage is reachable, writable and has room, then run the command again",
            Self::Output => "check where the output goes (its disk, its permissions); the repository is fine",
            Self::Denied => "check that this user may read and write the repository (folder permissions, or the S3 credentials)",
            Self::Locked => "run the command again when the other job is done, or wait longer with --lock-wait",
            Self::KeyNotFound => "list the keys with `lifeboat key list`",
            Self::KeyRefused => "add another key first (`lifeboat key add`), or change this one's password with `lifeboat key passwd`",
            Self::SourceFailed => "fix the cause above and run the command again; no snapshot was written",
            Self::Internal => "this is a bug in lifeboat; please report it with the command you ran",
        }
    }
}

impl lifeboat_error::Actionable for RepoError {
    fn hint(&self) -> &str {
        &self.hint
    }

    fn retryable(&self) -> bool {
        matches!(self.kind, RepoErrorKind::Storage | RepoErrorKind::Locked)
    }
}

/// An error of the repository layer: kind, context and an actionable hint.
#[derive(Debug, thiserror::Error)]
#[error("{}", lifeboat_error::render(context, source.as_deref(), hint))]
pub struct RepoError {
    pub kind: RepoErrorKind,
    pub context: String,
    pub hint: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RepoError {
    /// An error of `kind`; an empty `hint` takes the kind's own (see [`RepoErrorKind::hint`]).
    pub fn new(kind: RepoErrorKind, context: impl Into<String>, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        let hint = if hint.is_empty() { kind.hint().to_string() } else { hint };
        Self { kind, context: context.into(), hint, source: None }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The context and cause without the hint, for an error that becomes another's cause.
    fn context_and_cause(&self) -> String {
        lifeboat_error::render(&self.context, self.source.as_deref(), "")
    }
}

/// Our own error inside a rustic one (a store's error passed through rustic), if it is.
fn ours(err: &rustic_core::RusticError) -> Option<&RepoError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(found) = cause {
        if let Some(ours) = found.downcast_ref::<RepoError>() {
            return Some(ours);
        }
        cause = found.source();
    }
    None
}

/// What failed, in one line: our store's own words when the cause is one of ours, else
/// rustic's (see [`rustic_text`]).
pub(crate) fn cause_text(err: &rustic_core::RusticError) -> String {
    ours(err).map_or_else(|| rustic_text(err), RepoError::context_and_cause)
}

/// A rustic error as a storage failure, with the operation it interrupted. When the cause is
/// one of ours (a store's error, passed through rustic), its kind and hint are kept.
pub(crate) fn storage(context: impl Into<String>, err: rustic_core::RusticError) -> RepoError {
    if let Some(ours) = ours(&err) {
        return RepoError::new(ours.kind, context, ours.hint.clone()).with_source(RusticMessage(ours.context_and_cause()));
    }
    let message = rustic_text(&err);
    let hint = if message.contains("No space left") || message.contains("os error 28") {
        "the repository's disk is full: free space there (or `lifeboat forget --prune`), then run the command again; nothing was changed"
    } else if message.contains("ermission denied") {
        "check that this user may read and write the repository folder"
    } else {
        "check that the repository's storage is reachable and writable, then run the command again"
    };
    RepoError::new(RepoErrorKind::Storage, context, hint).with_source(RusticMessage(message))
}

/// A rustic error on one line: what failed and its cause, without rustic's backtrace and
/// multi-line guidance (our hints replace it).
pub(crate) fn rustic_text(err: &rustic_core::RusticError) -> String {
    let log = err.display_log();
    let log = log.strip_prefix("Error: ").unwrap_or(&log);
    log.lines().map(str::trim).filter(|l| !l.is_empty()).take(3).collect::<Vec<_>>().join(" ")
}

/// The text of a rustic error; we keep the words, not the type, so no rustic type escapes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RusticMessage(pub String);

pub type Result<T, E = RepoError> = std::result::Result<T, E>;
