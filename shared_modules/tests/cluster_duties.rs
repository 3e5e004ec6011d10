//! Cluster duties (issue 25): one run at a time across the nodes, and a run that found the
//! duty held by another node's run is tried again soon, not a whole period later.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use shared_modules::cluster::{Leadership, duty_runs, spawn_duty};
use shared_modules::db::advisory;
use shared_modules::testing::{TestDb, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hourly_duty_held_by_another_node_runs_once_it_is_free_not_an_hour_later() {
    let db = TestDb::new().await;
    // Another node's run of retention, still going when this node becomes leader.
    let other_node = db.pool();
    let mut holder = other_node.get().await.unwrap();
    let key = advisory::lock_key("duty retention");
    assert!(advisory::try_lock(&mut holder, key).await);

    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let stop = CancellationToken::new();
    let duty = spawn_duty(
        "retention",
        db.pool(),
        Duration::from_secs(3600),
        Leadership::alone("successor"),
        stop.clone(),
        move |_conn| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    );
    // Tried at once and fenced off: it does not run beside the other node's run.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "ran while another run held it"
    );

    advisory::unlock(holder, key).await;
    wait_for(
        "the duty to run once the other run let it go",
        Duration::from_secs(10),
        || async { (runs.load(Ordering::SeqCst) == 1).then_some(()) },
    )
    .await;
    let recorded = duty_runs(&mut db.pool().get().await.unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].node, "successor");
    assert!(recorded[0].finished_at.is_some());

    // And then it keeps its period: no second run within the next seconds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    stop.cancel();
    duty.await.unwrap();
}
