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
    /// When temporary credentials from STS stop working; the client gets new ones before.
    pub expires: Option<jiff::Timestamp>,
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
                expires: None,
                source: format!("the configuration (access_key_id, secret_access_key_file {})", file.display()),
            });
        }
        if let (Some(access_key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Self {
                access_key_id,
                secret,
                session_token: env("AWS_SESSION_TOKEN"),
                expires: None,
                source: "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into(),
            });
        }
        if let Some(found) = Self::from_profile()? {
            return Ok(found);
        }
        if let Some(found) = Self::from_web_identity(settings)? {
            return Ok(found);
        }
        if let Some(found) = Self::from_container()? {
            return Ok(found);
        }
        if let Some(found) = Self::from_instance_metadata() {
            return Ok(found);
        }
        Err(RepoError::new(
            RepoErrorKind::Denied,
            "no S3 credentials were given",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile of ~/.aws/credentials with AWS_PROFILE, or give access_key_id and secret_access_key_file in the configuration's repository section",
        ))
    }

    /// The keys of the profile `AWS_PROFILE` (default `default`) in the shared credentials
    /// file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`), else in the shared
    /// config file (`AWS_CONFIG_FILE`, default `~/.aws/config`), as the AWS tools read them.
    /// `None` when neither file has the profile; an error when the profile was asked for by
    /// name and is not there, or has no keys.
    fn from_profile() -> Result<Option<Self>> {
        let named = env("AWS_PROFILE");
        let profile = named.clone().unwrap_or_else(|| "default".into());
        let config_section = if profile == "default" { profile.clone() } else { format!("profile {profile}") };
        for (file, section) in [
            (shared_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &profile),
            (shared_file("AWS_CONFIG_FILE", "config"), &config_section),
        ] {
            let Some(file) = file else { continue };
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            let Some(keys) = ini_section(&text, section) else { continue };
            let (Some(access_key_id), Some(secret)) = (keys.get("aws_access_key_id"), keys.get("aws_secret_access_key")) else {
                return Err(RepoError::new(
                    RepoErrorKind::Denied,
                    format!("the profile `{profile}` in {} has no aws_access_key_id and aws_secret_access_key", file.display()),
                    "add both to the profile, or choose another with AWS_PROFILE",
                ));
            };
            return Ok(Some(Self {
                access_key_id: access_key_id.clone(),
                secret: secret.clone(),
                session_token: keys.get("aws_session_token").cloned(),
                expires: None,
                source: format!("the profile `{profile}` in {}", file.display()),
            }));
        }
        match named {
            Some(profile) => Err(RepoError::new(
                RepoErrorKind::Denied,
                format!("AWS_PROFILE names the profile `{profile}`, which neither ~/.aws/credentials nor ~/.aws/config has"),
                "check the name, or set AWS_SHARED_CREDENTIALS_FILE to the file that has it",
            )),
            None => Ok(None),
        }
    }
}

impl Credentials {
    /// Temporary credentials for the role `AWS_ROLE_ARN`, given for the token in
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` by STS (`AssumeRoleWithWebIdentity`, as Kubernetes service
    /// accounts and CI systems provide), at `AWS_ENDPOINT_URL_STS` or the region's STS. `None`
    /// when no token file is named.
    fn from_web_identity(settings: &S3Settings) -> Result<Option<Self>> {
        let Some(token_file) = env("AWS_WEB_IDENTITY_TOKEN_FILE") else { return Ok(None) };
        let denied = |context: String, hint: &str| RepoError::new(RepoErrorKind::Denied, context, hint);
        let role = env("AWS_ROLE_ARN").ok_or_else(|| {
            denied("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".into(), "set the role to assume in AWS_ROLE_ARN")
        })?;
        let token = std::fs::read_to_string(&token_file).map_err(|e| {
            denied(format!("cannot read the web identity token {token_file}"), "check AWS_WEB_IDENTITY_TOKEN_FILE").with_source(e)
        })?;
        let endpoint = env("AWS_ENDPOINT_URL_STS").unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", region(settings)));
        let session = env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "lifeboat".into());
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role.as_str()),
            ("RoleSessionName", session.as_str()),
            ("WebIdentityToken", token.trim()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", super::sign::uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
        let source = format!("the web identity token {token_file} for the role {role} (STS at {endpoint})");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let reply = agent
            .post(&endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(form)
            .and_then(|mut r| Ok((r.status().as_u16(), r.body_mut().read_to_string()?)))
            .map_err(|e| {
                RepoError::new(
                    RepoErrorKind::Storage,
                    format!("cannot reach STS for {source}"),
                    "check AWS_ENDPOINT_URL_STS and the network",
                )
                .with_source(e)
            })?;
        let (status, body) = reply;
        let Some(found) = super::xml::sts_credentials(&body).filter(|_| status == 200) else {
            let why = super::xml::error_code(&body).map(|(code, message)| format!("{code}: {message}")).unwrap_or(format!("HTTP {status}"));
            return Err(denied(
                format!("STS refused {source}: {why}"),
                "check that the role trusts this identity provider and that the token has not expired",
            ));
        };
        Ok(Some(Self {
            access_key_id: found.access_key_id,
            secret: found.secret,
            session_token: Some(found.session_token),
            expires: found.expiration.parse().ok(),
            source,
        }))
    }

    /// The temporary credentials of this machine's role from its instance metadata service
    /// (EC2's IMDSv2: a session token, the role's name, then its keys), at
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default `http://169.254.169.254`).
    /// `AWS_EC2_METADATA_DISABLED=true` turns it off. `None` when no service answers within a
    /// second, as off EC2.
    fn from_instance_metadata() -> Option<Self> {
        if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into());
        let endpoint = endpoint.trim_end_matches('/');
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(std::time::Duration::from_secs(1)))
            .timeout_global(Some(std::time::Duration::from_secs(5)))
            .build()
            .into();
        let token = agent
            .put(&format!("{endpoint}/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
            .send_empty()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        let get = |path: &str| -> Option<String> {
            agent.get(&format!("{endpoint}{path}")).header("x-aws-ec2-metadata-token", &token).call().ok()?.body_mut().read_to_string().ok()
        };
        let role = get("/latest/meta-data/iam/security-credentials/")?.lines().next()?.trim().to_string();
        let keys = get(&format!("/latest/meta-data/iam/security-credentials/{role}"))?;
        Self::from_json(&keys, format!("the instance role `{role}` (metadata service {endpoint})"))
    }

    /// The task role of a container (ECS, EKS Pod Identity, Fargate): its credentials
    /// endpoint, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` under `http://169.254.170.2`, or
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the `Authorization` header from
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `AWS_CONTAINER_AUTHORIZATION_TOKEN`. `None`
    /// when neither URI is set; an error when one is set and gives no credentials. A full URI
    /// over plain HTTP must stay on this machine or the container agent's own address, so
    /// that no one on the network can hand out (or collect) credentials.
    fn from_container() -> Result<Option<Self>> {
        let uri = match (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
            (Some(relative), _) => format!("http://169.254.170.2{relative}"),
            (None, Some(full)) => full,
            (None, None) => return Ok(None),
        };
        let denied = |context: String, hint: &str| RepoError::new(RepoErrorKind::Denied, context, hint);
        if let Some(rest) = uri.strip_prefix("http://") {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            let host = host.rsplit_once(':').map_or(host, |(host, _)| host).trim_matches(['[', ']']);
            let allowed = host == "localhost"
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || matches!(host, "169.254.170.2" | "169.254.170.23" | "fd00:ec2::23");
            if !allowed {
                return Err(denied(
                    format!("AWS_CONTAINER_CREDENTIALS_FULL_URI {uri} sends for credentials over plain HTTP off this machine"),
                    "use https://, or the container agent's own address (169.254.170.2, 169.254.170.23)",
                ));
            }
        }
        let authorization = match (env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
            (Some(file), _) => Some(std::fs::read_to_string(&file).map_err(|e| {
                denied(format!("cannot read the container credentials token {file}"), "check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                    .with_source(e)
            })?),
            (None, token) => token,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        let mut request = agent.get(&uri);
        if let Some(token) = &authorization {
            request = request.header("authorization", token.trim());
        }
        let source = format!("the container credentials endpoint {uri}");
        let (status, body) = request.call().and_then(|mut r| Ok((r.status().as_u16(), r.body_mut().read_to_string()?))).map_err(|e| {
            RepoError::new(RepoErrorKind::Storage, format!("cannot reach {source}"), "check the URI and the network").with_source(e)
        })?;
        match Self::from_json(&body, source.clone()).filter(|_| status == 200) {
            Some(found) => Ok(Some(found)),
            None => Err(denied(
                format!("{source} gave no credentials (HTTP {status})"),
                "check the task's role, and the authorization token when the endpoint needs one",
            )),
        }
    }

    /// Keys as the metadata services give them: JSON with `AccessKeyId`, `SecretAccessKey`,
    /// `Token` and `Expiration`.
    fn from_json(json: &str, source: String) -> Option<Self> {
        let keys: serde_json::Value = serde_json::from_str(json).ok()?;
        let text = |field: &str| keys.get(field)?.as_str().map(str::to_string);
        Some(Self {
            access_key_id: text("AccessKeyId")?,
            secret: text("SecretAccessKey")?,
            session_token: text("Token"),
            expires: text("Expiration").and_then(|t| t.parse().ok()),
            source,
        })
    }

    /// Whether these credentials are within `margin` of expiring (never, for keys without an
    /// expiry).
    pub(super) fn expire_within(&self, margin: jiff::SignedDuration) -> bool {
        self.expires.is_some_and(|at| at.duration_since(jiff::Timestamp::now()) < margin)
    }
}

/// A shared AWS file: the variable's path, else `~/.aws/<name>`.
fn shared_file(variable: &str, name: &str) -> Option<std::path::PathBuf> {
    env(variable).map(Into::into).or_else(|| env("HOME").map(|home| std::path::Path::new(&home).join(".aws").join(name)))
}

/// The `key = value` pairs of `[section]` in an INI file as the AWS tools write them (`#` and
/// `;` start comments); `None` when there is no such section.
fn ini_section(text: &str, section: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let mut found = None;
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            if inside {
                found.get_or_insert_with(std::collections::BTreeMap::new);
            }
        } else if inside && let Some((key, value)) = line.split_once('=') {
            found.get_or_insert_with(std::collections::BTreeMap::new).insert(key.trim().to_lowercase(), value.trim().to_string());
        }
    }
    found
}

/// The region to sign for: the configuration's, else `AWS_DEFAULT_REGION` (or `AWS_REGION`),
/// else the `region` of the profile `AWS_PROFILE` in the shared config file, else `us-east-1`,
/// which S3-compatible servers accept whatever their own is called.
pub(super) fn region(settings: &S3Settings) -> String {
    settings
        .region
        .clone()
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| env("AWS_REGION"))
        .or_else(|| {
            let text = std::fs::read_to_string(shared_file("AWS_CONFIG_FILE", "config")?).ok()?;
            profile_region(&text, &env("AWS_PROFILE").unwrap_or_else(|| "default".into()))
        })
        .unwrap_or_else(|| "us-east-1".into())
}

/// The `region` of `profile` in a shared config file's text (`[default]` or `[profile NAME]`).
fn profile_region(config: &str, profile: &str) -> Option<String> {
    let section = if profile == "default" { profile.to_string() } else { format!("profile {profile}") };
    ini_section(config, &section)?.remove("region").filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{Credentials, ini_section, profile_region};

    #[test]
    fn temporary_credentials_are_renewed_before_they_expire_and_keys_never() {
        let with = |expires: Option<jiff::Timestamp>| Credentials {
            access_key_id: "AK".into(),
            secret: "s".into(),
            session_token: None,
            expires,
            source: "test".into(),
        };
        let margin = jiff::SignedDuration::from_mins(5);
        let now = jiff::Timestamp::now();
        assert!(with(Some(now + jiff::SignedDuration::from_mins(1))).expire_within(margin));
        assert!(with(Some(now - jiff::SignedDuration::from_mins(1))).expire_within(margin), "expired already");
        assert!(!with(Some(now + jiff::SignedDuration::from_mins(60))).expire_within(margin));
        assert!(!with(None).expire_within(margin), "keys without an expiry are never renewed");
    }

    #[test]
    fn a_profiles_region_is_read_from_its_own_section() {
        let config = "[default]\nregion = eu-west-1\n[profile ci]\nregion = us-west-2\n[profile bare]\n";
        assert_eq!(profile_region(config, "default").as_deref(), Some("eu-west-1"));
        assert_eq!(profile_region(config, "ci").as_deref(), Some("us-west-2"));
        assert_eq!(profile_region(config, "bare"), None);
        assert_eq!(profile_region(config, "missing"), None);
    }

    #[test]
    fn profiles_are_read_as_the_aws_tools_write_them() {
        let text = "# keys\n[default]\naws_access_key_id = AKDEFAULT\n\n[profile ci]\n; comment\nAWS_ACCESS_KEY_ID=AKCI\naws_secret_access_key = s=c\n[empty]\n";
        assert_eq!(ini_section(text, "default").unwrap()["aws_access_key_id"], "AKDEFAULT");
        let ci = ini_section(text, "profile ci").unwrap();
        assert_eq!((ci["aws_access_key_id"].as_str(), ci["aws_secret_access_key"].as_str()), ("AKCI", "s=c"));
        assert!(ini_section(text, "empty").unwrap().is_empty());
        assert!(ini_section(text, "missing").is_none());
    }
}
