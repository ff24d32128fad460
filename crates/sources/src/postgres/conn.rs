//! Where a PostgreSQL database is, and how the client tools reach it.
//!
//! lifeboat talks to PostgreSQL through libpq's own tools (`psql`, `pg_dump`), so a URL means
//! exactly what it means to libpq: `PG*` environment variables, `.pgpass`, service files and
//! every `sslmode` (including `verify-full`) behave as users know them from `psql`. We only
//! take the URL apart far enough to name the database, to point it at another database on the
//! same server (restores, scratch databases), and to keep a password out of process listings
//! (it travels in `PGPASSWORD` to the child instead of on its command line).

use std::{path::Path, process::Command};

use crate::{Result, SourceError, SourceErrorKind};

/// A PostgreSQL connection as a libpq URL, without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Conn {
    /// `scheme://[user@]hosts` — everything before the database name.
    authority: String,
    /// Percent-decoded database name; `None` lets libpq pick (PGDATABASE, or the user name).
    database: Option<String>,
    /// `?…` parameters, verbatim (sslmode, options, …).
    params: String,
    password: Option<String>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl Conn {
    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "postgres" || *s == "postgresql")
            .ok_or_else(|| bad_url(url, "it does not start with postgres:// or postgresql://"))?;
        let (before_params, params) = match rest.find('?') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        let (hosts_part, database) = match before_params.find('/') {
            Some(at) => (&before_params[..at], Some(&before_params[at + 1..])),
            None => (before_params, None),
        };
        let (userinfo, hosts) = match hosts_part.rfind('@') {
            Some(at) => (Some(&hosts_part[..at]), &hosts_part[at + 1..]),
            None => (None, hosts_part),
        };
        let (user, mut password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(percent_decode(password).map_err(|why| bad_url(url, why))?)),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        // libpq also takes the password as a parameter (`?password=…`): it leaves the URL
        // too, or it would reach the child's command line and every label.
        let mut kept = Vec::new();
        for param in params.strip_prefix('?').unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            match param.split_once('=') {
                Some(("password", value)) => password = Some(percent_decode(value).map_err(|why| bad_url(url, why))?),
                _ => kept.push(param),
            }
        }
        let params = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
        let authority = match user {
            Some(user) => format!("{scheme}://{user}@{hosts}"),
            None => format!("{scheme}://{hosts}"),
        };
        let database = match database.filter(|d| !d.is_empty()) {
            Some(d) => Some(percent_decode(d).map_err(|why| bad_url(url, why))?),
            None => None,
        };
        Ok(Self { authority, database, params, password })
    }

    /// The database named in the URL, if any.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        Self { database: Some(database.to_string()), ..self.clone() }
    }

    /// The server as the URL names it (`host[:port]`, possibly several), without user or
    /// database; empty when libpq picks it (PGHOST, the default socket).
    pub fn address(&self) -> String {
        let hosts = self.authority.split_once("://").map_or("", |(_, rest)| rest);
        hosts.rsplit_once('@').map_or(hosts, |(_, h)| h).to_string()
    }

    /// The URL as shown to people and in manifests: never with the password.
    pub fn label(&self) -> String {
        format!("{}{}", self.url(), self.params)
    }

    fn url(&self) -> String {
        match &self.database {
            Some(db) => format!("{}/{}", self.authority, percent_encode(db)),
            None => format!("{}/", self.authority),
        }
    }

    /// A command running `program` (psql, pg_dump, …) against this database: `-d URL` is
    /// already passed, the password (if the URL had one) is in the environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-d").arg(self.label());
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.env("PGAPPNAME", "lifeboat");
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd.env("PGCONNECT_TIMEOUT", "15");
        }
        cmd
    }
}

fn bad_url(url: &str, why: &str) -> SourceError {
    let shown = crate::redact(url);
    SourceError::new(
        SourceErrorKind::NotFound,
        format!("`{shown}` is not a PostgreSQL URL: {why}"),
        "write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]",
    )
}

fn percent_decode(text: &str) -> std::result::Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or("a % is not followed by two hex digits")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a % is not followed by two hex digits")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a percent-encoded part is not UTF-8")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url_and_databases_can_change() {
        let conn = Conn::parse("postgresql://app:s%40cret@db.example:6543/shop%20main?sslmode=verify-full").unwrap();
        assert_eq!(conn.database(), Some("shop main"));
        assert_eq!(conn.password.as_deref(), Some("s@cret"));
        assert_eq!(conn.label(), "postgresql://app@db.example:6543/shop%20main?sslmode=verify-full");
        assert_eq!(conn.with_database("postgres").label(), "postgresql://app@db.example:6543/postgres?sslmode=verify-full");
        let param = Conn::parse("postgres://app@h/shop?sslmode=require&password=hunter%32").unwrap();
        assert_eq!(param.password.as_deref(), Some("hunter2"));
        assert_eq!(param.label(), "postgres://app@h/shop?sslmode=require", "the parameter never reaches -d or a label");
        let err = Conn::parse("postgresql://app:hunter2@h/db%zz").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("app:***@h"), "{err}");
        let bare = Conn::parse("postgres://localhost").unwrap();
        assert_eq!(bare.database(), None);
        assert!(Conn::parse("mysql://x/y").is_err());
    }
}
