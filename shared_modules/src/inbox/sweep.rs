//! Cleans what a crashed delivery left behind: staging directories, and inbox directories
//! whose job row never committed. Only entries older than `grace` are touched, and never a
//! staging directory whose writer still holds its lock (a slow download may take hours).

use super::staging::{discard_promoted, in_use};
use super::{PENDING_DIR, STAGING_DIR};
use crate::jobs::job_for_key;
use diesel_async::AsyncPgConnection;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub staging_removed: usize,
    pub orphans_removed: usize,
    pub intents_closed: usize,
}

/// Whether `path` was last written more than `grace` ago (false when it is gone).
pub(crate) fn older_than(path: &Path, grace: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > grace)
}

pub async fn sweep(
    conn: &mut AsyncPgConnection,
    root: &Path,
    grace: Duration,
) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    if let Ok(entries) = fs::read_dir(root.join(STAGING_DIR)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if older_than(&path, grace) && !in_use(&path) && fs::remove_dir_all(&path).is_ok() {
                report.staging_removed += 1;
            }
        }
    }
    let Ok(entries) = fs::read_dir(root.join(PENDING_DIR)) else {
        return Ok(report);
    };
    for entry in entries.flatten() {
        let intent = entry.path();
        if !older_than(&intent, grace) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&intent) else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let (Some(key), Some(target)) = (value["key"].as_str(), value["target"].as_str()) else {
            let _ = fs::remove_file(&intent);
            continue;
        };
        let target = PathBuf::from(target);
        let committed_path = job_for_key(conn, key).await?.map(|(_, _, path)| path);
        let owned_by_job = committed_path
            .flatten()
            .is_some_and(|p| Path::new(&p) == target);
        if !owned_by_job && target.exists() {
            tracing::warn!(path = %target.display(), "removing an inbox directory whose job never committed");
            discard_promoted(root, &target);
            report.orphans_removed += 1;
        }
        let _ = fs::remove_file(&intent);
        report.intents_closed += 1;
    }
    Ok(report)
}

/// Runs `sweep` every `every` while this node leads (a cluster duty), until `stop`; `grace`
/// must exceed the mailhandler's deadline.
pub fn spawn_sweeper(
    pool: crate::db::DbPool,
    root: PathBuf,
    grace: Duration,
    every: Duration,
    leadership: crate::cluster::Leadership,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    crate::cluster::spawn_duty(
        "inbox sweeper",
        pool,
        every,
        leadership,
        stop,
        move |mut conn| {
            let root = root.clone();
            async move {
                let report = sweep(&mut conn, &root, grace)
                    .await
                    .map_err(|e| e.to_string())?;
                if report != SweepReport::default() {
                    tracing::info!(?report, "inbox sweeper acted");
                }
                Ok(())
            }
        },
    )
}
