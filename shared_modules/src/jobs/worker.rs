//! The worker pool: a dispatcher that claims as many jobs as there are free slots (of
//! `concurrency`) in one statement and runs each in its own task, one heartbeat that renews
//! the leases of the attempts really running (and stops those whose job was cancelled or
//! taken away), and a graceful stop. Each job runs in `run_attempt`; a module that panics
//! fails its job, the worker goes on.

use super::attempts::RunningAttempts;
use super::handler::{Registry, panic_message};
use super::model::Job;
use super::queue::{LeaseRenewal, QueueSettings, claim_batch, renew_leases};
use crate::config::Config;
use crate::db::DbPool;
use futures_util::FutureExt;
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// `node:pid:nonce`: unique per process, readable in `locked_by` and in events; the node
/// (`node.name`) first, so a node's claims are found by it.
pub fn worker_identity(node: &str) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{node}:{}:{nonce:08x}", std::process::id())
}

pub struct WorkerPool {
    pub config: Arc<Config>,
    pub pool: DbPool,
    pub registry: Arc<Registry>,
    pub wake: Arc<Notify>,
    pub worker_id: String,
    pub(super) running: RunningAttempts,
}

/// The heartbeat's period at most: a cancel reaches the running work within about this.
const HEARTBEAT_MAX_PERIOD: Duration = Duration::from_secs(1);

impl WorkerPool {
    pub fn new(
        config: Arc<Config>,
        pool: DbPool,
        registry: Arc<Registry>,
        wake: Arc<Notify>,
        worker_id: String,
    ) -> Self {
        Self {
            config,
            pool,
            registry,
            wake,
            worker_id,
            running: RunningAttempts::default(),
        }
    }

    pub(super) fn settings(&self) -> QueueSettings {
        QueueSettings::from(&self.config.jobs)
    }

    /// Runs until `stop` is cancelled, then lets running jobs finish for up to
    /// `workers.shutdown_grace_seconds`. Jobs still running after that keep their row in
    /// `running`; their lease expires and the reaper requeues them.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(self.clone().heartbeat(heartbeat_stop.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        self.dispatch(&mut tasks, &stop).await;
        let grace = Duration::from_secs_f64(self.config.workers.shutdown_grace_seconds);
        tracing::info!(
            grace_seconds = grace.as_secs_f64(),
            "stopping workers: no new claims, waiting for running jobs"
        );
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                still_running = tasks.len(),
                "grace period over; leaving the rest to the reaper"
            );
            tasks.abort_all();
        }
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
    }

    /// Waits for free slots (at most `concurrency` jobs run at once), claims as many jobs
    /// as there are free slots in one statement, and runs each in its own task. With
    /// nothing to claim it sleeps until a NOTIFY or the poll interval.
    async fn dispatch(
        self: &Arc<Self>,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: &CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.config.workers.concurrency));
        let poll = Duration::from_secs_f64(self.config.workers.poll_interval_seconds);
        loop {
            // Register for wake-ups before looking, so a job queued in between is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let first = tokio::select! {
                _ = stop.cancelled() => return,
                permit = slots.clone().acquire_owned() => permit,
            };
            let Ok(first) = first else { return };
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            while tasks.try_join_next().is_some() {}
            match self.claim(permits.len()).await {
                Ok(jobs) if !jobs.is_empty() => {
                    for (job, permit) in jobs.into_iter().zip(permits) {
                        let pool = self.clone();
                        tasks.spawn(async move {
                            pool.run_guarded(job).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim jobs; retrying after the poll interval")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Runs a job; a panic outside the module fails it and the worker goes on.
    async fn run_guarded(&self, job: Job) {
        let run = AssertUnwindSafe(self.run_job(job.clone())).catch_unwind();
        if let Err(payload) = run.await {
            self.fail_after_panic(job, &panic_message(payload.as_ref()))
                .await;
        }
    }

    async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let every =
            Duration::from_secs_f64(self.config.jobs.lease_seconds / 3.0).min(HEARTBEAT_MAX_PERIOD);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            match self.renew().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(worker = %self.worker_id, "renewing leases again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(worker = %self.worker_id, error = %e, "could not renew leases; they expire unless the database answers again");
                }
                Err(_) => {}
            }
        }
    }

    /// Renews the running attempts' leases and writes their progress; an attempt whose row
    /// is no longer its own is told to stop.
    async fn renew(&self) -> Result<(), String> {
        let attempts = self.running.snapshot();
        if attempts.is_empty() {
            return Ok(());
        }
        let renewals: Vec<LeaseRenewal> = attempts
            .iter()
            .map(|a| LeaseRenewal {
                job_id: a.job_id,
                attempts: a.attempts,
                progress: a.take_progress(),
            })
            .collect();
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let held: HashSet<i64> =
            renew_leases(&mut conn, &self.worker_id, &renewals, self.settings())
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
        for attempt in attempts.iter().filter(|a| !held.contains(&a.job_id)) {
            if !attempt.cancel.is_cancelled() {
                tracing::info!(
                    job.id = attempt.job_id,
                    "job cancelled or taken from this worker; stopping it"
                );
                attempt.cancel.cancel();
            }
        }
        Ok(())
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Job>, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        claim_batch(&mut conn, &self.worker_id, self.settings(), limit)
            .await
            .map_err(|e| e.to_string())
    }
}
