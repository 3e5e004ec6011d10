//! The real `dataprocessor` binary: `migrate` on an empty database, `serve` answering
//! health with curl, refusing requests without a key, and stopping cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::BIN;
use common::free_port;
use shared_modules::testing::{TestDb, test_config, wait_for};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn curl(args: &[&str]) -> (u16, String) {
    let out: Output = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

fn write_config(dir: &Path, db_url: &str, port: u16) -> std::path::PathBuf {
    let mut config = test_config(db_url, &dir.join("mailbox"));
    config.api.listen = format!("127.0.0.1:{port}");
    config.logging.directory = Some(dir.join("logs"));
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn migrate_then_serve_answers_health_and_stops_on_sigterm() {
    // An empty database, not the migrated template.
    let db = TestDb::new().await;
    let empty_name = format!("{}_empty", db.name);
    let admin = shared_modules::testing::admin_url();
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {empty_name}"))
        .await
        .unwrap();
    let url = db.url.replace(&db.name, &empty_name);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), &url, port);
    let migrate = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared_modules/migrations"
    ))
    .unwrap()
    .count();
    let stdout = String::from_utf8_lossy(&migrate.stdout);
    assert!(
        stdout.contains(&format!("applied {migrations} migration(s)")),
        "{stdout}"
    );
    let again = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "database is up to date"
    );

    let mut serve = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let health_url = format!("http://127.0.0.1:{port}/api/1.0/health");
    let body = wait_for("health to answer 200", Duration::from_secs(30), || async {
        let (code, body) = curl(&["-H", "X-Api-Key: test-key-0123456789abcdef", &health_url]);
        (code == 200).then_some(body)
    })
    .await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["checks"]["database"]["ok"], true);

    let (code, body) = curl(&[&health_url]);
    assert_eq!(code, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"]["code"],
        "unauthorized"
    );

    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not exit within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "serve exited with {status:?} after SIGTERM"
    );
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .flatten()
        .collect();
    let api_log = logs
        .iter()
        .find(|f| {
            f.file_name()
                .to_string_lossy()
                .starts_with("dataprocessor_api.log")
        })
        .expect("the API's log file");
    // One line per request, the refused one included; the key only as a digest.
    let log = std::fs::read_to_string(api_log.path()).unwrap();
    let requests: Vec<&str> = log.lines().filter(|l| l.contains(" request ")).collect();
    assert!(
        requests.iter().any(|l| l.contains("status=401")
            && l.contains("path=/api/1.0/health")
            && l.contains("method=GET")
            && l.contains("client=127.0.0.1")
            && l.contains("key=-")),
        "{log}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("status=200") && l.contains("key=sha256:")),
        "{log}"
    );
    assert!(
        !log.contains("test-key-0123456789abcdef"),
        "a key was logged"
    );
    client
        .batch_execute(&format!("DROP DATABASE {empty_name} WITH (FORCE)"))
        .await
        .unwrap();
}

#[test]
fn a_bad_config_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"workers": {"concurrency": 0}}"#).unwrap();
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("workers.concurrency"), "{stderr}");
    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent/config.json", "migrate"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/config.json"));
}
