//! A delivery that commits its own job row (an operator's release, an upload) loses its
//! connection while the row commits: it cannot know whether the row is in. It must keep
//! the files (the row may point at them), fail, and let the retry and the sweeper settle
//! it. Nothing is lost, nothing doubled.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use shared_modules::inbox::Insert;
use shared_modules::inbox::sweep;
use shared_modules::jobs::{JobFilter, list_jobs};
use shared_modules::mail::{Delivered, Keyed, deliver_keyed};
use shared_modules::mail::{Envelope, dedupe_key};
use shared_modules::testing::{DbProxy, TestDb, wait_for};
use std::path::Path;
use std::time::Duration;

fn keyed(mail: &[u8]) -> Keyed {
    Keyed {
        key: dedupe_key(RECIPIENT, mail),
        insert: Insert::New,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_keeps_the_files_and_the_redelivery_finds_its_job() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut direct = pool.get().await.unwrap();
    direct.batch_execute(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
         CREATE TRIGGER slow_insert BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION slow_insert();",
    )
    .await
    .unwrap();
    let proxy = DbProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&proxy.url_for(&db.url), dir.path());
    cfg.database.connect_timeout_seconds = 1;
    let mail = sample("alert.eml");

    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let delivery = {
        let cfg = cfg.clone();
        let mail = mail.clone();
        tokio::spawn(async move {
            deliver_keyed(
                &cfg,
                &mut conn,
                &Envelope::now(&mail, SENDER, RECIPIENT),
                keyed(&mail),
            )
            .await
        })
    };
    // Cut the connection while the INSERT sleeps in its trigger; the server still commits.
    wait_for("the insert to be running", Duration::from_secs(10), || async {
        let mut c = pool.get().await.unwrap();
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        // This test's database only (other tests' servers insert jobs elsewhere), and the
        // trigger's sleep itself: the INSERT and the Sync after it have reached the server.
        let n: N = diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid() AND query ILIKE '%insert into jobs%'")
            .get_result(&mut c)
            .await
            .unwrap();
        (n.n > 0).then_some(())
    })
    .await;
    proxy.set_down();
    let outcome = delivery.await.unwrap();
    assert!(
        outcome.is_err(),
        "the mailhandler cannot know the outcome: {outcome:?}"
    );

    let committed = wait_for(
        "the server to commit the row",
        Duration::from_secs(10),
        || async {
            let mut c = pool.get().await.unwrap();
            let page = list_jobs(
                &mut c,
                &JobFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            page.jobs.into_iter().next()
        },
    )
    .await;
    let path = Path::new(committed.inbox_path.as_deref().unwrap()).to_path_buf();
    assert_eq!(
        std::fs::read(path.join("message.eml")).unwrap(),
        mail,
        "the committed job's files are there"
    );

    // Tried again once the database is back: the job is found, nothing doubled.
    proxy.set_up();
    let mut conn = AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let again = deliver_keyed(
        &cfg,
        &mut conn,
        &Envelope::now(&mail, SENDER, RECIPIENT),
        keyed(&mail),
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        Delivered::Duplicate {
            job_id: committed.id
        }
    );
    let report = sweep(&mut direct, dir.path(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        (report.orphans_removed, report.intents_closed),
        (0, 1),
        "the sweeper keeps the committed delivery"
    );
    assert!(path.join("message.eml").exists());
    assert_eq!(deliveries(&dir.path().join("inbox")), vec![path]);
}
