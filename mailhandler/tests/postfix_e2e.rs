//! A real Postfix (configured by `mailhandler/postfix/install.sh`, as the container is) and
//! real SMTP (swaks): mail lands in the inbox with a ticket, serve's ingester makes its
//! job, and the workers with the real modules turn it into rows; with the database down the
//! mail is still accepted (the mailhandler has no database) and becomes its job, exactly
//! once, when the database is back.
//!
//! Uses the machine's Postfix on 127.0.0.1:25 (install it with `scripts/services.sh
//! postfix`); one test function, so nothing else drives that Postfix meanwhile. Its
//! configuration is put back as it was, and the state it was in (running or not), when the
//! test ends. The mailhandler Postfix runs is a copy in a folder the pipe user can enter, so
//! the test passes from a checkout under a private folder (`/root/…`, `mktemp -d`).

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::db::connect_pool;
use shared_modules::inbox::spawn_ticket_ingester;
use shared_modules::testing::{
    DbProxy, PostfixAsItWas, TestDb, start_workers, test_config, wait_for,
};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required ({e}); run scripts/services.sh postfix"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn swaks(mail: &Path) {
    sh(
        "swaks",
        &[
            "--server",
            "127.0.0.1:25",
            "--from",
            "hs-alerts@grid-a.bobsburgers.example",
            "--to",
            RECIPIENT,
            "--data",
            mail.to_str().unwrap(),
            "--silent",
            "2",
        ],
    );
}

fn queue_entries() -> Vec<serde_json::Value> {
    sh("postqueue", &["-j"])
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

async fn jobs_for_subject(
    pool: &shared_modules::db::DbPool,
    needle: &str,
) -> Vec<shared_modules::jobs::Job> {
    let mut conn = pool.get().await.unwrap();
    let page = shared_modules::jobs::list_jobs(
        &mut conn,
        &shared_modules::jobs::JobFilter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    page.jobs
        .into_iter()
        .filter(|j| {
            j.metadata["subject"]
                .as_str()
                .is_some_and(|s| s.contains(needle))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_over_smtp_becomes_a_job_and_survives_a_database_outage() {
    let _restore = PostfixAsItWas::save();
    let db = TestDb::new().await;
    let proxy = DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = dir.path().join("mailbox");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let db_url = proxy.url_for(&db.url);
    let mut cfg = config(&db_url, &root);
    cfg.logging.directory = Some(dir.path().join("logs"));
    let config_path = write_config(dir.path(), &cfg);
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Postfix is configured and started as the container's entrypoint does it, with an
    // override in the environment that must reach the mailhandler (JSON logs).
    let install = Path::new(env!("CARGO_MANIFEST_DIR")).join("postfix/install.sh");
    let env_override = ("DP__LOGGING__JSON", "true");
    // The pipe runs the mailhandler as `hview`, who may not enter the checkout: give it a
    // copy where it can.
    let mailhandler = dir.path().join("mailhandler");
    std::fs::copy(BIN, &mailhandler).unwrap();
    std::fs::set_permissions(&mailhandler, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&install)
        .args([
            mailhandler.to_str().unwrap(),
            config_path.to_str().unwrap(),
            "inet_interfaces = loopback-only",
            "maillog_file = /var/log/postfix-hview.log",
        ])
        .env(env_override.0, env_override.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Command::new("postfix").arg("stop").output();
    let start = Command::new("postfix")
        .arg("start")
        .env(env_override.0, env_override.1)
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "postfix start: {}",
        String::from_utf8_lossy(&start.stderr)
    );
    // Mail left queued by an earlier run would be flushed into this one: start empty.
    sh("postsuper", &["-d", "ALL"]);
    assert!(queue_entries().is_empty());
    wait_for(
        "Postfix to listen on 25",
        Duration::from_secs(20),
        || async {
            std::net::TcpStream::connect("127.0.0.1:25")
                .ok()
                .map(|_| ())
        },
    )
    .await;
    let pool = db.pool();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // The workers of `dataprocessor serve`, with the real modules, on the real database;
    // its ticket ingester reaches the database through the proxy that fails below.
    let workers = start_workers(
        &test_config(&db.url, &root),
        &pool,
        modules::registry(),
        true,
    );
    // The ingester runs as root here, the mailhandler as hview: the ticket folder must be
    // theirs both (in the container both run as hview).
    let ticket_dir = root.join(".tickets");
    std::fs::create_dir_all(&ticket_dir).unwrap();
    std::fs::set_permissions(&ticket_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let proxied = connect_pool(&db_url, 4, Duration::from_secs(2)).unwrap();
    let ingester = spawn_ticket_ingester(
        proxied,
        root.clone(),
        Duration::from_secs(60),
        Arc::new(shared_modules::mail::derive),
        workers.stop.clone(),
    );

    // 1. Mail in, job out.
    let sent = Instant::now();
    swaks(&fixtures.join("alert.eml"));
    let jobs = wait_for("the alert's job", Duration::from_secs(30), || async {
        let jobs = jobs_for_subject(&pool, "Node capacity above 90%").await;
        (!jobs.is_empty()).then_some(jobs)
    })
    .await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (job.job_type.as_str(), job.job_group.as_str()),
        ("alert", "sn004")
    );
    let delivery = Path::new(job.inbox_path.as_deref().unwrap());
    assert!(delivery.starts_with(root.join("inbox/bobs_burgers/hydrastor/alert/sn004")));
    let done = wait_for_done(&pool, job.id).await;
    eprintln!(
        "SMTP to job done with its rows: {} ms",
        sent.elapsed().as_millis()
    );
    // Done, the delivery moved from the inbox to the archive.
    let archived = Path::new(done.archive_path.as_deref().unwrap());
    assert!(!delivery.exists());
    let stored = std::fs::read_to_string(archived.join("message.eml")).unwrap();
    assert!(stored.contains("Event ID     : HS-W-3107"));
    assert!(
        stored.starts_with("Return-Path: <hs-alerts@grid-a.bobsburgers.example>"),
        "flags=R adds Return-Path"
    );
    assert_eq!(done.result.as_ref().unwrap()["rows"]["hydrastor_alerts"], 1);
    let alert = alert_row(&pool, "HS-W-3107").await;
    assert_eq!(
        alert,
        (
            "Warning".to_string(),
            "Physical used capacity of node sn004 is above 90%.".to_string()
        )
    );

    swaks(&fixtures.join("system_report.eml"));
    let reports = wait_for("the report's job", Duration::from_secs(30), || async {
        let jobs = jobs_for_subject(&pool, "System Report: fryer_grid").await;
        (!jobs.is_empty()).then_some(jobs)
    })
    .await;
    assert_eq!(reports[0].job_type, "system_report");
    let report_done = wait_for_done(&pool, reports[0].id).await;
    assert_eq!(report_done.result.unwrap()["rows"]["hydrastor_grids"], 1);
    let log_dir = dir.path().join("logs");
    let log = std::fs::read_dir(&log_dir)
        .unwrap()
        .flatten()
        .next()
        .expect("a mailhandler log file")
        .path();
    let first_line = std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        first_line.starts_with('{'),
        "DP__LOGGING__JSON reached the mailhandler through Postfix: {first_line}"
    );

    // 2. Database down: the mailhandler needs none. Postfix delivers the mail, which waits
    // in the inbox with its ticket; no job yet.
    wait_for(
        "Postfix to finish the first two mails",
        Duration::from_secs(30),
        || async { queue_entries().is_empty().then_some(()) },
    )
    .await;
    proxy.set_down();
    let outage_mail = dir.path().join("outage.eml");
    let text = std::fs::read_to_string(fixtures.join("alert.eml"))
        .unwrap()
        .replace("Node capacity above 90%", "Outage test");
    std::fs::write(&outage_mail, text).unwrap();
    swaks(&outage_mail);
    wait_for(
        "Postfix to deliver the mail",
        Duration::from_secs(30),
        || async { (queue_entries().is_empty() && tickets(&root) == 1).then_some(()) },
    )
    .await;
    assert_eq!(deliveries(&root.join("inbox")).len(), 1);
    assert!(jobs_for_subject(&pool, "Outage test").await.is_empty());

    // 3. Database back: the ingester makes its job, exactly once.
    proxy.set_up();
    let outage_jobs = wait_for("the outage mail's job", Duration::from_secs(60), || async {
        let jobs = jobs_for_subject(&pool, "Outage test").await;
        (!jobs.is_empty()).then_some(jobs)
    })
    .await;
    assert_eq!(outage_jobs.len(), 1, "exactly once");
    wait_for_done(&pool, outage_jobs[0].id).await;
    // A pass that lost its connection while committing leaves its ticket; the next pass
    // finds the job and removes it.
    wait_for(
        "the ticket to be closed",
        Duration::from_secs(10),
        || async { (tickets(&root) == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        deliveries(&root.join("inbox")).len() + deliveries(&root.join("archive")).len(),
        3,
        "three mails, each in the inbox or (archived types, done) the archive: {:?} {:?}",
        deliveries(&root.join("inbox")),
        deliveries(&root.join("archive"))
    );
    workers.stop.cancel();
    workers.pool_handle.await.unwrap();
    ingester.await.unwrap();
}

async fn wait_for_done(pool: &shared_modules::db::DbPool, id: i64) -> shared_modules::jobs::Job {
    wait_for(
        &format!("job {id} to be done"),
        Duration::from_secs(30),
        || async {
            let mut conn = pool.get().await.unwrap();
            let job = shared_modules::jobs::find_job(&mut conn, id)
                .await
                .unwrap()
                .unwrap();
            assert_ne!(job.state, "error", "job {id} failed: {:?}", job.error);
            (job.state == "done").then_some(job)
        },
    )
    .await
}

/// (severity, message) of the alert with `event_id`.
async fn alert_row(pool: &shared_modules::db::DbPool, event_id: &str) -> (String, String) {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Alert {
        #[diesel(sql_type = diesel::sql_types::Text)]
        severity: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        message: String,
    }
    let mut conn = pool.get().await.unwrap();
    let a: Alert =
        diesel::sql_query("SELECT severity, message FROM hydrastor_alerts WHERE event_id = $1")
            .bind::<diesel::sql_types::Text, _>(event_id)
            .get_result(&mut conn)
            .await
            .unwrap();
    (a.severity, a.message)
}
