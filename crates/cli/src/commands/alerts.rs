use anyhow::Result;

use crate::{
    context,
    flags::{AlertsCommand, Global},
    output,
};

pub fn run(global: &Global, command: &AlertsCommand) -> Result<i32> {
    let AlertsCommand::Test = command;
    let config = context::required_config(global)?;
    if config.alerts.is_empty() {
        return Err(lifeboat_engine::EngineError::input(
            format!("{} has no alert channel", config.path.display()),
            "add [alerts] email = [...] or webhook = [...] (see the README)",
        )
        .into());
    }
    let results = lifeboat_daemon::send_alert(&config.alerts, &lifeboat_daemon::test_alert());
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if global.json {
        let channels = results
            .iter()
            .map(|(channel, result)| lifeboat_daemon::output::ChannelResult {
                channel: channel.clone(),
                ok: result.is_ok(),
                error: result.as_ref().err().cloned(),
            })
            .collect();
        output::json(&lifeboat_daemon::output::AlertTest { ok: failed == 0, channels })?;
    } else {
        for (channel, result) in &results {
            match result {
                Ok(()) => println!("sent: {channel}"),
                Err(err) => println!("FAILED: {channel}: {err}"),
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
