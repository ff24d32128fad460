use anyhow::Result;
use lifeboat_daemon::{
    access::{AuditEvent, NewToken, Role},
    output::{AccessChange, TokenAdded, Tokens},
};

use crate::{
    context,
    flags::{Global, TokenCommand},
    output,
};

pub fn run(global: &Global, command: &TokenCommand) -> Result<i32> {
    let access = context::access(global)?;
    let user = lifeboat_engine::user_name();
    let by = AuditEvent::on_host(&user);
    match command {
        TokenCommand::Add { name, grant, expires } => {
            let role = Role::parse(&grant.role)?;
            let expires_at = match expires {
                Some(age) => Some(
                    jiff::Timestamp::now()
                        .to_zoned(jiff::tz::TimeZone::system())
                        .checked_add(lifeboat_engine::parse_within(age)?)?
                        .timestamp(),
                ),
                None => None,
            };
            let token = access.add_token(&NewToken { name, role, databases: &grant.database, expires_at }, &by)?;
            if global.json {
                output::json(&TokenAdded { name, token: &token, role, expires_at })?;
            } else {
                println!("{token}");
                let until = expires_at.map_or("it does not expire".to_string(), |at| format!("it expires {}", output::time(at)));
                eprintln!("token `{name}` ({}, {}); {until}. It is shown this once: store it now.", role.as_str(), scope(&grant.database));
            }
        }
        TokenCommand::List => {
            let tokens = access.tokens()?;
            if global.json {
                output::json(&Tokens { tokens: &tokens })?;
            } else {
                println!("{:<20} {:<9} {:<20} {:<26} {:<26} LAST USED", "NAME", "ROLE", "DATABASES", "CREATED", "EXPIRES");
                for t in &tokens {
                    println!(
                        "{:<20} {:<9} {:<20} {:<26} {:<26} {}",
                        t.name,
                        t.role.as_str(),
                        scope(t.databases.as_deref().unwrap_or_default()),
                        output::time(t.created_at),
                        t.expires_at.map_or("never".into(), output::time),
                        t.last_used_at.map_or("never".into(), output::time)
                    );
                }
                println!("{}", output::count(tokens.len() as u64, "token"));
            }
        }
        TokenCommand::Revoke { name } => {
            access.revoke_token(name, &by)?;
            done(global, "token.revoke", name, &format!("token `{name}` revoked: it is refused from now on"))?;
        }
    }
    Ok(0)
}

/// Which databases a grant covers, in words.
pub fn scope(databases: &[String]) -> String {
    if databases.is_empty() { "every database".into() } else { databases.join(",") }
}

/// Says what changed: `text`, or the change as JSON.
pub fn done(global: &Global, action: &str, name: &str, text: &str) -> Result<()> {
    if global.json {
        return output::json(&AccessChange { action, name });
    }
    println!("{text}");
    Ok(())
}
