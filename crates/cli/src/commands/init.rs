use anyhow::Result;
use lifeboat_engine::Repo;

use crate::{context, flags::Global};

pub fn run(global: &Global) -> Result<i32> {
    let location = context::location(global)?;
    let password = context::password(global, true)?;
    Repo::init(&location, &password)?;
    if global.json {
        crate::output::json(&lifeboat_daemon::output::Init { created: location.describe() })?;
    } else {
        println!("created repository {}", location.describe());
        println!("keep the password safe: without it no backup can be read");
    }
    Ok(0)
}
