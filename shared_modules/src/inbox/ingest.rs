//! Turning tickets into jobs, in batches: one transaction per batch, idempotent. A ticket
//! is removed only after its job is committed (or when it proves dead), so a crash at any
//! point leaves it to be ingested again, and the dedupe key makes that harmless.

use super::staging::discard_promoted;
use super::ticket::{self, Ticket, tickets_dir};
use crate::db::DbPool;
use crate::jobs::enqueue;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use sha2::{Digest, Sha256};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Derives a delivery's damaged derived files again from its durable file (for mail:
/// bodies, attachments and meta.json from `message.eml`).
pub type Repair = dyn Fn(&Ticket) -> io::Result<()> + Send + Sync;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Jobs made.
    pub created: usize,
    /// Tickets of a delivery whose job already existed (a redelivery): its directory is
    /// removed unless it is that job's own.
    pub duplicates: usize,
    /// Tickets whose directory never arrived, past the grace period: removed.
    pub dropped: usize,
    /// Tickets still young whose directory is not (yet) there.
    pub waiting: usize,
    /// Deliveries whose derived files were damaged and derived again.
    pub repaired: usize,
}

impl IngestReport {
    /// Whether this pass changed anything (another pass may find more).
    pub fn acted(&self) -> bool {
        self.created + self.duplicates + self.dropped > 0
    }
}

/// A ticket whose directory is there and holds its delivery.
struct Ready {
    ticket_path: PathBuf,
    ticket: Ticket,
}

/// Ingests up to `limit` tickets, oldest first. `grace` must exceed the mailhandler's
/// deadline: a younger ticket without its directory may still be in the middle of its
/// rename.
pub async fn ingest_tickets(
    conn: &mut AsyncPgConnection,
    root: &Path,
    grace: Duration,
    limit: usize,
    repair: &Repair,
) -> anyhow::Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut ready = Vec::new();
    for ticket_path in ticket::pending(root)?.into_iter().take(limit) {
        match check(&ticket_path, repair, &mut report) {
            Some(entry) => ready.push(entry),
            None if ticket::age(&ticket_path).is_some_and(|age| age > grace) => {
                tracing::warn!(ticket = %ticket_path.display(), "dropping a ticket whose delivery never reached the inbox");
                let _ = fs::remove_file(&ticket_path);
                report.dropped += 1;
            }
            None => report.waiting += 1,
        }
    }
    if ready.is_empty() {
        return Ok(report);
    }
    let outcomes = conn
        .transaction::<_, diesel::result::Error, _>(|tx| {
            let ready = &ready;
            async move {
                let mut outcomes = Vec::with_capacity(ready.len());
                for entry in ready {
                    let mut job = entry.ticket.job.clone();
                    job.inbox_path = Some(entry.ticket.target.to_string_lossy().to_string());
                    let enqueued = enqueue(tx, &job).await?;
                    outcomes.push((enqueued.created, enqueued.job.inbox_path));
                }
                Ok(outcomes)
            }
            .scope_boxed()
        })
        .await?;
    for (entry, (created, job_path)) in ready.iter().zip(outcomes) {
        if created {
            report.created += 1;
        } else {
            report.duplicates += 1;
            let owned = job_path.is_some_and(|p| Path::new(&p) == entry.ticket.target);
            if !owned {
                discard_promoted(root, &entry.ticket.target);
            }
        }
        let _ = fs::remove_file(&entry.ticket_path);
    }
    Ok(report)
}

/// The ticket, when its directory is in the inbox and holds this delivery (its durable
/// file has the recorded hash), its derived files repaired if need be.
fn check(ticket_path: &Path, repair: &Repair, report: &mut IngestReport) -> Option<Ready> {
    let ticket = match ticket::read(ticket_path) {
        Ok(ticket) => ticket,
        Err(e) => {
            tracing::debug!(error = %e, "unreadable ticket");
            return None;
        }
    };
    let durable = fs::read(ticket.target.join(&ticket.durable_file)).ok()?;
    if hex::encode(Sha256::digest(&durable)) != ticket.durable_sha256 {
        return None;
    }
    if damaged(&ticket) {
        match repair(&ticket) {
            Ok(()) => {
                tracing::warn!(path = %ticket.target.display(), "derived files of a delivery were damaged (a crash?); derived them again");
                report.repaired += 1;
            }
            Err(e) => {
                tracing::error!(path = %ticket.target.display(), error = %e, "cannot derive a delivery's files again; its job will see what is there");
            }
        }
    }
    Some(Ready {
        ticket_path: ticket_path.to_path_buf(),
        ticket,
    })
}

fn damaged(ticket: &Ticket) -> bool {
    ticket.derived.iter().any(|file| {
        fs::metadata(ticket.target.join(&file.name))
            .map(|m| m.len() != file.size)
            .unwrap_or(true)
    })
}

/// How many tickets one transaction takes at most.
const BATCH: usize = 500;
/// Scan interval: the file-system watch makes ingestion immediate; the scan catches what a
/// watch cannot see (tickets left from before a restart, a watch that failed).
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Runs ingestion whenever a ticket arrives in `.tickets/` (inotify) and at least every
/// second, until `stop`.
pub fn spawn_ticket_ingester(
    pool: DbPool,
    root: PathBuf,
    grace: Duration,
    repair: Arc<Repair>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let watch = watch_tickets(&tickets_dir(&root), arrived.clone(), stop.clone());
        if let Err(e) = &watch {
            tracing::warn!(error = %e, "cannot watch the ticket folder; scanning every second only");
        }
        let mut failing = false;
        loop {
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match ingest_all(&pool, &root, grace, repair.as_ref()).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("ingesting tickets again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot turn tickets into jobs yet; they wait on disk");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut notified => {}
                _ = tokio::time::sleep(SCAN_EVERY) => {}
            }
        }
    })
}

/// Ingests batches until a pass finds nothing more to do.
async fn ingest_all(
    pool: &DbPool,
    root: &Path,
    grace: Duration,
    repair: &Repair,
) -> Result<(), String> {
    loop {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        let report = ingest_tickets(&mut conn, root, grace, BATCH, repair)
            .await
            .map_err(|e| e.to_string())?;
        if report.created + report.duplicates > 0 {
            tracing::debug!(?report, "tickets ingested");
        }
        if !report.acted() {
            return Ok(());
        }
    }
}

/// Wakes `arrived` whenever a file is renamed into or written in `dir`. A thread blocks on
/// the inotify descriptor; it ends at the first event after `stop`.
fn watch_tickets(
    dir: &Path,
    arrived: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) -> io::Result<()> {
    use rustix::fs::inotify;
    fs::create_dir_all(dir)?;
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::CLOSE_WRITE,
    )?;
    std::thread::Builder::new()
        .name("ticket-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.is_cancelled() {
                match rustix::io::read(&fd, &mut buf) {
                    Ok(_) => arrived.notify_one(),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "the ticket watch failed; scanning every second only");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}
