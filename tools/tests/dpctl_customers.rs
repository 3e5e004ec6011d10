//! `dpctl customers` (issue 24, item 1): add prints the credentials once (JSON with
//! `--json`), the database keeps the API key only hashed and the S3 secret only sealed with
//! the server key (made under `paths.root` on first use, mode 0600); rotate keeps the old
//! credentials for the overlap; revoke ends one or all; every refusal has its exit code.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::dpctl;
use serde_json::Value;
use shared_modules::customers::{Principal, ServerKey, find_api_key, find_s3_key};
use shared_modules::testing::{TestDb, test_config};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn customers_are_added_listed_rotated_and_revoked() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&db.url, dir.path());
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();

    let (code, out, err) = dpctl(&path, &["customers", "add", "Bobs Burgers", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("made a new server key"), "{err}");
    let first = json(&out);
    assert_eq!(first["customer"], "bobs_burgers");
    assert_eq!(first["s3_prefix"], "bobs_burgers/");
    let api_key = first["api_key"].as_str().unwrap();
    let secret = first["s3_secret_access_key"].as_str().unwrap();
    let key_file = config.paths.root.join("server.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the server key is the service's alone");

    // Neither the key nor the secret is in the database in clear; both work.
    let dump = Command::new("pg_dump")
        .args([&db.url, "--data-only", "--table=customer_credentials"])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains(first["key_id"].as_str().unwrap()), "{dump}");
    assert!(!dump.contains(api_key) && !dump.contains(secret), "{dump}");
    let mut conn = db.pool().get().await.unwrap();
    let (server_key, _) = ServerKey::load(&config.paths.root).unwrap();
    let alice = Principal::Customer {
        customer: "bobs_burgers".into(),
        key_id: first["key_id"].as_str().unwrap().into(),
    };
    assert_eq!(
        find_api_key(&mut conn, api_key).await.unwrap(),
        Some(alice.clone())
    );
    let (who, opened) = find_s3_key(
        &mut conn,
        &server_key,
        first["s3_access_key_id"].as_str().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((who, opened.as_str()), (alice, secret));
    // Another server key cannot open the secret, and says why.
    let stranger = ServerKey::random();
    let wrong = find_s3_key(
        &mut conn,
        &stranger,
        first["s3_access_key_id"].as_str().unwrap(),
    )
    .await;
    assert!(wrong.unwrap_err().to_string().contains("server key"));

    // Adding again is refused: rotation is the way to new credentials.
    let (code, _, err) = dpctl(&path, &["customers", "add", "bobs_burgers"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("dpctl customers rotate bobs_burgers"), "{err}");
    let (code, _, err) = dpctl(&path, &["customers", "add", "../etc"]);
    assert_eq!(code, 1, "{err}");
    // `unknown` files the mail no customer receives: no customer may see it as its own.
    let (code, _, err) = dpctl(&path, &["customers", "add", "unknown"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("reserved"), "{err}");

    // Rotation: new credentials, the old ones valid until the overlap ends.
    let (code, out, err) = dpctl(
        &path,
        &[
            "customers",
            "rotate",
            "bobs_burgers",
            "--overlap-hours",
            "2",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let second = json(&out);
    assert!(
        find_api_key(&mut conn, api_key).await.unwrap().is_some(),
        "still valid in the overlap"
    );
    let second_key = second["api_key"].as_str().unwrap();
    assert!(find_api_key(&mut conn, second_key).await.unwrap().is_some());
    let (_, listed, _) = dpctl(&path, &["customers", "list", "--json"]);
    let listed = json(&listed);
    let credentials = listed[0]["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 2);
    assert!(credentials.iter().all(|c| c["valid"] == true));
    assert!(
        credentials.iter().any(|c| !c["expires_at"].is_null()),
        "{listed}"
    );
    assert!(!listed.to_string().contains(api_key) && !listed.to_string().contains(secret));
    let (_, table, _) = dpctl(&path, &["customers", "list"]);
    assert!(
        table.contains("valid until")
            && table.contains(first["s3_access_key_id"].as_str().unwrap()),
        "{table}"
    );

    // Revoking one key, then all.
    let old_id = first["key_id"].as_str().unwrap();
    let (code, out, err) = dpctl(
        &path,
        &["customers", "revoke", "bobs_burgers", "--key", old_id],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 credential(s) revoked"), "{out}");
    assert!(find_api_key(&mut conn, api_key).await.unwrap().is_none());
    assert!(find_api_key(&mut conn, second_key).await.unwrap().is_some());
    let (code, _, err) = dpctl(
        &path,
        &["customers", "revoke", "bobs_burgers", "--key", old_id],
    );
    assert_eq!(code, 3, "revoked already: {err}");
    let (code, _, _) = dpctl(&path, &["customers", "revoke", "bobs_burgers"]);
    assert_eq!(code, 0);
    assert!(find_api_key(&mut conn, second_key).await.unwrap().is_none());
    let (code, _, err) = dpctl(&path, &["customers", "revoke", "nobody"]);
    assert_eq!(code, 3, "{err}");
    // With every key revoked, add makes new ones.
    let (code, _, err) = dpctl(&path, &["customers", "add", "bobs_burgers"]);
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn a_malformed_server_key_is_named_not_used() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&db.url, dir.path());
    let path = dir.path().join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    let out = Command::new(common::BIN)
        .arg("--config")
        .arg(&path)
        .args(["customers", "add", "bobs_burgers"])
        .env("DATAPROCESSOR_SERVER_KEY", "not-hex")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DATAPROCESSOR_SERVER_KEY must be 64 hex digits"),
        "{err}"
    );
    assert!(!config.paths.root.join("server.key").exists());
}
