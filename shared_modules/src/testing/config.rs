//! The config tests start from, and waiting for what a test expects.

use crate::config::Config;
use std::path::Path;
use std::time::Duration;

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
