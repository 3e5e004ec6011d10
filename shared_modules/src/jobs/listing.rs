//! Reading jobs newest first, filtered, a page at a time (cursor = the last id seen).

use super::look_ahead_memo;
use super::model::{Job, JobState, job_columns};
use crate::db::schema::jobs;
use crate::db::{planned_each_time_if, prepared};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub customer: Option<String>,
    pub category: Option<String>,
    pub job_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only jobs older (smaller id) than this one.
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Pass as `before_id` to get the next page; None on the last page.
    pub next_cursor: Option<i64>,
}

pub async fn list_jobs(conn: &mut AsyncPgConnection, filter: &JobFilter) -> QueryResult<JobPage> {
    let mut query = jobs::table.select(Job::as_select()).into_boxed();
    if let Some(state) = &filter.state {
        query = query.filter(jobs::state.eq(*state));
    }
    if let Some(customer) = &filter.customer {
        query = query.filter(jobs::customer.eq(customer.clone()));
    }
    if let Some(category) = &filter.category {
        query = query.filter(jobs::category.eq(category.clone()));
    }
    if let Some(job_type) = &filter.job_type {
        query = query.filter(jobs::job_type.eq(job_type.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(jobs::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(jobs::created_at.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(jobs::id.lt(before));
    }
    let limit = filter.limit.clamp(1, 1000);
    // One row more than asked tells whether there is a next page.
    let window = filter.since.is_some() || filter.until.is_some();
    // A page longer than the look-ahead cannot come from it, and a window it fell short of
    // lately goes straight to its own statement (`look_ahead_memo`).
    let look_ahead = (window && limit < NEWEST_LOOKED_AT)
        .then(|| look_ahead_memo::Listing::of(filter))
        .filter(|listing| listing.worth_trying());
    let newest = if let Some(listing) = look_ahead {
        let newest = newest_in_window(conn, filter, limit + 1).await?;
        listing.found(newest.len() as i64 > limit);
        newest
    } else {
        Vec::new()
    };
    let mut jobs: Vec<Job> = if newest.len() as i64 > limit {
        newest
    } else {
        // With a time window, planned for its values each time: ten minutes and a week want
        // different plans, and a generic one cannot know the width. Without, the indexes
        // serve every value of the equality filters alike and the cached plan is kept.
        planned_each_time_if(window, query.order(jobs::id.desc()).limit(limit + 1))
            .load(conn)
            .await?
    };
    let next_cursor = if jobs.len() as i64 > limit {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    Ok(JobPage { jobs, next_cursor })
}

/// How many of the newest jobs (those matching the other filters) a window is first looked
/// for in: a page needs a window to hold a quarter of them; a narrower window pays for
/// reading these before its own plan runs (1,000 cost one customer's last ten minutes 45 %).
const NEWEST_LOOKED_AT: i64 = 200;

/// The page of a time window looked for among the newest jobs that match the other filters,
/// read newest first through their index and stopped at `rows`. A window usually holds the
/// newest jobs, which Postgres cannot know (it does not relate ids to times: for the last
/// hour it read the hour's 3,500 jobs by time and sorted them, 1.2 ms, where this reads 51).
/// Exact when it gives `rows` jobs: any other match is older than all it looked at. Fewer,
/// and the caller asks the window's own plan. One statement text per set of filters, kept.
async fn newest_in_window(
    conn: &mut AsyncPgConnection,
    filter: &JobFilter,
    rows: i64,
) -> QueryResult<Vec<Job>> {
    let mut query = diesel::sql_query(concat!(
        "SELECT ",
        job_columns!(),
        " FROM (SELECT ",
        job_columns!(),
        " FROM jobs WHERE true"
    ))
    .into_boxed::<Pg>();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if let Some(state) = filter.state {
        query = query
            .sql(format!(" AND state = ${}", next()))
            .bind::<Text, _>(state);
    }
    for (column, value) in [
        ("customer", &filter.customer),
        ("category", &filter.category),
        ("job_type", &filter.job_type),
    ] {
        if let Some(value) = value {
            query = query
                .sql(format!(" AND {column} = ${}", next()))
                .bind::<Text, _>(value.clone());
        }
    }
    if let Some(before) = filter.before_id {
        query = query
            .sql(format!(" AND id < ${}", next()))
            .bind::<BigInt, _>(before);
    }
    query = query.sql(format!(
        " ORDER BY id DESC LIMIT {NEWEST_LOOKED_AT}) newest WHERE true"
    ));
    if let Some(since) = filter.since {
        query = query
            .sql(format!(" AND created_at >= ${}", next()))
            .bind::<Timestamptz, _>(since);
    }
    if let Some(until) = filter.until {
        query = query
            .sql(format!(" AND created_at < ${}", next()))
            .bind::<Timestamptz, _>(until);
    }
    prepared(
        query
            .sql(format!(" ORDER BY id DESC LIMIT ${}", next()))
            .bind::<BigInt, _>(rows),
    )
    .load(conn)
    .await
}
