//! `dpctl --version` and `dpctl version`: the binary's version and commit, the database
//! schema's last migration and release, and what to do when they differ.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

mod common;

use common::{BIN, dpctl};
use shared_modules::testing::{TestDb, admin_url, test_config};

fn config_for(url: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let config = test_config(url, dir);
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

async fn sql(url: &str, statements: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(statements).await.unwrap();
}

#[tokio::test]
async fn dpctl_version_compares_the_binary_with_the_schema() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "dpctl {} (commit {})",
            build_info::VERSION,
            build_info::COMMIT
        )
    );

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&db.url, dir.path());
    let (code, out, err) = dpctl(&config, &["version"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("dpctl {}", build_info::LONG_VERSION)),
        "{out}"
    );
    assert!(
        out.contains(&format!("(release {})", build_info::VERSION)),
        "{out}"
    );
    assert!(out.contains("the schema is this binary's"), "{out}");

    // A binary of the next MAJOR migrated it: this one must not run.
    let (release, major) = build_info::release_and_major(build_info::VERSION).unwrap();
    let newer = format!("{release}.{}.0", major + 1);
    sql(
        &db.url,
        &format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000001');
             UPDATE schema_release SET version = '{newer}'"
        ),
    )
    .await;
    let (code, out, err) = dpctl(&config, &["version", "--json"]);
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["matches"], false);
    assert_eq!(report["schema"]["release"], newer.as_str());
    assert_eq!(report["schema"]["unknown_migrations"][0], "29990101000001");
    let verdict = report["verdict"].as_str().unwrap();
    assert!(
        verdict.contains(&newer) && verdict.contains(build_info::VERSION),
        "{verdict}"
    );
}

#[tokio::test]
async fn an_empty_database_is_told_to_migrate() {
    let db = TestDb::new().await;
    let empty = format!("{}_empty", db.name);
    sql(&admin_url(), &format!("CREATE DATABASE {empty}")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&db.url.replace(&db.name, &empty), dir.path());
    let (code, out, err) = dpctl(&config, &["version"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("empty: no migration applied"), "{out}");
    assert!(out.contains("dpctl db migrate"), "{out}");
    sql(&admin_url(), &format!("DROP DATABASE {empty} WITH (FORCE)")).await;
}
