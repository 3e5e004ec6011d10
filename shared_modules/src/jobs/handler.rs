//! What a parsing module implements, and the registry the worker dispatches through.

use super::attempts::Attempt;
use super::events::NewEvent;
use super::model::Job;
use crate::config::Config;
use diesel_async::AsyncPgConnection;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Why an attempt failed. Permanent failures (bad input) end the job in `error` at once;
/// transient ones (database trouble) are retried with backoff up to `max_attempts`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    Transient(String),
}

impl JobFailure {
    pub fn permanent(message: impl Into<String>) -> Self {
        JobFailure::Permanent(message.into())
    }

    pub fn transient(message: impl Into<String>) -> Self {
        JobFailure::Transient(message.into())
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, JobFailure::Permanent(_))
    }

    /// A task of the job's (a parser on a blocking thread) that panicked or was stopped:
    /// a panic is a bug the same input would hit again, so it is permanent.
    pub fn from_join(e: tokio::task::JoinError) -> Self {
        match e.try_into_panic() {
            Ok(payload) => JobFailure::permanent(format!(
                "the module panicked: {}",
                panic_message(payload.as_ref())
            )),
            Err(e) => JobFailure::transient(format!("the module's task was stopped: {e}")),
        }
    }
}

/// The text a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A database error inside a handler is treated as transient: the job is retried.
impl From<diesel::result::Error> for JobFailure {
    fn from(e: diesel::result::Error) -> Self {
        JobFailure::Transient(format!("database: {e}"))
    }
}

/// What a handler gets besides its transaction.
pub struct JobContext {
    pub job: Job,
    pub config: Arc<Config>,
    pub worker_id: String,
    /// The tmp copy of the job's inbox directory, which the module reads (None for a job
    /// without files).
    pub work_dir: Option<std::path::PathBuf>,
    /// This attempt as the heartbeat sees it: its cancellation and its progress.
    pub attempt: Arc<Attempt>,
    /// The attempt's event trail, written with its outcome (one statement, in the same
    /// transaction as `done`, or with the failure).
    events: Mutex<Vec<NewEvent>>,
}

impl JobContext {
    pub fn new(job: Job, config: Arc<Config>, worker_id: String) -> Self {
        let attempt = Arc::new(Attempt::new(job.id, job.attempts));
        Self::for_attempt(job, config, worker_id, attempt)
    }

    pub fn for_attempt(
        job: Job,
        config: Arc<Config>,
        worker_id: String,
        attempt: Arc<Attempt>,
    ) -> Self {
        Self {
            job,
            config,
            worker_id,
            work_dir: None,
            attempt,
            events: Mutex::new(Vec::new()),
        }
    }

    /// The tmp copy of the job's files, for modules that read files.
    pub fn files(&self) -> Result<&std::path::Path, JobFailure> {
        self.work_dir
            .as_deref()
            .ok_or_else(|| JobFailure::permanent("the job has no files"))
    }

    /// Err once the job was cancelled (or taken from this worker): long modules call this
    /// between batches, and the error rolls their transaction back.
    pub fn check_cancelled(&self) -> Result<(), JobFailure> {
        if self.attempt.cancel.is_cancelled() {
            Err(JobFailure::permanent("cancelled while running"))
        } else {
            Ok(())
        }
    }

    /// Replaces what the job reports as done so far (`{"bytes_read": …, "rows": …}`); the
    /// heartbeat writes it to the job row within a second or so.
    pub fn progress(&self, progress: serde_json::Value) {
        self.attempt.set_progress(progress);
    }

    /// Adds a step to the job's trail.
    pub fn event(&self, event: NewEvent) {
        let event = event.worker(&self.worker_id);
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }

    /// The events recorded so far, to be written.
    pub fn take_events(&self) -> Vec<NewEvent> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

/// A module's entry point, written as `async fn run(&self, ctx, conn) -> Result<…>`. `conn`
/// is inside the transaction that also marks the job `done`, so a job's rows and its
/// completion commit together (or not at all). The returned JSON is the job's result
/// summary (rows upserted, files skipped, …).
pub trait JobHandler: Send + Sync + 'static {
    fn run(
        &self,
        ctx: &JobContext,
        conn: &mut AsyncPgConnection,
    ) -> impl Future<Output = Result<serde_json::Value, JobFailure>> + Send;
}

pub type HandlerFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, JobFailure>> + Send + 'a>>;

/// The one adapter from a module's `async fn` to what the registry stores.
pub trait DynJobHandler: Send + Sync {
    fn run_boxed<'a>(
        &'a self,
        ctx: &'a JobContext,
        conn: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a>;
}

impl<H: JobHandler> DynJobHandler for H {
    fn run_boxed<'a>(
        &'a self,
        ctx: &'a JobContext,
        conn: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a> {
        Box::pin(self.run(ctx, conn))
    }
}

/// Two modules claimed the same (category, type).
#[derive(Debug, thiserror::Error)]
#[error("a handler for {category}/{job_type} is already registered")]
pub struct DuplicateHandler {
    pub category: String,
    pub job_type: String,
}

/// Handlers keyed by (category, type).
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<(String, String), Arc<dyn DynJobHandler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for `category/job_type`; a second handler for the same pair is refused.
    pub fn register<H: JobHandler>(
        &mut self,
        category: &str,
        job_type: &str,
        handler: H,
    ) -> Result<&mut Self, DuplicateHandler> {
        let key = (category.to_string(), job_type.to_string());
        if self.handlers.contains_key(&key) {
            return Err(DuplicateHandler {
                category: key.0,
                job_type: key.1,
            });
        }
        self.handlers.insert(key, Arc::new(handler));
        Ok(self)
    }

    pub fn get(&self, category: &str, job_type: &str) -> Option<Arc<dyn DynJobHandler>> {
        self.handlers
            .get(&(category.to_string(), job_type.to_string()))
            .cloned()
    }

    /// `category/type` of every registered handler, sorted.
    pub fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .handlers
            .keys()
            .map(|(c, t)| format!("{c}/{t}"))
            .collect();
        types.sort();
        types
    }
}
