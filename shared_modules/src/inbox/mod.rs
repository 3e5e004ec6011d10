//! Putting a delivery into `inbox/` durably and atomically.
//!
//! A delivery is written into `<root>/.staging/<unique>/`, every file and the directory are
//! fsynced, then the directory is renamed (`RENAME_NOREPLACE`) into
//! `inbox/<customer>/<category>/<type>/<group>/<YYYYMMDD_HHMMSS>[_n]/`. Readers see all of it
//! or nothing. Between that rename and the job row's commit, an intent file in
//! `<root>/.pending/` names the directory; `sweep` removes directories whose job never
//! committed (the sender, e.g. Postfix, still has the mail and delivers it again).
//!
//! The mailhandler has no database: its delivery is announced by a ticket (`ticket`), which
//! holds the raw message and is its commit point, and which `dataprocessor serve` turns
//! into the job (`ingest`), in batches, once it has written the files derived from the raw
//! message (for mail, `crate::mail::derive`). `intake` is the one way in for mail and
//! uploads.

mod commit;
mod ingest;
mod intake;
mod staging;
mod sweep;
pub mod ticket;

pub use commit::{Commit, Insert, commit_job_as};
pub use ingest::{Derive, IngestReport, ingest_tickets, spawn_ticket_ingester};
pub use intake::{Intake, IntakeError, new_job};
pub use staging::{Promoted, Staging, discard_promoted, fsync_dir, unique_name};
#[cfg(feature = "object-store")]
pub(crate) use sweep::older_than;
pub use sweep::{SweepReport, spawn_sweeper, sweep};
pub use ticket::{PendingTickets, Ticket, pending_summary};

use std::path::{Path, PathBuf};

pub const STAGING_DIR: &str = ".staging";
pub const PENDING_DIR: &str = ".pending";
/// Under `inbox/`: mail that matched no rule or came from a sender not allowed. Starts with
/// `_`, so it can never be a customer's name.
pub const QUARANTINE_DIR: &str = "_quarantine";

pub fn quarantine_root(root: &Path) -> PathBuf {
    crate::paths::inbox_root(root).join(QUARANTINE_DIR)
}

/// An I/O error with the path it concerns and the user the process runs as: "Permission
/// denied" alone does not tell an operator what to fix.
pub(crate) fn at_path(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("{}: {e} (running as {})", path.display(), current_user()),
    )
}

/// `name (uid N)` of the effective user (`/proc/self` belongs to it).
pub fn current_user() -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "an unknown user".into();
    };
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
        });
    match name {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}
