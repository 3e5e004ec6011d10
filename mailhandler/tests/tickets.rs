//! Tickets: the files derived from the raw message are written by the ingester; a delivery
//! whose directory never arrived (or was lost) is put back from its ticket once past the
//! grace period (never before); a ticket naming another delivery's directory never takes
//! that delivery's files; a file that is not a ticket is set aside, never deleted.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;

use shared_modules::inbox::ticket;
use shared_modules::mail::{Envelope, accept};
use shared_modules::testing::TestDb;
use std::path::Path;
use std::time::Duration;

fn only_ticket(root: &Path) -> std::path::PathBuf {
    let pending = ticket::pending(root).unwrap();
    assert_eq!(pending.len(), 1);
    pending[0].clone()
}

/// The mailhandler writes the raw message alone; the ingester writes what is derived from
/// it before the job is made, and derives it again without disturbing a job that holds
/// links to the files (a file is replaced, never written into).
#[tokio::test]
async fn the_ingester_derives_the_files_and_replaces_a_damaged_one_without_touching_links() {
    use std::os::unix::fs::MetadataExt;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let mail = sample("system_report.eml");
    let accepted = accept(&cfg, &Envelope::now(&mail, SENDER, RECIPIENT)).unwrap();
    let names: Vec<_> = std::fs::read_dir(&accepted.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        ["message.eml"],
        "the mailhandler writes the raw message only"
    );
    let (ticket, _raw) = ticket::read(&only_ticket(dir.path())).unwrap();

    let outcome = ingest_with_grace(&cfg, Duration::from_secs(60)).await;
    assert_eq!(outcome.created, 1);
    let report = accepted
        .path
        .join("attachments/SystemReport_fryer_grid_20261123.txt");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("Grid Name           : fryer_grid"));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(accepted.path.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["sender"], SENDER);

    // Deriving again changes nothing; a damaged file is replaced by a new one.
    let inode = std::fs::metadata(&report).unwrap().ino();
    shared_modules::mail::derive(&ticket).unwrap();
    assert_eq!(std::fs::metadata(&report).unwrap().ino(), inode);
    let held = dir.path().join("held-by-a-job");
    std::fs::hard_link(&report, &held).unwrap();
    std::fs::write(&report, b"").unwrap(); // what a power cut can leave of an unsynced file
    shared_modules::mail::derive(&ticket).unwrap();
    assert_eq!(std::fs::read_to_string(&report).unwrap(), text);
    assert_ne!(std::fs::metadata(&report).unwrap().ino(), inode);
    assert_eq!(
        std::fs::read(&held).unwrap(),
        b"",
        "the old inode is left alone"
    );
}

#[tokio::test]
async fn a_delivery_whose_directory_never_arrived_is_put_back_from_its_ticket() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let mail = sample("alert.eml");
    let accepted = accept(&cfg, &Envelope::now(&mail, SENDER, RECIPIENT)).unwrap();
    // The crash came between the ticket and the rename (or lost the rename).
    std::fs::remove_dir_all(&accepted.path).unwrap();

    let young = ingest_with_grace(&cfg, Duration::from_secs(60)).await;
    assert_eq!((young.created, young.waiting), (0, 1));
    assert_eq!(
        tickets(dir.path()),
        1,
        "a young ticket may still be mid-rename"
    );

    let old = ingest_with_grace(&cfg, Duration::ZERO).await;
    assert_eq!((old.created, old.restored), (1, 1));
    assert_eq!(tickets(dir.path()), 0);
    let job = job_of(&cfg, RECIPIENT, &mail).await;
    let path = Path::new(job.inbox_path.as_deref().unwrap());
    assert_eq!(path, accepted.path, "put back where the ticket said");
    assert_eq!(std::fs::read(path.join("message.eml")).unwrap(), mail);
    assert!(path.join("body.txt").exists());
}

#[tokio::test]
async fn a_ticket_naming_another_deliverys_directory_never_takes_it() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let first_mail = sample("alert.eml");
    let first = accept(&cfg, &Envelope::now(&first_mail, SENDER, RECIPIENT)).unwrap();
    assert_eq!(
        ingest_with_grace(&cfg, Duration::from_secs(60))
            .await
            .created,
        1
    );

    // A second mail whose rename was lost, its ticket naming the first mail's directory.
    let mut other = sample("alert.eml");
    other.extend_from_slice(b"\r\n");
    let second = accept(&cfg, &Envelope::now(&other, SENDER, RECIPIENT)).unwrap();
    let ticket_path = only_ticket(dir.path());
    let (mut stale, raw) = ticket::read(&ticket_path).unwrap();
    std::fs::remove_dir_all(&second.path).unwrap();
    stale.target = first.path.clone();
    ticket::replace(&ticket_path, &stale, &raw).unwrap();

    let outcome = ingest_with_grace(&cfg, Duration::ZERO).await;
    assert_eq!((outcome.created, outcome.restored), (1, 1));
    assert_eq!(
        std::fs::read(first.path.join("message.eml")).unwrap(),
        first_mail,
        "the first mail's files are untouched"
    );
    let first_job = job_of(&cfg, RECIPIENT, &first_mail).await;
    let second_job = job_of(&cfg, RECIPIENT, &other).await;
    assert_eq!(
        first_job.inbox_path.as_deref(),
        Some(first.path.to_str().unwrap())
    );
    let second_path = Path::new(second_job.inbox_path.as_deref().unwrap());
    assert_ne!(second_path, first.path);
    assert_eq!(
        std::fs::read(second_path.join("message.eml")).unwrap(),
        other
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_ticket_is_set_aside_once_old() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let tickets_dir = dir.path().join(".tickets");
    std::fs::create_dir_all(&tickets_dir).unwrap();
    std::fs::write(tickets_dir.join("0-garbage.ticket"), b"not json\nat all").unwrap();
    let young = ingest_with_grace(&cfg, Duration::from_secs(60)).await;
    assert_eq!((young.unreadable, young.waiting), (0, 1));
    let old = ingest_with_grace(&cfg, Duration::ZERO).await;
    assert_eq!(old.unreadable, 1);
    assert_eq!(tickets(dir.path()), 0);
    assert!(tickets_dir.join("unreadable/0-garbage.ticket").exists());
}
