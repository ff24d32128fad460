//! Alerts: what changed, told once to every channel (email, webhooks).
//!
//! [`Alerter`] turns the daemon's observations (each job's end, each health evaluation) into
//! few messages: one when something changes (a job kind starts failing or recovers, a
//! database's health level moves), gathered while jobs are still finishing so that several
//! databases failing at once make one summary; and a reminder every `repeat` while anything
//! stays broken. Channels get the same [`Alert`]; secrets are read when sending and never
//! appear in an alert, an event line or an error.

mod email;
mod state;
mod webhook;

use std::{path::PathBuf, time::Duration};

use serde::Serialize;
pub use state::{AlertMemory, Alerter};

use crate::health::Level;

/// The `[alerts]` section, checked.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// How often to remind while something stays broken.
    pub repeat: Duration,
    pub email: Vec<EmailChannel>,
    pub webhook: Vec<WebhookChannel>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self { repeat: Duration::from_secs(6 * 3600), email: Vec::new(), webhook: Vec::new() }
    }
}

impl AlertsConfig {
    pub fn is_empty(&self) -> bool {
        self.email.is_empty() && self.webhook.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption: only for a relay on this host.
    None,
}

/// Where a secret comes from: the configuration itself, or a file or environment variable
/// read when it is needed. Never printed (its `Debug` says where, not what).
#[derive(Clone)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(…)"),
            Secret::File(path) => write!(f, "File({})", path.display()),
            Secret::Env(var) => write!(f, "Env({var})"),
        }
    }
}

impl Secret {
    fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(text) => Ok(text.clone()),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|text| text.lines().next().unwrap_or_default().to_string())
                .map_err(|e| format!("cannot read the SMTP password file {}: {e}", path.display())),
            Secret::Env(var) => std::env::var(var).map_err(|_| format!("the SMTP password variable {var} is not set")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub from: String,
    pub to: Vec<String>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// A CA certificate (PEM) to trust besides the public roots (a company's own CA).
    pub cacert: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// `{"level", "subject", "text", "changes", …}`.
    Json,
    /// `{"text": …}`, which Slack's incoming webhooks (and Mattermost, Rocket.Chat) take.
    Slack,
}

#[derive(Debug, Clone)]
pub struct WebhookChannel {
    pub url: String,
    pub format: WebhookFormat,
}

/// One thing to tell.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Alert {
    /// The worst level among what it reports.
    pub level: Level,
    /// One line, e.g. `lifeboat: app is critical`.
    pub subject: String,
    /// Everything, one line per change or problem, with what to do.
    pub text: String,
    /// `change`, `reminder` or `test`.
    pub kind: &'static str,
    pub host: String,
}

/// Sends `alert` to every channel; returns each channel's name and result.
pub fn send(config: &AlertsConfig, alert: &Alert) -> Vec<(String, Result<(), String>)> {
    let mut results = Vec::new();
    for channel in &config.email {
        results.push((format!("email to {} via {}:{}", channel.to.join(", "), channel.host, channel.port), email::send(channel, alert)));
    }
    for channel in &config.webhook {
        results.push((format!("webhook {}", webhook::redacted(&channel.url)), webhook::send(channel, alert)));
    }
    results
}

/// A test alert, for `lifeboat alerts test`.
pub fn test_alert() -> Alert {
    Alert {
        level: Level::Ok,
        subject: "lifeboat: test alert".into(),
        text: "This is a test from `lifeboat alerts test`: this channel works.".into(),
        kind: "test",
        host: lifeboat_engine::host_name(),
    }
}
