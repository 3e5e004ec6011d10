//! The image as it runs in production, built by `scripts/image.sh` (podman here, from the
//! test's own binaries) and started with host networking against the host's Postgres, the
//! data root and the log folder mounted: SMTP to its Postfix becomes a row; a mail injected
//! by `exec -u 0 … dpctl` for a new group does not block the SMTP mail for that group;
//! `dpctl jobs list` shows the jobs; the logs land in the mounted folder; the health check
//! turns healthy; `stop` (SIGTERM) drains and the container exits 0. It runs as production
//! does (issue 29): on 0.0.0.0 with generated secrets and a certificate whose key is root's
//! alone; the image's own published defaults on 0.0.0.0 are refused at start.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::free_port;
use shared_modules::jobs::JobState;
use shared_modules::testing::{TestDb, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const ALERT: &str = include_str!("../../mailhandler/tests/fixtures/alert.eml");
const RECIPIENT: &str = "bobs_burgers@ingest.hview.example";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test ({e}): run scripts/services.sh podman")
        })
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `openssl rand -hex 32`, as the README makes a secret.
fn generated() -> String {
    ok("openssl", &["rand", "-hex", "32"]).trim().to_string()
}

/// Removes the container however the test ends.
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", &self.0]).output();
    }
}

fn smtp(port: u16, mail: &Path) {
    ok(
        "swaks",
        &[
            "--server",
            &format!("127.0.0.1:{port}"),
            "--from",
            "hs-alerts@grid-a.bobsburgers.example",
            "--to",
            RECIPIENT,
            "--data",
            mail.to_str().unwrap(),
        ],
    );
}

async fn wait_done(db: &TestDb, group: &str, at_least: usize) -> Vec<shared_modules::jobs::Job> {
    let pool = db.pool();
    wait_for(
        &format!("{at_least} done job(s) of group {group}"),
        Duration::from_secs(60),
        || async {
            let mut conn = pool.get().await.unwrap();
            let filter = shared_modules::jobs::JobFilter {
                limit: 100,
                ..Default::default()
            };
            let page = shared_modules::jobs::list_jobs(&mut conn, &filter)
                .await
                .unwrap();
            let jobs: Vec<_> = page
                .jobs
                .into_iter()
                .filter(|j| j.job_group == group)
                .collect();
            for job in &jobs {
                assert_ne!(job.state, JobState::Error, "{:?}", job.error);
            }
            (jobs.iter().filter(|j| j.state == JobState::Done).count() >= at_least).then_some(jobs)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_takes_mail_and_commands_and_stops_cleanly() {
    let binaries = Path::new(env!("CARGO_BIN_EXE_dataprocessor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let built = Command::new(repo().join("scripts/image.sh"))
        .env("IMAGE_BINARIES", &binaries)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "scripts/image.sh failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (mailbox, logs) = (dir.path().join("mailbox"), dir.path().join("logs"));
    std::fs::create_dir_all(&mailbox).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let (smtp_port, api_port) = (free_port(), free_port());
    let name = format!("hview-test-{}", std::process::id());

    // The image's defaults (config.json's published key and S3 pair) beyond loopback: serve
    // refuses at start, naming the setting, and the container exits.
    let defaults = Container(format!("{name}-defaults"));
    let refused = run(
        "timeout",
        &[
            "120",
            "podman",
            "run",
            "--rm",
            "--name",
            &defaults.0,
            "--network",
            "host",
            "-e",
            &format!("DATABASE_URL={}", db.url),
            "-e",
            &format!("HVIEW_SMTP_PORT={}", free_port()),
            "-e",
            &format!("DP__API__LISTEN=0.0.0.0:{api_port}"),
            "-e",
            "DP__LOGGING__DIRECTORY=null",
            "hview/dataprocessor:latest",
        ],
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    // Serve's status, given by the entrypoint (not timeout's 124: the container stops whole).
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("`api.keys[0]`") && said.contains("openssl rand -hex 32"),
        "{said}"
    );
    drop(defaults);

    // Production's settings: generated secrets, TLS with a key only root may read.
    let (api_key, s3_secret) = (generated(), generated());
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let container = Container(name.clone());
    ok(
        "podman",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-e",
            &format!("DATABASE_URL={}", db.url),
            "-e",
            &format!("HVIEW_SMTP_PORT={smtp_port}"),
            "-e",
            &format!("DP__API__LISTEN=0.0.0.0:{api_port}"),
            "-e",
            &format!("DP__API__KEYS=[\"{api_key}\"]"),
            "-e",
            &format!("DP__S3__SECRET_ACCESS_KEY={s3_secret}"),
            "-e",
            "DP__API__TLS_CERTIFICATE=/etc/hview/tls/cert.pem",
            "-e",
            "DP__API__TLS_PRIVATE_KEY=/etc/hview/tls/key.pem",
            "-v",
            &format!("{}:/etc/hview/tls:ro", tls.display()),
            "-v",
            &format!("{}:/home/mailbox", mailbox.display()),
            "-v",
            &format!("{}:/var/log/hview", logs.display()),
            "hview/dataprocessor:latest",
        ],
    );
    wait_for(
        "the container's SMTP port",
        Duration::from_secs(60),
        || async {
            std::net::TcpStream::connect(("127.0.0.1", smtp_port))
                .ok()
                .map(|_| ())
        },
    )
    .await;

    // SMTP an alert to the container's Postfix: a row in Postgres.
    let first = dir.path().join("first.eml");
    std::fs::write(&first, ALERT).unwrap();
    smtp(smtp_port, &first);
    let jobs = wait_done(&db, "sn004", 1).await;
    assert_eq!(
        jobs[0].result.as_ref().unwrap()["rows"]["hydrastor_alerts"],
        1
    );

    // As root, through exec, inject a mail for a new group; then SMTP one for that group.
    let injected = ALERT.replace("fryer_grid/sn004", "fryer_grid/sn777");
    std::fs::write(dir.path().join("injected.eml"), &injected).unwrap();
    ok(
        "podman",
        &[
            "cp",
            dir.path().join("injected.eml").to_str().unwrap(),
            &format!("{name}:/tmp/injected.eml"),
        ],
    );
    ok(
        "podman",
        &[
            "exec",
            "-u",
            "0",
            &name,
            "dpctl",
            "mail",
            "inject",
            "/tmp/injected.eml",
            "--sender",
            "hs@grid.example",
            "--recipient",
            RECIPIENT,
        ],
    );
    let second = dir.path().join("second.eml");
    std::fs::write(
        &second,
        injected.replace("Message-ID: <", "Message-ID: <smtp-"),
    )
    .unwrap();
    smtp(smtp_port, &second);
    wait_done(&db, "sn777", 2).await;

    // The API answers over TLS with the generated key (the certificate is the mounted one).
    let health = ok(
        "curl",
        &[
            "-sS",
            "--cacert",
            cert.to_str().unwrap(),
            "-H",
            &format!("X-Api-Key: {api_key}"),
            &format!("https://localhost:{api_port}/api/1.0/health"),
        ],
    );
    assert!(health.contains(r#""status":"ok""#), "{health}");

    let listed = ok("podman", &["exec", &name, "dpctl", "jobs", "list"]);
    assert!(
        listed.contains("hydrastor/alert/sn777") && listed.contains("hydrastor/alert/sn004"),
        "{listed}"
    );

    let files: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    for component in ["dataprocessor_api", "dataprocessor_mailhandler"] {
        assert!(
            files.iter().any(|f| f.starts_with(component)),
            "{component} in {files:?}"
        );
    }

    wait_for(
        "the health check to pass",
        Duration::from_secs(60),
        || async {
            run("podman", &["healthcheck", "run", &name])
                .status
                .success()
                .then_some(())
        },
    )
    .await;

    ok("podman", &["stop", "-t", "30", &name]);
    let code = ok(
        "podman",
        &["inspect", &name, "--format", "{{.State.ExitCode}}"],
    );
    assert_eq!(code.trim(), "0", "the container exits 0 after SIGTERM");
    drop(container);
}
