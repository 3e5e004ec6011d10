//! One attempt's life, as the worker pool runs it: in the job's tracing span, with its
//! timeout and cancel token; link the inbox into `tmp/`, write a mail's derived files if
//! they are missing, run the module (a panic fails the job, not the worker), archive the
//! original, record the events, and commit done or failed, fenced by the lease.

use super::events::{EventPhase, NewEvent, record_events};
use super::events::{Step, StepStatus};
use super::handler::{JobContext, JobFailure, panic_message};
use super::model::{Job, JobState};
use super::queue::{mark_done, mark_failed, record_archive_path};
use super::worker::WorkerPool;
use super::workspace::Workspace;
use crate::metrics;
use diesel_async::AsyncConnection;
use diesel_async::scoped_futures::ScopedFutureExt;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};
use tracing::Instrument;

enum AttemptError {
    Failed(JobFailure),
    LostLease,
}

impl From<diesel::result::Error> for AttemptError {
    fn from(e: diesel::result::Error) -> Self {
        AttemptError::Failed(JobFailure::from(e))
    }
}

impl WorkerPool {
    /// Runs one job inside its tracing span (so every log line carries its id, customer
    /// and type, and only its own: the span is attached to the future, not entered across
    /// awaits).
    pub(super) async fn run_job(&self, job: Job) {
        let span = tracing::info_span!("job", job.id = job.id, customer = %job.customer, r#type = %job.job_type);
        self.run_job_in_span(job).instrument(span).await
    }

    /// Last resort for a panic outside the module (which `attempt` catches itself): the
    /// job fails for good with the panic's message and the worker goes on.
    pub(super) async fn fail_after_panic(&self, job: Job, message: &str) {
        tracing::error!(job.id = job.id, panic = %message, "running a job panicked; failing it");
        let ctx = JobContext::new(job.clone(), self.config.clone(), self.worker_id.clone());
        let failure = JobFailure::permanent(format!("the worker panicked: {message}"));
        let exit = NewEvent::new(job.id, Step::Run, EventPhase::Exit);
        self.record_failure(&ctx, &failure, exit).await;
    }

    async fn run_job_in_span(&self, job: Job) {
        let started = Instant::now();
        let timeout = Duration::from_secs(u64::try_from(job.timeout_seconds).unwrap_or(1));
        let running = self.running.start(&job);
        let cancel = running.attempt.cancel.clone();
        let mut ctx = JobContext::for_attempt(
            job.clone(),
            self.config.clone(),
            self.worker_id.clone(),
            running.attempt.clone(),
        );
        ctx.event(NewEvent::new(job.id, Step::Run, EventPhase::Enter));
        let workspace = Workspace::plan(&self.config, &job);
        let outcome = match workspace.as_ref() {
            Err(reason) => Err(AttemptError::Failed(JobFailure::permanent(reason.clone()))),
            // Dropping the attempt when the job is cancelled drops its connection inside the
            // open transaction: the pool discards it and Postgres rolls the work back.
            Ok(workspace) => tokio::select! {
                timed = tokio::time::timeout(timeout, self.attempt(&mut ctx, workspace.as_ref(), started)) => {
                    timed.unwrap_or_else(|_| Err(AttemptError::Failed(JobFailure::permanent(format!(
                        "timeout after {} s",
                        job.timeout_seconds
                    )))))
                }
                _ = cancel.cancelled() => Err(AttemptError::LostLease),
            },
        };
        if let (Err(_), Ok(Some(workspace))) = (&outcome, &workspace) {
            cleanup(&ctx, workspace);
        }
        let elapsed = started.elapsed();
        let outcome_name = match &outcome {
            Ok(_) => "done",
            Err(AttemptError::LostLease) => "discarded",
            Err(AttemptError::Failed(f)) if f.is_permanent() => "error",
            Err(AttemptError::Failed(_)) => "retry",
        };
        metrics::job_ran(&job.job_type, outcome_name, elapsed.as_secs_f64());
        let exit = NewEvent::new(job.id, Step::Run, EventPhase::Exit).duration(elapsed);
        match outcome {
            Ok(summary) => {
                if let Some(rows) = summary["rows"].as_object() {
                    for (table, n) in rows {
                        metrics::rows_upserted(table, n.as_u64().unwrap_or(0));
                    }
                }
                tracing::info!(duration_ms = elapsed.as_millis() as u64, "job done");
            }
            Err(AttemptError::LostLease) => {
                tracing::warn!(
                    "job was taken from this worker (lease expired, cancelled or timed out); result discarded"
                );
                ctx.event(
                    exit.status(StepStatus::Discarded)
                        .message("lease lost; result discarded"),
                );
                self.write_events(&ctx).await;
            }
            Err(AttemptError::Failed(failure)) => {
                let state = self.record_failure(&ctx, &failure, exit).await;
                let state_name = state.map(JobState::as_str).unwrap_or("discarded");
                tracing::warn!(error = %failure, permanent = failure.is_permanent(), state = state_name, "job attempt failed");
            }
        }
    }

    /// Links the job's files into tmp, runs the module on them, archives the original, cleans
    /// tmp, and marks the job done with its whole event trail in the module's transaction:
    /// one commit for the job's rows, its state and its trail.
    async fn attempt(
        &self,
        ctx: &mut JobContext,
        workspace: Option<&Workspace>,
        started: Instant,
    ) -> Result<serde_json::Value, AttemptError> {
        let job = ctx.job.clone();
        let handler = self
            .registry
            .get(&job.category, &job.job_type)
            .ok_or_else(|| {
                AttemptError::Failed(JobFailure::permanent(format!(
                    "no module handles {}/{} (known: {})",
                    job.category,
                    job.job_type,
                    self.registry.types().join(", ")
                )))
            })?;
        if let Some(workspace) = workspace {
            // A mail whose derived files are missing or partial gets them from its raw message.
            crate::mail::complete_before_run(ctx, workspace)
                .await
                .map_err(AttemptError::Failed)?;
            let link = workspace.clone();
            step(ctx, Step::Link, move || link.link_to_tmp())
                .await
                .map_err(|e| {
                    let failure = if e.kind() == std::io::ErrorKind::NotFound {
                        JobFailure::permanent(e.to_string())
                    } else {
                        JobFailure::transient(e.to_string())
                    };
                    AttemptError::Failed(failure)
                })?;
            ctx.work_dir = Some(workspace.tmp.clone());
        }
        let mut conn = self.pool.get().await.map_err(|e| {
            AttemptError::Failed(JobFailure::transient(format!("database unavailable: {e}")))
        })?;
        let ctx = &*ctx;
        // Where this attempt moved the job's directory, to move it back if `done` does not
        // commit (the retry finds its files in the inbox again).
        let archived = std::sync::Mutex::new(None::<std::path::PathBuf>);
        let archived = &archived;
        let outcome = conn
            .transaction::<_, AttemptError, _>(|tx| {
                async move {
                    let module_started = Instant::now();
                    let result = AssertUnwindSafe(handler.run_boxed(ctx, tx))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|payload| {
                            Err(JobFailure::permanent(format!(
                                "the module panicked: {}",
                                panic_message(payload.as_ref())
                            )))
                        });
                    let module_event = NewEvent::new(job.id, Step::Module, EventPhase::Exit)
                        .duration(module_started.elapsed());
                    let summary = match result {
                        Ok(summary) => {
                            ctx.event(module_event.status(StepStatus::Ok));
                            summary
                        }
                        Err(failure) => {
                            ctx.event(
                                module_event
                                    .status(StepStatus::Error)
                                    .message(failure.to_string()),
                            );
                            return Err(AttemptError::Failed(failure));
                        }
                    };
                    let mut archive_path = None;
                    let mut tmp_path = None;
                    if let Some(workspace) = workspace {
                        if let Some(target) = workspace.archive_target() {
                            self.archive(ctx, workspace, &target).await?;
                            *archived.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(target.clone());
                            archive_path = Some(target.to_string_lossy().to_string());
                        } else if let Some(earlier) = workspace.archived() {
                            archive_path = Some(earlier.to_string_lossy().to_string());
                        }
                        cleanup(ctx, workspace);
                        tmp_path = Some(workspace.tmp.to_string_lossy().to_string());
                    }
                    if !mark_done(
                        tx,
                        &job,
                        &summary,
                        archive_path.as_deref(),
                        tmp_path.as_deref(),
                    )
                    .await?
                    {
                        return Err(AttemptError::LostLease);
                    }
                    ctx.event(
                        NewEvent::new(job.id, Step::Store, EventPhase::Info)
                            .status(StepStatus::Committed),
                    );
                    ctx.event(
                        NewEvent::new(job.id, Step::Run, EventPhase::Exit)
                            .duration(started.elapsed())
                            .status(StepStatus::Became(JobState::Done))
                            .message(summary.to_string()),
                    );
                    record_events(tx, &ctx.take_events()).await?;
                    Ok(summary)
                }
                .scope_boxed()
            })
            .await;
        let moved = archived.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Err(_), Some(moved), Some(workspace)) = (&outcome, moved, workspace)
            && let Err(e) = workspace.unarchive(&moved)
        {
            tracing::error!(error = %e, archive = %moved.display(), inbox = %workspace.inbox.display(), "could not move the job's files back to the inbox; move them by hand before retrying");
        }
        outcome
    }

    /// Moves the job's files to the archive at `target`, recorded on the job first (on a
    /// connection of its own: the module's transaction is still open).
    async fn archive(
        &self,
        ctx: &JobContext,
        workspace: &Workspace,
        target: &std::path::Path,
    ) -> Result<(), AttemptError> {
        let transient =
            |e: String| AttemptError::Failed(JobFailure::transient(format!("archive: {e}")));
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| transient(e.to_string()))?;
        if !record_archive_path(&mut conn, &ctx.job, &target.to_string_lossy()).await? {
            return Err(AttemptError::LostLease);
        }
        drop(conn);
        let (workspace, target) = (workspace.clone(), target.to_path_buf());
        step(ctx, Step::Archive, move || workspace.archive_to(&target))
            .await
            .map_err(|e| transient(e.to_string()))
    }

    /// Writes the trail of an attempt whose outcome is already recorded (or lost).
    async fn write_events(&self, ctx: &JobContext) {
        let events = ctx.take_events();
        let result = match self.pool.get().await {
            Ok(mut conn) => record_events(&mut conn, &events)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record the job's events");
        }
    }

    /// Records the failed attempt and its trail in one transaction. Database trouble here
    /// must not lose the outcome for long: retry a few times, then leave it to the reaper
    /// (the lease expires, the job is retried).
    async fn record_failure(
        &self,
        ctx: &JobContext,
        failure: &JobFailure,
        exit: NewEvent,
    ) -> Option<JobState> {
        let mut events = ctx.take_events();
        for attempt in 0..5u32 {
            let result = match self.pool.get().await {
                Ok(mut conn) => {
                    let events = &mut events;
                    let exit = exit.clone();
                    conn.transaction::<_, diesel::result::Error, _>(|tx| {
                        async move {
                            let state = mark_failed(
                                tx,
                                &ctx.job,
                                &failure.to_string(),
                                failure.is_permanent(),
                                self.settings(),
                            )
                            .await?;
                            let status = state.map_or(StepStatus::Discarded, StepStatus::Became);
                            let mut trail = events.clone();
                            trail.push(
                                exit.status(status)
                                    .message(failure.to_string())
                                    .worker(&ctx.worker_id),
                            );
                            record_events(tx, &trail).await?;
                            Ok(state)
                        }
                        .scope_boxed()
                    })
                    .await
                    .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(state) => return state,
                Err(e) => {
                    tracing::warn!(error = %e, "could not record the failure; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                }
            }
        }
        None
    }
}

/// Removes the job's tmp copy if there is one (a failure after the in-transaction cleanup
/// finds none: no second event); a failure to remove is recorded, never fatal.
fn cleanup(ctx: &JobContext, workspace: &Workspace) {
    if !workspace.tmp.exists() {
        return;
    }
    let event = NewEvent::new(ctx.job.id, Step::Cleanup, EventPhase::Info);
    match workspace.cleanup() {
        Ok(()) => ctx.event(event.status(StepStatus::Ok)),
        Err(e) => ctx.event(
            event
                .status(StepStatus::Error)
                .message(format!("cannot remove {}: {e}", workspace.tmp.display())),
        ),
    }
}

/// Runs blocking file work off the async threads and records it as an event with its duration.
async fn step<F>(ctx: &JobContext, name: Step, work: F) -> std::io::Result<()>
where
    F: FnOnce() -> std::io::Result<()> + Send + 'static,
{
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let event = NewEvent::new(ctx.job.id, name, EventPhase::Exit).duration(started.elapsed());
    match &result {
        Ok(()) => ctx.event(event.status(StepStatus::Ok)),
        Err(e) => ctx.event(event.status(StepStatus::Error).message(e.to_string())),
    }
    result
}
