//! Tickets after a crash: what the mailhandler did not fsync is derived again, a ticket whose
//! directory never arrived is dropped once it is past the grace period (never before), and a
//! ticket naming another delivery's directory never takes that delivery's files.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mailhandler::accept;
use shared_modules::inbox::{IngestReport, ingest_tickets, ticket};
use shared_modules::testing::TestDb;
use std::path::Path;
use std::time::Duration;

async fn ingest_with_grace(cfg: &shared_modules::config::Config, grace: Duration) -> IngestReport {
    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    ingest_tickets(
        &mut conn,
        &cfg.paths.root,
        grace,
        100,
        &mailhandler::rederive,
    )
    .await
    .unwrap()
}

fn only_ticket(root: &Path) -> std::path::PathBuf {
    let pending = ticket::pending(root).unwrap();
    assert_eq!(pending.len(), 1);
    pending[0].clone()
}

#[tokio::test]
async fn derived_files_lost_in_a_crash_are_derived_again_before_the_job_is_made() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let mail = sample("system_report.eml");
    let accepted = accept(&cfg, &mail, SENDER, RECIPIENT, chrono::Utc::now()).unwrap();
    let report = accepted
        .path
        .join("attachments/SystemReport_fryer_grid_20261123.txt");
    let original_report = std::fs::read(&report).unwrap();
    let original_meta = std::fs::read(accepted.path.join("meta.json")).unwrap();
    // What a power cut can leave of files written but never fsynced.
    std::fs::write(&report, b"").unwrap();
    std::fs::remove_file(accepted.path.join("meta.json")).unwrap();

    let outcome = ingest_with_grace(&cfg, Duration::from_secs(60)).await;
    assert_eq!((outcome.created, outcome.repaired), (1, 1));
    assert_eq!(std::fs::read(&report).unwrap(), original_report);
    assert_eq!(
        std::fs::read(accepted.path.join("meta.json")).unwrap(),
        original_meta
    );
}

#[tokio::test]
async fn a_ticket_whose_directory_never_arrived_waits_out_the_grace_then_is_dropped() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let mail = sample("alert.eml");
    let accepted = accept(&cfg, &mail, SENDER, RECIPIENT, chrono::Utc::now()).unwrap();
    // The crash came between the ticket and the rename: the directory is not in the inbox.
    std::fs::remove_dir_all(&accepted.path).unwrap();

    let young = ingest_with_grace(&cfg, Duration::from_secs(60)).await;
    assert_eq!((young.created, young.waiting, young.dropped), (0, 1, 0));
    assert_eq!(
        tickets(dir.path()),
        1,
        "a young ticket may still be mid-rename"
    );

    let old = ingest_with_grace(&cfg, Duration::ZERO).await;
    assert_eq!((old.created, old.dropped), (0, 1));
    assert_eq!(tickets(dir.path()), 0);
}

#[tokio::test]
async fn a_ticket_naming_another_deliverys_directory_never_takes_it() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let first = accept(
        &cfg,
        &sample("alert.eml"),
        SENDER,
        RECIPIENT,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(
        ingest_with_grace(&cfg, Duration::from_secs(60))
            .await
            .created,
        1
    );

    // A second mail whose mailhandler died after writing its ticket for a name the first
    // mail holds (it would have tried `_2` next).
    let mut other = sample("alert.eml");
    other.extend_from_slice(b"\r\n");
    let second = accept(&cfg, &other, SENDER, RECIPIENT, chrono::Utc::now()).unwrap();
    let ticket_path = only_ticket(dir.path());
    let mut stale = ticket::read(&ticket_path).unwrap();
    std::fs::remove_dir_all(&second.path).unwrap();
    stale.target = first.path.clone();
    ticket::write(&ticket_path, &stale).unwrap();

    let outcome = ingest_with_grace(&cfg, Duration::ZERO).await;
    assert_eq!(
        (outcome.created, outcome.duplicates, outcome.dropped),
        (0, 0, 1)
    );
    assert!(
        first.path.join("message.eml").exists(),
        "the first mail's files are untouched"
    );
    assert_eq!(
        job_of(&cfg, RECIPIENT, &sample("alert.eml"))
            .await
            .inbox_path
            .as_deref(),
        Some(first.path.to_str().unwrap())
    );
}
