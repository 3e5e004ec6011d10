//! `dpctl config check` refuses what serve refuses (issue 29): a published key or secret
//! while api.listen is beyond loopback, in one line naming the setting (exit 78); the same
//! key on loopback passes on to the database, and generated secrets beyond loopback pass with a warning when
//! there is no certificate.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::dpctl;
use shared_modules::testing::{TestDb, test_config};

#[tokio::test]
async fn config_check_refuses_published_keys_beyond_loopback_as_serve_does() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&db.url, dir.path());
    config.api.listen = "0.0.0.0:25025".into();
    config.api.keys = vec!["0123456789abcdef0123456789abcdef".into()];
    config.s3.secret_access_key = "verySecretKey1".into(); // config.json's, and Zenko's
    let path = dir.path().join("config.json");
    let write = |config: &shared_modules::config::Config| {
        std::fs::write(&path, serde_json::to_string(config).unwrap()).unwrap();
    };

    write(&config);
    let (code, out, err) = dpctl(&path, &["config", "check"]);
    assert_eq!(code, 78, "{out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("`s3.secret_access_key`")
            && lines[0].contains("beyond loopback")
            && lines[0].contains("openssl rand -hex 32")
            && !lines[0].contains("verySecretKey1"),
        "{err}"
    );
    assert!(!out.contains("database: reachable"), "{out}");

    // On loopback the local run's published pair is allowed.
    config.api.listen = "127.0.0.1:25025".into();
    write(&config);
    let (_, out, err) = dpctl(&path, &["config", "check"]);
    // Past the secrets, on to the database (the bucket is made by serve, not here).
    assert!(
        out.contains("secrets: api.listen is loopback only"),
        "{out}{err}"
    );
    assert!(out.contains("database: reachable"), "{out}{err}");

    // Generated beyond loopback: accepted, with the plain-HTTP warning (no certificate).
    config.api.listen = "0.0.0.0:25025".into();
    config.s3.secret_access_key = "fedcba9876543210fedcba9876543210".into();
    write(&config);
    let (_, out, err) = dpctl(&path, &["config", "check"]);
    assert!(out.contains("secrets: none published"), "{out}{err}");
    assert!(out.contains("warning: plain HTTP beyond loopback"), "{out}");
    assert!(out.contains("database: reachable"), "{out}{err}");
}
