//! A full disk after the mail was accepted (issue 21, item 2): the files derived from
//! `message.eml` cannot be written, so its ticket waits (as when the database is away)
//! instead of becoming a job that fails for want of a body; nothing half-written stays; once
//! there is room, the jobs are made and done. And a job whose derived files are missing or
//! partial (made before this was fixed) gets them again from `message.eml` before its module
//! runs, so a retry succeeds.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use shared_modules::jobs::{JobState, job_for_key};
use shared_modules::mail::Envelope;
use shared_modules::testing::{SmallDisk, TestDb, start_workers, wait_job_state};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The alert sample made unique by a header of its own (a different dedupe key each).
fn alert(n: usize) -> Vec<u8> {
    let mut mail = format!("X-Test-Sequence: {n}\r\n").into_bytes();
    mail.extend(sample("alert.eml"));
    mail
}

/// Writes into `path` until the file system is full; returns how much it took.
fn fill(path: &Path) -> usize {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![b'f'; 4096];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
                break;
            }
        }
    }
    written
}

/// Every file under `dir` whose name ends in `.partial`.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".partial") {
                found.push(path);
            }
        }
    }
    found
}

async fn job_states(cfg: &shared_modules::config::Config, mails: &[Vec<u8>]) -> Vec<JobState> {
    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let mut states = Vec::new();
    for mail in mails {
        let key = shared_modules::mail::dedupe_key(RECIPIENT, mail);
        if let Some((_, state, _)) = job_for_key(&mut conn, &key).await.unwrap() {
            states.push(state);
        }
    }
    states
}

/// 30 mails accepted (exit 0), then the disk fills before serve derives their files: the
/// tickets all stay, no job is made (none in `error`), no `.partial` file is left, also with
/// serve's ingester running. With room again the ingester makes the 30 jobs by itself and
/// the workers finish them.
#[tokio::test]
async fn a_full_disk_keeps_the_tickets_until_the_derived_files_can_be_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let _small_disk = SmallDisk::mount(&small, "2m");
    let root = small.join("mailbox");
    let mut cfg = config(&db.url, &root);
    cfg.logging.directory = None;
    let config_path = write_config(dir.path(), &cfg);
    let mails: Vec<Vec<u8>> = (0..30).map(alert).collect();
    for mail in &mails {
        let out = run(&config_path, SENDER, RECIPIENT, mail);
        assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    }
    assert_eq!(tickets(&root), 30);
    let filler = small.join("filler");
    assert!(fill(&filler) > 0);

    let report = ingest(&cfg).await;
    assert_eq!(report.created, 0, "{report:?}");
    assert_eq!(tickets(&root), 30, "every ticket waits for room");
    assert_eq!(
        job_states(&cfg, &mails).await,
        Vec::<JobState>::new(),
        "no job made"
    );
    let partial = partial_files(&root);
    assert!(partial.is_empty(), "half-written files left: {partial:?}");
    // Another pass on a disk still full changes nothing.
    assert_eq!(ingest(&cfg).await.created, 0);
    assert_eq!(tickets(&root), 30);

    // serve's ingester and workers, started while the disk is still full: nothing moves…
    let pool = db.pool();
    let workers = start_workers(&cfg, &pool, modules::registry(), false);
    let _ingester = shared_modules::inbox::spawn_ticket_ingester(
        pool.clone(),
        root.clone(),
        Duration::from_secs(60),
        std::sync::Arc::new(shared_modules::mail::derive),
        workers.stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(tickets(&root), 30);
    assert_eq!(job_states(&cfg, &mails).await, Vec::<JobState>::new());
    assert!(partial_files(&root).is_empty());
    // …until there is room: the ingester tries again by itself.
    std::fs::remove_file(&filler).unwrap();
    shared_modules::testing::wait_for("30 jobs done", Duration::from_secs(60), || async {
        let states = job_states(&cfg, &mails).await;
        assert!(
            !states.contains(&JobState::Error),
            "a job failed: {states:?}"
        );
        (states.len() == 30 && states.iter().all(|s| *s == JobState::Done)).then_some(())
    })
    .await;
    assert_eq!(tickets(&root), 0);
    workers.stop.cancel();
}

/// A job made while its derived files could not be written (the bodies missing, a 0-byte
/// `.body.txt.partial` left, as before the fix) and failed for want of a body: once retried,
/// its files are derived again from `message.eml` before the module runs, and it is done.
#[tokio::test]
async fn a_job_whose_derived_files_are_missing_or_partial_derives_them_again() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&db.url, dir.path());
    cfg.logging.directory = None;
    let pool = db.pool();
    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for (n, damage) in ["missing", "partial", "no meta"].into_iter().enumerate() {
        let mail = alert(n);
        let accepted =
            shared_modules::mail::accept(&cfg, &Envelope::now(&mail, SENDER, RECIPIENT)).unwrap();
        ingest(&cfg).await;
        let (id, _, _) = job_for_key(&mut conn, &accepted.key)
            .await
            .unwrap()
            .unwrap();
        // What the old ingester left on a full disk, and the job it failed.
        let delivery = &accepted.path;
        match damage {
            "missing" => {
                std::fs::remove_file(delivery.join("body.txt")).unwrap();
                std::fs::remove_file(delivery.join("meta.json")).unwrap();
            }
            "partial" => {
                std::fs::remove_file(delivery.join("body.txt")).unwrap();
                std::fs::remove_file(delivery.join("meta.json")).unwrap();
                std::fs::write(delivery.join(".body.txt.partial"), b"").unwrap();
            }
            _ => std::fs::remove_file(delivery.join("meta.json")).unwrap(),
        }
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE jobs SET state = 'error', finished_at = now(),
                        error = 'the mail has no text body and no .txt attachment'
                  WHERE id = $1",
            )
            .bind::<diesel::sql_types::BigInt, _>(id),
            &mut conn,
        )
        .await
        .unwrap();
        jobs.push((id, delivery.clone()));
    }
    let workers = start_workers(&cfg, &pool, modules::registry(), false);
    for (id, _) in &jobs {
        shared_modules::jobs::retry_job(&mut conn, *id, "test: room again")
            .await
            .unwrap()
            .unwrap();
    }
    for (id, delivery) in &jobs {
        let done = wait_job_state(&pool, *id, "done", Duration::from_secs(30)).await;
        // Archived with the derived files, the partial one gone.
        let archived = Path::new(done.archive_path.as_deref().unwrap());
        assert!(!delivery.exists());
        let body = std::fs::read_to_string(archived.join("body.txt")).unwrap();
        assert!(body.contains("Event ID     : HS-W-3107"));
        assert!(archived.join("meta.json").is_file());
        assert_eq!(partial_files(archived), Vec::<PathBuf>::new());
    }
    workers.stop.cancel();
}

/// A job whose derived files are missing while the disk is still full: writing them again
/// fails, and the attempt is transient (the job waits in `queued`, its trail says why), not
/// an error; once there is room it is done.
#[tokio::test]
async fn a_job_that_cannot_derive_its_files_yet_is_retried_not_failed() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let _small_disk = SmallDisk::mount(&small, "2m");
    let mut cfg = config(&db.url, &small.join("mailbox"));
    cfg.logging.directory = None;
    cfg.jobs.max_attempts = 1000;
    let pool = db.pool();
    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let accepted =
        shared_modules::mail::accept(&cfg, &Envelope::now(&alert(0), SENDER, RECIPIENT)).unwrap();
    ingest(&cfg).await;
    let (id, _, _) = job_for_key(&mut conn, &accepted.key)
        .await
        .unwrap()
        .unwrap();
    std::fs::remove_file(accepted.path.join("body.txt")).unwrap();
    std::fs::remove_file(accepted.path.join("meta.json")).unwrap();
    let filler = small.join("filler");
    fill(&filler);

    let workers = start_workers(&cfg, &pool, modules::registry(), false);
    let waiting = shared_modules::testing::wait_for(
        "an attempt that could not derive",
        Duration::from_secs(30),
        || async {
            let job = shared_modules::testing::job_by_id(&pool, id).await;
            assert_ne!(job.state, JobState::Error, "{:?}", job.error);
            (job.attempts >= 1 && job.error.is_some()).then_some(job)
        },
    )
    .await;
    let error = waiting.error.unwrap();
    assert!(
        error.contains("cannot write the mail's derived files") && error.contains("No space left"),
        "{error}"
    );
    let events = shared_modules::jobs::events_of(&mut conn, id)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.step == "derive" && e.status.as_deref() == Some("error")),
        "{events:?}"
    );
    assert_eq!(partial_files(&accepted.path), Vec::<PathBuf>::new());

    std::fs::remove_file(&filler).unwrap();
    let done = wait_job_state(&pool, id, "done", Duration::from_secs(30)).await;
    let archived = Path::new(done.archive_path.as_deref().unwrap());
    assert!(archived.join("body.txt").is_file());
    assert!(archived.join("meta.json").is_file());
    workers.stop.cancel();
}
