//! Finding PostgreSQL's client tools and checking they are new enough for the server.
//!
//! `pg_dump` refuses (or worse, silently misses features of) a server newer than itself, so we
//! check before anything runs and say exactly what to install. Debian installs each major
//! version under `/usr/lib/postgresql/<major>/bin`; the newest one there wins over `PATH`,
//! because `PATH` usually holds a wrapper that may pick an older version. `LIFEBOAT_PG_BIN`
//! names the folder outright, for tools installed elsewhere.

use std::path::{Path, PathBuf};

use crate::{Result, SourceError, SourceErrorKind};

/// The folder holding `pg_dump`, `pg_dumpall` and `psql` of one PostgreSQL version.
#[derive(Debug, Clone)]
pub struct Tools {
    dir: Option<PathBuf>,
    pub major: u32,
}

impl Tools {
    /// `LIFEBOAT_PG_BIN` if set, else the newest client tools on this machine.
    pub fn find() -> Result<Self> {
        if let Some(dir) = std::env::var_os("LIFEBOAT_PG_BIN") {
            let dir = PathBuf::from(dir);
            let major = crate::child::major_version(&dir.join("pg_dump")).ok_or_else(missing)?;
            return Ok(Self { dir: Some(dir), major });
        }
        let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse().ok()?;
                let dir = entry.path().join("bin");
                dir.join("pg_dump").is_file().then_some((major, dir))
            })
            .collect();
        candidates.sort();
        if let Some((major, dir)) = candidates.pop() {
            return Ok(Self { dir: Some(dir), major });
        }
        let major = crate::child::major_version(Path::new("pg_dump")).ok_or_else(missing)?;
        Ok(Self { dir: None, major })
    }

    pub fn path(&self, program: &str) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join(program),
            None => Path::new(program).to_path_buf(),
        }
    }

    /// Fails unless these tools can dump a server of `server_major`.
    pub fn check_server(&self, server_major: u32) -> Result<()> {
        if self.major >= server_major {
            return Ok(());
        }
        Err(SourceError::new(
            SourceErrorKind::Tool,
            format!("pg_dump {} is older than the server (PostgreSQL {server_major}) and cannot dump it faithfully", self.major),
            format!("install the client of version {server_major} or newer, e.g. `apt-get install postgresql-client-{server_major}`"),
        ))
    }
}

fn missing() -> SourceError {
    SourceError::new(
        SourceErrorKind::Tool,
        "pg_dump was not found (LIFEBOAT_PG_BIN, /usr/lib/postgresql/*/bin, PATH)",
        "install PostgreSQL's client tools, e.g. `apt-get install postgresql-client`",
    )
}
