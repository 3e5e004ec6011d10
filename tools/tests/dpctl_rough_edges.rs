//! dpctl for a newcomer (issue 22): a database it cannot reach is named (host:port and the
//! cause, never the password), and every command piped into `head`, `less` or `grep -q`
//! ends quietly when the reader goes away.
//!
//! A refused password is not tested here: the local Postgres trusts every connection, so
//! no password is ever checked. The same path carries Postgres's own message (tested with
//! a database that does not exist), which for a wrong password is `password authentication
//! failed for user "…"`.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{BIN, dpctl};
use shared_modules::config::Config;
use shared_modules::testing::{TestDb, test_config};
use std::path::Path;
use std::process::{Command, Stdio};

fn write(dir: &Path, config: &Config) -> std::path::PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string(config).unwrap()).unwrap();
    path
}

/// dpctl's one line for a database URL, with a password in it that must never show.
fn database_error(url: &str, timeout_seconds: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(url, dir.path());
    config.database.connect_timeout_seconds = timeout_seconds;
    let path = write(dir.path(), &config);
    let (code, out, err) = dpctl(&path, &["jobs", "list"]);
    assert_eq!(code, 75, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        !err.contains("pw-never-shown"),
        "the password leaked: {err}"
    );
    err
}

#[test]
fn a_closed_port_is_named_with_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // free again once the listener is dropped: nothing listens there
    let err = database_error(
        &format!("postgres://postgres:pw-never-shown@127.0.0.1:{port}/none"),
        2,
    );
    assert!(
        err.contains(&format!(
            "cannot reach the database: 127.0.0.1:{port}: connection refused"
        )),
        "{err}"
    );
}

#[test]
fn a_silent_server_is_a_timeout_after_n_seconds() {
    // Accepts connections and never answers, as a black-holed server does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let err = database_error(
        &format!("postgres://postgres:pw-never-shown@127.0.0.1:{port}/none"),
        1,
    );
    assert!(
        err.contains(&format!("127.0.0.1:{port}: timeout after 1 s")),
        "{err}"
    );
}

#[test]
fn postgres_own_refusal_is_shown() {
    let err = database_error(
        "postgres://postgres:pw-never-shown@127.0.0.1:5432/no_such_database_here",
        5,
    );
    assert!(
        err.contains(r#"127.0.0.1:5432: database "no_such_database_here" does not exist"#),
        "{err}"
    );
}

/// `dpctl … | head -0`: the reader is gone before dpctl writes its first line. Every
/// command ends with 0 and nothing on stderr (before: exit 101, `failed printing to stdout:
/// Broken pipe` and a backtrace hint).
#[tokio::test]
async fn every_command_ends_quietly_when_its_reader_goes_away() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&db.url, dir.path());
    let path = write(dir.path(), &config);
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mailhandler/tests/fixtures/alert.eml"
    );
    // A job to list and show.
    let (code, _, err) = dpctl(
        &path,
        &[
            "mail",
            "inject",
            fixture,
            "--sender",
            "hs-reports@grid-a.bobsburgers.example",
            "--recipient",
            "bobs_burgers@ingest.hview.example",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for args in [
        &["config", "check"][..],
        &["jobs", "list"],
        &["jobs", "list", "--json"],
        &["jobs", "show", "1"],
        &["jobs", "show", "1", "--json"],
        &["quarantine", "list"],
        &["mail", "pending"],
        &["uploads", "pending"],
        &["db", "migrate"],
        &["cleanup", "--dry-run"],
        &["--help"],
        &["jobs", "--help"],
    ] {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
