//! The real mailhandler binary fed on stdin as Postfix does: storing with a ticket (and no
//! database), the ticket becoming its job, dedupe, quarantine, hostile names, and every
//! failure exiting 75 with nothing left visible in the inbox.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::testing::TestDb;
use std::path::{Path, PathBuf};

/// The directory a run reported: `stored in PATH` or `quarantined in PATH: reason`.
fn stored_path(stdout: &str) -> PathBuf {
    let rest = stdout
        .trim()
        .strip_prefix("stored in ")
        .or_else(|| stdout.trim().strip_prefix("quarantined in "))
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
    PathBuf::from(rest.split(": ").next().unwrap())
}

#[tokio::test]
async fn an_alert_is_stored_whole_and_queued_once_however_often_it_is_delivered() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let mail = sample("alert.eml");

    let first = run(&config_path, SENDER, RECIPIENT, &mail);
    assert_eq!(first.code, 0, "{} {}", first.stdout, first.stderr);
    assert_eq!(first.stdout.lines().count(), 1);
    assert!(first.stdout.starts_with("stored in "), "{}", first.stdout);
    assert_eq!(first.stderr, "");
    assert_eq!(tickets(dir.path()), 1, "the mail waits with its ticket");

    let stored = deliveries(&dir.path().join("inbox"));
    assert_eq!(stored, [stored_path(&first.stdout)]);
    let delivery = &stored[0];
    let relative = delivery.strip_prefix(dir.path().join("inbox")).unwrap();
    let segments: Vec<_> = relative
        .iter()
        .map(|s| s.to_string_lossy().to_string())
        .collect();
    assert_eq!(
        &segments[..4],
        ["bobs_burgers", "hydrastor", "alert", "sn004"]
    );
    assert_eq!(segments[4].len(), "YYYYMMDD_HHMMSS".len());
    assert_eq!(
        std::fs::read(delivery.join("message.eml")).unwrap(),
        mail,
        "raw bytes preserved"
    );

    let report = ingest(&cfg).await;
    assert_eq!((report.created, tickets(dir.path())), (1, 0));
    // The ingester wrote the files derived from the raw message.
    assert!(
        std::fs::read_to_string(delivery.join("body.txt"))
            .unwrap()
            .contains("Event ID     : HS-W-3107")
    );
    let job = job_of(&cfg, RECIPIENT, &mail).await;
    assert_eq!(
        (
            job.state.as_str(),
            job.source.as_str(),
            job.customer.as_str()
        ),
        ("queued", "email", "bobs_burgers")
    );
    assert_eq!(
        (
            job.category.as_str(),
            job.job_type.as_str(),
            job.job_group.as_str()
        ),
        ("hydrastor", "alert", "sn004")
    );
    assert_eq!(job.inbox_path.as_deref(), Some(delivery.to_str().unwrap()));
    assert_eq!(job.metadata["sender"], SENDER);

    // Postfix redelivers (its first try timed out, say): stored again, then recognised by
    // its key when serve ingests it, and its second directory removed.
    for _ in 0..2 {
        let again = run(&config_path, SENDER, RECIPIENT, &mail);
        assert_eq!(again.code, 0, "{}", again.stdout);
        assert_ne!(stored_path(&again.stdout), *delivery);
        let report = ingest(&cfg).await;
        assert_eq!((report.created, report.duplicates), (0, 1));
        assert_eq!(job_of(&cfg, RECIPIENT, &mail).await.id, job.id);
    }
    assert_eq!(
        deliveries(&dir.path().join("inbox")).len(),
        1,
        "no second directory"
    );
    assert_eq!(tickets(dir.path()), 0, "no ticket left");
}

#[tokio::test]
async fn two_mails_in_the_same_second_get_two_directories() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let mail = sample("system_report.eml");
    let mut other = mail.clone();
    other.extend_from_slice(b"\r\n");
    let a = run(&config_path, SENDER, RECIPIENT, &mail);
    let b = run(&config_path, SENDER, RECIPIENT, &other);
    assert_eq!((a.code, b.code), (0, 0));
    assert_eq!(ingest(&cfg).await.created, 2);
    assert_ne!(
        job_of(&cfg, RECIPIENT, &mail).await.id,
        job_of(&cfg, RECIPIENT, &other).await.id
    );
    let stored = deliveries(
        &dir.path()
            .join("inbox/bobs_burgers/hydrastor/system_report/fryer_grid"),
    );
    assert_eq!(stored.len(), 2);
    let report =
        std::fs::read_to_string(stored[0].join("attachments/SystemReport_fryer_grid_20261123.txt"))
            .unwrap();
    assert!(report.contains("Grid Name           : fryer_grid"));
}

#[tokio::test]
async fn mail_that_cannot_be_routed_is_quarantined_with_the_reason() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let alert = sample("alert.eml");
    let unknown_subject = String::from_utf8(alert.clone())
        .unwrap()
        .replace("[HYDRAstor] Alert:", "Lunch:");
    let bad_group = String::from_utf8(alert.clone())
        .unwrap()
        .replace("fryer_grid/sn004", "fryer_grid/..");
    let cases: [(&str, &str, Vec<u8>, &str, &str); 5] = [
        (
            SENDER,
            "nobody@ingest.hview.example",
            alert.clone(),
            "unknown",
            "no customer receives mail at <nobody@ingest.hview.example>",
        ),
        (
            "mallory@evil.example",
            RECIPIENT,
            alert.clone(),
            "bobs_burgers",
            "sender <mallory@evil.example> is not allowed for customer bobs_burgers",
        ),
        (
            SENDER,
            RECIPIENT,
            unknown_subject.into_bytes(),
            "bobs_burgers",
            "no routing rule matches the subject \"Lunch: Warning",
        ),
        (
            SENDER,
            RECIPIENT,
            bad_group.into_bytes(),
            "bobs_burgers",
            "group `..` is not allowed",
        ),
        (
            SENDER,
            RECIPIENT,
            b"\x00\x01 not a mail".to_vec(),
            "bobs_burgers",
            "",
        ),
    ];
    for (sender, recipient, mail, customer, reason) in cases {
        let out = run(&config_path, sender, recipient, &mail);
        assert_eq!(out.code, 0, "{reason}: {}", out.stdout);
        assert!(
            out.stdout.starts_with("quarantined in ") && out.stdout.contains(reason),
            "{reason}: {}",
            out.stdout
        );
        ingest(&cfg).await;
        let job = job_of(&cfg, recipient, &mail).await;
        assert_eq!(job.state, "quarantined");
        assert_eq!(job.customer, customer);
        let error = job.error.unwrap();
        assert!(
            error.contains(reason),
            "{error:?} should contain {reason:?}"
        );
        let path = Path::new(job.inbox_path.as_deref().unwrap());
        assert!(
            path.starts_with(dir.path().join("inbox/_quarantine").join(customer)),
            "{}",
            path.display()
        );
        assert_eq!(std::fs::read(path.join("message.eml")).unwrap(), mail);
        assert_eq!(
            std::fs::read_to_string(path.join("reason.txt"))
                .unwrap()
                .trim(),
            error
        );
    }
}

#[tokio::test]
async fn hostile_attachment_names_end_up_as_safe_files_inside_the_delivery() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let long = "L".repeat(300);
    let names = [
        "filename=\"../../etc/passwd\"".to_string(),
        "filename=\"C:\\\\boot.ini\"".to_string(),
        "filename*=UTF-8''%2E%2E%2F%2E%2E%2Fevil%20name.txt".to_string(),
        "filename=\"=?UTF-8?B?Li4vLi4vcm9vdC8uc3NoL2tleQ==?=\"".to_string(),
        format!("filename=\"{long}.txt\""),
        "filename=\"nul\u{0}byte.txt\"".to_string(),
        "filename=\"report.txt\"".to_string(),
        "filename=\"report.txt\"".to_string(),
        "filename=\"..\"".to_string(),
    ];
    let mut mail = String::from(
        "From: <hs-alerts@grid-a.bobsburgers.example>\r\nTo: bobs_burgers@ingest.hview.example\r\n\
         Subject: [HYDRAstor] Alert: Info - fryer_grid/sn001 - names\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n",
    );
    for (i, name) in names.iter().enumerate() {
        mail.push_str(&format!("--XX\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; {name}\r\n\r\npart {i}\r\n"));
    }
    mail.push_str("--XX--\r\n");
    let out = run(&config_path, SENDER, RECIPIENT, mail.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stdout);
    ingest(&cfg).await;
    let job = job_of(&cfg, RECIPIENT, mail.as_bytes()).await;
    let delivery = Path::new(job.inbox_path.as_deref().unwrap());
    let attachments = job.metadata["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), names.len());
    let mut seen = std::collections::HashSet::new();
    for (i, a) in attachments.iter().enumerate() {
        let stored_as = a["stored_as"].as_str().unwrap();
        let file = delivery.join(stored_as);
        assert!(
            file.parent().unwrap() == delivery.join("attachments"),
            "{stored_as} escaped"
        );
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with('.') && name.len() <= 100 && !name.contains('\0'),
            "{name:?}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("part {i}"));
        assert!(seen.insert(name), "two attachments share a file");
    }
    assert!(
        attachments[0]["original_name"]
            .as_str()
            .unwrap()
            .contains("../../etc/passwd")
    );
    assert!(
        attachments[3]["original_name"]
            .as_str()
            .unwrap()
            .contains("../../root/.ssh/key")
    );
    // Nothing was written outside the delivery directory.
    let all: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    for path in all {
        let inside = path.starts_with(delivery)
            || path.starts_with(dir.path().join("logs"))
            || path == dir.path().join("config.json");
        assert!(inside, "unexpected file {}", path.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// The mailhandler needs no database: with Postgres unreachable the mail is accepted (0),
/// and becomes its job once the database answers again.
#[tokio::test]
async fn a_database_that_is_down_does_not_stop_the_mail_and_its_job_comes_later() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let down = config("postgres://postgres@127.0.0.1:1/none", dir.path());
    let config_path = write_config(dir.path(), &down);
    let mail = sample("alert.eml");
    let out = run(&config_path, SENDER, RECIPIENT, &mail);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(deliveries(&dir.path().join("inbox")).len(), 1);
    assert_eq!(tickets(dir.path()), 1);

    let up = config(&db.url, dir.path());
    assert_eq!(ingest(&up).await.created, 1);
    let job = job_of(&up, RECIPIENT, &mail).await;
    assert_eq!(
        job.inbox_path.as_deref(),
        Some(stored_path(&out.stdout).to_str().unwrap())
    );
    assert_eq!(tickets(dir.path()), 0);
}

/// The job rows cannot be written (the database refuses them): the ticket and the mail
/// stay, and the next pass makes the job.
#[tokio::test]
async fn a_job_row_that_cannot_be_written_leaves_the_ticket_for_the_next_pass() {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query("ALTER TABLE jobs ADD CONSTRAINT refuse CHECK (id < 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mail = sample("alert.eml");
    let out = run(&config_path, SENDER, RECIPIENT, &mail);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let mut direct = diesel_async::AsyncConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let refused = shared_modules::inbox::ingest_tickets(
        &mut direct,
        dir.path(),
        std::time::Duration::from_secs(60),
        100,
        &shared_modules::mail::derive,
    )
    .await;
    assert!(refused.is_err());
    assert_eq!(tickets(dir.path()), 1, "the ticket waits");
    assert_eq!(deliveries(&dir.path().join("inbox")).len(), 1);

    diesel::sql_query("ALTER TABLE jobs DROP CONSTRAINT refuse")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(ingest(&cfg).await.created, 1);
    assert_eq!(job_of(&cfg, RECIPIENT, &mail).await.state, "queued");
}

#[tokio::test]
async fn storage_that_cannot_be_written_defers_with_75() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // The data root lies under a regular file: every write fails (even for root).
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let mut cfg = config(&db.url, &blocker.join("mailbox"));
    cfg.logging.directory = Some(dir.path().join("logs"));
    let config_path = write_config(dir.path(), &cfg);
    let out = run(&config_path, SENDER, RECIPIENT, &sample("alert.eml"));
    assert_eq!(out.code, 75, "{}", out.stdout);
    assert!(
        out.stdout.contains("cannot store the mail"),
        "{}",
        out.stdout
    );
    // The operator is told which path failed and as which user.
    assert!(
        out.stdout
            .contains(&blocker.join("mailbox/.staging").display().to_string())
            && out.stdout.contains("(running as ")
            && out.stdout.contains("uid "),
        "{}",
        out.stdout
    );
}

#[test]
fn a_wrong_command_line_or_config_defers_rather_than_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"workers": {"concurrency": 0}}"#).unwrap();
    let out = run(&bad, SENDER, RECIPIENT, b"x");
    assert_eq!(out.code, 75);
    assert!(out.stdout.contains("workers.concurrency"), "{}", out.stdout);
    let usage = std::process::Command::new(BIN)
        .arg("only-one")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(75));
    assert_eq!(String::from_utf8_lossy(&usage.stdout).lines().count(), 1);
}

#[test]
fn the_mailhandler_gives_up_at_its_deadline_with_75() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("postgres://postgres@127.0.0.1:1/none", dir.path());
    cfg.mailhandler.deadline_seconds = 1;
    let config_path = write_config(dir.path(), &cfg);
    // stdin stays open: the message never ends.
    let mut child = std::process::Command::new(BIN)
        .args(["--config", config_path.to_str().unwrap(), SENDER, RECIPIENT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Envelope addresses that are not UTF-8 once panicked the mailhandler: 75 on every retry,
/// the mail never stored. Now they are read lossily and the mail is routed as any other.
#[tokio::test]
async fn envelope_addresses_that_are_not_utf8_are_still_delivered() {
    use std::os::unix::ffi::OsStrExt;
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&db.url, dir.path());
    let config_path = write_config(dir.path(), &cfg);
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&config_path)
        .arg(std::ffi::OsStr::from_bytes(b"hs\xff\xfe@grid.example"))
        .arg(RECIPIENT)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), &sample("alert.eml"));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    ingest(&cfg).await;
    let job = job_of(&cfg, RECIPIENT, &sample("alert.eml")).await;
    assert_eq!(job.customer, "bobs_burgers");
    assert_eq!(job.metadata["sender"], "hs\u{fffd}\u{fffd}@grid.example");
}

/// A full disk while storing: 75 (Postfix keeps the mail), and nothing half-visible: no
/// ticket, nothing in the inbox, nothing left in staging. A tmpfs of 512 KiB stands in for
/// the full disk (the suite runs as root, as CI does): the staged copy of a 300 KB mail fits,
/// its ticket (which holds the message too) does not.
#[test]
fn a_full_disk_defers_with_75_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let _small_disk = shared_modules::testing::SmallDisk::mount(&small, "512k");
    let root = small.join("mailbox");
    let mut cfg = config("postgres://postgres@127.0.0.1:1/none", &root);
    cfg.logging.directory = None;
    let config_path = write_config(dir.path(), &cfg);
    let mut mail = sample("alert.eml");
    mail.extend(std::iter::repeat_n(b'x', 300 * 1024));
    let out = run(&config_path, SENDER, RECIPIENT, &mail);
    assert_eq!(out.code, 75, "{}", out.stdout);
    assert!(out.stdout.contains("No space left"), "{}", out.stdout);
    assert_eq!(tickets(&root), 0, "no ticket");
    assert!(deliveries(&root).is_empty(), "nothing in the inbox");
    let staged = std::fs::read_dir(root.join(".staging"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staging cleaned");
    let leftovers: Vec<_> = std::fs::read_dir(root.join(".tickets"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // With room again, the same mail is stored.
    let mut small_mail = sample("alert.eml");
    small_mail.extend_from_slice(b"\r\nroom again\r\n");
    let again = run(&config_path, SENDER, RECIPIENT, &small_mail);
    assert_eq!(again.code, 0, "{}", again.stdout);
}
