//! What a parsing module implements, and the registry the worker dispatches through.

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
    /// The attempt's event trail, written with its outcome (one statement, in the same
    /// transaction as `done`, or with the failure).
    events: Mutex<Vec<NewEvent>>,
}

impl JobContext {
    pub fn new(job: Job, config: Arc<Config>, worker_id: String) -> Self {
        Self {
            job,
            config,
            worker_id,
            work_dir: None,
            events: Mutex::new(Vec::new()),
        }
    }

    /// The tmp copy of the job's files, for modules that read files.
    pub fn files(&self) -> Result<&std::path::Path, JobFailure> {
        self.work_dir
            .as_deref()
            .ok_or_else(|| JobFailure::permanent("the job has no files"))
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

pub type HandlerFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, JobFailure>> + Send + 'a>>;

/// A module's entry point. `conn` is inside the transaction that also marks the job `done`,
/// so a job's rows and its completion commit together (or not at all). The returned JSON is
/// the job's result summary (rows upserted, files skipped, …).
pub trait JobHandler: Send + Sync {
    fn run<'a>(&'a self, ctx: &'a JobContext, conn: &'a mut AsyncPgConnection)
    -> HandlerFuture<'a>;
}

/// Handlers keyed by (category, type).
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<(String, String), Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(
        &mut self,
        category: &str,
        job_type: &str,
        handler: Arc<dyn JobHandler>,
    ) -> &mut Self {
        self.handlers
            .insert((category.to_string(), job_type.to_string()), handler);
        self
    }

    pub fn get(&self, category: &str, job_type: &str) -> Option<Arc<dyn JobHandler>> {
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
