use std::io::IsTerminal;

use anyhow::{Context, Result, bail};

use lifeboat_daemon::output::{self as shape, KeyChange};

use crate::{
    context,
    flags::{Global, KeyCommand, NewPassword},
    output,
};

pub fn run(global: &Global, command: &KeyCommand) -> Result<i32> {
    let repo = context::open(global)?;
    match command {
        KeyCommand::List => {
            let keys = repo.keys()?;
            if global.json {
                output::json(&shape::Keys { keys: &keys })?;
            } else {
                println!("{:<2} {:<8}  {:<12}  {:<16}  CREATED", "", "ID", "USER", "HOST");
                for k in &keys {
                    println!(
                        "{:<2} {:<8}  {:<12}  {:<16}  {}",
                        if k.current { "*" } else { "" },
                        k.short_id,
                        k.username.as_deref().unwrap_or("-"),
                        k.hostname.as_deref().unwrap_or("-"),
                        k.created.as_deref().unwrap_or("-")
                    );
                }
                println!("{} (* the one this command opened the repository with)", output::count(keys.len() as u64, "key"));
            }
        }
        KeyCommand::Add(new) => {
            let id = repo.add_key(&new_password(new)?)?;
            report(global, KeyChange { added: Some(&id), removed: None }, &format!("added key {}", &id[..8]))?;
        }
        KeyCommand::Remove { id } => {
            let removed = repo.remove_key(id)?;
            report(global, KeyChange { added: None, removed: Some(&removed) }, &format!("removed key {}", &removed[..8]))?;
        }
        KeyCommand::Passwd(new) => {
            let old = repo.keys()?.into_iter().find(|k| k.current).map(|k| k.id);
            let id = repo.change_password(&new_password(new)?)?;
            let text = format!("the password changed: key {} replaced key {}", &id[..8], old.as_deref().map_or("?", |o| &o[..8]));
            report(global, KeyChange { added: Some(&id), removed: old.as_deref() }, &text)?;
        }
    }
    Ok(0)
}

fn report(global: &Global, change: KeyChange, text: &str) -> Result<()> {
    if global.json {
        return output::json(&change);
    }
    println!("{text}");
    Ok(())
}

/// The new password, from --new-password-file or asked twice on the terminal.
fn new_password(args: &NewPassword) -> Result<String> {
    let password = match &args.new_password_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the new password file {}", file.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        None => {
            if !std::io::stdin().is_terminal() {
                return Err(lifeboat_engine::EngineError::input(
                    "no new password given",
                    "pass --new-password-file FILE (no terminal to ask on)",
                )
                .into());
            }
            let password = rpassword::prompt_password("new password: ")?;
            if rpassword::prompt_password("repeat the new password: ")? != password {
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
