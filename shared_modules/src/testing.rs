//! Test support: a fresh database per test, cloned from a template that holds the
//! migrations (built once per migration set), on the real local Postgres.
//!
//! Postgres is found at `DP_TEST_ADMIN_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! if it does not answer, the local cluster is started; if it still does not, the test fails
//! loudly (never skips).

#![allow(clippy::unwrap_used)] // test support: a failure here must fail the test loudly

use crate::config::Config;
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

/// A config for tests: the given database, files under `root`, short timings.
pub fn test_config(database_url: &str, root: &Path) -> Config {
    let mut config = Config::default();
    config.database.url = database_url.to_string();
    config.paths.root = root.to_path_buf();
    config.workers.poll_interval_seconds = 0.2;
    config.workers.shutdown_grace_seconds = 5.0;
    config.jobs.lease_seconds = 2.0;
    config.jobs.backoff_base_seconds = 0.1;
    config.jobs.backoff_max_seconds = 1.0;
    config.jobs.reaper_interval_seconds = 0.2;
    config.api.listen = "127.0.0.1:0".into();
    config.api.keys = vec!["test-key-0123456789abcdef".into()];
    // The embedded S3 endpoint (the default mode) with the credentials the tests' aws uses.
    config.s3.access_key_id = "accessKey1".into();
    config.s3.secret_access_key = "verySecretKey1".into();
    config
}

/// Polls `check` every 20 ms until it returns Some, or panics after `within` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A handler for queue tests. Reads the job's metadata: sleeps `sleep_ms`, panics with
/// `panic` (a message) if given, fails with
/// `fail` = `"transient"` or `"permanent"` while `attempts <= fail_attempts` (default: always),
/// then counts one effect per job in `test_effects` inside the job's transaction, so a
/// rolled-back or duplicated run is visible.
pub struct SleepHandler;

pub const TEST_EFFECTS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS test_effects (job_id BIGINT PRIMARY KEY, runs INTEGER NOT NULL)";

impl crate::jobs::JobHandler for SleepHandler {
    async fn run(
        &self,
        ctx: &crate::jobs::JobContext,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<serde_json::Value, crate::jobs::JobFailure> {
        {
            use diesel_async::RunQueryDsl;
            let meta = &ctx.job.metadata;
            let sleep_ms = meta["sleep_ms"].as_u64().unwrap_or(0);
            ctx.progress(serde_json::json!({ "sleeping_ms": sleep_ms }));
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
            if let Some(message) = meta["panic"].as_str() {
                panic!("{message}");
            }
            let fail_attempts = meta["fail_attempts"].as_i64().unwrap_or(i64::MAX);
            if i64::from(ctx.job.attempts) <= fail_attempts {
                match meta["fail"].as_str() {
                    Some("transient") => {
                        return Err(crate::jobs::JobFailure::transient(
                            "simulated transient failure",
                        ));
                    }
                    Some("permanent") => {
                        return Err(crate::jobs::JobFailure::permanent("simulated bad input"));
                    }
                    _ => {}
                }
            }
            diesel::sql_query(
                "INSERT INTO test_effects (job_id, runs) VALUES ($1, 1)
                 ON CONFLICT (job_id) DO UPDATE SET runs = test_effects.runs + 1",
            )
            .bind::<diesel::sql_types::BigInt, _>(ctx.job.id)
            .execute(conn)
            .await?;
            Ok(serde_json::json!({ "slept_ms": sleep_ms }))
        }
    }
}

/// A queued job of type `test/sleep` with the given metadata.
pub fn sleep_job(metadata: serde_json::Value) -> crate::jobs::NewJob {
    crate::jobs::NewJob {
        source: "manual".into(),
        customer: "test_customer".into(),
        category: "test".into(),
        job_type: "sleep".into(),
        job_group: "g1".into(),
        state: crate::jobs::JobState::Queued,
        inbox_path: None,
        metadata,
        dedupe_key: None,
        max_attempts: 3,
        timeout_seconds: 60,
        error: None,
    }
}

/// A fresh database with the `test_effects` table `SleepHandler` writes, its pool, and a
/// temporary data root: what a queue test starts from.
pub async fn queue_test_setup() -> (TestDb, DbPool, tempfile::TempDir) {
    use diesel_async::RunQueryDsl;
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    diesel::sql_query(TEST_EFFECTS_TABLE)
        .execute(&mut conn)
        .await
        .unwrap();
    (db, pool, tempfile::tempdir().unwrap())
}

/// The job as stored now.
pub async fn job_by_id(pool: &DbPool, id: i64) -> crate::jobs::Job {
    let mut conn = pool.get().await.unwrap();
    crate::jobs::find_job(&mut conn, id)
        .await
        .unwrap()
        .expect("job exists")
}

/// Enqueues `new`; its id.
pub async fn add_job(pool: &DbPool, new: crate::jobs::NewJob) -> i64 {
    let mut conn = pool.get().await.unwrap();
    crate::jobs::enqueue(&mut conn, &new).await.unwrap().job.id
}

/// Waits until job `id` is in `state`.
pub async fn wait_job_state(
    pool: &DbPool,
    id: i64,
    state: &str,
    within: Duration,
) -> crate::jobs::Job {
    wait_for(&format!("job {id} to be {state}"), within, || async {
        let j = job_by_id(pool, id).await;
        (j.state == state).then_some(j)
    })
    .await
}

/// How often `SleepHandler` counted job `id`'s effect (0: never committed).
pub async fn effect_runs(pool: &DbPool, id: i64) -> i32 {
    #[derive(diesel::QueryableByName)]
    struct Runs {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        runs: i32,
    }
    let mut conn = pool.get().await.unwrap();
    {
        use diesel_async::RunQueryDsl;
        diesel::sql_query("SELECT runs FROM test_effects WHERE job_id = $1")
            .bind::<diesel::sql_types::BigInt, _>(id)
            .get_result::<Runs>(&mut conn)
            .await
            .map(|r| r.runs)
            .unwrap_or(0)
    }
}

/// A worker pool, its listener and (optionally) a reaper running inside the test.
pub struct RunningWorkers {
    pub stop: tokio_util::sync::CancellationToken,
    pub pool_handle: tokio::task::JoinHandle<()>,
    pub worker_id: String,
}

pub fn start_workers(
    config: &Config,
    pool: &DbPool,
    registry: crate::jobs::Registry,
    with_reaper: bool,
) -> RunningWorkers {
    use crate::jobs::{QueueSettings, WorkerPool, spawn_listener, spawn_reaper, worker_identity};
    use std::sync::Arc;
    let stop = tokio_util::sync::CancellationToken::new();
    let wake = Arc::new(tokio::sync::Notify::new());
    spawn_listener(config.database.url.clone(), wake.clone(), stop.clone());
    if with_reaper {
        let every = Duration::from_secs_f64(config.jobs.reaper_interval_seconds);
        spawn_reaper(
            pool.clone(),
            QueueSettings::from(&config.jobs),
            every,
            stop.clone(),
        );
    }
    let worker_id = format!(
        "{}:{}",
        worker_identity(),
        COUNTER_WORKERS.fetch_add(1, Ordering::SeqCst)
    );
    let workers = Arc::new(WorkerPool::new(
        Arc::new(config.clone()),
        pool.clone(),
        Arc::new(registry),
        wake,
        worker_id.clone(),
    ));
    let pool_handle = tokio::spawn(workers.run(stop.clone()));
    RunningWorkers {
        stop,
        pool_handle,
        worker_id,
    }
}

static COUNTER_WORKERS: AtomicU32 = AtomicU32::new(0);

/// A registry holding only `test/sleep` → [`SleepHandler`].
pub fn sleep_registry() -> crate::jobs::Registry {
    let mut registry = crate::jobs::Registry::new();
    registry
        .register("test", "sleep", SleepHandler)
        .expect("one handler for test/sleep");
    registry
}

/// A TCP proxy to Postgres that the test can take down (refusing and cutting connections)
/// and bring back, as a database outage looks from the mailhandler.
pub struct DbProxy {
    pub port: u16,
    up: std::sync::Mutex<Option<tokio_util::sync::CancellationToken>>,
    hung: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DbProxy {
    pub async fn start() -> std::sync::Arc<DbProxy> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxy = std::sync::Arc::new(DbProxy {
            port,
            up: std::sync::Mutex::new(None),
            hung: Default::default(),
        });
        proxy.set_up();
        proxy
    }

    pub fn set_up(&self) {
        self.set_down();
        self.hung.store(false, std::sync::atomic::Ordering::SeqCst);
        self.listen(true);
    }

    /// A database that stops answering without closing anything: open connections stay
    /// open and carry nothing more, new ones are accepted and never answered.
    pub fn set_hung(&self) {
        self.hung.store(true, std::sync::atomic::Ordering::SeqCst);
        self.set_down();
        self.listen(false);
    }

    fn listen(&self, forward: bool) {
        let hung = self.hung.clone();
        // The previous listener closes when its task sees the cancellation: wait for the port.
        let mut tries = 0;
        let listener: tokio::net::TcpListener = loop {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            let bound = socket
                .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
                .and_then(|()| socket.listen(64));
            match bound {
                Ok(listener) => break listener,
                Err(_) if tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("cannot listen on the proxy's port again: {e}"),
            }
        };
        let token = tokio_util::sync::CancellationToken::new();
        *self.up.lock().unwrap() = Some(token.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => return },
                };
                let token = token.clone();
                let hung = hung.clone();
                tokio::spawn(async move {
                    if !forward {
                        // Hold the connection open, answer nothing, until the test moves on.
                        token.cancelled().await;
                        drop(client);
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                    }
                    if hung.load(std::sync::atomic::Ordering::SeqCst) {
                        // Stop carrying bytes but keep both ends open, as a hung server does.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
    }

    /// `url` (a database on 127.0.0.1:5432) rewritten to go through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        url.replace(":5432/", &format!(":{}/", self.port))
    }

    pub fn set_down(&self) {
        if let Some(token) = self.up.lock().unwrap().take() {
            token.cancel();
        }
    }
}

/// The machine's Postfix configuration (`main.cf`, `master.cf`) and running state, put back
/// when dropped: for tests that drive the machine's Postfix.
pub struct PostfixAsItWas {
    files: Vec<(std::path::PathBuf, Option<Vec<u8>>)>,
    was_running: bool,
}

impl PostfixAsItWas {
    pub fn save() -> Self {
        let out = std::process::Command::new("postconf")
            .args(["-h", "config_directory"])
            .output()
            .expect("postconf is required: run scripts/services.sh postfix");
        assert!(
            out.status.success(),
            "postconf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        // The backups scripts/local-postfix.sh leaves are put back as they were too.
        let files = [
            "main.cf",
            "master.cf",
            "main.cf.hview-backup",
            "master.cf.hview-backup",
        ]
        .iter()
        .map(|name| {
            let path = conf.join(name);
            let bytes = std::fs::read(&path).ok();
            (path, bytes)
        })
        .collect();
        let was_running = std::process::Command::new("postfix")
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success());
        Self { files, was_running }
    }
}

impl Drop for PostfixAsItWas {
    fn drop(&mut self) {
        let _ = std::process::Command::new("postfix").arg("stop").output();
        for (path, bytes) in &self.files {
            let _ = match bytes {
                Some(bytes) => std::fs::write(path, bytes),
                None => std::fs::remove_file(path),
            };
        }
        if self.was_running {
            let _ = std::process::Command::new("postfix").arg("start").output();
        }
    }
}

/// A tmpfs of `size` (`512k`, `24m`) mounted at `dir` (made if missing) and unmounted when
/// dropped: a small disk the test can fill. Mounting needs root, as the suite runs in CI.
pub struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    pub fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting a small tmpfs needs root");
        Self(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
