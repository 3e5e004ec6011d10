//! Reading jobs newest first, filtered, a page at a time (cursor = the last id seen).

use super::model::{Job, JobState};
use crate::db::planned_each_time_if;
use crate::db::schema::jobs;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
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
    // With a time window, planned for its values each time: ten minutes and a week want
    // different plans, and a generic one cannot know the width. Without, the indexes serve
    // every value of the equality filters alike and the cached plan is kept.
    let window = filter.since.is_some() || filter.until.is_some();
    let mut jobs: Vec<Job> =
        planned_each_time_if(window, query.order(jobs::id.desc()).limit(limit + 1))
            .load(conn)
            .await?;
    let next_cursor = if jobs.len() as i64 > limit {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    Ok(JobPage { jobs, next_cursor })
}
