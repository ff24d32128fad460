use anyhow::Result;
use lifeboat_daemon::Events;

use crate::{
    context,
    flags::{DaemonArgs, Global, LogFormat},
};

pub fn run(global: &Global, args: &DaemonArgs) -> Result<i32> {
    let config = context::required_config(global)?;
    config.check_files()?;
    // The key is derived once here; every job then opens its own handle with it.
    let password = context::password(global, false)?;
    let repo = lifeboat_engine::Repo::open(&context::location(global)?, &password)?.with_lock_wait(global.lock_wait);
    let events = Events { json: matches!(args.log_format, LogFormat::Json) };
    let path = config.path.clone();
    let reload = || {
        let config = lifeboat_daemon::Config::load(&path)?;
        config.check_files()?;
        Ok(config)
    };
    // The HTTP API, when `[api]` asks for it: the daemon opens it once it holds the state
    // directory, and closes it before it exits.
    let api = lifeboat_api::Server::for_config(&config).map(|server| Box::new(server) as Box<dyn lifeboat_daemon::FrontDoor>);
    lifeboat_daemon::run(config, repo, password, events, reload, api)?;
    Ok(0)
}
