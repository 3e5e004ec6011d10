//! Upgrades are safe: `dataprocessor serve` refuses, in one line naming both versions, a
//! database whose schema a binary of another RELEASE.MAJOR migrated, and runs on one a newer
//! binary of its own RELEASE.MAJOR migrated (such migrations only add).

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{BIN, free_port};
use shared_modules::testing::{TestDb, test_config};
use std::process::Command;
use std::time::{Duration, Instant};

/// The database as a newer binary (`version`) with one more migration would leave it.
async fn migrated_by(db_url: &str, version: &str) {
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000001') ON CONFLICT DO NOTHING;
             UPDATE schema_release SET version = '{version}'"
        ))
        .await
        .unwrap();
}

fn next(major_or_minor: usize) -> String {
    let mut parts: Vec<u64> = build_info::VERSION
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    parts[major_or_minor] += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_schema_of_another_major_and_runs_on_a_newer_minor() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, &dir.path().join("mailbox"));
    config.api.listen = format!("127.0.0.1:{}", free_port());
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();

    let newer_major = next(1);
    migrated_by(&db.url, &newer_major).await;
    let started = Instant::now();
    let refused = Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refused at once, not after the minute of retries a database still starting gets"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("dataprocessor: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains(&newer_major) && line.contains(build_info::VERSION),
        "names both versions: {line}"
    );
    assert!(line.contains("another RELEASE.MAJOR"), "{line}");

    // A newer MINOR of the same RELEASE.MAJOR: serve runs, and does not record itself over it.
    let newer_minor = next(2);
    migrated_by(&db.url, &newer_minor).await;
    let _serve = common::start_serve(dir.path(), &config).await;
    let health = common::api_get(&format!("http://{}/api/1.0/health", config.api.listen));
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["version"], build_info::VERSION, "{health}");
    assert_eq!(health["commit"], build_info::COMMIT, "{health}");
    let sign_in = Command::new("curl")
        .args(["-s", &format!("http://{}/login", config.api.listen)])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&sign_in.stdout);
    assert!(
        page.contains(&format!(
            "DataProcessor {} · commit {}",
            build_info::VERSION,
            build_info::COMMIT
        )),
        "the console's footer: {page}"
    );
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let recorded: String = client
        .query_one("SELECT version FROM schema_release", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        recorded, newer_minor,
        "an older binary never records itself over a newer one"
    );
}

#[test]
fn every_binary_says_its_version_and_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!(
            "dataprocessor {} (commit {})",
            build_info::VERSION,
            build_info::COMMIT
        )
    );
    assert_ne!(build_info::COMMIT, "unknown", "built in a git checkout");
}
