//! Parsing `--repo`: a folder, or an S3 URL in restic's syntax, so one URL serves lifeboat and
//! stock restic alike.

use std::path::PathBuf;

use crate::error::{RepoError, RepoErrorKind, Result};

/// Where a repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder on a mounted file system.
    Local(PathBuf),
    /// A bucket (and a prefix in it) on an S3-compatible server.
    S3(S3Url, S3Settings),
}

/// `s3:https://host[:port]/bucket[/prefix]`, taken apart. Requests address the bucket in the
/// path (`https://host/bucket/key`), which every S3-compatible server understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// `http` or `https`.
    pub scheme: String,
    /// `host` or `host:port`.
    pub host: String,
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

/// How to reach an S3 repository besides its URL: credentials, region and the certificate
/// authority to trust. Anything left `None` comes from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`) or a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub access_key_id: Option<String>,
    /// A file holding the secret access key (the secret itself never sits in a setting).
    pub secret_access_key_file: Option<PathBuf>,
    pub region: Option<String>,
    /// PEM certificates to trust instead of the public roots (a private CA).
    pub cacert: Option<PathBuf>,
}

impl Location {
    /// Parses `--repo` / `LIFEBOAT_REPO`: a path, `local:PATH`, or `s3:[http[s]://]host[:port]/bucket[/prefix]`.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(rest) = text.strip_prefix("s3:") {
            return S3Url::parse(rest).map(|url| Self::S3(url, S3Settings::default()));
        }
        // restic's other backends: a folder of that name would be a surprise.
        if let Some(scheme) = ["sftp:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:"].iter().find(|s| text.starts_with(**s)) {
            return Err(RepoError::new(
                RepoErrorKind::BadLocation,
                format!("repository type `{scheme}` is not supported"),
                "use a folder (a mounted remote disk works) or S3 in restic's syntax (s3:https://host/bucket/prefix)",
            ));
        }
        let path = text.strip_prefix("local:").unwrap_or(text);
        if path.is_empty() {
            return Err(RepoError::new(
                RepoErrorKind::BadLocation,
                "the repository location is empty",
                "pass --repo PATH or set LIFEBOAT_REPO",
            ));
        }
        if let Some((scheme, _)) = path.split_once("://").filter(|(scheme, _)| !scheme.contains('/')) {
            return Err(RepoError::new(
                RepoErrorKind::BadLocation,
                format!("repository scheme `{scheme}://` is not supported"),
                "use a folder (/var/backups/lifeboat) or S3 in restic's syntax (s3:https://host/bucket/prefix)",
            ));
        }
        Ok(Self::Local(PathBuf::from(path)))
    }

    /// The same location with `settings` for S3 (a folder has no use for them). Settings left
    /// `None` keep what the location had.
    pub fn with_s3_settings(self, settings: &S3Settings) -> Self {
        match self {
            Self::S3(url, mut current) => {
                let pick = |given: &Option<String>, had: Option<String>| given.clone().or(had);
                current.access_key_id = pick(&settings.access_key_id, current.access_key_id);
                current.region = pick(&settings.region, current.region);
                current.secret_access_key_file = settings.secret_access_key_file.clone().or(current.secret_access_key_file);
                current.cacert = settings.cacert.clone().or(current.cacert);
                Self::S3(url, current)
            }
            local => local,
        }
    }

    /// For people: the folder, or the URL as restic spells it.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
            Self::S3(url, _) => url.to_string(),
        }
    }
}

impl S3Url {
    fn parse(text: &str) -> Result<Self> {
        // A URL with `user:secret@` in it is not repeated: errors never show a secret.
        let shown = if text.contains('@') { "the S3 URL given".to_string() } else { format!("`s3:{text}`") };
        let bad = |why: &str| {
            RepoError::new(
                RepoErrorKind::BadLocation,
                format!("{shown} is not an S3 repository URL: {why}"),
                "write it as restic does: s3:https://host[:port]/bucket[/prefix] (s3:http:// for a local endpoint without TLS)",
            )
        };
        if let Some(aws_cli) = text.strip_prefix("//") {
            return Err(bad(&format!(
                "`s3://` is the AWS command line's syntax; restic's names the endpoint, e.g. s3:https://s3.amazonaws.com/{aws_cli}"
            )));
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
            Some((other, _)) => return Err(bad(&format!("the scheme `{other}` is neither http nor https"))),
            None => ("https", text),
        };
        let mut parts = rest.splitn(3, '/');
        let host = parts.next().unwrap_or_default();
        let bucket = parts.next().unwrap_or_default();
        let prefix = parts.next().unwrap_or_default().trim_matches('/');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        if host.contains('@') {
            return Err(bad("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
        }
        if bucket.is_empty() {
            return Err(bad("the bucket is missing"));
        }
        let valid_bucket =
            bucket.len() >= 3 && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(bad(&format!("`{bucket}` is not a bucket name (3 or more lower-case letters, digits, `-` and `.`)")));
        }
        Ok(Self { scheme: scheme.to_string(), host: host.to_string(), bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3:{}://{}/{}", self.scheme, self.host, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_s3_urls_are_taken_apart() {
        let Location::S3(url, _) = Location::parse("s3:http://127.0.0.1:9000/backups/prod/app/").unwrap() else { panic!() };
        assert_eq!(
            (url.scheme.as_str(), url.host.as_str(), url.bucket.as_str(), url.prefix.as_str()),
            ("http", "127.0.0.1:9000", "backups", "prod/app")
        );
        assert_eq!(url.to_string(), "s3:http://127.0.0.1:9000/backups/prod/app");
        let Location::S3(url, _) = Location::parse("s3:s3.amazonaws.com/backups").unwrap() else { panic!() };
        assert_eq!((url.scheme.as_str(), url.prefix.as_str()), ("https", ""));
        assert_eq!(Location::parse("/var/backups").unwrap(), Location::Local("/var/backups".into()));
        assert_eq!(Location::parse("local:/var/b").unwrap(), Location::Local("/var/b".into()));
    }

    #[test]
    fn bad_urls_say_how_to_write_them() {
        for (text, words) in [
            ("s3:http://host", "bucket is missing"),
            ("s3://backups/app", "s3:https://s3.amazonaws.com/backups/app"),
            ("s3:ftp://host/b", "neither http nor https"),
            ("s3:http://key:secret@host/bucket", "do not belong in the URL"),
            ("s3:http://host/Bad_Bucket", "is not a bucket name"),
            ("ftp://host/x", "`ftp://` is not supported"),
            ("sftp:user@host:/srv/repo", "`sftp:` is not supported"),
        ] {
            let err = Location::parse(text).unwrap_err().to_string();
            assert!(err.contains(words), "{text}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
