//! `dataprocessor serve`: migrations, then the API, the worker pool, the listener and the
//! reaper in one process. SIGTERM/SIGINT: stop accepting requests and claims, let running
//! jobs finish within `workers.shutdown_grace_seconds`, exit 0.

use crate::http;
use anyhow::Context;
use shared_modules::config::Config;
use shared_modules::db::{MigrationError, connect_pool, run_migrations};
use shared_modules::inbox::{spawn_sweeper, spawn_ticket_ingester};
use shared_modules::jobs::{
    QueueSettings, WorkerPool, spawn_listener, spawn_reaper, worker_identity,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.refuse_published_secrets()?;
    if config.api.tls_certificate.is_none() && !config.listens_on_loopback_only() {
        tracing::warn!(listen = %config.api.listen, "plain HTTP beyond loopback: API keys, console sessions and uploads cross the network in clear; set api.tls_certificate and api.tls_private_key (README, Run it in production)");
    }
    let config = Arc::new(config);
    let node = config.node_name();
    shared_modules::cluster::set_this_node(&node);
    tracing::info!(node = %node, "node starting");
    migrate_with_retry(&config.database.url).await?;
    for area in ["inbox", "tmp", "archive"] {
        let dir = config.paths.root.join(area);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let pool = connect_pool(
        &config.database.url,
        config.database.pool_size,
        Duration::from_secs(config.database.connect_timeout_seconds),
    )?;
    let stop = CancellationToken::new();
    // Beats in `nodes` and runs for the leader's lease; cluster duties run while it leads.
    let (leadership, membership) = shared_modules::cluster::spawn_membership(
        pool.clone(),
        &node,
        &config.api.listen,
        Duration::from_secs(config.node.lease_seconds),
        stop.clone(),
    );
    let wake = Arc::new(tokio::sync::Notify::new());
    let listener = spawn_listener(config.database.url.clone(), wake.clone(), stop.clone());
    let reaper = spawn_reaper(
        pool.clone(),
        QueueSettings::from(&config.jobs),
        Duration::from_secs_f64(config.jobs.reaper_interval_seconds),
        leadership.clone(),
        stop.clone(),
    );
    // Past twice the mailhandler's deadline, a delivery without a committed job is dead.
    let sweeper = spawn_sweeper(
        pool.clone(),
        config.paths.root.clone(),
        Duration::from_secs(config.mailhandler.deadline_seconds * 2),
        Duration::from_secs(60),
        leadership.clone(),
        stop.clone(),
    );
    // Mail the mailhandler accepted (with a ticket) becomes its job here, in batches.
    let ingester = spawn_ticket_ingester(
        pool.clone(),
        config.paths.root.clone(),
        Duration::from_secs(config.mailhandler.deadline_seconds * 2),
        Arc::new(shared_modules::mail::derive),
        stop.clone(),
    );
    let cleanup = shared_modules::retention::spawn_cleanup(
        pool.clone(),
        config.clone(),
        leadership.clone(),
        stop.clone(),
    );
    let workers = Arc::new(WorkerPool::new(
        config.clone(),
        pool.clone(),
        Arc::new(modules::registry()),
        wake,
        worker_identity(&config.node_name()),
    ));
    tracing::info!(worker = %workers.worker_id, concurrency = config.workers.concurrency, "workers starting");
    let workers_task = tokio::spawn(workers.run(stop.clone()));

    let state = http::AppState::new(config.clone(), pool, server_key(&config)?);
    if let Some(store) = state.store.embedded() {
        embedded_store_ready(store, &config)?;
    }
    let (uploaded, announced) = tokio::sync::mpsc::unbounded_channel();
    let auto = config.s3.auto_trigger.then_some(uploaded);
    let mut state = state.with_s3(auto);
    state.leadership = leadership.clone();
    let auto_trigger = crate::uploads::spawn_auto_trigger(state.clone(), announced, stop.clone());
    let reconciler =
        crate::uploads::spawn_reconciler(state.clone(), leadership.clone(), stop.clone());
    let bucket = tokio::spawn(ensure_bucket(state.store.clone(), stop.clone()));
    let store_sweeper =
        crate::s3::spawn_store_sweeper(&state.store, &config.s3, leadership.clone(), stop.clone());
    let mut state = state;
    state.front = connection_limits(&config);
    let (listeners, front, backends) = api_port(&config, state.front.clone(), stop.clone()).await?;
    state.tls_backend = backends.tls;
    let server = http::server(state, listeners)?;
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(listen = %config.api.listen, s3 = %state_store_mode(&config), tls = config.api.tls_certificate.is_some(), "API listening");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    stop.cancel();
    handle.stop(true).await;
    let _ = server_task.await;
    let _ = workers_task.await;
    let _ = listener.await;
    let _ = reaper.await;
    let _ = sweeper.await;
    let _ = ingester.await;
    let _ = cleanup.await;
    let _ = bucket.await;
    let _ = store_sweeper.await;
    let _ = auto_trigger.await;
    let _ = front.await;
    let _ = reconciler.await;
    let _ = membership.await;
    tracing::info!("stopped");
    Ok(())
}

/// The embedded bucket exists before the first request: its folders are made now. What a
/// crash left half-written is cleared by the leader's store sweeper.
fn embedded_store_ready(
    store: &shared_modules::object_store::DiskStore,
    config: &Config,
) -> anyhow::Result<()> {
    store
        .create()
        .with_context(|| format!("cannot create the S3 store in {}", store.dir().display()))?;
    if config.s3.access_key_id.is_empty() && config.s3.keys.is_empty() {
        tracing::warn!(
            "the embedded S3 endpoint has no keys (s3.access_key_id, s3.keys): every upload is refused"
        );
    }
    Ok(())
}

/// The API port is held by the front (every connection, TLS or plain, capped and timed
/// there); actix listens on loopback behind it, one listener per kind: (those listeners,
/// the front's task, where it sends each kind).
async fn api_port(
    config: &Config,
    connections: Arc<http::front::connections::Connections>,
    stop: CancellationToken,
) -> anyhow::Result<(
    Vec<std::net::TcpListener>,
    tokio::task::JoinHandle<()>,
    http::front::Backends,
)> {
    let tls = match (&config.api.tls_certificate, &config.api.tls_private_key) {
        (Some(certificate), Some(key)) => Some(http::front::tls::acceptor(certificate, key)?),
        _ => None,
    };
    let public = tokio::net::TcpListener::bind(&config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let plain = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut listeners = vec![];
    let backends = http::front::Backends {
        plain: plain.local_addr()?,
        tls: match tls {
            Some(_) => {
                let encrypted = std::net::TcpListener::bind("127.0.0.1:0")?;
                let address = encrypted.local_addr()?;
                listeners.push(encrypted);
                Some(address)
            }
            None => None,
        },
    };
    listeners.push(plain);
    let front = http::front::Front {
        backends,
        tls,
        connections,
        header_timeout: Duration::from_secs(config.api.header_timeout_seconds),
        idle_timeout: Duration::from_secs(config.api.idle_timeout_seconds),
    };
    let task = http::front::spawn(public, front, stop);
    Ok((listeners, task, backends))
}

/// The connections the API port may hold: `api.max_connections`, within the open-file limit
/// (raised to its hard limit first).
fn connection_limits(config: &Config) -> Arc<http::front::connections::Connections> {
    let descriptors = http::front::connections::descriptor_budget();
    let usable = config.api.max_connections.min(descriptors);
    if usable < config.api.max_connections {
        tracing::warn!(
            max_connections = config.api.max_connections,
            usable,
            "api.max_connections is more than the open-file limit allows (ulimit -n); raise the limit or lower the setting"
        );
    }
    Arc::new(http::front::connections::Connections::new(
        config.api.max_connections,
        descriptors,
    ))
}

fn state_store_mode(config: &Config) -> &'static str {
    match config.s3.mode {
        shared_modules::config::S3Mode::Embedded => "embedded on this port",
        shared_modules::config::S3Mode::External => "external",
    }
}

/// At start the database may still be coming up (compose starts both together): retry for a
/// minute before giving up with the last error. A schema from another RELEASE.MAJOR is final.
async fn migrate_with_retry(url: &str) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..60 {
        match run_migrations(url).await {
            Ok(applied) => {
                if !applied.is_empty() {
                    tracing::info!(migrations = ?applied, "applied migrations");
                }
                return Ok(());
            }
            Err(MigrationError::AnotherMajor(refusal)) => return Err(refusal.into()),
            Err(e) => {
                tracing::warn!(error = %e, "database not ready for migrations; retrying");
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Err(anyhow::Error::from(
        last.unwrap_or_else(|| MigrationError::Failed(anyhow::anyhow!("migrations did not run"))),
    )
    .context("cannot migrate the database"))
}

/// The bucket customers upload to exists once serve runs: created when missing, retried
/// while the object store is still starting (compose starts both together).
async fn ensure_bucket(
    store: Arc<shared_modules::object_store::ObjectStore>,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        match store.ensure_bucket().await {
            Ok(true) => {
                tracing::info!(bucket = %store.bucket(), "created the upload bucket");
                return;
            }
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(bucket = %store.bucket(), error = %e, retry_in_s = delay.as_secs(), "cannot check the upload bucket yet")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// The server key (`customers::ServerKey`), saying where it came from: a key made now is
/// announced, as the operator may want to copy it to other nodes or a secret store.
fn server_key(config: &Config) -> anyhow::Result<shared_modules::customers::ServerKey> {
    use shared_modules::customers::{KeySource, ServerKey};
    let (key, source) = ServerKey::load(&config.paths.root)?;
    match source {
        KeySource::Environment => {
            tracing::info!("server key: from DATAPROCESSOR_SERVER_KEY")
        }
        KeySource::File(path) => {
            tracing::info!(path = %path.display(), "server key: from its file")
        }
        KeySource::Made(path) => tracing::warn!(
            path = %path.display(),
            "server key: none was given, so a new one was made (it seals customers' S3 secrets; every node needs this same key: keep the file, or set DATAPROCESSOR_SERVER_KEY)"
        ),
    }
    Ok(key)
}
