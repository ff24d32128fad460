use anyhow::Result;
use lifeboat_daemon::{
    access::{AuditEvent, Role},
    output::Users,
};
use qrcode::{QrCode, render::unicode::Dense1x2};

use super::token::{done, scope};
use crate::{
    context,
    flags::{Global, UserCommand},
    output,
};

pub fn run(global: &Global, command: &UserCommand) -> Result<i32> {
    let access = context::access(global)?;
    let user = lifeboat_engine::user_name();
    let by = AuditEvent::on_host(&user);
    let password = |file: &Option<std::path::PathBuf>| super::new_password(file.as_deref(), "user's password", "--user-password-file");
    match command {
        UserCommand::Add { name, grant, password: given } => {
            let role = Role::parse(&grant.role)?;
            access.add_user(name, role, &grant.database, &password(&given.file)?, &by)?;
            let text = format!(
                "user `{name}` added ({}, {}); `lifeboat user totp {name}` enrols a second factor",
                role.as_str(),
                scope(&grant.database)
            );
            done(global, "user.add", name, &text)?;
        }
        UserCommand::List => {
            let users = access.users()?;
            if global.json {
                output::json(&Users { users: &users })?;
            } else {
                println!("{:<20} {:<9} {:<20} {:<5} CREATED", "NAME", "ROLE", "DATABASES", "TOTP");
                for u in &users {
                    let totp = if u.totp { "yes" } else { "no" };
                    let databases = scope(u.databases.as_deref().unwrap_or_default());
                    println!("{:<20} {:<9} {:<20} {:<5} {}", u.name, u.role.as_str(), databases, totp, output::time(u.created_at));
                }
                println!("{}", output::count(users.len() as u64, "user"));
            }
        }
        UserCommand::Totp { name } => {
            let enrolment = access.enrol_totp(name, &by)?;
            if global.json {
                output::json(&enrolment)?;
            } else {
                let qr = QrCode::new(enrolment.uri.as_bytes())?;
                // Light modules drawn dark: a terminal's dark background is the code's light.
                let art = qr.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build();
                println!("{art}");
                println!("{}\nsecret: {}", enrolment.uri, enrolment.secret);
                eprintln!("Scan the code (or type the secret) into an authenticator app; `{name}` needs its code to log in from now on.");
            }
        }
        UserCommand::Passwd { name, password: given } => {
            access.set_password(name, &password(&given.file)?, &by)?;
            done(global, "user.passwd", name, &format!("the password of `{name}` changed"))?;
        }
        UserCommand::Remove { name } => {
            access.remove_user(name, &by)?;
            done(global, "user.remove", name, &format!("user `{name}` removed"))?;
        }
    }
    Ok(0)
}
