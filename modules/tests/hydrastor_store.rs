//! HYDRAstor mails through the real worker pipeline into Postgres: the rows the contract
//! implies, idempotent reprocessing, latest-state tables that never go back in time, and the
//! failure modes (bad input is permanent, database trouble is retried).

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::sql_types::Jsonb;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Value, json};
use shared_modules::db::DbPool;
use shared_modules::jobs::{Job, NewJob, enqueue, find_job, retry_job};
use shared_modules::testing::{RunningWorkers, TestDb, start_workers, test_config, wait_for};
use std::path::Path;
use std::time::Duration;

struct World {
    /// Kept alive for the test's duration (dropping it drops the database).
    _db: TestDb,
    pool: DbPool,
    dir: tempfile::TempDir,
    workers: Option<RunningWorkers>,
}

impl World {
    async fn new() -> World {
        let db = TestDb::new().await;
        let pool = db.pool();
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(&db.url, dir.path());
        let workers = Some(start_workers(&config, &pool, modules::registry(), false));
        World {
            _db: db,
            pool,
            dir,
            workers,
        }
    }

    /// Stores `raw` as the mailhandler would and queues its job.
    async fn deliver(&self, job_type: &str, group: &str, raw: &[u8]) -> i64 {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let inbox = self.dir.path().join(format!(
            "inbox/bobs_burgers/hydrastor/{job_type}/{group}/20261123_0600{n:02}"
        ));
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::write(inbox.join("message.eml"), raw).unwrap();
        for part in shared_modules::mail::parts::extract(raw).unwrap().parts {
            let path = inbox.join(&part.relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, part.bytes).unwrap();
        }
        let new = NewJob {
            source: shared_modules::jobs::JobSource::Email,
            customer: "bobs_burgers".into(),
            category: "hydrastor".into(),
            job_type: job_type.into(),
            job_group: group.into(),
            state: shared_modules::jobs::JobState::Queued,
            inbox_path: Some(inbox.to_string_lossy().to_string()),
            metadata: json!({}),
            dedupe_key: None,
            // Room for the retries of the database-trouble test on a busy machine.
            max_attempts: 6,
            timeout_seconds: 60,
            error: None,
        };
        let mut conn = self.pool.get().await.unwrap();
        enqueue(&mut conn, &new).await.unwrap().job.id
    }

    async fn ended(&self, id: i64) -> Job {
        wait_for(
            &format!("job {id} to end"),
            Duration::from_secs(20),
            || async {
                let mut conn = self.pool.get().await.unwrap();
                let job = find_job(&mut conn, id).await.unwrap().unwrap();
                matches!(job.state.as_str(), "done" | "error").then_some(job)
            },
        )
        .await
    }

    async fn rows(&self, table: &str, order: &str) -> Vec<Value> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Jsonb)]
            row: Value,
        }
        let mut conn = self.pool.get().await.unwrap();
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT to_jsonb(t) AS row FROM {table} t ORDER BY {order}"
        ))
        .load(&mut conn)
        .await
        .unwrap();
        rows.into_iter().map(|r| r.row).collect()
    }

    async fn conn(&self) -> shared_modules::db::PooledConn {
        self.pool.get().await.unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(w) = self.workers.take() {
            w.stop.cancel();
        }
    }
}

fn fixture(module: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hydrastor")
            .join(module)
            .join("fixtures")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_report_becomes_rows_and_reprocessing_leaves_them_identical() {
    let w = World::new().await;
    let id = w
        .deliver(
            "system_report",
            "fryer_grid",
            &fixture("system_report", "plain_body.eml"),
        )
        .await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    let result = job.result.unwrap();
    assert_eq!(
        result["rows"],
        json!({"hydrastor_system_reports": 1, "hydrastor_grids": 1, "hydrastor_nodes": 5, "hydrastor_filesystems": 2})
    );
    let grids = w.rows("hydrastor_grids", "grid_name").await;
    assert_eq!(grids.len(), 1);
    let g = &grids[0];
    assert_eq!(g["customer"], "bobs_burgers");
    assert_eq!(g["grid_name"], "fryer_grid");
    assert_eq!(g["physical_capacity_bytes"], 2_304_000_000_000_000i64);
    assert_eq!(g["physical_used_bytes"], 1_024_500_000_000_000i64);
    assert_eq!(g["dedup_ratio"], 10.0);
    assert_eq!(g["last_report_at"], "2026-11-23T05:00:00+00:00");
    let nodes = w.rows("hydrastor_nodes", "node_name").await;
    assert_eq!(
        nodes
            .iter()
            .map(|n| n["node_name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["an001", "an002", "hn001", "sn001", "sn002"]
    );
    assert_eq!(nodes[4]["status"], "Degraded");
    assert_eq!(nodes[0]["physical_capacity_bytes"], Value::Null);
    let reports = w.rows("hydrastor_system_reports", "report_time").await;
    assert_eq!(reports[0]["job_id"], id);

    let before: Vec<_> = all_rows(&w).await;
    let mut conn = w.conn().await;
    retry_job(&mut conn, id, "test reprocess")
        .await
        .unwrap()
        .unwrap();
    let again = wait_for("the reprocessed job", Duration::from_secs(20), || async {
        let mut conn = w.pool.get().await.unwrap();
        let job = find_job(&mut conn, id).await.unwrap().unwrap();
        (job.state == "done"
            && job.finished_at > Some(job.created_at)
            && job
                .result
                .as_ref()
                .is_some_and(|r| r["rows"]["hydrastor_grids"] == 0))
        .then_some(job)
    })
    .await;
    assert_eq!(
        again.result.unwrap()["rows"],
        json!({"hydrastor_system_reports": 0, "hydrastor_grids": 0, "hydrastor_nodes": 0, "hydrastor_filesystems": 0})
    );
    assert_eq!(
        all_rows(&w).await,
        before,
        "reprocessing left every row identical"
    );
}

async fn all_rows(w: &World) -> Vec<Vec<Value>> {
    vec![
        w.rows("hydrastor_grids", "grid_name").await,
        w.rows("hydrastor_system_reports", "report_time").await,
        w.rows("hydrastor_nodes", "node_name").await,
        w.rows("hydrastor_filesystems", "fs_name").await,
        w.rows("hydrastor_alerts", "event_id").await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_report_processed_after_a_newer_one_does_not_turn_back_the_latest_state() {
    let w = World::new().await;
    let newer = String::from_utf8(fixture("system_report", "plain_body.eml")).unwrap();
    let older = newer
        .replace(
            "Generated: 2026/11/23 06:00:00 +0100",
            "Generated: 2026/11/22 06:00:00 +0100",
        )
        .replace(
            "Physical Used       : 1,024.50 TB",
            "Physical Used       : 900.00 TB",
        )
        .replace("sn002    SN    Degraded", "sn002    SN    Normal  ");
    let first = w
        .deliver("system_report", "fryer_grid", newer.as_bytes())
        .await;
    assert_eq!(w.ended(first).await.state, "done");
    let second = w
        .deliver("system_report", "fryer_grid", older.as_bytes())
        .await;
    let job = w.ended(second).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    assert_eq!(job.result.unwrap()["rows"]["hydrastor_grids"], 0);
    let grid = &w.rows("hydrastor_grids", "grid_name").await[0];
    assert_eq!(
        grid["physical_used_bytes"], 1_024_500_000_000_000i64,
        "the newer figure stays"
    );
    assert_eq!(grid["last_report_at"], "2026-11-23T05:00:00+00:00");
    let sn002 = w
        .rows("hydrastor_nodes", "node_name")
        .await
        .into_iter()
        .find(|n| n["node_name"] == "sn002")
        .unwrap();
    assert_eq!(sn002["status"], "Degraded");
    let reports = w.rows("hydrastor_system_reports", "report_time").await;
    assert_eq!(reports.len(), 2, "both reports are kept in the history");
    assert_eq!(reports[0]["physical_used_bytes"], 900_000_000_000_000i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_of_a_mail_becomes_a_row_once() {
    let w = World::new().await;
    let id = w
        .deliver("alert", "sn003", &fixture("alert", "five_severities.eml"))
        .await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    assert_eq!(job.result.unwrap()["rows"]["hydrastor_alerts"], 5);
    let alerts = w.rows("hydrastor_alerts", "event_id").await;
    let severities: Vec<_> = alerts
        .iter()
        .map(|a| a["severity"].as_str().unwrap())
        .collect();
    assert_eq!(
        severities,
        ["Critical", "Error", "Info", "Notice", "Warning"]
    );
    assert_eq!(
        alerts[0]["message"],
        "Node sn003 is not responding.\nReplication to grill_grid is paused.\nPlease contact support: case 12345."
    );
    assert_eq!(alerts[0]["occurred_at"], "2026-11-23T04:14:00+00:00");
    // The same alert mailed again (a second mail) adds nothing.
    let again = w
        .deliver("alert", "sn003", &fixture("alert", "five_severities.eml"))
        .await;
    assert_eq!(
        w.ended(again).await.result.unwrap()["rows"]["hydrastor_alerts"],
        0
    );
    assert_eq!(w.rows("hydrastor_alerts", "event_id").await, alerts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_error_fails_the_job_at_once_naming_file_and_line_and_keeps_the_original() {
    let w = World::new().await;
    let id = w
        .deliver(
            "system_report",
            "fryer_grid",
            &fixture("system_report", "broken_bad_capacity.eml"),
        )
        .await;
    let job = w.ended(id).await;
    assert_eq!(job.state, "error");
    assert_eq!(job.attempts, 1, "bad input is not retried");
    assert_eq!(
        job.error.as_deref(),
        Some("body.txt: line 13: Physical Used: `lots TB` is not a capacity like `1,152.00 TB`")
    );
    assert!(
        Path::new(job.inbox_path.as_deref().unwrap())
            .join("message.eml")
            .exists()
    );
    assert!(w.rows("hydrastor_grids", "grid_name").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_trouble_in_a_module_is_retried_and_then_succeeds() {
    let w = World::new().await;
    let mut conn: shared_modules::db::PooledConn = w.conn().await;
    let c: &mut AsyncPgConnection = &mut conn;
    c.batch_execute("ALTER TABLE hydrastor_alerts RENAME TO hydrastor_alerts_away")
        .await
        .unwrap();
    let id = w
        .deliver("alert", "sn002", &fixture("alert", "single.eml"))
        .await;
    let failed_once = wait_for(
        "a failed first attempt",
        Duration::from_secs(20),
        || async {
            let mut conn = w.pool.get().await.unwrap();
            let job = find_job(&mut conn, id).await.unwrap().unwrap();
            (job.attempts >= 1 && job.error.is_some()).then_some(job)
        },
    )
    .await;
    assert!(
        failed_once.error.unwrap().contains("hydrastor_alerts"),
        "the reason names the problem"
    );
    c.batch_execute("ALTER TABLE hydrastor_alerts_away RENAME TO hydrastor_alerts")
        .await
        .unwrap();
    let job = w.ended(id).await;
    assert_eq!(job.state, "done", "{:?}", job.error);
    assert!(job.attempts >= 2);
    assert_eq!(w.rows("hydrastor_alerts", "event_id").await.len(), 1);
}
