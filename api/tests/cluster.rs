//! More than one node (issue 25): three `dataprocessor serve` processes on this machine, each
//! with its own port and node name, sharing one data root, one database and the embedded
//! store on that root. 600 mails go in through the real mailhandler (as three nodes'
//! Postfix would hand them over, onto the shared volume), 12 uploads through the three nodes'
//! S3 endpoints (one multipart upload whose parts go to different nodes), a console
//! session made on one node is used on another and ended on a third; the leader is killed
//! (`kill -9`) mid-run and never restarted. Then: 612 jobs, each done once, the right rows,
//! no ticket left, leadership moved (the nodes table and the new leader's log), and
//! reconciliation and retention each ran on one node at a time.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use chrono::{DateTime, Utc};
use common::*;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use shared_modules::cluster::{DutyRun, duty_runs, list_nodes};
use shared_modules::config::Config;
use shared_modules::db::DbPool;
use shared_modules::testing::{TestDb, wait_for};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MAILS: usize = 600;
const BUCKET: &str = "veritas2hview";

/// The real mailhandler, built beside `dataprocessor` by `cargo test --workspace`.
fn mailhandler() -> PathBuf {
    let path = Path::new(BIN).with_file_name("mailhandler");
    assert!(
        path.exists(),
        "{} is missing: cargo build -p mailhandler (the workspace's tests build it)",
        path.display()
    );
    path
}

/// Alert `i`: a distinct event (its own time and message id), so a row of its own.
fn alert(i: usize) -> Vec<u8> {
    format!(
        "From: HYDRAstor <hs-alerts@grid-a.bobsburgers.example>\r\n\
         To: bobs_burgers@ingest.hview.example\r\n\
         Subject: [HYDRAstor] Alert: Warning - fryer_grid/sn004 - Node capacity above 90%\r\n\
         Date: Mon, 23 Nov 2026 09:15:00 +0000\r\n\
         Message-ID: <alert-{i}@bobsburgers.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         Event ID     : HS-W-3107\r\n\
         Severity     : Warning\r\n\
         Grid Name    : fryer_grid\r\n\
         Node         : sn004\r\n\
         Component    : Capacity\r\n\
         Occurred     : 2026/11/23 {:02}:{:02}:{:02}\r\n\
         Message      : Physical used capacity of node sn004 is above 90%.\r\n",
        i / 3600,
        i / 60 % 60,
        i % 60
    )
    .into_bytes()
}

fn deliver(config_path: &Path, raw: &[u8]) {
    let mut child = Command::new(mailhandler())
        .args(["--config", config_path.to_str().unwrap()])
        .args([
            "hs-alerts@grid-a.bobsburgers.example",
            "bobs_burgers@ingest.hview.example",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn node_config(db_url: &str, root: &Path, name: &str) -> Config {
    let mut config = embedded_config(db_url, root);
    config.node.name = name.into();
    config.node.lease_seconds = 3;
    config.jobs.lease_seconds = 4.0;
    config.jobs.reaper_interval_seconds = 1.0;
    config.s3.reconcile_interval_seconds = 1;
    // The bucket also takes keys outside the upload contract (the contested writes).
    config.s3.contract_keys_only = false;
    config.api.listen = format!("127.0.0.1:{}", free_port());
    config
}

const DUTIES: [&str; 3] = ["reconciliation", "retention", "reaper"];

/// Duties that run every second here: a successor must be seen running them after the kill
/// (retention runs once an hour, so a successor that led before may have run it then).
const FREQUENT_DUTIES: [&str; 2] = ["reconciliation", "reaper"];

/// A node that died at `at`.
struct KilledLeader<'a> {
    name: &'a str,
    at: DateTime<Utc>,
}

/// Waits until the node leading now has run every duty (when `after` a kill: a node other
/// than the killed one, elected after it, its frequent duties run after it too); its name
/// and the runs of the last hour. The leader is looked up on every try, not fixed
/// beforehand: on two busy cores a lease of 3 s can move between nodes. When none does, says
/// who leads, what it has not run, every run so far and what each node logged of note.
async fn leader_with_every_duty(
    pool: &DbPool,
    after: Option<&KilledLeader<'_>>,
    logs: &[PathBuf],
) -> (String, Vec<DutyRun>) {
    let within = Duration::from_secs(60);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (nodes, runs) = match pool.get().await {
            Ok(mut conn) => (
                list_nodes(&mut conn).await.unwrap_or_default(),
                duty_runs(&mut conn, 1).await.unwrap_or_default(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let leader = nodes.iter().find(|n| {
            n.leader
                && n.alive
                && after.is_none_or(|k| {
                    n.name != k.name && n.leader_since.is_some_and(|since| since > k.at)
                })
        });
        let missing: Vec<&str> = DUTIES
            .into_iter()
            .filter(|d| {
                !leader.is_some_and(|l| {
                    runs.iter().any(|r| {
                        r.duty == *d
                            && r.node == l.name
                            && after
                                .is_none_or(|k| !FREQUENT_DUTIES.contains(d) || r.started_at > k.at)
                    })
                })
            })
            .collect();
        if let Some(leader) = leader.filter(|_| missing.is_empty()) {
            return (leader.name.clone(), runs);
        }
        if tokio::time::Instant::now() > deadline {
            let noted: Vec<String> = logs
                .iter()
                .flat_map(|log| {
                    let name = log.file_stem().unwrap().to_string_lossy().to_string();
                    std::fs::read_to_string(log)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| !l.contains(" INFO ") || l.contains("leader"))
                        .map(|l| format!("{name}: {l}"))
                        .collect::<Vec<_>>()
                })
                .collect();
            let killed = after.map(|k| (k.name, k.at));
            panic!(
                "after {within:?}, no leader (after the kill {killed:?}) has run every duty; \
                 missing {missing:?}\nnodes: {nodes:#?}\nruns: {runs:#?}\n\
                 the nodes' logs (all but routine info):\n{}",
                noted.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    let mut conn = db.pool().get().await.unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_work_and_losing_the_leader_loses_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shared");
    let configs: Vec<Config> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| node_config(&db.url, &root, name))
        .collect();
    let mut nodes_running = Vec::new();
    let mut logs = Vec::new();
    for config in &configs {
        let (serve, log) = start_serve_logged_as(dir.path(), &config.node.name, config).await;
        nodes_running.push(Some(serve));
        logs.push(log);
    }
    let config_paths: Vec<PathBuf> = configs
        .iter()
        .map(|c| dir.path().join(format!("{}.json", c.node.name)))
        .collect();
    let mut conn = db.pool().get().await.unwrap();
    wait_for(
        "three nodes, one leading",
        Duration::from_secs(20),
        || async {
            let nodes = list_nodes(&mut db.pool().get().await.unwrap()).await.ok()?;
            (nodes.iter().filter(|n| n.alive).count() == 3 && nodes.iter().any(|n| n.leader))
                .then_some(())
        },
    )
    .await;

    // A console session made on one node works on another and ends on a third.
    let jar = dir.path().join("cookies");
    let base = |i: usize| format!("http://{}", configs[i].api.listen);
    let (signed, _) = console_curl(
        &jar,
        &[
            &format!("{}/login", base(0)),
            "--data-urlencode",
            &format!("key={KEY}"),
        ],
    );
    assert!(signed.starts_with("303"), "{signed}");
    let (page, html) = console_curl(&jar, &[&format!("{}/jobs", base(1))]);
    assert!(
        page.starts_with("200"),
        "signed in through n1, served by n2: {page}"
    );
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let (out, _) = console_curl(
        &jar,
        &[
            &format!("{}/logout", base(2)),
            "--data-urlencode",
            &format!("csrf={csrf}"),
        ],
    );
    assert!(out.starts_with("303"), "{out}");
    let (after, _) = console_curl(&jar, &[&format!("{}/jobs", base(0))]);
    assert!(
        after.ends_with("/login"),
        "signed out through n3, ended on n1: {after}"
    );

    // 12 uploads through the three nodes' S3 endpoints; the last in parts sent to different nodes.
    let export = export_tar_gz(dir.path());
    for i in 0..11 {
        aws_put(
            &s3_url(&configs[i % 3]),
            &export,
            &format!("bobs_burgers/grid_{i}/dump.tar.gz"),
        );
    }
    let big = large_export(dir.path(), 7);
    let bytes = std::fs::read(&big).unwrap();
    let key = "bobs_burgers/grid_11/dump.tar.gz";
    let s3 = |i: usize, args: &[&str]| {
        let mut all = vec!["s3api"];
        all.extend_from_slice(args);
        let out = aws(&s3_url(&configs[i]), &all);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let started = s3(
        0,
        &["create-multipart-upload", "--bucket", BUCKET, "--key", key],
    );
    let upload_id = started["UploadId"].as_str().unwrap().to_string();
    let cut = 5 * 1024 * 1024 + 1000;
    let mut parts = Vec::new();
    for (number, (node, range)) in [(1, 0..cut), (2, cut..bytes.len())].into_iter().enumerate() {
        let part = dir.path().join(format!("part{number}"));
        std::fs::write(&part, &bytes[range]).unwrap();
        let sent = s3(
            node,
            &[
                "upload-part",
                "--bucket",
                BUCKET,
                "--key",
                key,
                "--upload-id",
                &upload_id,
                "--part-number",
                &(number + 1).to_string(),
                "--body",
                part.to_str().unwrap(),
            ],
        );
        parts.push(serde_json::json!({"PartNumber": number + 1, "ETag": sent["ETag"]}));
    }
    s3(
        0,
        &[
            "complete-multipart-upload",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--upload-id",
            &upload_id,
            "--multipart-upload",
            &serde_json::json!({"Parts": parts}).to_string(),
        ],
    );

    // Two nodes writing one key at once leave one whole object: one writer's bytes, never a mix.
    let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    std::fs::write(&a, vec![b'a'; 3_000_000]).unwrap();
    std::fs::write(&b, vec![b'b'; 3_000_000]).unwrap();
    for round in 0..3 {
        // Outside the upload contract (a key of no customer's grid): stored, never a job.
        let contested = format!("contested-{round}.bin");
        std::thread::scope(|scope| {
            scope.spawn(|| aws_put(&s3_url(&configs[0]), &a, &contested));
            scope.spawn(|| aws_put(&s3_url(&configs[1]), &b, &contested));
        });
        let got = dir.path().join("got.bin");
        let out = aws(
            &s3_url(&configs[2]),
            &[
                "s3",
                "cp",
                &format!("s3://{BUCKET}/{contested}"),
                got.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let bytes = std::fs::read(&got).unwrap();
        assert!(
            bytes == std::fs::read(&a).unwrap() || bytes == std::fs::read(&b).unwrap(),
            "round {round}: one writer's object, whole"
        );
    }

    // 600 mails through the mailhandler, as the three nodes' Postfix hand them over.
    let paths = config_paths.clone();
    let delivering = tokio::task::spawn_blocking(move || {
        // Paced over some 20 s, so the leader dies with mail still arriving.
        for i in 0..MAILS {
            deliver(&paths[i % 3], &alert(i));
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    // A third of the mail in: the leader dies with jobs to do and mail still arriving.
    wait_for("200 mails in", Duration::from_secs(120), || async {
        let mails = count(
            &db,
            "SELECT count(*) AS n FROM jobs WHERE job_type <> 'veritas2hview'",
        )
        .await;
        (mails >= MAILS as i64 / 3).then_some(())
    })
    .await;

    // The leader dies while it works: kill -9, never restarted. Before it dies, it has run
    // every duty (so both it and its successor can be seen to have run them).
    let pool = db.pool();
    let (first_leader, killed_at) = loop {
        let (leader, _) = leader_with_every_duty(&pool, None, &logs).await;
        // Killed while it holds a job, if it can be caught at it within 3 s (jobs take
        // milliseconds).
        let mut caught = false;
        let catching = tokio::time::Instant::now() + Duration::from_secs(3);
        while !caught && tokio::time::Instant::now() < catching {
            let holding = count(
                &db,
                &format!("SELECT count(*) AS n FROM jobs WHERE state = 'running' AND locked_by LIKE '{leader}:%'"),
            )
            .await;
            caught = holding > 0;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Still the leader? (Else it is looked for again: the kill must take the leader.)
        let nodes = list_nodes(&mut pool.get().await.unwrap()).await.unwrap();
        if !nodes.iter().any(|n| n.name == leader && n.leader) {
            continue;
        }
        assert!(
            !delivering.is_finished(),
            "the leader dies with mail still arriving"
        );
        let done_before = count(&db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'").await;
        println!("killing the leader {leader} (holding a job: {caught}; {done_before} jobs done)");
        let index = configs.iter().position(|c| c.node.name == leader).unwrap();
        let mut killed = nodes_running[index].take().unwrap();
        killed.0.kill().unwrap();
        killed.0.wait().unwrap();
        let at = diesel::sql_query("SELECT now() AS now")
            .get_result::<Now>(&mut pool.get().await.unwrap())
            .await
            .unwrap()
            .now;
        break (leader, at);
    };
    let killed = KilledLeader {
        name: &first_leader,
        at: killed_at,
    };
    delivering.await.unwrap();

    // Everything ends done, on the nodes still alive.
    let expected = (MAILS + 12) as i64;
    wait_for("612 jobs done", Duration::from_secs(180), || async {
        let done = count(&db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'").await;
        (done == expected).then_some(())
    })
    .await;
    assert_eq!(count(&db, "SELECT count(*) AS n FROM jobs").await, expected);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM (SELECT job_id FROM job_events WHERE status = 'done' GROUP BY job_id HAVING count(*) > 1) twice").await,
        0,
        "no job was done twice"
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM hydrastor_alerts").await,
        MAILS as i64
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT job_group) AS n FROM jobs
             WHERE job_type = 'veritas2hview' AND (result->'rows'->>'netbackup_jobs')::int > 0"
        )
        .await,
        12,
        "every upload's rows, the multipart one's included"
    );
    let pending = shared_modules::inbox::pending_summary(&root).unwrap();
    assert_eq!(pending.count, 0, "no ticket left");

    // Leadership moves to a live node once the dead one's lease lapses (every job may be
    // done before it does, so wait for another name, not for any leader), the new leader
    // runs every duty, and it says so in its log.
    let (leader, runs) = leader_with_every_duty(&pool, Some(&killed), &logs).await;
    // Its last beat promised another a little later than its lease ran: listed dead after.
    wait_for(
        "the killed leader listed as dead",
        Duration::from_secs(30),
        || async {
            let nodes = list_nodes(&mut db.pool().get().await.unwrap()).await.ok()?;
            nodes
                .iter()
                .any(|n| n.name == first_leader && !n.alive && !n.leader)
                .then_some(())
        },
    )
    .await;
    let new_index = configs.iter().position(|c| c.node.name == leader).unwrap();
    let log = std::fs::read_to_string(&logs[new_index]).unwrap();
    assert!(
        log.contains("this node is now the cluster's leader"),
        "{log}"
    );
    // Trail events say which node wrote them: all three nodes did some of the work.
    #[derive(QueryableByName)]
    struct Node {
        #[diesel(sql_type = Text)]
        node: String,
    }
    let writers: Vec<Node> = diesel::sql_query(
        "SELECT DISTINCT node FROM job_events WHERE node IS NOT NULL AND step = 'claim'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let writers: Vec<&str> = writers.iter().map(|w| w.node.as_str()).collect();
    assert!(writers.len() >= 2, "claims from several nodes: {writers:?}");

    // Every duty: one node at a time, and it ran on the dead leader and then on its
    // successor. A run the kill cut short has no end: it went on until the kill at most.
    for duty in DUTIES {
        let mine: Vec<_> = runs.iter().filter(|r| r.duty == duty).collect();
        let on: std::collections::BTreeSet<&str> = mine.iter().map(|r| r.node.as_str()).collect();
        assert!(
            on.contains(first_leader.as_str()) && on.contains(leader.as_str()),
            "{duty} ran on {on:?}"
        );
        for pair in mine.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.node != b.node {
                let ended = a.finished_at.unwrap_or(if a.node == first_leader {
                    killed_at
                } else {
                    DateTime::<Utc>::MAX_UTC
                });
                assert!(ended <= b.started_at, "{duty}: {a:?} and {b:?} overlap");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_signs_nobody_out() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(&db.url, &dir.path().join("root"), "solo");
    let serve = start_serve(dir.path(), &config).await;
    let jar = dir.path().join("cookies");
    let base = format!("http://{}", config.api.listen);
    let (signed, _) = console_curl(
        &jar,
        &[
            &format!("{base}/login"),
            "--data-urlencode",
            &format!("key={KEY}"),
        ],
    );
    assert!(signed.starts_with("303"), "{signed}");
    drop(serve);
    let again = start_serve(dir.path(), &config).await;
    let (page, _) = console_curl(&jar, &[&format!("{base}/jobs")]);
    assert!(
        page.starts_with("200"),
        "still signed in after the restart: {page}"
    );
    // The database keeps the token's digest only.
    let cookie = std::fs::read_to_string(&jar).unwrap();
    let token = cookie
        .lines()
        .last()
        .unwrap()
        .rsplit('\t')
        .next()
        .unwrap()
        .to_string();
    let stored = count(
        &db,
        &format!("SELECT count(*) AS n FROM console_sessions WHERE token_sha256 = sha256('{token}'::bytea)"),
    )
    .await;
    assert_eq!(stored, 1);
    assert_eq!(
        count(&db, &format!("SELECT count(*) AS n FROM console_sessions WHERE encode(token_sha256, 'hex') = '{token}' OR csrf = '{token}'")).await,
        0
    );
    // The key it signed in with leaves api.keys (a leaked key replaced): the session ends.
    drop(again);
    let mut rotated = config.clone();
    rotated.api.keys = vec!["a-new-operator-key-0123456789".into()];
    let _third = start_serve(dir.path(), &rotated).await;
    let (page, _) = console_curl(&jar, &[&format!("{base}/jobs")]);
    assert!(
        page.ends_with("/login"),
        "a removed key's session ends: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_starting_at_once_migrate_once() {
    let admin = shared_modules::testing::admin_url();
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = format!("dp_race_{}", std::process::id());
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let mut config = shared_modules::testing::test_config(&url, dir.path());
    config.database.url = url.clone();
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    let racers: Vec<_> = (0..3)
        .map(|_| {
            Command::new(BIN)
                .args(["--config", path.to_str().unwrap(), "migrate"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = racers
        .into_iter()
        .map(|r| r.wait_with_output().unwrap())
        .collect();
    for out in &outcomes {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (migrated, migrations_conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(migrations_conn);
    let rows = migrated
        .query_one("SELECT count(*) FROM __diesel_schema_migrations", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    let known = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared_modules/migrations"
    ))
    .unwrap()
    .flatten()
    .filter(|e| e.path().is_dir())
    .count() as i64;
    assert_eq!(rows, known, "each migration applied once");
    drop(migrated);
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}
