use anyhow::Result;
use lifeboat_daemon::output::Audit;

use crate::{
    context,
    flags::{AuditArgs, AuditCommand, Global},
    output,
};

pub fn run(global: &Global, args: &AuditArgs) -> Result<i32> {
    let access = context::access(global)?;
    if let Some(AuditCommand::Verify) = args.verify {
        let verdict = access.verify_audit()?;
        if global.json {
            output::json(&verdict)?;
        } else if let Some(problem) = &verdict.problem {
            println!("audit verify: FAILED after {}: {problem}", output::count(verdict.rows, "good row"));
        } else {
            let head = verdict.head_id.map_or("empty".to_string(), |id| format!("head: row {id}, hash {}", verdict.head_hash));
            println!("audit verify: OK, {} ({head})", output::count(verdict.rows, "row"));
        }
        return Ok(if verdict.ok { 0 } else { 1 });
    }
    let rows = access.audit_rows(context::since(args.since.as_deref())?)?;
    if global.json {
        output::json(&Audit { rows: &rows })?;
        return Ok(0);
    }
    for r in &rows {
        let role = r.role.as_deref().map(|role| format!(" ({role})")).unwrap_or_default();
        let target = r.target.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
        let detail = r.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        println!("{}  {}{role} from {}  {}{target}  {}{detail}", output::time(r.at), r.actor, r.source, r.action, r.outcome);
    }
    println!("{}", output::count(rows.len() as u64, "row"));
    Ok(0)
}
