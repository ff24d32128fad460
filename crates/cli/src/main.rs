//! The `lifeboat` binary: parse the command line, run one command, print, exit.
//! Exit codes: 0 ok, 1 failure, 2 usage error (and for health checks 0/1/2 ok/warning/critical).

mod commands;
mod context;
mod flags;
mod logged;
mod output;
mod progress;

use clap::Parser;

/// The one job this process runs; Ctrl-C cancels it.
pub static JOB: std::sync::LazyLock<lifeboat_engine::CancelToken> = std::sync::LazyLock::new(Default::default);

fn main() {
    quiet_on_closed_stdout();
    let cli = flags::Cli::try_parse().unwrap_or_else(|err| {
        // A program that asked for JSON gets a command-line mistake as JSON too (--help and
        // --version are not mistakes: they print as usual).
        if err.use_stderr() && std::env::args_os().any(|arg| arg == "--json") {
            let rendered = err.render().to_string();
            let what = rendered.split("\n\nUsage:").next().unwrap_or_default().trim_start_matches("error: ");
            let message = what.split_whitespace().collect::<Vec<_>>().join(" ");
            print_json_error(2, &message, "see `lifeboat --help` or `lifeboat <COMMAND> --help`");
        }
        err.exit()
    });
    let json = cli.global.json;
    // Ctrl-C asks the work under way to stop through its normal error path (no snapshot, no
    // half-written restore); a second Ctrl-C ends the process at once.
    let _ = ctrlc::set_handler(|| {
        if JOB.is_cancelled() {
            std::process::exit(130);
        }
        JOB.cancel();
    });
    let code = match commands::run(cli) {
        Ok(code) => code,
        // Output written through a buffer reports the closed pipe as an error, not a panic.
        Err(err) if output::StdoutClosed::caused(&err) => 0,
        Err(err) => {
            let text = describe(&err);
            eprintln!("error: {text}");
            let code = if JOB.is_cancelled() {
                eprintln!("  (interrupted by Ctrl-C; nothing was left half-done)");
                130
            } else {
                exit_code(&err)
            };
            if json {
                // A program reading --json output gets the error as JSON too, on stdout.
                let (message, hint) = text.split_once("\n  hint: ").unwrap_or((&text, ""));
                print_json_error(code, message, hint);
            }
            code
        }
    };
    std::process::exit(code);
}

/// `lifeboat log | head -1`: once the reader has gone, the command ends quietly, exit 0, as
/// ripgrep does. Rust ignores SIGPIPE and `println!` panics on the broken pipe instead; the
/// default SIGPIPE is no way out either, since it would also kill a restore whose `psql`
/// child closed its input, before the error could be reported and the staged copy removed.
/// Output is only printed once the work is done, so nothing is cut short by leaving here.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The error as `{"schema_version", "error": {kind, exit_code, message, hint}}` on stdout.
fn print_json_error(code: i32, message: &str, hint: &str) {
    let kind = match code {
        2 => "usage",
        130 => "interrupted",
        _ => "failure",
    };
    let error = lifeboat_daemon::output::FailureDetail { kind, exit_code: code, message, hint };
    let _ = output::json(&lifeboat_daemon::output::Failure { error });
}

/// 2 when the command line asked for something that cannot be (usage), else 1.
fn exit_code(err: &anyhow::Error) -> i32 {
    // A second daemon on a state directory is refused like a usage error: it changed nothing.
    // So is a token, user or role that does not exist or cannot be made.
    if err
        .downcast_ref::<lifeboat_daemon::DaemonError>()
        .is_some_and(|e| matches!(e.kind, lifeboat_daemon::DaemonErrorKind::AlreadyRunning | lifeboat_daemon::DaemonErrorKind::Access))
    {
        return 2;
    }
    let usage = match (err.downcast_ref::<lifeboat_engine::EngineError>(), err.downcast_ref::<lifeboat_engine::SourceError>()) {
        (Some(engine), _) => engine.is_usage(),
        (None, Some(source)) => {
            matches!(source.kind, lifeboat_engine::SourceErrorKind::Usage | lifeboat_engine::SourceErrorKind::TableNotFound)
        }
        (None, None) => err.downcast_ref::<lifeboat_engine::RepoError>().is_some_and(|repo| {
            matches!(
                repo.kind,
                lifeboat_engine::RepoErrorKind::KeyNotFound
                    | lifeboat_engine::RepoErrorKind::KeyRefused
                    | lifeboat_engine::RepoErrorKind::BadLocation
            )
        }),
    };
    if usage { 2 } else { 1 }
}

/// The error and its causes, each once: lifeboat's own errors already end with their causes
/// (and say them once, with one hint), anyhow's contexts do not.
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        let ours = cause.is::<lifeboat_engine::EngineError>()
            || cause.is::<lifeboat_engine::SourceError>()
            || cause.is::<lifeboat_engine::RepoError>();
        if ours {
            break;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::other("disk on fire");
        let ours = lifeboat_engine::SourceError::new(lifeboat_engine::SourceErrorKind::Io, "reading t", "try again").with_source(io);
        assert_eq!(describe(&anyhow::Error::new(ours)), "reading t: disk on fire\n  hint: try again");
        let theirs = anyhow::Error::new(std::io::Error::other("no such file")).context("cannot read the password file p");
        assert_eq!(describe(&theirs), "cannot read the password file p: no such file");
    }
}
