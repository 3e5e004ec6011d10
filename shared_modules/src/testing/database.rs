//! A fresh database per test, cloned from a template that holds the migrations (built once
//! per migration set), on the real local Postgres.
//!
//! Postgres is found at `DP_TEST_ADMIN_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! if it does not answer, the local cluster is started; if it still does not, the test fails
//! loudly (never skips).

use crate::db::{DbPool, connect_pool, run_migrations};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_postgres::NoTls;

pub fn admin_url() -> String {
    std::env::var("DP_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_for(database: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    format!("{base}/{database}")
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let admin = admin_client().await;
        let template = ensure_template(&admin).await;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "dp_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_micros())
                .unwrap_or(0)
        );
        let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let mut tries = 0;
        // Concurrent clones of one template can collide briefly; retry those.
        while let Err(e) = admin.batch_execute(&create).await {
            tries += 1;
            assert!(tries < 50, "cannot create test database {name}: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        TestDb {
            url: url_for(&name),
            name,
        }
    }

    pub fn pool(&self) -> DbPool {
        connect_pool(&self.url, 16, Duration::from_secs(5)).expect("test pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn admin_client() -> tokio_postgres::Client {
    let url = admin_url();
    for attempt in 0..40 {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                return client;
            }
            Err(e) => {
                if attempt == 0 {
                    eprintln!(
                        "Postgres at {url} does not answer ({e}); starting the local cluster"
                    );
                    start_local_postgres();
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    panic!(
        "Postgres at {url} is not reachable and could not be started: the tests need a real Postgres (see README)"
    );
}

/// `pg_ctlcluster <version> main start`, as the machine's services are started.
pub fn start_local_postgres() {
    let Ok(entries) = std::fs::read_dir("/etc/postgresql") else {
        return;
    };
    for entry in entries.flatten() {
        let version = entry.file_name().to_string_lossy().to_string();
        let _ = std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status();
    }
}

fn migrations_hash() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("migrations dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path)
            } else {
                files.push(path)
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(
            file.strip_prefix(&dir)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file).expect("migration file"));
    }
    hex::encode(hasher.finalize())[..12].to_string()
}

/// Builds `dp_tpl_<hash>` once, under an advisory lock so parallel test processes wait.
async fn ensure_template(admin: &tokio_postgres::Client) -> String {
    let template = format!("dp_tpl_{}", migrations_hash());
    admin
        .batch_execute("SELECT pg_advisory_lock(727274)")
        .await
        .expect("advisory lock");
    let ready = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate",
            &[&template],
        )
        .await
        .expect("look up template");
    if ready.is_none() {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"))
            .await
            .expect("drop stale template");
        admin
            .batch_execute(&format!("CREATE DATABASE {template}"))
            .await
            .expect("create template");
        run_migrations(&url_for(&template))
            .await
            .expect("migrate template");
        admin
            .batch_execute(&format!("ALTER DATABASE {template} WITH IS_TEMPLATE true"))
            .await
            .expect("mark template");
    }
    admin
        .batch_execute("SELECT pg_advisory_unlock(727274)")
        .await
        .expect("advisory unlock");
    template
}
