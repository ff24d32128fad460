//! The one shape every lifeboat error has, whichever layer it comes from: a kind (for code to
//! decide an exit code or a retry), a context sentence (what we were doing, with the names
//! involved), the cause, and a hint (what a person can do next). Each crate keeps its own kind
//! enum; this crate holds what they share, so every error reads the same way.

use std::error::Error;

/// What every layer's error answers, beyond its message.
pub trait Actionable: Error {
    /// What a person can do next; never empty.
    fn hint(&self) -> &str;

    /// Whether running the same thing again later may succeed (a busy database, an
    /// unreachable server, a lock held by another job), as opposed to a cause that must be
    /// fixed first. A scheduler retries only these.
    fn retryable(&self) -> bool;
}

/// The one way an error is written: `context: cause` on one line, then `  hint: …`.
pub fn render(context: &str, cause: Option<&(dyn Error + Send + Sync)>, hint: &str) -> String {
    let mut text = context.to_string();
    if let Some(cause) = cause {
        let cause = one_line(&cause.to_string());
        if !cause.is_empty() && !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    if !hint.is_empty() {
        text.push_str("\n  hint: ");
        text.push_str(hint);
    }
    text
}

/// A cause on one line. A cause that is itself one of our errors brings its own hint, which
/// stays on its own line at the end rather than in the middle of the sentence.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ").replace(" hint: ", "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_cause_and_hint_read_as_one_sentence_and_a_hint() {
        let cause = std::io::Error::other("disk on fire\nsecond line");
        assert_eq!(render("writing x", Some(&cause), "try again"), "writing x: disk on fire second line\n  hint: try again");
        let ours = std::io::Error::other(render("reading y", None, "check y"));
        assert_eq!(render("restoring", Some(&ours), "nothing changed"), "restoring: reading y; check y\n  hint: nothing changed");
        assert_eq!(render("writing x", None, ""), "writing x");
    }
}
