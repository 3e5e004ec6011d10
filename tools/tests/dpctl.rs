//! dpctl as an operator runs it: inject a mail, list and show jobs, retry and cancel, with
//! the exit codes scripts rely on.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::dpctl;

use shared_modules::config::CustomerConfig;
use shared_modules::testing::{TestDb, test_config};
use std::path::Path;

#[tokio::test]
async fn an_operator_injects_a_mail_then_lists_shows_cancels_and_retries_its_job() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    config.customers = vec![CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec!["bobs_burgers@ingest.hview.example".into()],
        allowed_senders: vec![],
    }];
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let mail =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mailhandler/tests/fixtures/alert.eml");
    let mail = mail.to_str().unwrap();

    let (code, out, err) = dpctl(
        &config_path,
        &[
            "mail",
            "inject",
            mail,
            "--sender",
            "a@b.example",
            "--recipient",
            "bobs_burgers@ingest.hview.example",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("queued as job "), "{out}");
    let id: String = out["queued as job ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let (code, out, _) = dpctl(
        &config_path,
        &[
            "mail",
            "inject",
            mail,
            "--sender",
            "a@b.example",
            "--recipient",
            "bobs_burgers@ingest.hview.example",
        ],
    );
    assert_eq!(
        (code, out.trim()),
        (0, format!("already stored as job {id}").as_str())
    );

    let (code, out, _) = dpctl(&config_path, &["jobs", "list", "--status", "queued"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().contains("STATE"));
    assert!(out.contains("hydrastor/alert/sn004"), "{out}");
    let (_, json, _) = dpctl(&config_path, &["jobs", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap()[0]["id"].to_string(),
        id
    );

    let (code, out, _) = dpctl(&config_path, &["jobs", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("enqueue"), "{out}");
    assert_eq!(
        dpctl(&config_path, &["jobs", "retry", &id]).0,
        4,
        "a queued job cannot be retried"
    );
    assert_eq!(dpctl(&config_path, &["jobs", "cancel", &id]).0, 0);
    assert_eq!(dpctl(&config_path, &["jobs", "retry", &id]).0, 0);
    assert_eq!(dpctl(&config_path, &["jobs", "show", "999999"]).0, 3);
    assert_eq!(
        dpctl(&config_path, &["jobs", "list", "--status", "sleeping"]).0,
        2
    );
}

#[test]
fn a_database_that_is_down_makes_inject_exit_75() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config("postgres://postgres@127.0.0.1:1/none", dir.path());
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let mail =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mailhandler/tests/fixtures/alert.eml");
    let (code, _, err) = dpctl(
        &config_path,
        &[
            "mail",
            "inject",
            mail.to_str().unwrap(),
            "--sender",
            "a@b",
            "--recipient",
            "x@y",
        ],
    );
    assert_eq!(code, 75, "{err}");
    // The mail is kept with its ticket: serve makes its job once the database is back.
    assert!(
        err.contains("stored in") && err.contains("database is unavailable"),
        "{err}"
    );
    assert_eq!(
        shared_modules::inbox::pending_summary(dir.path())
            .unwrap()
            .count,
        1
    );
    // The operator sees it waiting, without a database.
    let (code, out, err) = dpctl(&config_path, &["mail", "pending"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 ticket(s) pending"), "{out}");
    assert!(
        out.contains("unknown/unknown"),
        "quarantined: no customer at x@y: {out}"
    );
}

/// `docker exec … dpctl` runs as root: a folder it creates for a new group must belong to
/// the service user, or every later mail for that group is deferred (Permission denied).
#[tokio::test]
async fn run_as_root_dpctl_writes_as_the_service_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let whoami = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(
        whoami, 0,
        "this test runs dpctl as root, as docker exec does"
    );
    let service = std::process::Command::new("id")
        .args(["-u", "hview"])
        .output()
        .unwrap();
    assert!(
        service.status.success(),
        "user hview is needed: run scripts/services.sh postfix"
    );
    let hview: u32 = String::from_utf8_lossy(&service.stdout)
        .trim()
        .parse()
        .unwrap();

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("mailbox");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(hview), Some(hview)).unwrap();
    let mut config = test_config(&db.url, &root);
    config.paths.service_user = Some("hview".into());
    config.customers = vec![CustomerConfig {
        name: "bobs_burgers".into(),
        addresses: vec!["bobs_burgers@ingest.hview.example".into()],
        allowed_senders: vec![],
    }];
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mail =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mailhandler/tests/fixtures/alert.eml");
    let (code, out, err) = dpctl(
        &config_path,
        &[
            "mail",
            "inject",
            mail.to_str().unwrap(),
            "--sender",
            "a@b.example",
            "--recipient",
            "bobs_burgers@ingest.hview.example",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let group = root.join("inbox/bobs_burgers/hydrastor/alert/sn004");
    for path in [root.join("inbox"), group.clone()] {
        assert_eq!(
            std::fs::metadata(&path).unwrap().uid(),
            hview,
            "{}",
            path.display()
        );
    }
    let delivery = std::fs::read_dir(&group)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(delivery.join("message.eml"))
            .unwrap()
            .uid(),
        hview
    );
}
