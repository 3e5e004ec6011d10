//! `dpctl nodes` (issue 25, item 1): the cluster's nodes as the operator sees them — alive
//! or stopped, which one leads and since when — and with `--duties` which node ran each
//! cluster duty.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::dpctl;
use serde_json::Value;
use shared_modules::cluster::{record_duty, spawn_membership};
use shared_modules::testing::{TestDb, test_config, wait_for};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_show_who_is_alive_who_leads_and_who_ran_the_duties() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&db.url, dir.path());
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();

    let (code, out, _) = dpctl(&path, &["nodes"]);
    assert_eq!(code, 0);
    assert!(out.contains("no node has started yet"), "{out}");

    let stop_a = CancellationToken::new();
    let (leading, a) = spawn_membership(
        db.pool(),
        "node-a",
        "127.0.0.1:1",
        Duration::from_secs(3),
        stop_a.clone(),
    );
    wait_for("node-a to lead", Duration::from_secs(10), || async {
        leading.is_leader().then_some(())
    })
    .await;
    let stop_b = CancellationToken::new();
    let (following, b) = spawn_membership(
        db.pool(),
        "node-b",
        "127.0.0.1:2",
        Duration::from_secs(3),
        stop_b.clone(),
    );
    let ran = record_duty(&db.pool(), "retention", &leading, async {
        Ok::<_, String>(())
    })
    .await;
    assert!(matches!(ran, Some(Ok(()))));
    let skipped = record_duty(&db.pool(), "retention", &following, async {
        Ok::<_, String>(())
    })
    .await;
    assert!(skipped.is_none(), "a node that does not lead runs no duty");

    let nodes = wait_for("both nodes alive", Duration::from_secs(10), || async {
        let (_, out, _) = dpctl(&path, &["nodes", "--json", "--duties"]);
        let listed: Value = serde_json::from_str(&out).ok()?;
        let alive = listed["nodes"]
            .as_array()?
            .iter()
            .filter(|n| n["alive"] == true)
            .count();
        (alive == 2).then_some(listed)
    })
    .await;
    let a_row = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node-a")
        .unwrap();
    assert_eq!(a_row["leader"], true, "{nodes}");
    assert!(!a_row["leader_since"].is_null());
    let runs = nodes["duty_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{nodes}");
    assert_eq!(
        (runs[0]["duty"].as_str(), runs[0]["node"].as_str()),
        (Some("retention"), Some("node-a"))
    );
    let (_, table, _) = dpctl(&path, &["nodes", "--duties"]);
    assert!(
        table.contains("node-a") && table.contains("alive") && table.contains("since "),
        "{table}"
    );
    assert!(table.contains("recent cluster duties"), "{table}");

    // The leader stops: it gives the lease up, and the other node takes it.
    stop_a.cancel();
    a.await.unwrap();
    wait_for("node-b to lead", Duration::from_secs(10), || async {
        following.is_leader().then_some(())
    })
    .await;
    let (_, out, _) = dpctl(&path, &["nodes", "--json"]);
    let listed: Value = serde_json::from_str(&out).unwrap();
    let a_row = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node-a")
        .unwrap();
    assert_eq!(
        (a_row["alive"].as_bool(), a_row["leader"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(
        !a_row["stopped_at"].is_null(),
        "a stopped node says so: {listed}"
    );
    stop_b.cancel();
    b.await.unwrap();
}
