//! The README read as a new operator reads it: `scripts/run-local.sh` (the opening command),
//! a second run-local refused without touching the first, then the "Mail in" recipe
//! (`scripts/local-postfix.sh`, then the README's own shell block: swaks through the
//! machine's Postfix) and the "Uploads in" recipe (its shell block: tar, `aws s3 cp`, curl),
//! each taken from README.md's text and run with bash, ending in done jobs and rows.
//!
//! Uses the fixed port the README names (25025: the API and the embedded S3 endpoint, TLS
//! and plain HTTP) and the machine's Postfix on 25,
//! whose configuration is put back afterwards; needs root, as the local run does.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared_modules::testing::{PostfixAsItWas, wait_for};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The ```sh blocks of the README section titled `title`.
fn shell_blocks(readme: &str, title: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("README has no section {title:?}"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

/// Runs a README block with bash from the checkout, as a reader pasting it would; its
/// standard output.
fn run_block(block: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(repo())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "README block failed:\n{block}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// run-local in its own process group, stopped (Ctrl-C, as its README line says) at the end.
struct LocalRun(Child);
impl Drop for LocalRun {
    fn drop(&mut self) {
        let group = self.0.id() as i32;
        let _ = Command::new("kill")
            .args(["-INT", "--", &format!("-{group}")])
            .status();
        let _ = self.0.wait();
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct State {
    #[diesel(sql_type = Text)]
    state: String,
}

/// The local run's database: this checkout's own, named in `.local/database`.
async fn local_db() -> AsyncPgConnection {
    let name = std::fs::read_to_string(repo().join(".local/database")).unwrap();
    AsyncPgConnection::establish(&format!(
        "postgres://postgres@127.0.0.1:5432/{}",
        name.trim()
    ))
    .await
    .unwrap()
}

async fn done_alert_jobs(subject: &str) -> i64 {
    let mut conn = local_db().await;
    diesel::sql_query(
        "SELECT count(*) AS n FROM jobs WHERE state = 'done' AND metadata->>'subject' LIKE $1",
    )
    .bind::<Text, _>(format!("%{subject}%"))
    .get_result::<Count>(&mut conn)
    .await
    .unwrap()
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_recipes_work_as_written() {
    let _postfix = PostfixAsItWas::save();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let opening = readme
        .lines()
        .find(|l| l.starts_with("scripts/run-local.sh"))
        .expect("the README opens with scripts/run-local.sh");
    assert!(opening.contains("run it locally"));

    // ./target, wherever CARGO_TARGET_DIR puts the build.
    std::fs::create_dir_all(repo().join("target")).unwrap();
    let log = repo().join("target/readme-run-local.log");
    let output = std::fs::File::create(&log).unwrap();
    let mut local = LocalRun(
        Command::new("scripts/run-local.sh")
            .current_dir(repo())
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output))
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let shown = wait_for(
        "run-local to show data flowing",
        Duration::from_secs(600),
        || {
            // It may also end before its trap is set (a missing binary): no `stopped` then.
            let exited = local.0.try_wait().ok().flatten();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            async move {
                if text.lines().any(|l| l == "stopped") || exited.is_some() {
                    panic!("run-local stopped ({exited:?}) before showing everything:\n{text}");
                }
                text.contains("The DataProcessor is running")
                    .then_some(text)
            }
        },
    )
    .await;
    assert!(shown.contains("== rows"), "{shown}");

    // A second run is refused, says why, and leaves the first one's log alone.
    let serve_log = repo().join(".local/serve.log");
    let before = std::fs::read(&serve_log).unwrap();
    let second = Command::new("scripts/run-local.sh")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("already running"), "{said}");
    let after = std::fs::read(&serve_log).unwrap();
    assert!(
        after.starts_with(&before) && !after.contains(&0),
        "serve.log was touched"
    );

    // Mail in: the README's command to point Postfix at the local run, then its block.
    assert!(readme.contains("`scripts/local-postfix.sh` points this machine's Postfix at it"));
    let postfix_files =
        || ["main.cf", "master.cf"].map(|f| std::fs::read(Path::new("/etc/postfix").join(f)).ok());
    let postfix_running = || {
        Command::new("postfix")
            .arg("status")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (files_before, running_before) = (postfix_files(), postfix_running());
    run_block("scripts/local-postfix.sh");
    let mail = shell_blocks(&readme, "Mail in");
    assert_eq!(mail.len(), 1, "one shell block under Mail in");
    let subject = "Node capacity above 90%";
    let done_before = done_alert_jobs(subject).await;
    let listed = run_block(&mail[0]);
    assert!(
        listed.contains("STATE"),
        "dpctl jobs list printed a table: {listed}"
    );
    wait_for(
        "the mail sent with swaks to be a done job",
        Duration::from_secs(60),
        || async { (done_alert_jobs(subject).await > done_before).then_some(()) },
    )
    .await;

    // Uploads in: the README's block as it stands, then its job to done.
    let upload = shell_blocks(&readme, "Uploads in");
    assert_eq!(upload.len(), 1, "one shell block under Uploads in");
    let answer = run_block(&upload[0]);
    assert!(
        !repo().join("dump.tar.gz").exists(),
        "the recipe writes its archive under .local/, not into the checkout"
    );
    // curl's answer is the block's last output (after the aws CLI's progress line).
    let json_start = answer.rfind('{').unwrap_or_else(|| panic!("{answer}"));
    let body: serde_json::Value = serde_json::from_str(answer[json_start..].trim())
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    let job_id = body["job_id"].as_i64().unwrap();
    let state = wait_for(
        "the upload's job to end",
        Duration::from_secs(120),
        || async {
            let mut conn = local_db().await;
            let row: State = diesel::sql_query("SELECT state FROM jobs WHERE id = $1")
                .bind::<BigInt, _>(job_id)
                .get_result(&mut conn)
                .await
                .unwrap();
            matches!(row.state.as_str(), "done" | "error").then_some(row.state)
        },
    )
    .await;
    assert_eq!(state, "done");

    // The README's undo puts the machine's Postfix back as it was: its files, byte for
    // byte, and running or stopped as before; a second undo has nothing to do.
    assert!(readme.contains("`scripts/local-postfix.sh --undo` puts the machine's Postfix"));
    let undone = run_block("scripts/local-postfix.sh --undo");
    assert!(undone.contains("put back as it was"), "{undone}");
    assert!(
        postfix_files() == files_before,
        "main.cf and master.cf are not as they were"
    );
    assert_eq!(
        postfix_running(),
        running_before,
        "Postfix running as before"
    );
    assert!(!Path::new("/etc/postfix/main.cf.hview-backup").exists());
    let again = run_block("scripts/local-postfix.sh --undo");
    assert!(again.contains("nothing to undo"), "{again}");
    drop(local);

    // A second start of the same checkout: its own database (named in .local/database,
    // not the machine-wide `dataprocessor`), and the demo mails find their jobs instead of
    // making two more.
    let name = std::fs::read_to_string(repo().join(".local/database")).unwrap();
    assert!(name.starts_with("dataprocessor_local_"), "{name}");
    let jobs = || async {
        let mut conn = local_db().await;
        diesel::sql_query("SELECT count(*) AS n FROM jobs")
            .get_result::<Count>(&mut conn)
            .await
            .unwrap()
            .n
    };
    let jobs_before = jobs().await;
    let output = std::fs::File::create(&log).unwrap();
    let local = LocalRun(
        Command::new("scripts/run-local.sh")
            .current_dir(repo())
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output))
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let shown = wait_for(
        "the second run-local to show data flowing",
        Duration::from_secs(600),
        || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().any(|l| l == "stopped") {
                panic!("run-local stopped before showing everything:\n{text}");
            }
            text.contains("The DataProcessor is running")
                .then_some(text)
        },
    )
    .await;
    assert_eq!(
        shown.matches("already stored as job").count(),
        2,
        "the demo mails were already stored:\n{shown}"
    );
    assert_eq!(jobs().await, jobs_before, "no new demo jobs:\n{shown}");
    drop(local);
}
