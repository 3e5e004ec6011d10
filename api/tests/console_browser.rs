//! The operator console in a real headless Chromium: `tests/browser/console.py` (selenium
//! driving Debian's chromium and chromedriver) signs in, opens a mail's job and its trail,
//! retries it and sees the retry, releases a quarantined mail and deletes another, and
//! checks the session,
//! CSRF, the keyboard and phone width against a real `dataprocessor serve`.
//! `CONSOLE_SCREENSHOTS=docs` also saves a screenshot of each view there (README).

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::*;
use shared_modules::mail::Envelope;
use shared_modules::testing::{TestDb, wait_for};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    // Only the grid may send: mail from anyone else is quarantined.
    let mut config = embedded_config(&db.url, dir.path());
    config.customers[0].allowed_senders = vec!["grid.example".into()];
    let serve = start_serve(dir.path(), &config).await;
    let api = api_url(&config);

    // Mail as Postfix hands it over: a system report and an alert from the grid, an alert
    // forwarded by a colleague and a spam (both quarantined: sender not allowed).
    let now = chrono::Utc::now();
    let recipient = "bobs_burgers@ingest.hview.example";
    let alert_mail = fixture("modules/hydrastor/alert/fixtures/five_severities.eml");
    let mut forwarded = b"X-Forwarded-By: a colleague\r\n".to_vec();
    forwarded.extend_from_slice(&alert_mail);
    let spam = b"From: offers@spam.example\r\nSubject: You won!\r\n\r\nClick here\r\n".to_vec();
    for (mail, sender) in [
        (
            fixture("modules/hydrastor/system_report/fixtures/plain_body.eml"),
            "hs@grid.example",
        ),
        (alert_mail, "hs@grid.example"),
        (forwarded, "colleague@elsewhere.example"),
        (spam, "offers@spam.example"),
    ] {
        shared_modules::mail::accept(
            &config,
            &Envelope {
                raw: &mail,
                sender,
                recipient,
                received_at: now,
            },
        )
        .unwrap();
    }
    let (alert, quarantined, spam) =
        wait_for("the mails' jobs", Duration::from_secs(60), || async {
            let jobs = api_get(&format!("{api}/jobs"))["jobs"]
                .as_array()
                .cloned()?;
            let alert = jobs
                .iter()
                .find(|j| j["type"] == "alert" && j["state"] == "done")?["id"]
                .as_i64()?;
            let from = |sender: &str| {
                jobs.iter()
                    .find(|j| j["state"] == "quarantined" && j["metadata"]["sender"] == sender)
                    .and_then(|j| j["id"].as_i64())
            };
            let all_done = jobs
                .iter()
                .all(|j| matches!(j["state"].as_str(), Some("done" | "quarantined")));
            let ids = (
                alert,
                from("colleague@elsewhere.example")?,
                from("offers@spam.example")?,
            );
            (all_done && jobs.len() == 4).then_some(ids)
        })
        .await;
    // The operator allows the colleague's address (config.json, restart): now the
    // quarantined mail can be released.
    drop(serve);
    config.customers[0].allowed_senders.clear();
    let _serve = start_serve(dir.path(), &config).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.py");
    let mut run = Command::new("python3");
    run.arg(&script)
        .arg(format!("http://{}", config.api.listen))
        .arg(KEY)
        .arg(alert.to_string())
        .arg(quarantined.to_string())
        .arg(spam.to_string());
    if let Ok(shots) = std::env::var("CONSOLE_SCREENSHOTS") {
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        run.arg(shots);
    }
    let out = run
        .output()
        .expect("python3 with selenium is required: run scripts/services.sh browser");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all console checks passed"), "{text}");

    // The same overdue grid is a metric for alerting.
    let metrics = || {
        let out = Command::new("curl")
            .args(["-s", &format!("http://{}/metrics", config.api.listen)])
            .args(["-H", &format!("X-Api-Key: {KEY}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // The table gauges come from the leader. The restarted node is a new instance under the
    // same name: it leads once the killed one's lease lapses (within `node.lease_seconds`).
    wait_for(
        "the restarted node to lead",
        Duration::from_secs(40),
        || async {
            metrics()
                .lines()
                .any(|line| line == "dataprocessor_leader 1")
                .then_some(())
        },
    )
    .await;
    let first = metrics();
    assert!(
        first.contains("dataprocessor_grids_report_overdue 1"),
        "{first}"
    );
    // A grid heard of only through an alert has sent no daily report: overdue too, on the
    // page and in the metric alike (one definition).
    {
        use diesel_async::RunQueryDsl;
        let mut conn = db.pool().get().await.unwrap();
        diesel::sql_query(
            "INSERT INTO hydrastor_alerts (customer, grid_name, node_name, event_id, occurred_at, severity, received_at)
             VALUES ('bobs_burgers', 'quiet_grid', 'sn001', 'E1', now(), 'Warning', now())",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    wait_for(
        "the metric to count the grid that never reported",
        Duration::from_secs(30),
        || async {
            metrics()
                .contains("dataprocessor_grids_report_overdue 2")
                .then_some(())
        },
    )
    .await;
    let jar = dir.path().join("cookies");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-c",
                jar.to_str().unwrap(),
                "-b",
                jar.to_str().unwrap(),
            ])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    curl(&[
        "-d",
        &format!("key={KEY}"),
        &format!("http://{}/login", config.api.listen),
    ]);
    let grids = curl(&[&format!("http://{}/grids", config.api.listen)]);
    assert!(
        grids.contains("quiet_grid") && grids.matches("strong class=\"flag\"").count() == 2,
        "{grids}"
    );

    // What the browser did is in the database: the quarantined mail became a new job.
    let released = api_get(&format!("{api}/jobs/{quarantined}"));
    assert_eq!(released["state"], "cancelled", "{released}");
    assert!(
        released["result"]["released_as"].as_i64().is_some(),
        "{released}"
    );
}
