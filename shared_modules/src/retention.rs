//! Keeping the disk bounded: archive copies and the inbox directories of finished jobs
//! (done, cancelled) past `archive.retention_days`, and tmp/ directories no running job owns
//! (left by a worker that died). Each removal is recorded as an event on its job (or logged,
//! for a tmp leftover no job names). Run by serve every `archive.cleanup_interval_minutes`
//! and by `dpctl cleanup [--dry-run]`.

use crate::config::Config;
use crate::jobs::{EventPhase, NewEvent, record_event};
use crate::jobs::{Step, StepStatus};
use crate::paths::tmp_root;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One directory removed (or that would be, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removal {
    pub path: PathBuf,
    pub job_id: Option<i64>,
    pub why: String,
}

#[derive(QueryableByName)]
struct Expired {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    inbox_path: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    archive_path: Option<String>,
}

/// Jobs looked at per run: a backlog is worked through over several runs.
const BATCH: i32 = 1000;

pub async fn cleanup(
    conn: &mut AsyncPgConnection,
    config: &Config,
    dry_run: bool,
) -> anyhow::Result<Vec<Removal>> {
    let mut removals = Vec::new();
    let days = config.archive.retention_days;
    if days > 0 {
        let expired: Vec<Expired> = diesel::sql_query(
            "SELECT id, inbox_path, archive_path FROM jobs
             WHERE state IN ('done', 'cancelled')
               AND finished_at < now() - make_interval(days => $1)
               AND (inbox_path IS NOT NULL OR archive_path IS NOT NULL)
             ORDER BY finished_at LIMIT $2",
        )
        .bind::<Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
        .bind::<Integer, _>(BATCH)
        .load(conn)
        .await?;
        for job in expired {
            let why = format!("finished more than {days} days ago (archive.retention_days)");
            for path in [job.archive_path, job.inbox_path].into_iter().flatten() {
                let path = PathBuf::from(path);
                if !path.is_dir() || !inside(&config.paths.root, &path) {
                    continue;
                }
                remove(conn, &mut removals, &path, Some(job.id), &why, dry_run).await?;
            }
        }
    }
    for path in tmp_leftovers(config)? {
        let why = "a job's tmp copy no running job owns (its worker stopped)".to_string();
        remove(conn, &mut removals, &path, None, &why, dry_run).await?;
    }
    Ok(removals)
}

/// Only ever under the data root: a path from the database is not trusted blindly.
fn inside(root: &Path, path: &Path) -> bool {
    path.starts_with(root)
        && !path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
}

async fn remove(
    conn: &mut AsyncPgConnection,
    removals: &mut Vec<Removal>,
    path: &Path,
    job_id: Option<i64>,
    why: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    if !dry_run {
        std::fs::remove_dir_all(path)?;
        match job_id {
            Some(id) => {
                record_event(
                    conn,
                    NewEvent::new(id, Step::Retention, EventPhase::Info)
                        .status(StepStatus::Removed)
                        .message(format!("{}: {why}", path.display())),
                )
                .await?
            }
            None => tracing::info!(path = %path.display(), why, "cleanup removed a directory"),
        }
    }
    removals.push(Removal {
        path: path.to_path_buf(),
        job_id,
        why: why.to_string(),
    });
    Ok(())
}

/// `tmp/<customer>/<category>/<type>/<group>/<datetime>` directories untouched for longer
/// than any job may run (its timeout, plus an hour): no live attempt works in them.
fn tmp_leftovers(config: &Config) -> std::io::Result<Vec<PathBuf>> {
    let older_than = Duration::from_secs(u64::from(config.jobs.timeout_seconds) + 3600);
    let mut found = Vec::new();
    collect_at_depth(&tmp_root(&config.paths.root), 5, &mut |dir| {
        let stale = std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > older_than);
        if stale {
            found.push(dir.to_path_buf());
        }
    })?;
    Ok(found)
}

fn collect_at_depth(dir: &Path, depth: usize, found: &mut dyn FnMut(&Path)) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if depth == 1 {
            found(&entry.path());
        } else {
            collect_at_depth(&entry.path(), depth - 1, found)?;
        }
    }
    Ok(())
}

/// Cleans up every `archive.cleanup_interval_minutes` while this node leads (a cluster
/// duty: retention runs on one node at a time).
pub fn spawn_cleanup(
    pool: crate::db::DbPool,
    config: std::sync::Arc<Config>,
    leadership: crate::cluster::Leadership,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(config.archive.cleanup_interval_minutes.max(1) * 60);
    crate::cluster::spawn_duty(
        "retention",
        pool,
        every,
        leadership,
        stop,
        move |mut conn| {
            let config = config.clone();
            async move {
                let removed = cleanup(&mut conn, &config, false)
                    .await
                    .map_err(|e| e.to_string())?;
                if !removed.is_empty() {
                    tracing::info!(
                        removed = removed.len(),
                        "cleanup removed expired directories"
                    );
                }
                Ok(())
            }
        },
    )
}
