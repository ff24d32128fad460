//! One file per command; each parses nothing (flags did) and prints what the engine returns.

mod alerts;
mod audit;
mod backup;
mod check;
mod config;
mod copy;
mod daemon;
mod export;
mod forget;
mod health;
mod init;
mod key;
mod log;
mod restore;
mod show;
mod snapshots;
mod stats;
mod token;
mod user;
mod verify;

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::flags::{Cli, Command};

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let global = &cli.global;
    match &cli.command {
        Command::Init => init::run(global),
        Command::Backup(args) => backup::run(global, args),
        Command::Snapshots(args) => snapshots::run(global, args),
        Command::Show(args) => show::run(global, args),
        Command::Restore(args) => restore::run(global, args),
        Command::Verify(args) => verify::run(global, args),
        Command::Check(args) => check::run(global, args),
        Command::Forget(args) => forget::run(global, args),
        Command::Export(args) => export::run(global, args),
        Command::Daemon(args) => daemon::run(global, args),
        Command::Config(command) => config::run(global, command),
        Command::Log(args) => log::run(global, args),
        Command::Stats => stats::run(global),
        Command::Health(args) => health::run(global, args),
        Command::Alerts(command) => alerts::run(global, command),
        Command::Key(command) => key::run(global, command),
        Command::Copy(args) => copy::run(global, args),
        Command::Token(command) => token::run(global, command),
        Command::User(command) => user::run(global, command),
        Command::Audit(args) => audit::run(global, args),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "lifeboat", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// A password being set: the first line of `file`, else asked twice on the terminal (`what`
/// names it in the questions, `flag` is how to give it without one). Never empty.
pub fn new_password(file: Option<&std::path::Path>, what: &str, flag: &str) -> Result<String> {
    let password = match file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the {what} file {}", file.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(lifeboat_engine::EngineError::input(
                    format!("no {what} given"),
                    format!("pass {flag} FILE (no terminal to ask on)"),
                )
                .into());
            }
            let password = rpassword::prompt_password(format!("{what}: "))?;
            if rpassword::prompt_password(format!("repeat the {what}: "))? != password {
                bail!("the passwords do not match; nothing was changed");
            }
            password
        }
    };
    if password.is_empty() {
        bail!("an empty password is not allowed; nothing was changed");
    }
    Ok(password)
}

/// Asks a yes/no question on the terminal; without one, the answer is no.
pub fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}
