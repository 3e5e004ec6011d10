//! The README's production section followed with the engine this machine has (podman): the
//! image built by `scripts/image.sh` (from the test's own binaries) carries the OCI labels
//! and its dpctl says the version and commit; a command given to the image runs instead of
//! the service; the image's own published defaults on 0.0.0.0 are refused at start. Then, in
//! a folder of its own, the README's own ```sh blocks, read from README.md and run with bash:
//! the secrets and the certificate, `podman run` (host network, the host's Postgres), the
//! check, SMTP to its Postfix becoming rows, a mail injected by `exec -u 0 … dpctl` for a
//! new group not blocking the SMTP mail for that group, the API over TLS with the generated
//! key, the backup (compose's `docker run … tar` line through podman too), the restore (what
//! came after the backup is gone), the upgrade by tag (the data stays), and `stop`
//! (SIGTERM) draining to exit 0.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::free_port;
use shared_modules::jobs::JobState;
use shared_modules::testing::{TestDb, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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

/// Removes the container however the test ends.
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", &self.0]).output();
    }
}

/// Removes the production folder's container and named volumes however the test ends.
struct Production(String);
impl Drop for Production {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", "hview.data"])
            .output();
        for volume in ["mailbox", "logs"] {
            let _ = Command::new("podman")
                .args(["volume", "rm", "-f", &format!("{}_{volume}", self.0)])
                .output();
        }
    }
}

/// The one production block holding `needle`.
fn block(blocks: &[String], needle: &str) -> String {
    let found: Vec<&String> = blocks.iter().filter(|b| b.contains(needle)).collect();
    assert_eq!(found.len(), 1, "one README production block has {needle:?}");
    found[0].clone()
}

/// Runs a README block with bash in `dir`, as an operator pasting it there would.
fn run_block(dir: &Path, block: &str) -> Output {
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok_block(dir: &Path, block: &str) -> String {
    let out = run_block(dir, block);
    assert!(
        out.status.success(),
        "README block failed:\n{block}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs a README block until it succeeds (the service still starting), or fails with its
/// last words after a minute.
async fn until_ok(dir: &Path, block: &str) {
    for _ in 0..60 {
        if run_block(dir, block).status.success() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let out = run_block(dir, block);
    let logs = run("podman", &["logs", "--tail", "15", "hview.data"]);
    panic!(
        "README block failed:\n{block}\n{}{}\nthe container's last words:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
}

fn workspace_version() -> String {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let package = manifest.split("[workspace.package]").nth(1).unwrap();
    package
        .lines()
        .find(|l| l.starts_with("version = "))
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string()
}

fn wait_port(port: u16) -> impl std::future::Future<Output = ()> {
    wait_for(
        "the container's SMTP port",
        Duration::from_secs(60),
        move || async move {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        },
    )
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
async fn the_readme_production_section_runs_as_written_with_podman() {
    // The binaries as this tree builds them now (cargo test builds only the API's), so the
    // image's dpctl carries the commit the labels name.
    let manifest = repo().join("Cargo.toml");
    ok(
        "cargo",
        &[
            "build",
            "-q",
            "--bins",
            "--manifest-path",
            manifest.to_str().unwrap(),
        ],
    );
    let binaries = Path::new(env!("CARGO_BIN_EXE_dataprocessor"))
        .parent()
        .unwrap()
        .to_path_buf();
    // Building the image: `scripts/image.sh` (README), reusing those binaries.
    let built = Command::new(repo().join("scripts/image.sh"))
        .env("IMAGE_BINARIES", &binaries)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "scripts/image.sh failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let version = workspace_version();
    let image = format!("hview/dataprocessor:{version}");

    // What `podman image inspect` tells an operator: the OCI labels.
    let labels: serde_json::Value = serde_json::from_str(&ok(
        "podman",
        &["image", "inspect", &image, "--format", "{{json .Labels}}"],
    ))
    .unwrap();
    let label = |name: &str| {
        labels[format!("org.opencontainers.image.{name}")]
            .as_str()
            .unwrap_or_else(|| panic!("no label .{name} in {labels}"))
            .to_string()
    };
    assert_eq!(label("version"), version);
    let revision = label("revision");
    assert!(
        revision.len() == 12 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "{revision}"
    );
    let commit = Command::new("git")
        .args(["cat-file", "-e", &format!("{revision}^{{commit}}")])
        .current_dir(repo())
        .status()
        .unwrap();
    assert!(
        commit.success(),
        "{revision} is a commit of this repository"
    );
    let created = label("created");
    assert!(
        created.len() == 20 && created.starts_with("20") && created.ends_with('Z'),
        "{created}"
    );

    // A command given to the image runs instead of the service and gives its status.
    let said = ok("podman", &["run", "--rm", &image, "dpctl", "--version"]);
    assert!(
        said.contains(&version) && said.contains(&revision),
        "dpctl --version: {said}"
    );
    let status = run("podman", &["run", "--rm", &image, "sh", "-c", "exit 7"]);
    assert_eq!(status.status.code(), Some(7));

    let db = TestDb::new().await;
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
            &format!("DP__API__LISTEN=0.0.0.0:{}", free_port()),
            "-e",
            "DP__LOGGING__DIRECTORY=null",
            &image,
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

    // The production folder: config.json, then the README's blocks run in it.
    let blocks = common::production_blocks();
    let dir = tempfile::Builder::new()
        .prefix("hview-prod-")
        .tempdir()
        .unwrap();
    let folder = dir.path().to_path_buf();
    let project = folder.file_name().unwrap().to_str().unwrap().to_string();
    let production = Production(project.clone());
    let _ = run("podman", &["rm", "-f", "-t", "0", "hview.data"]);
    std::fs::copy(repo().join("config.json"), folder.join("config.json")).unwrap();
    // Secrets first: .env and tls/ (the key root's alone).
    ok_block(&folder, &blocks[0]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(folder.join("tls/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "tls/key.pem is the owner's alone");
    let env = std::fs::read_to_string(folder.join(".env")).unwrap();
    let api_key = env
        .lines()
        .find_map(|l| l.strip_prefix("HVIEW_API_KEY="))
        .unwrap()
        .to_string();
    // The README's Postgres step sets the machine's postgres password and writes
    // HVIEW_DATABASE_URL: here the test's own database takes its place, and free ports the
    // ones the machine's Postfix and a local run may hold.
    let prepare = block(&blocks, "echo \"HVIEW_DATABASE_URL=");
    assert!(
        prepare.contains("CREATE DATABASE dataprocessor"),
        "{prepare}"
    );
    let (smtp_port, api_port) = (free_port(), free_port());
    std::fs::write(
        folder.join(".env"),
        format!(
            "{env}HVIEW_DATABASE_URL={}\nHVIEW_SMTP_PORT={smtp_port}\nHVIEW_API_PORT={api_port}\n",
            db.url
        ),
    )
    .unwrap();

    let run_it = block(&blocks, "podman run -d --name hview.data");
    let check = block(&blocks, "podman exec hview.data dpctl health");
    let start = || {
        let folder = folder.clone();
        let (run_it, check) = (run_it.clone(), check.clone());
        async move {
            ok_block(&folder, &run_it);
            wait_port(smtp_port).await;
            until_ok(&folder, &check).await;
        }
    };
    start().await;

    // SMTP an alert to the container's Postfix: a row in Postgres.
    let first = folder.join("first.eml");
    std::fs::write(&first, ALERT).unwrap();
    smtp(smtp_port, &first);
    let jobs = wait_done(&db, "sn004", 1).await;
    assert_eq!(
        jobs[0].result.as_ref().unwrap()["rows"]["hydrastor_alerts"],
        1
    );

    // As root, through exec, inject a mail for a new group; then SMTP one for that group.
    let injected = ALERT.replace("fryer_grid/sn004", "fryer_grid/sn777");
    std::fs::write(folder.join("injected.eml"), &injected).unwrap();
    ok(
        "podman",
        &[
            "cp",
            folder.join("injected.eml").to_str().unwrap(),
            "hview.data:/tmp/injected.eml",
        ],
    );
    ok(
        "podman",
        &[
            "exec",
            "-u",
            "0",
            "hview.data",
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
    let second = folder.join("second.eml");
    std::fs::write(
        &second,
        injected.replace("Message-ID: <", "Message-ID: <smtp-"),
    )
    .unwrap();
    smtp(smtp_port, &second);
    wait_done(&db, "sn777", 2).await;

    // The API answers over TLS with the generated key and the README's certificate.
    let health = ok(
        "curl",
        &[
            "-sS",
            "--cacert",
            folder.join("tls/cert.pem").to_str().unwrap(),
            "--resolve",
            &format!("dataprocessor.internal:{api_port}:127.0.0.1"),
            "-H",
            &format!("X-Api-Key: {api_key}"),
            &format!("https://dataprocessor.internal:{api_port}/api/1.0/health"),
        ],
    );
    assert!(health.contains(r#""status":"ok""#), "{health}");
    let logs = ok("podman", &["exec", "hview.data", "ls", "/var/log/hview"]);
    for component in ["dataprocessor_api", "dataprocessor_mailhandler"] {
        assert!(logs.contains(component), "{component} in {logs}");
    }
    wait_for(
        "the health check to pass",
        Duration::from_secs(60),
        || async {
            run("podman", &["healthcheck", "run", "hview.data"])
                .status
                .success()
                .then_some(())
        },
    )
    .await;

    // Backups. Compose's `docker run … tar` line, through podman (the same volume name).
    let compose_backup = block(&blocks, "docker compose exec -T postgres pg_dump");
    let tar_line = compose_backup
        .split("\ndocker run ")
        .nth(1)
        .expect("compose's backup runs the image");
    let tarred = run_block(&folder, &format!("podman run {tar_line}"));
    assert!(
        tarred.status.success(),
        "{}",
        String::from_utf8_lossy(&tarred.stderr)
    );
    let listed = ok(
        "tar",
        &["-tzf", folder.join("mailbox.tgz").to_str().unwrap()],
    );
    assert!(listed.contains("bobs_burgers"), "{listed}");
    std::fs::remove_file(folder.join("mailbox.tgz")).unwrap();
    // podman's.
    ok_block(
        &folder,
        &block(
            &blocks,
            "pg_dump --clean --if-exists \"$HVIEW_DATABASE_URL\"",
        ),
    );
    let listed = ok(
        "tar",
        &["-tzf", folder.join("mailbox.tgz").to_str().unwrap()],
    );
    assert!(listed.contains("bobs_burgers"), "{listed}");
    assert!(
        std::fs::metadata(folder.join("dataprocessor.sql.gz"))
            .unwrap()
            .len()
            > 0
    );

    // A mail after the backup; the restore puts the state of the backup back.
    let later = ALERT
        .replace("fryer_grid/sn004", "fryer_grid/sn888")
        .replace("Message-ID: <", "Message-ID: <later-");
    let third = folder.join("third.eml");
    std::fs::write(&third, later).unwrap();
    smtp(smtp_port, &third);
    wait_done(&db, "sn888", 1).await;
    // Compose's restore of the mailbox (its `docker run` line, through podman, with the
    // container stopped): the mail that came after the backup is gone from the volume.
    ok(
        "podman",
        &[
            "exec",
            "hview.data",
            "grep",
            "-rlq",
            "sn888",
            "/home/mailbox",
        ],
    );
    ok("podman", &["stop", "-t", "30", "hview.data"]);
    let compose_restore = block(&blocks, "docker compose stop dataprocessor");
    let untar = compose_restore
        .lines()
        .skip_while(|l| !l.starts_with("docker run "))
        .take_while(|l| !l.starts_with("docker compose"))
        .collect::<Vec<_>>()
        .join("\n");
    let untarred = run_block(&folder, &untar.replacen("docker run ", "podman run ", 1));
    assert!(
        untarred.status.success(),
        "{untar}\n{}",
        String::from_utf8_lossy(&untarred.stderr)
    );
    let volume = format!("{project}_mailbox:/mailbox:ro");
    let found = run(
        "podman",
        &[
            "run", "--rm", "-v", &volume, &image, "grep", "-rl", "sn888", "/mailbox",
        ],
    );
    assert_eq!(found.status.code(), Some(1), "{untar}");
    // podman's restore: the database and the mailbox, and the container started again.
    let restore = block(&blocks, "gunzip -c dataprocessor.sql.gz | psql");
    ok_block(&folder, &restore);
    wait_port(smtp_port).await;
    until_ok(&folder, &check).await;
    let listed = ok("podman", &["exec", "hview.data", "dpctl", "jobs", "list"]);
    assert!(
        listed.contains("hydrastor/alert/sn777")
            && listed.contains("hydrastor/alert/sn004")
            && !listed.contains("sn888"),
        "{listed}"
    );
    // The mail that came after the backup is gone from the inbox too.
    let found = run(
        "podman",
        &[
            "exec",
            "hview.data",
            "grep",
            "-rl",
            "sn888",
            "/home/mailbox",
        ],
    );
    assert_eq!(
        found.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );

    // Upgrading by tag: HVIEW_VERSION in .env, the container replaced, the data kept.
    let upgrade_to = version.rsplit_once('.').unwrap().0.to_string();
    let env = std::fs::read_to_string(folder.join(".env")).unwrap();
    std::fs::write(
        folder.join(".env"),
        format!("{env}HVIEW_VERSION={upgrade_to}\n"),
    )
    .unwrap();
    ok_block(
        &folder,
        &block(
            &blocks,
            "podman stop -t 60 hview.data && podman rm hview.data",
        ),
    );
    start().await;
    let running = ok(
        "podman",
        &["inspect", "hview.data", "--format", "{{.ImageName}}"],
    );
    assert!(
        running
            .trim()
            .ends_with(&format!("hview/dataprocessor:{upgrade_to}")),
        "{running}"
    );
    let listed = ok("podman", &["exec", "hview.data", "dpctl", "jobs", "list"]);
    assert!(listed.contains("hydrastor/alert/sn004"), "{listed}");

    ok("podman", &["stop", "-t", "30", "hview.data"]);
    let code = ok(
        "podman",
        &["inspect", "hview.data", "--format", "{{.State.ExitCode}}"],
    );
    assert_eq!(code.trim(), "0", "the container exits 0 after SIGTERM");
    drop(production);
}
