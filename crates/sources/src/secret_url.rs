//! Database URLs that may carry a password (`postgresql://app:SECRET@host/db`, common in
//! `.env` files and the URLs managed providers hand out).
//!
//! A [`SecretUrl`] shows itself with the password replaced by `***` wherever it is printed,
//! logged, serialized or debug-formatted; only [`SecretUrl::expose`] gives the text an engine
//! connects with. Holding configured URLs in this type, rather than redacting at each place
//! that prints one, is what keeps a new health hint or log line from leaking it.
//!
//! Redaction reads generic URL syntax only (RFC 3986 user information, and a `password`
//! query parameter as libpq takes it), so it needs no engine's knowledge.

use std::fmt;

/// A URL whose password is never shown.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", redact(&self.0))
    }
}

impl serde::Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&redact(&self.0))
    }
}

/// `url` with any password replaced by `***`: the one in `scheme://user:PASSWORD@host`, and
/// the value of every `password=` query parameter. Text that is no URL comes back as it is.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (before_query, query) = match rest.find('?') {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _password)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_starred_wherever_a_url_keeps_them() {
        assert_eq!(redact("postgresql://app:s3cr%40t@db.example.com:5432/shop"), "postgresql://app:***@db.example.com:5432/shop");
        assert_eq!(redact("postgres://app:p@ss@h/db"), "postgres://app:***@h/db", "the last @ ends the user information");
        assert_eq!(redact("postgres://h/db?sslmode=require&password=hunter2"), "postgres://h/db?sslmode=require&password=***");
        assert_eq!(redact("postgres://app@h/db"), "postgres://app@h/db");
        assert_eq!(redact("sqlite:/srv/app.db"), "sqlite:/srv/app.db");
        assert_eq!(redact("/srv/app:1.db"), "/srv/app:1.db");
        let url = SecretUrl::new("postgres://u:topsecret@h/d?password=other");
        for shown in [url.to_string(), format!("{url:?}"), serde_json::to_string(&url).unwrap()] {
            assert!(!shown.contains("topsecret") && !shown.contains("other"), "{shown}");
        }
        assert_eq!(url.expose(), "postgres://u:topsecret@h/d?password=other");
    }
}
