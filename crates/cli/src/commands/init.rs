use anyhow::Result;
use lifeboat_engine::Repo;

use crate::{context, flags::Global};

pub fn run(global: &Global) -> Result<i32> {
    let location = context::location(global)?;
    let password = context::password(global, true)?;
    Repo::init(&location, &password)?;
    let lifeboat_engine::Location::Local(path) = &location;
    if global.json {
        crate::output::json(&serde_json::json!({ "created": path }))?;
    } else {
        println!("created repository {}", path.display());
        println!("keep the password safe: without it no backup can be read");
    }
    Ok(0)
}
