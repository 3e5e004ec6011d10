//! A worker process whose one job type (`test/sleep`) sleeps and then writes a row; the
//! crash-recovery test kills it with SIGKILL in the middle of a job. Reads its config the
//! usual way (`DATAPROCESSOR_CONFIG`).

use shared_modules::jobs::{Registry, WorkerPool, spawn_listener, worker_identity};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Arc::new(shared_modules::config::load(None)?);
    let pool = shared_modules::db::connect_pool(
        &config.database.url,
        4,
        std::time::Duration::from_secs(5),
    )?;
    let mut registry = Registry::new();
    registry.register("test", "sleep", shared_modules::testing::SleepHandler)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let stop = CancellationToken::new();
    let _listener = spawn_listener(config.database.url.clone(), wake.clone(), stop.clone());
    let node = config.node_name();
    let workers = Arc::new(WorkerPool::new(
        config,
        pool,
        Arc::new(registry),
        wake,
        worker_identity(&node),
    ));
    println!("worker {} ready", workers.worker_id);
    workers.run(stop).await;
    Ok(())
}
