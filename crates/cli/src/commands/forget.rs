use anyhow::Result;
use lifeboat_daemon::runner::{ForgetJob, Forgotten};
use lifeboat_engine::{KeepPolicy, parse_within};

use crate::{
    commands::confirm,
    context,
    flags::{ForgetArgs, Global},
    logged::Jobs,
    output,
};

pub fn run(global: &Global, args: &ForgetArgs) -> Result<i32> {
    let policy = KeepPolicy {
        last: args.keep_last,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        yearly: args.keep_yearly,
        within: args.keep_within.as_deref().map(parse_within).transpose()?,
        tags: args.keep_tags.clone(),
        safety: args.keep_safety.as_deref().map(parse_within).transpose()?,
        classes: Default::default(),
    };
    let repo = context::open(global)?;
    let plan = if args.snapshots.is_empty() {
        lifeboat_engine::forget_plan(&repo, args.db.as_deref(), &policy)?
    } else {
        lifeboat_engine::forget_named_plan(&repo, &args.snapshots, args.db.as_deref())?
    };
    let removing = plan.iter().flat_map(|g| &g.decisions).filter(|d| !d.keep).count();

    if !global.json {
        for group in &plan {
            println!("database `{}`:", group.database);
            for d in &group.decisions {
                let why = if d.keep { format!("keep    ({})", d.reasons.join(", ")) } else { "remove  (no rule keeps it)".to_string() };
                println!("  {}  {}  {:<14}  {why}", d.snapshot.short_id, output::time(d.snapshot.time), d.snapshot.summary.class);
            }
        }
    }
    if args.dry_run {
        if global.json {
            output::json(&lifeboat_daemon::output::Forget { dry_run: true, removed: 0, pruned_bytes: None, plan: &plan })?;
        } else {
            println!("dry run: {} would be removed; nothing was changed", output::count(removing as u64, "backup"));
        }
        return Ok(0);
    }
    if removing > 0 && !args.yes && !confirm(&format!("Remove {}?", output::count(removing as u64, "backup"))) {
        return Err(lifeboat_engine::EngineError::NotConfirmed {
            context: format!("not removing {} without confirmation", output::count(removing as u64, "backup")),
            hint: "pass --yes (or --dry-run to only see the plan)".into(),
        }
        .into());
    }
    // The question is behind us: a bar may draw now.
    let mut job = ForgetJob::planned(&plan, args.db.as_deref(), args.prune);
    let Forgotten { removed, freed } = Jobs::new(global)?.run(&repo, &mut job, None, args.prune.then_some("pruning"))?;
    if global.json {
        output::json(&lifeboat_daemon::output::Forget { dry_run: false, removed, pruned_bytes: freed, plan: &plan })?;
    } else {
        println!("removed {}", output::count(removed as u64, "backup"));
        if let Some(freed) = freed {
            println!("pruned: {} freed", output::size(freed));
        }
    }
    Ok(0)
}
