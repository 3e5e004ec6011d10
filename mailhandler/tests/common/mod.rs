//! Helpers shared by the mailhandler tests: a config for a fresh database, and running the
//! real binary the way Postfix does.

#![allow(dead_code, clippy::unwrap_used)]

use shared_modules::config::{Config, CustomerConfig};
use shared_modules::testing::test_config;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailhandler");
pub const RECIPIENT: &str = "bobs_burgers@ingest.hview.example";
pub const SENDER: &str = "hsadmin@icecream-machine.bobsburgers.example";

pub fn config(db_url: &str, root: &Path) -> Config {
    let mut config = test_config(db_url, root);
    config.customers = vec![CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec![RECIPIENT.into()],
        allowed_senders: vec![
            "bobsburgers.example".into(),
            "icecream-machine.bobsburgers.example".into(),
        ],
    }];
    config.logging.directory = Some(root.join("logs"));
    config
}

pub fn write_config(dir: &Path, config: &Config) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(config_path: &Path, sender: &str, recipient: &str, message: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(["--config", config_path.to_str().unwrap(), sender, recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The handler may exit before reading (a bad config): a broken pipe is fine here.
    let _ = child.stdin.take().unwrap().write_all(message);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Every directory directly holding a `message.eml` under `dir`.
pub fn deliveries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "message.eml") {
                found.push(d.clone());
            }
        }
    }
    found.sort();
    found
}

/// What `dataprocessor serve` does with the tickets, done now.
pub async fn ingest(cfg: &Config) -> shared_modules::inbox::IngestReport {
    ingest_with_grace(cfg, std::time::Duration::from_secs(60)).await
}

/// `ingest`, taking over tickets whose delivery is older than `grace` without a directory.
pub async fn ingest_with_grace(
    cfg: &Config,
    grace: std::time::Duration,
) -> shared_modules::inbox::IngestReport {
    use diesel_async::AsyncConnection;
    let mut conn = diesel_async::AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    shared_modules::inbox::ingest_tickets(
        &mut conn,
        &cfg.paths.root,
        grace,
        usize::MAX,
        &shared_modules::mail::derive,
    )
    .await
    .unwrap()
}

/// The job of `mail` delivered to `recipient`, once its ticket is ingested.
pub async fn job_of(cfg: &Config, recipient: &str, mail: &[u8]) -> shared_modules::jobs::Job {
    use diesel_async::AsyncConnection;
    let mut conn = diesel_async::AsyncPgConnection::establish(&cfg.database.url)
        .await
        .unwrap();
    let key = shared_modules::mail::dedupe_key(recipient, mail);
    let (id, _, _) = shared_modules::jobs::job_for_key(&mut conn, &key)
        .await
        .unwrap()
        .expect("the mail has a job");
    shared_modules::jobs::find_job(&mut conn, id)
        .await
        .unwrap()
        .unwrap()
}

/// The tickets waiting in the data root.
pub fn tickets(root: &Path) -> usize {
    shared_modules::inbox::pending_summary(root).unwrap().count
}
