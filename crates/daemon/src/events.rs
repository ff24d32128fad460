//! The daemon's own log: one line per event on standard error, which journald keeps with
//! its time; as text for people or as JSON objects (`--log-format json`) for log shippers.
//! Events never carry secrets: jobs report their errors, and errors never hold passwords.

use std::io::Write;

/// One event under `--log-format json`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct EventLine<'a> {
    time: jiff::Timestamp,
    level: &'a str,
    event: &'a str,
    database: Option<&'a str>,
    message: &'a str,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Events {
    pub json: bool,
}

impl Events {
    pub fn note(&self, event: &str, message: &str) {
        self.line("info", event, None, message);
    }

    pub fn error(&self, event: &str, database: Option<&str>, message: &str) {
        self.line("error", event, database, message);
    }

    fn line(&self, level: &str, event: &str, database: Option<&str>, message: &str) {
        let time = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now());
        let line = if self.json {
            serde_json::to_string(&EventLine { time, level, event, database, message }).expect("an event serializes")
        } else {
            // One line: a multi-line error (its hint) is joined so each event stays one line.
            let message = message.replace("\n  hint: ", " (hint: ").replace('\n', " ");
            let closing = if message.contains(" (hint: ") { ")" } else { "" };
            format!("{time} {level} {event}: {message}{closing}")
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}
