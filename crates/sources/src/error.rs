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

/// An error of a database source.
#[derive(Debug, thiserror::Error)]
#[error("{context}{}{}", cause(.source.as_deref()), hint_line(.hint))]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub context: String,
    pub hint: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn cause(source: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    source.map(|s| format!(": {s}")).unwrap_or_default()
}

fn hint_line(hint: &str) -> String {
    if hint.is_empty() { String::new() } else { format!("\n  hint: {hint}") }
}

impl SourceError {
    pub fn new(kind: SourceErrorKind, context: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { kind, context: context.into(), hint: hint.into(), source: None }
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
