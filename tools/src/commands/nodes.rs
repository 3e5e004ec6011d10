//! `dpctl nodes`: the cluster's nodes, which are alive, which leads and since when, and what
//! each is running; `--duties` adds the recent runs of the cluster duties (which node ran
//! the reaper, reconciliation, retention, the sweepers, and when).

use super::{Outcome, conn};
use shared_modules::cluster::{duty_runs, list_nodes};
use shared_modules::config::Config;

pub async fn run(config: &Config, json: bool, duties: bool) -> Outcome {
    let mut c = conn(config).await?;
    let nodes = list_nodes(&mut c).await?;
    let runs = if duties {
        duty_runs(&mut c, 24).await?
    } else {
        Vec::new()
    };
    if json {
        let mut out = serde_json::json!({ "nodes": nodes });
        if duties {
            out["duty_runs"] = serde_json::json!(runs);
        }
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    if nodes.is_empty() {
        println!("(no node has started yet: dataprocessor serve registers its node)");
        return Ok(());
    }
    let mut table = super::table::new(&[
        "NODE",
        "STATE",
        "LEADER",
        "RUNNING",
        "VERSION",
        "LAST BEAT",
        "STARTED",
        "API",
    ]);
    for node in &nodes {
        let state = match (node.alive, node.stopped_at) {
            (true, _) => "alive",
            (false, Some(_)) => "stopped",
            (false, None) => "silent",
        };
        let leader = node
            .leader_since
            .map(|at| format!("since {}", at.format("%H:%M:%S")))
            .unwrap_or_default();
        super::table::add_row(
            &mut table,
            vec![
                node.name.clone(),
                state.into(),
                leader,
                node.running_jobs.to_string(),
                node.version.clone(),
                node.heartbeat_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                node.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                node.api_listen.clone(),
            ],
        );
    }
    println!("{table}");
    if duties {
        let mut table = super::table::new(&["DUTY", "NODE", "STARTED", "TOOK"]);
        for run in runs.iter().rev().take(50) {
            let took = run
                .finished_at
                .map(|end| format!("{} ms", (end - run.started_at).num_milliseconds()))
                .unwrap_or_else(|| "running or cut short".into());
            super::table::add_row(
                &mut table,
                vec![
                    run.duty.clone(),
                    run.node.clone(),
                    run.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    took,
                ],
            );
        }
        println!("\nrecent cluster duties (newest first):\n{table}");
    }
    Ok(())
}
