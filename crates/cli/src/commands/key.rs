use anyhow::Result;

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
    super::new_password(args.new_password_file.as_deref(), "new password", "--new-password-file")
}
