//! `kill -9` of `dataprocessor serve` while mail keeps arriving: the mailhandler does not need
//! serve (nor the database), so every mail is accepted, and after the restart every mail is
//! exactly one job, done, with exactly one row. (Postgres stopped with `-m immediate` during
//! mail is the `crash` benchmark: stopping the shared Postgres would disturb other tests.)

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use diesel_async::RunQueryDsl;
use shared_modules::mail::Envelope;
use shared_modules::testing::{TestDb, wait_for};
use std::time::Duration;

const MAILS: usize = 120;

fn alert_mail(i: usize) -> Vec<u8> {
    format!(
        "From: <hs@grid.example>\r\nTo: <bobs_burgers@ingest.hview.example>\r\n\
         Subject: [HYDRAstor] Alert: Warning - crashgrid/sn{node:03} - event {i}\r\n\
         Message-ID: <crash-{i}@grid.example>\r\nContent-Type: text/plain\r\n\r\n\
         Event ID     : HS-W-{i:06}\r\nSeverity     : Warning\r\nGrid Name    : crashgrid\r\n\
         Node         : sn{node:03}\r\nComponent    : Disk\r\nOccurred     : 2026/11/23 10:00:{s:02} +0000\r\n\
         Message      : Crash test alert {i}.\r\n",
        node = i % 4,
        s = i % 60
    )
    .into_bytes()
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    jobs: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    done: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    keys: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    distinct_rows: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_while_mail_arrives_loses_nothing_and_doubles_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = upload_config(&db.url, dir.path(), "http://127.0.0.1:1");
    config.jobs.lease_seconds = 2.0;
    config.jobs.reaper_interval_seconds = 0.5;
    let serve = start_serve(dir.path(), &config).await;

    let feeder = {
        let config = config.clone();
        std::thread::spawn(move || {
            for i in 0..MAILS {
                shared_modules::mail::accept(
                    &config,
                    &Envelope::now(
                        &alert_mail(i),
                        "hs@grid.example",
                        "bobs_burgers@ingest.hview.example",
                    ),
                )
                .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let pool = db.pool();
    let count = async || -> Counts {
        let mut conn = pool.get().await.unwrap();
        diesel::sql_query(
            "SELECT (SELECT count(*) FROM jobs) AS jobs,
                    (SELECT count(*) FROM jobs WHERE state = 'done') AS done,
                    (SELECT count(DISTINCT dedupe_key) FROM jobs) AS keys,
                    (SELECT count(*) FROM hydrastor_alerts) AS rows,
                    (SELECT count(DISTINCT event_id) FROM hydrastor_alerts) AS distinct_rows",
        )
        .get_result(&mut conn)
        .await
        .unwrap()
    };
    wait_for("a third of the jobs", Duration::from_secs(30), || async {
        (count().await.jobs >= (MAILS / 3) as i64).then_some(())
    })
    .await;
    let mut serve = serve;
    serve.0.kill().unwrap(); // SIGKILL
    serve.0.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let _serve = start_serve(dir.path(), &config).await;
    feeder.join().unwrap();

    let end = wait_for("every mail's job done", Duration::from_secs(60), || async {
        let c = count().await;
        (c.done == MAILS as i64).then_some(c)
    })
    .await;
    assert_eq!(end.jobs, MAILS as i64, "one job per mail");
    assert_eq!(end.keys, MAILS as i64);
    assert_eq!(end.rows, MAILS as i64, "one row per mail");
    assert_eq!(end.distinct_rows, MAILS as i64);
    wait_for("no ticket left", Duration::from_secs(10), || async {
        (shared_modules::inbox::pending_summary(&config.paths.root)
            .unwrap()
            .count
            == 0)
            .then_some(())
    })
    .await;
}
