//! Tickets: how a delivery accepted without a database (the mailhandler) reaches
//! `dataprocessor serve`, which turns it into its job.
//!
//! A ticket is a small JSON file in `<root>/.tickets/`, written durably *before* the
//! delivery's directory is renamed into `inbox/`, and naming that directory. So every
//! directory in the inbox has a ticket or a job, whatever moment a crash picks: a ticket
//! whose directory never arrived (or holds another delivery) is dropped once it is older
//! than the mailhandler's deadline. The inbox is the truth and the job row its index.

use super::{at_path, fsync_dir};
use crate::jobs::NewJob;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const TICKETS_DIR: &str = ".tickets";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// The inbox directory the delivery is renamed to.
    pub target: PathBuf,
    /// The file that must survive a crash (fsynced before the rename) and its SHA-256:
    /// proves that `target` holds this delivery and not another one.
    pub durable_file: String,
    pub durable_sha256: String,
    /// Files derived from the durable one, not fsynced (a crash may lose them): they are
    /// checked, and derived again when damaged, before the job is made.
    pub derived: Vec<DerivedFile>,
    /// The job to create; `inbox_path` is set from `target` when it is made.
    pub job: NewJob,
    pub accepted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DerivedFile {
    pub name: String,
    pub size: u64,
}

pub fn tickets_dir(root: &Path) -> PathBuf {
    root.join(TICKETS_DIR)
}

/// Writes `ticket` at `path` atomically and durably (temporary file, fsync, rename, fsync
/// of the folder): replacing a ticket never leaves a half-written one.
pub fn write(path: &Path, ticket: &Ticket) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec(ticket).map_err(io::Error::other)?;
    let mut file = File::create(&tmp).map_err(|e| at_path(&tmp, e))?;
    file.write_all(&body)?;
    file.sync_all()?;
    fs::rename(&tmp, path).map_err(|e| at_path(path, e))?;
    if let Some(parent) = path.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// The ticket files waiting, oldest first (their names start with the time they were made).
pub fn pending(root: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = tickets_dir(root);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(at_path(&dir, e)),
    };
    let mut tickets: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    tickets.sort();
    Ok(tickets)
}

/// How many tickets wait and how old the oldest is: what `/metrics` and `dpctl` show.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PendingTickets {
    pub count: usize,
    pub oldest_age: Option<Duration>,
}

pub fn pending_summary(root: &Path) -> io::Result<PendingTickets> {
    let tickets = pending(root)?;
    let oldest_age = tickets.iter().filter_map(|path| age(path)).max();
    Ok(PendingTickets {
        count: tickets.len(),
        oldest_age,
    })
}

/// How long ago `path` was last written; None when it is gone.
pub(crate) fn age(path: &Path) -> Option<Duration> {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| t.elapsed().unwrap_or_default())
}

/// Reads a ticket; Err when the file is gone or is not a ticket.
pub fn read(path: &Path) -> io::Result<Ticket> {
    let bytes = fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a ticket: {e}", path.display()),
        )
    })
}
