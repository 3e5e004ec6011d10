//! The one way a delivery enters the inbox, for mail and uploads alike: its files are
//! staged, then it is either announced by a ticket (the mailhandler, no database) or
//! committed with its job row (the upload API, an operator's release).

use super::commit::{Commit, Insert, commit_job_as};
use super::staging::Staging;
use super::ticket::Ticket;
use crate::config::Config;
use crate::jobs::{JobSource, JobState, NewJob, job_for_key};
use crate::paths::JobLocation;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use sha2::{Digest, Sha256};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The job a delivery gets, with the config's attempt and timeout limits.
pub fn new_job(
    config: &Config,
    source: JobSource,
    location: &JobLocation,
    state: JobState,
    error: Option<String>,
) -> NewJob {
    NewJob {
        source,
        customer: location.customer.clone(),
        category: location.category.clone(),
        job_type: location.job_type.clone(),
        job_group: location.group.clone(),
        state,
        inbox_path: None,
        metadata: serde_json::json!({}),
        dedupe_key: None,
        max_attempts: i32::try_from(config.jobs.max_attempts).unwrap_or(i32::MAX),
        timeout_seconds: i32::try_from(config.jobs.timeout_seconds).unwrap_or(i32::MAX),
        error,
    }
}

/// A delivery being staged: its files go into `staging()`, then `ticket` or `commit`.
pub struct Intake<'a> {
    config: &'a Config,
    staging: Staging,
    job: NewJob,
    /// The inbox folder its `<datetime>` directory goes into.
    parent: PathBuf,
    received_at: DateTime<Utc>,
}

impl<'a> Intake<'a> {
    /// `job` carries the dedupe key and the metadata, which is also written as `meta.json`.
    pub fn stage(
        config: &'a Config,
        job: NewJob,
        parent: PathBuf,
        received_at: DateTime<Utc>,
    ) -> io::Result<Self> {
        Ok(Self {
            config,
            staging: Staging::new(&config.paths.root)?,
            job,
            parent,
            received_at,
        })
    }

    pub fn staging(&self) -> &Staging {
        &self.staging
    }

    /// What the job (and `meta.json`) records about the delivery, when known only once
    /// its files are written (an upload's size).
    pub fn set_metadata(&mut self, metadata: serde_json::Value) {
        self.job.metadata = metadata;
    }

    /// Writes the job's metadata as `meta.json` (what the modules read).
    pub fn write_meta(&self) -> io::Result<()> {
        let text = serde_json::to_string_pretty(&self.job.metadata).unwrap_or_default();
        self.staging.write_file("meta.json", text.as_bytes())?;
        Ok(())
    }

    /// Without a database: the delivery goes into the inbox announced by a ticket that
    /// holds `raw` (its commit point), and `dataprocessor serve` derives its other files and
    /// makes its job. `raw` must already be written in the staging directory as `name`.
    pub fn ticket(self, name: &str, raw: &[u8]) -> io::Result<PathBuf> {
        let ticket = Ticket {
            target: PathBuf::new(),
            durable_file: name.into(),
            durable_sha256: hex::encode(Sha256::digest(raw)),
            job: self.job,
            accepted_at: Utc::now(),
        };
        self.staging
            .promote_ticketed(&self.parent, self.received_at, ticket, raw)
    }

    /// With a database: every file is fsynced, the directory moves into the inbox and the
    /// job row is committed; if the commit's outcome is unknown, it is asked on a fresh
    /// connection (and left to the sweeper when even that cannot say).
    pub async fn commit(
        self,
        conn: &mut AsyncPgConnection,
        insert: Insert,
    ) -> Result<Commit, IntakeError> {
        let key = self.job.dedupe_key.clone().unwrap_or_default();
        let promoted = self.staging.promote(&self.parent, self.received_at, &key)?;
        let config = self.config;
        let confirm = async |key: &str| committed_path(config, key).await;
        Ok(commit_job_as(
            conn,
            &config.paths.root,
            promoted,
            self.job,
            insert,
            confirm,
        )
        .await?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("cannot store the delivery: {0}")]
    Storage(#[from] io::Error),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

/// The job (id, inbox path) committed under `key`, asked on a new connection; Err when the
/// database cannot say.
async fn committed_path(
    config: &Config,
    key: &str,
) -> Result<Option<(i64, Option<String>)>, String> {
    let timeout = Duration::from_secs(config.database.connect_timeout_seconds);
    let mut conn =
        tokio::time::timeout(timeout, AsyncPgConnection::establish(&config.database.url))
            .await
            .map_err(|_| "no connection to confirm the commit".to_string())?
            .map_err(|e| e.to_string())?;
    Ok(job_for_key(&mut conn, key)
        .await
        .map_err(|e| e.to_string())?
        .map(|(id, _, path)| (id, path)))
}
