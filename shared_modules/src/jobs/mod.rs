//! The job engine: Postgres is the queue.
//!
//! - `model`: the job row and its states.
//! - `queue`: enqueue (with dedupe), claim (`FOR UPDATE SKIP LOCKED`), fenced completion.
//! - `events`: the per-job event trail.
//! - `operator_actions`: retry and cancel, fenced on the state read.
//! - `handler`: what a module implements, and the registry keyed by (category, type).
//! - `worker`: the pool of workers with heartbeat and graceful stop.
//! - `run_attempt`: one attempt's life, from claim to done or failed.
//! - `attempts`: the attempts a process runs, as its heartbeat renews and cancels them.
//! - `listener`: LISTEN/NOTIFY wake-ups, reconnecting when Postgres restarts.
//! - `reaper`: expired leases and timeouts.
//! - `workspace`: a job's inbox, tmp and archive directories.
//! - `listing`: filtered, paginated reads for the API and `dpctl`.
//! - `lookup`: a few jobs' states, or which dedupe keys have a job.
//! - `stats`: counts and rates for `/metrics` and the console's overview.

mod attempts;
mod events;
mod handler;
mod listener;
mod listing;
mod look_ahead_memo;
mod lookup;
mod model;
mod operator_actions;
mod queue;
mod reaper;
mod run_attempt;
pub mod stats;
mod worker;
mod workspace;

pub use attempts::{Attempt, RunningAttempts};
pub use events::{
    EventPhase, JobEvent, NewEvent, Step, StepStatus, events_of, record_event, record_events,
};
pub use handler::{
    DuplicateHandler, DynJobHandler, HandlerFuture, JobContext, JobFailure, JobHandler, Registry,
    panic_message,
};
pub use listener::{NOTIFY_CHANNEL, spawn_listener};
pub use listing::{JobFilter, JobPage, list_jobs};
pub use lookup::{keys_with_jobs, states_of};
pub use model::{Job, JobSource, JobState, NewJob};
pub use operator_actions::{Action, Refused, cancel_job, retry_job};
pub use queue::{
    Enqueued, LeaseRenewal, QUARANTINED_TYPE, QueueSettings, claim_batch, discard_quarantined,
    enqueue, find_job, job_for_key, mark_done, mark_failed, record_archive_path,
    release_quarantined, renew_leases,
};
pub use reaper::{ReapReport, reap_once, spawn_reaper};
pub use worker::{WorkerPool, worker_identity};
pub use workspace::Workspace;
