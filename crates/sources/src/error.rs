//! Errors of the database sources, each with a kind, what we were doing, and a hint.

/// What kind of thing went wrong with a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The database (file, server or database name) does not exist.
    NotFound,
    /// The file exists but is not a database of this engine.
    NotADatabase,
    /// The OS or the server refused access.
    PermissionDenied,
    /// The database is locked or busy for longer than we wait.
    Busy,
    /// The database or a restored copy failed an integrity or row-count check.
    Corrupt,
    /// A table named by the user is not there.
    TableNotFound,
    /// A restore target is not compatible with the backup (e.g. different columns).
    Incompatible,
    /// Reading or writing files failed.
    Io,
    /// The user pressed Ctrl-C.
    Interrupted,
    /// The database server cannot be reached, or went away.
    Connection,
    /// A client tool (pg_dump, psql) is missing or too old.
    Tool,
    /// Anything else the database reported.
    Database,
    /// The request does not apply: an option this engine does not have, a URL no engine
    /// reads, a target that cannot be one (a folder).
    Usage,
}

impl SourceErrorKind {
    /// What to do about an error of this kind when the place it happened knows nothing better.
    pub fn hint(self) -> &'static str {
        match self {
            Self::NotFound => "check the path or URL; lifeboat never creates a database it is asked to back up",
            Self::NotADatabase => "check that this is the right file",
            Self::PermissionDenied => "run lifeboat as a user that may read the database (and, for a restore, write it and its folder)",
            Self::Busy => "another process held a lock for too long; try again when the database is less busy",
            Self::Corrupt => "the database is damaged; restore an earlier backup with `lifeboat restore`",
            Self::TableNotFound => "see the tables a backup holds with `lifeboat show <SNAPSHOT>`",
            Self::Incompatible => "restore the whole database, or into a new place and copy what you need",
            Self::Io => "check the disk (room, permissions) and run the command again; nothing was changed",
            Self::Interrupted => "nothing was changed",
            Self::Connection => "check that the server is running and reachable, then run the command again",
            Self::Tool => "install PostgreSQL's client tools, e.g. `apt-get install postgresql-client`",
            Self::Database => "the database's own message above says what it refused",
            Self::Usage => "see `lifeboat <command> --help`",
        }
    }
}

impl lifeboat_error::Actionable for SourceError {
    fn hint(&self) -> &str {
        &self.hint
    }

    fn retryable(&self) -> bool {
        matches!(self.kind, SourceErrorKind::Busy | SourceErrorKind::Connection)
    }
}

/// An error of a database source.
#[derive(Debug, thiserror::Error)]
#[error("{}", lifeboat_error::render(context, source.as_deref(), hint))]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub context: String,
    pub hint: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SourceError {
    /// An error of `kind`; an empty `hint` takes the kind's own (see [`SourceErrorKind::hint`]).
    pub fn new(kind: SourceErrorKind, context: impl Into<String>, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        let hint = if hint.is_empty() { kind.hint().to_string() } else { hint };
        Self { kind, context: context.into(), hint, source: None }
    }

    /// Puts `prefix` before the context, e.g. which stream a failure happened in.
    pub fn with_context_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.context = prefix.into() + &self.context;
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

pub type Result<T, E = SourceError> = std::result::Result<T, E>;
