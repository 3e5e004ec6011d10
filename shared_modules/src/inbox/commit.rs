//! Committing the job row of a delivery that is already in the inbox. The row and the
//! files must agree: if the row cannot be written the files are taken out again; if the
//! outcome is unknown (the connection broke around the commit) the files stay with their
//! intent and the sweeper settles it later.

use super::Promoted;
use crate::jobs::{NewJob, enqueue, release_quarantined};
use diesel_async::AsyncPgConnection;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    Created {
        job_id: i64,
        path: PathBuf,
    },
    /// Another delivery of the same thing committed first; this one's files were removed.
    Duplicate {
        job_id: i64,
    },
}

/// How the job row of a delivery is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// A new job (or the existing one with the same dedupe key).
    New,
    /// The new job of quarantined mail `id` released by an operator, with `id` moving to
    /// `cancelled` in the same transaction.
    ReleaseOf(i64),
}

/// Commits the job row of `promoted` (written as `insert` says). `confirm(dedupe_key)`
/// asks, on a fresh connection, which job (id, inbox path) holds the key; Err when the
/// database cannot say.
pub async fn commit_job_as<F>(
    conn: &mut AsyncPgConnection,
    root: &Path,
    promoted: Promoted,
    mut job: NewJob,
    insert: Insert,
    confirm: F,
) -> Result<Commit, diesel::result::Error>
where
    F: AsyncFnOnce(&str) -> Result<Option<(i64, Option<String>)>, String>,
{
    let path = promoted.path.clone();
    let path_text = path.to_string_lossy().to_string();
    job.inbox_path = Some(path_text.clone());
    let written = match insert {
        Insert::New => enqueue(conn, &job).await,
        Insert::ReleaseOf(id) => release_quarantined(conn, id, &job).await,
    };
    match written {
        Ok(enqueued) if enqueued.created => {
            promoted.committed();
            Ok(Commit::Created {
                job_id: enqueued.job.id,
                path,
            })
        }
        Ok(enqueued) => {
            promoted.abandon(root);
            Ok(Commit::Duplicate {
                job_id: enqueued.job.id,
            })
        }
        Err(e) => {
            let key = job.dedupe_key.clone().unwrap_or_default();
            match confirm(&key).await {
                Ok(Some((job_id, Some(p)))) if p == path_text => {
                    promoted.committed();
                    Ok(Commit::Created { job_id, path })
                }
                Ok(_) => {
                    promoted.abandon(root);
                    Err(e)
                }
                Err(_) => {
                    promoted.undecided();
                    Err(e)
                }
            }
        }
    }
}
