//! Tickets: how a delivery accepted without a database (the mailhandler) reaches
//! `dataprocessor serve`, which turns it into its job.
//!
//! A ticket is one file in `<root>/.tickets/`: a JSON header line (the job to make, the
//! inbox directory, the raw bytes' SHA-256), then the raw bytes themselves. It is the
//! delivery's commit point: written and fsynced (with its directory entry) *before* the
//! delivery's directory is renamed into `inbox/`, it alone holds everything that must
//! survive. The inbox directory is derived from it: if a crash loses the rename or the
//! unsynced files, the ingester puts them back from the ticket. Only one fsync'd file per
//! mail, and no ticket is ever dropped: the inbox is the truth and the job row its index.

use super::{at_path, fsync_dir};
use crate::jobs::NewJob;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const TICKETS_DIR: &str = ".tickets";
/// The extension of a complete ticket (a replacement is written as `.tmp` first).
const EXTENSION: &str = "ticket";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// The inbox directory the delivery is renamed to.
    pub target: PathBuf,
    /// The name the raw bytes have in `target`, and their SHA-256: proves that `target`
    /// holds this delivery and not another one. The files derived from them (for mail:
    /// bodies, attachments, meta.json) are written by the ingester.
    pub durable_file: String,
    pub durable_sha256: String,
    /// The job to create; `inbox_path` is set from `target` when it is made.
    pub job: NewJob,
    pub accepted_at: DateTime<Utc>,
}

pub fn tickets_dir(root: &Path) -> PathBuf {
    root.join(TICKETS_DIR)
}

/// The path of a new ticket named `name` (unique, time first: tickets sort oldest first).
pub fn path_for(root: &Path, name: &str) -> PathBuf {
    tickets_dir(root).join(format!("{name}.{EXTENSION}"))
}

fn encode(ticket: &Ticket, raw: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = serde_json::to_vec(ticket).map_err(io::Error::other)?;
    body.push(b'\n');
    body.extend_from_slice(raw);
    Ok(body)
}

/// Writes a new ticket and makes it durable: the file, then its directory entry. Never
/// replaces a ticket (`create_new`).
/// On failure (a full disk) nothing is left behind.
pub fn write_new(path: &Path, ticket: &Ticket, raw: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| at_path(path, e))?;
    let written = encode(ticket, raw)
        .and_then(|body| file.write_all(&body))
        .and_then(|()| file.sync_all())
        .and_then(|()| path.parent().map_or(Ok(()), fsync_dir));
    if written.is_err() {
        let _ = fs::remove_file(path);
    }
    written.map_err(|e| at_path(path, e))
}

/// Replaces a ticket atomically and durably (temporary file, fsync, rename, fsync of the
/// folder): never a half-written ticket.
pub fn replace(path: &Path, ticket: &Ticket, raw: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| at_path(&tmp, e))?;
    let written = encode(ticket, raw)
        .and_then(|body| file.write_all(&body))
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(|e| at_path(&tmp, e))?;
    path.parent().map_or(Ok(()), fsync_dir)
}

/// The ticket files waiting, oldest first.
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
        .filter(|path| path.extension().is_some_and(|ext| ext == EXTENSION))
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
    Ok(summarize(&pending(root)?))
}

/// How many of `tickets` there are and how old the oldest is.
pub fn summarize(tickets: &[PathBuf]) -> PendingTickets {
    PendingTickets {
        count: tickets.len(),
        oldest_age: tickets.iter().filter_map(|path| age(path)).max(),
    }
}

/// How long ago `path` was last written; None when it is gone.
pub(crate) fn age(path: &Path) -> Option<Duration> {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| t.elapsed().unwrap_or_default())
}

fn not_a_ticket(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: not a ticket: {why}", path.display()),
    )
}

/// Reads a ticket's header only (what `dpctl mail pending` lists).
pub fn read_header(path: &Path) -> io::Result<Ticket> {
    let mut header = Vec::new();
    io::BufReader::new(File::open(path)?).read_until(b'\n', &mut header)?;
    serde_json::from_slice(&header).map_err(|e| not_a_ticket(path, e))
}

/// Reads a whole ticket: its header and the raw bytes; Err when the file is gone or is
/// not a ticket.
pub fn read(path: &Path) -> io::Result<(Ticket, Vec<u8>)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let split = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| not_a_ticket(path, "no header line"))?;
    let ticket = serde_json::from_slice(&bytes[..split]).map_err(|e| not_a_ticket(path, e))?;
    let raw = bytes.split_off(split + 1);
    Ok((ticket, raw))
}
