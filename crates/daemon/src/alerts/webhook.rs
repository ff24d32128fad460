//! Alerts as an HTTP POST of JSON: our own shape, or Slack's `{"text": …}`.

use super::{Alert, WebhookChannel, WebhookFormat};

/// Slack's incoming-webhook body (Mattermost and Rocket.Chat take it too).
#[derive(serde::Serialize, schemars::JsonSchema)]
struct SlackMessage {
    text: String,
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn send(channel: &WebhookChannel, alert: &Alert) -> Result<(), String> {
    let body = match channel.format {
        WebhookFormat::Json => serde_json::to_value(alert).expect("an alert serializes"),
        WebhookFormat::Slack => {
            serde_json::to_value(SlackMessage { text: format!("*{}*\n{}", alert.subject, alert.text) }).expect("a message serializes")
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).http_status_as_error(true).build().into();
    agent
        .post(&channel.url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", redacted(&channel.url)))
}

/// The URL without its path: a Slack webhook's path is its secret.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    if rest.len() > host.len() { format!("{scheme}://{host}/…") } else { format!("{scheme}://{host}") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_url_is_shown_without_its_secret_path() {
        assert_eq!(super::redacted("https://hooks.slack.com/services/T000/B000/XXXX"), "https://hooks.slack.com/…");
        assert_eq!(super::redacted("http://user:pw@127.0.0.1:8080/hook"), "http://127.0.0.1:8080/…");
    }
}
