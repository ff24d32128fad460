//! Which S3 credentials a repository is opened with, and where they came from: an error about
//! refused credentials names their source (never the secret), so a person knows what to fix.

use crate::{
    error::{RepoError, RepoErrorKind, Result},
    storage::S3Settings,
};

pub(super) struct Credentials {
    pub access_key_id: String,
    pub secret: String,
    /// Temporary credentials come with a session token (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Where they came from, for errors: "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).field("source", &self.source).finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Credentials {
    /// The configuration's key when it names one, else the environment's.
    pub(super) fn resolve(settings: &S3Settings) -> Result<Self> {
        if let Some(access_key_id) = &settings.access_key_id {
            let Some(file) = &settings.secret_access_key_file else {
                return Err(RepoError::new(
                    RepoErrorKind::Denied,
                    format!("the configuration names the S3 access key `{access_key_id}` but no secret_access_key_file"),
                    "add secret_access_key_file = \"/etc/lifeboat/s3-secret\" (a file holding only the secret key)",
                ));
            };
            let secret = std::fs::read_to_string(file).map_err(|e| {
                RepoError::new(
                    RepoErrorKind::Denied,
                    format!("cannot read the S3 secret key file {}", file.display()),
                    "check secret_access_key_file in the configuration and that this user may read it",
                )
                .with_source(e)
            })?;
            return Ok(Self {
                access_key_id: access_key_id.clone(),
                secret: secret.trim().to_string(),
                session_token: None,
                source: format!("the configuration (access_key_id, secret_access_key_file {})", file.display()),
            });
        }
        match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret)) => Ok(Self {
                access_key_id,
                secret,
                session_token: env("AWS_SESSION_TOKEN"),
                source: "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into(),
            }),
            _ => Err(RepoError::new(
                RepoErrorKind::Denied,
                "no S3 credentials were given",
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or access_key_id and secret_access_key_file in the configuration's repository section",
            )),
        }
    }
}

/// The region to sign for: the configuration's, else `AWS_DEFAULT_REGION` (or `AWS_REGION`),
/// else `us-east-1`, which S3-compatible servers accept whatever their own is called.
pub(super) fn region(settings: &S3Settings) -> String {
    settings.region.clone().or_else(|| env("AWS_DEFAULT_REGION")).or_else(|| env("AWS_REGION")).unwrap_or_else(|| "us-east-1".into())
}
