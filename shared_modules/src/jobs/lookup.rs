//! Reads of a few jobs by id or dedupe key, for callers that follow or reconcile them.

use super::JobState;
use crate::db::schema::jobs;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The state of each of `ids` that exists.
pub async fn states_of(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<Vec<(i64, JobState)>> {
    jobs::table
        .filter(jobs::id.eq_any(ids))
        .select((jobs::id, jobs::state))
        .load(conn)
        .await
}

/// Which of `keys` a job was made for.
pub async fn keys_with_jobs(
    conn: &mut AsyncPgConnection,
    keys: &[String],
) -> QueryResult<Vec<String>> {
    let found: Vec<Option<String>> = jobs::table
        .filter(jobs::dedupe_key.eq_any(keys))
        .select(jobs::dedupe_key)
        .load(conn)
        .await?;
    Ok(found.into_iter().flatten().collect())
}
