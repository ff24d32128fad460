//! One S3 request at a time, signed, sent, and retried while the failure may pass.
//!
//! Retried: failures to connect or of the connection (reset, closed mid-reply, timeouts) and
//! the statuses S3 documents as "try again" (500, 502, 503, 504, 429 slow down, 408). Not
//! retried: an untrusted certificate, refused credentials, a missing bucket: those need a
//! person. Each retry waits twice as long as the last ([`FIRST_PAUSE`] doubling, [`ATTEMPTS`] in
//! all, about 4 s), and the final error says how many attempts were made.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;

use super::{
    credentials::{self, Credentials},
    sign::{sha256_hex, signing_headers, uri_encode},
    xml,
};
use crate::{
    error::{RepoError, RepoErrorKind, Result},
    storage::{S3Settings, location::S3Url},
};

/// Attempts per request, the first included.
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// A request: `key` is a path in the bucket (`None`: the bucket itself).
pub(super) struct Request<'a> {
    pub method: &'static str,
    pub key: Option<&'a str>,
    pub query: Vec<(&'static str, String)>,
    pub body: &'a [Bytes],
    /// Bytes `(offset, length)` of the object.
    pub range: Option<(u64, u64)>,
}

impl<'a> Request<'a> {
    pub(super) fn new(method: &'static str, key: Option<&'a str>) -> Self {
        Self { method, key, query: Vec::new(), body: &[], range: None }
    }
}

/// What the server answered, whatever the status.
pub(super) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// The S3 error code of the body (`NoSuchBucket`, `SignatureDoesNotMatch`, …).
    pub(super) fn code(&self) -> Option<(String, String)> {
        xml::error_code(&String::from_utf8_lossy(&self.body))
    }
}

#[derive(Debug)]
pub(super) struct Client {
    agent: ureq::Agent,
    pub url: S3Url,
    /// Replaced by new ones shortly before temporary credentials expire, so a long job goes on.
    credentials: Mutex<Arc<Credentials>>,
    /// What the credentials were resolved from, to resolve them again.
    settings: S3Settings,
    region: String,
}

/// Temporary credentials are replaced this long before they expire.
const RENEW_BEFORE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt.
    Transient(String),
    /// Another attempt would fail the same way.
    Final(RepoError),
}

impl Client {
    pub(super) fn new(url: &S3Url, settings: &S3Settings) -> Result<Self> {
        let credentials = Credentials::resolve(settings)?;
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            // A server that accepted the connection but stopped answering is a failure to retry,
            // not a backup that hangs for ever; a pack upload of 100 MiB at 1 MiB/s still fits.
            .timeout_send_body(Some(Duration::from_secs(300)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_recv_body(Some(Duration::from_secs(300)))
            .max_idle_connections_per_host(16);
        if let Some(file) = &settings.cacert {
            let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&read_certificates(file)?)).build();
            config = config.tls_config(tls);
        }
        Ok(Self {
            agent: config.build().into(),
            url: url.clone(),
            credentials: Mutex::new(Arc::new(credentials)),
            settings: settings.clone(),
            region: credentials::region(settings),
        })
    }

    /// The credentials to sign with now: new ones when the current ones expire soon.
    fn credentials(&self) -> Result<Arc<Credentials>> {
        let mut current = self.credentials.lock().expect("credentials lock");
        if current.expire_within(RENEW_BEFORE) {
            *current = Arc::new(Credentials::resolve(&self.settings)?);
        }
        Ok(current.clone())
    }

    /// The object key of a repository path.
    pub(super) fn key(&self, path: &str) -> String {
        if self.url.prefix.is_empty() { path.to_string() } else { format!("{}/{path}", self.url.prefix) }
    }

    /// Sends `request`, retrying transient failures; returns the reply to the last attempt
    /// (any status the caller must judge), or the error that ended the attempts.
    pub(super) fn send(&self, request: &Request) -> Result<Reply> {
        let payload = sha256_hex(request.body);
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.attempt(request, &payload) {
                Ok(reply) => return Ok(reply),
                Err(Failure::Final(err)) => return Err(err),
                Err(Failure::Transient(why)) if attempt >= ATTEMPTS => {
                    return Err(RepoError::new(
                        RepoErrorKind::Storage,
                        format!("{} failed after {attempt} attempts: {why}", self.what(request)),
                        format!(
                            "check that the S3 endpoint {}://{} is up and reachable, then run the command again; nothing that was reported done is lost",
                            self.url.scheme, self.url.host
                        ),
                    ));
                }
                Err(Failure::Transient(why)) => {
                    log::debug!("{} (attempt {attempt} of {ATTEMPTS}): {why}; retrying in {pause:?}", self.what(request));
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// The request in words, for errors: "PUT data/3f/3f9a… in s3:http://host/bucket".
    fn what(&self, request: &Request) -> String {
        match request.key {
            Some(key) => format!("{} {key} in {}", request.method, self.url),
            None => format!("{} of the bucket {}", request.method, self.url),
        }
    }

    fn attempt(&self, request: &Request, payload: &str) -> Result<Reply, Failure> {
        let mut path = format!("/{}", self.url.bucket);
        if let Some(key) = request.key {
            path.push('/');
            path.push_str(&uri_encode(&self.key(key), true));
        }
        let query_pairs: Vec<(&str, &str)> = request.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = query_pairs.iter().map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false))).collect::<Vec<_>>();
        let uri = if query.is_empty() {
            format!("{}://{}{path}", self.url.scheme, self.url.host)
        } else {
            format!("{}://{}{path}?{}", self.url.scheme, self.url.host, query.join("&"))
        };

        let range = request.range.map(|(offset, len)| format!("bytes={offset}-{}", offset + len.max(1) - 1));
        let checksum = (request.method == "PUT" && request.key.is_some()).then(|| base64_of_hex(payload));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(range) = &range {
            headers.push(("range", range));
        }
        if let Some(checksum) = &checksum {
            headers.push(("x-amz-checksum-sha256", checksum));
        }
        let credentials = self.credentials().map_err(Failure::Final)?;
        let signed = signing_headers(&credentials, &self.region, request.method, &uri, &headers, payload, std::time::SystemTime::now())
            .map_err(|why| Failure::Final(RepoError::new(RepoErrorKind::Internal, format!("cannot sign {uri}: {why}"), "")))?;

        let mut builder = ureq::http::Request::builder().method(request.method).uri(&uri);
        for (name, value) in headers.iter().copied().chain(signed.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
            builder = builder.header(name, value);
        }
        // One contiguous body: a pack is at most a few tens of MiB, already in memory as parts.
        let body: Vec<u8> = request.body.concat();
        let sent = builder
            .body(body)
            .map_err(|e| Failure::Final(RepoError::new(RepoErrorKind::Internal, format!("bad request {uri}"), "").with_source(e)))?;
        let mut response = self.agent.run(sent).map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        let stored = response.headers().get("x-amz-checksum-sha256").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.body_mut().with_config().limit(u64::MAX).read_to_vec().map_err(|e| self.transport_failure(e))?;
        let reply = Reply { status, body };
        // A server that keeps checksums says which one it stored: it must be the one we sent.
        if let (Some(sent), Some(stored)) = (&checksum, &stored)
            && status == 200
            && sent != stored
        {
            return Err(Failure::Final(RepoError::new(
                RepoErrorKind::Storage,
                format!("{} stored a body with SHA-256 {stored} (base64), not the {sent} sent", self.what(request)),
                "the data was damaged on its way; run the command again",
            )));
        }
        if matches!(status, 500 | 502 | 503 | 504 | 429 | 408) {
            let code = reply.code().map(|(code, _)| format!(" {code}")).unwrap_or_default();
            return Err(Failure::Transient(format!("the server answered HTTP {status}{code}")));
        }
        if matches!(status, 401 | 403) {
            let (code, message) = reply.code().unwrap_or_else(|| ("AccessDenied".into(), String::new()));
            return Err(Failure::Final(self.refused(&code, &message)));
        }
        Ok(reply)
    }

    fn transport_failure(&self, err: ureq::Error) -> Failure {
        // rustls' errors reach us inside I/O errors, so they are told apart by their words.
        let text = err.to_string();
        let tls = matches!(err, ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_));
        if tls || text.contains("certificate") || text.contains("UnknownIssuer") {
            return Failure::Final(RepoError::new(
                RepoErrorKind::Storage,
                format!("the TLS certificate of {} is not trusted: {text}", self.url.host),
                "if the server's certificate comes from a private certificate authority, pass that authority's certificate with --cacert FILE (cacert in the configuration)",
            ));
        }
        if text.contains("InvalidContentType") {
            return Failure::Final(RepoError::new(
                RepoErrorKind::Storage,
                format!("{} does not speak TLS: {text}", self.url.host),
                "if the endpoint is plain HTTP, write the URL as s3:http://…",
            ));
        }
        Failure::Transient(text)
    }

    fn refused(&self, code: &str, message: &str) -> RepoError {
        let message = if message.is_empty() { String::new() } else { format!(" ({message})") };
        if code == "RequestTimeTooSkewed" {
            return RepoError::new(
                RepoErrorKind::Denied,
                format!("the S3 server {} refused a request signed at this machine's time{message}", self.url.host),
                "this machine's clock is off by more than the 15 minutes S3 allows: set it right (e.g. enable NTP with timedatectl set-ntp true)",
            );
        }
        let credentials = self.credentials.lock().expect("credentials lock").clone();
        RepoError::new(
            RepoErrorKind::Denied,
            format!("the S3 server {} refused access to bucket `{}`: {code}{message}", self.url.host, self.url.bucket),
            format!(
                "check the access key `{}` and its secret, taken from {}, and that the key may use this bucket; nothing was changed",
                credentials.access_key_id, credentials.source
            ),
        )
    }

    /// An error for a reply the caller did not expect.
    pub(super) fn unexpected(&self, what: &str, reply: &Reply) -> RepoError {
        let (code, message) = reply.code().unwrap_or_default();
        if code == "NoSuchBucket" {
            return self.no_bucket();
        }
        RepoError::new(RepoErrorKind::Storage, format!("{what} in {}: HTTP {} {code} {message}", self.url, reply.status), "")
    }

    pub(super) fn no_bucket(&self) -> RepoError {
        RepoError::new(
            RepoErrorKind::NotFound,
            format!("the bucket `{}` does not exist on {}", self.url.bucket, self.url.host),
            "check the bucket's name in the URL; `lifeboat init` creates the bucket with a new repository",
        )
    }
}

/// The PEM certificates in `file`.
fn read_certificates(file: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let bad = |why: String| {
        RepoError::new(
            RepoErrorKind::Storage,
            format!("cannot use {} as --cacert: {why}", file.display()),
            "pass a file of PEM certificates",
        )
    };
    let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("it holds no certificate".into()));
    }
    Ok(certificates)
}

/// A hex digest in base64, as `x-amz-checksum-sha256` wants it.
fn base64_of_hex(hex_digest: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_digest).expect("our own hex"))
}
