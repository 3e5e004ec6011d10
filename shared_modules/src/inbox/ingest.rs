//! Turning tickets into jobs, in batches: one transaction per batch, idempotent. Before its
//! job is made, a delivery's derived files are written (the mailhandler writes only the raw
//! message: fewer files and less work in the process Postfix waits for); while they cannot
//! be (a full disk), the ticket waits, as it does while the database is away. A ticket is
//! removed only after its job is committed, so a crash at any point leaves it to be
//! ingested again, and the dedupe key makes that harmless. No ticket is ever dropped.

use super::staging::{Staging, discard_promoted};
use super::ticket::{self, Ticket, tickets_dir};
use crate::db::{DbPool, advisory};
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

/// Writes the files of a delivery derived from its durable file (for mail: bodies,
/// attachments and meta.json from `message.eml`) and returns the job's metadata completed
/// with what they showed. Must be idempotent, must replace a file (new inode) rather than
/// write into it (a running job may hold links to it), and must leave nothing half-written
/// when it fails: its ticket waits and it is called again later.
pub type Derive = dyn Fn(&Ticket) -> io::Result<serde_json::Value> + Send + Sync;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Jobs made.
    pub created: usize,
    /// Tickets of a delivery whose job already existed (a redelivery): its directory is
    /// removed unless it is that job's own.
    pub duplicates: usize,
    /// Deliveries whose directory never reached the inbox (a crash before or during the
    /// rename), put there from their ticket once past the grace period.
    pub restored: usize,
    /// Tickets still young whose directory is not (yet) there.
    pub waiting: usize,
    /// Files in `.tickets/` that are not tickets, past the grace period: moved aside to
    /// `.tickets/unreadable/` for an operator (never deleted).
    pub unreadable: usize,
    /// Tickets whose delivery could not be written (its derived files, or its directory put
    /// back): they wait for the next pass. A full disk ends the pass at the first one.
    pub stuck: usize,
    /// Why the first of them could not be written.
    pub stuck_error: Option<String>,
}

impl IngestReport {
    /// Whether this pass changed anything (another pass may find more).
    pub fn acted(&self) -> bool {
        self.created + self.duplicates + self.unreadable > 0
    }
}

/// A ticket whose directory is there and holds its delivery.
struct Ready {
    ticket_path: PathBuf,
    ticket: Ticket,
}

enum Checked {
    Ready(Box<Ready>),
    /// Young, and its directory not (yet) there: the mailhandler may be mid-rename.
    Waiting,
    Unreadable,
    /// Its delivery could not be written (a full disk, an I/O error): it waits.
    Stuck(io::Error),
}

/// No room left: every other ticket of the pass would fail the same way.
fn out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Ingests up to `limit` tickets, oldest first: writes each delivery's derived files (and
/// puts back a directory a crash lost), makes everything durable with one `syncfs`, makes
/// the jobs in one transaction, then removes the tickets. `grace` must exceed the
/// mailhandler's deadline.
pub async fn ingest_tickets(
    conn: &mut AsyncPgConnection,
    root: &Path,
    grace: Duration,
    limit: usize,
    derive: &Derive,
) -> anyhow::Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut ready = Vec::new();
    for ticket_path in ticket::pending(root)?.into_iter().take(limit) {
        let old = ticket::age(&ticket_path).is_some_and(|age| age > grace);
        match check(root, &ticket_path, old, derive, &mut report) {
            Checked::Ready(entry) => ready.push(*entry),
            Checked::Waiting => report.waiting += 1,
            Checked::Unreadable if old => {
                set_aside(root, &ticket_path);
                report.unreadable += 1;
            }
            Checked::Unreadable => report.waiting += 1,
            Checked::Stuck(e) => {
                tracing::debug!(ticket = %ticket_path.display(), error = %e, "a delivery cannot be written yet; its ticket waits");
                report.stuck += 1;
                report.stuck_error.get_or_insert_with(|| e.to_string());
                if out_of_space(&e) {
                    break;
                }
            }
        }
    }
    if ready.is_empty() {
        return Ok(report);
    }
    // The directories and derived files a job row will name are durable before the row is.
    let root_dir = fs::File::open(root)?;
    rustix::fs::syncfs(&root_dir)?;
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

/// The ticket, ready when its directory is in the inbox and holds this delivery (the raw
/// bytes' hash) or, past the grace period, once its directory is put back from the
/// ticket, and its derived files are written; stuck while either cannot be written.
fn check(
    root: &Path,
    ticket_path: &Path,
    old: bool,
    derive: &Derive,
    report: &mut IngestReport,
) -> Checked {
    let (mut ticket, raw) = match ticket::read(ticket_path) {
        Ok(read) => read,
        Err(e) => {
            tracing::debug!(error = %e, "unreadable ticket");
            return Checked::Unreadable;
        }
    };
    let there = fs::read(ticket.target.join(&ticket.durable_file))
        .is_ok_and(|bytes| hex::encode(Sha256::digest(&bytes)) == ticket.durable_sha256);
    if !there {
        if !old {
            return Checked::Waiting;
        }
        match restore(root, ticket_path, &mut ticket, &raw) {
            Ok(()) => report.restored += 1,
            Err(e) => return Checked::Stuck(e),
        }
    }
    // A job made without its derived files would fail for want of them (a mail "without
    // a body"): the ticket waits until they can be written.
    match derive(&ticket) {
        Ok(metadata) => ticket.job.metadata = metadata,
        Err(e) => return Checked::Stuck(e),
    }
    Checked::Ready(Box::new(Ready {
        ticket_path: ticket_path.to_path_buf(),
        ticket,
    }))
}

/// Puts a delivery whose directory a crash lost (or never got) into the inbox from its
/// ticket, at its name or the next free one, and makes the ticket name it.
fn restore(root: &Path, ticket_path: &Path, ticket: &mut Ticket, raw: &[u8]) -> io::Result<()> {
    let parent = ticket
        .target
        .parent()
        .ok_or_else(|| io::Error::other("the ticket names no inbox directory"))?
        .to_path_buf();
    let base = ticket
        .target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let staging = Staging::new(root)?;
    staging.write_file(&ticket.durable_file, raw)?;
    ticket.target = staging.promote_named(&parent, &base)?;
    tracing::warn!(path = %ticket.target.display(), "put a delivery back into the inbox from its ticket (its directory was lost or never arrived)");
    ticket::replace(ticket_path, ticket, raw)
}

/// Moves a file that is not a ticket out of the way, for an operator to look at.
fn set_aside(root: &Path, path: &Path) {
    let dir = tickets_dir(root).join("unreadable");
    let moved = fs::create_dir_all(&dir)
        .and_then(|()| fs::rename(path, dir.join(path.file_name().unwrap_or_default())));
    match moved {
        Ok(()) => {
            tracing::error!(file = %path.display(), "a file in the ticket folder is not a ticket; moved to .tickets/unreadable/")
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot move an unreadable ticket aside")
        }
    }
}

/// How many tickets one transaction takes at most.
const BATCH: usize = 500;
/// Scan interval: the file-system watch makes ingestion immediate; the scan catches what a
/// watch cannot see (tickets left from before a restart, a watch that failed).
const SCAN_EVERY: Duration = Duration::from_secs(1);
/// How long a ticket's arrival waits for others before its batch is made.
const GATHER: Duration = Duration::from_millis(20);
/// The first look again at tickets waiting for their directory.
const RECHECK_FIRST: Duration = Duration::from_millis(2);

/// Runs ingestion whenever a ticket arrives in `.tickets/` (inotify) and at least every
/// second, until `stop`.
pub fn spawn_ticket_ingester(
    pool: DbPool,
    root: PathBuf,
    grace: Duration,
    derive: Arc<Derive>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let watch = watch_tickets(&tickets_dir(&root), arrived.clone(), stop.clone());
        if let Err(e) = &watch {
            tracing::warn!(error = %e, "cannot watch the ticket folder; scanning every second only");
        }
        let mut failing = false;
        let mut stuck = false;
        // A ticket arrives just before its directory is renamed into the inbox (no event
        // for that): while tickets wait, look again soon, backing off to the scan interval.
        let mut backoff = RECHECK_FIRST;
        loop {
            let mut wait = SCAN_EVERY;
            let notified = arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match ingest_all(&pool, &root, grace, derive.as_ref()).await {
                Ok(report) => {
                    if failing {
                        failing = false;
                        tracing::info!("ingesting tickets again");
                    }
                    log_stuck(&mut stuck, &report);
                    let waiting = report.waiting + report.stuck;
                    if waiting == 0 {
                        backoff = RECHECK_FIRST;
                    } else {
                        wait = backoff;
                        backoff = (backoff * 2).min(SCAN_EVERY);
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot turn tickets into jobs yet; they wait on disk");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut notified => {
                    // Let the tickets arriving meanwhile join this batch: one syncfs and one
                    // commit for several mails rather than one each.
                    tokio::time::sleep(GATHER).await;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Says once when deliveries start to wait for their files to be written (a full disk), and
/// once when they no longer do.
fn log_stuck(stuck: &mut bool, report: &IngestReport) {
    match (*stuck, report.stuck > 0) {
        (false, true) => {
            *stuck = true;
            let error = report.stuck_error.as_deref().unwrap_or("unknown");
            tracing::warn!(tickets = report.stuck, %error, "cannot write the files of accepted mail (is the disk full?); their tickets wait and are tried again every second");
        }
        (true, false) => {
            *stuck = false;
            tracing::info!("the files of accepted mail can be written again");
        }
        _ => {}
    }
}

/// Ingests batches until a pass finds nothing more to do; returns that last pass's report
/// (the tickets still waiting).
/// Ingests until a pass finds nothing more. One node at a time: with several nodes on one
/// shared volume every node sees every ticket, and each would derive its files and try its
/// job (the dedupe key keeps one job, but the work would be done once per node). A node
/// that finds another ingesting leaves the tickets to it (its next pass, at the latest its
/// periodic scan, takes what arrives meanwhile).
async fn ingest_all(
    pool: &DbPool,
    root: &Path,
    grace: Duration,
    derive: &Derive,
) -> Result<IngestReport, String> {
    let mut fence = pool.get().await.map_err(|e| e.to_string())?;
    let key = advisory::lock_key("ticket ingest");
    if !advisory::try_lock(&mut fence, key).await {
        return Ok(IngestReport::default());
    }
    let outcome = ingest_until_done(pool, root, grace, derive).await;
    advisory::unlock(fence, key).await;
    outcome
}

async fn ingest_until_done(
    pool: &DbPool,
    root: &Path,
    grace: Duration,
    derive: &Derive,
) -> Result<IngestReport, String> {
    loop {
        let mut conn = pool.get().await.map_err(|e| e.to_string())?;
        let report = ingest_tickets(&mut conn, root, grace, BATCH, derive)
            .await
            .map_err(|e| e.to_string())?;
        if report.created + report.duplicates > 0 {
            tracing::debug!(?report, "tickets ingested");
        }
        if !report.acted() {
            return Ok(report);
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
