//! dpctl for a newcomer (issue 22): a database it cannot reach is named (host:port and the
//! cause, never the password), and every command piped into `head`, `less` or `grep -q`
//! ends quietly when the reader goes away.
//!
//! The machine's Postgres trusts every connection, so a refused password is tested against
//! a small cluster of its own (initdb with scram-sha-256, as the postgres user: needs root,
//! as the suite does).

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

/// A Postgres cluster that checks passwords (`right-pw`), stopped and removed when dropped.
struct PasswordCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl PasswordCluster {
    /// The installed server's programs (Debian: /usr/lib/postgresql/<major>/bin).
    fn bin() -> String {
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        found.sort();
        let bin = found
            .pop()
            .expect("PostgreSQL's initdb (scripts/services.sh installs it)");
        bin.display().to_string()
    }

    fn as_postgres(command: &str) {
        let status = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", command])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "as postgres: {command}");
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chown postgres (needs root, as the suite)"
        );
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, "right-pw\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        Self::as_postgres(&format!(
            "{bin}/initdb -D {d}/data -A scram-sha-256 --pwfile={d}/pwfile -U postgres",
            bin = Self::bin()
        ));
        Self::as_postgres(&format!(
            "{bin}/pg_ctl -D {d}/data -l {d}/log -w start -o '-p {port} -k {d} -c listen_addresses=127.0.0.1'",
            bin = Self::bin()
        ));
        PasswordCluster { dir, port }
    }
}

impl Drop for PasswordCluster {
    fn drop(&mut self) {
        let d = self.dir.path().display();
        Self::as_postgres(&format!(
            "{bin}/pg_ctl -D {d}/data -m immediate -w stop",
            bin = Self::bin()
        ));
    }
}

#[test]
fn a_wrong_password_is_named_and_never_shown() {
    let cluster = PasswordCluster::start();
    let port = cluster.port;
    let err = database_error(
        &format!("postgres://postgres:pw-never-shown@127.0.0.1:{port}/postgres"),
        5,
    );
    assert!(
        err.contains(&format!(
            r#"127.0.0.1:{port}: password authentication failed for user "postgres""#
        )),
        "{err}"
    );
    drop(cluster);
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
