//! Statistics of the jobs table, for `/metrics`' gauges and the console's overview: counts
//! by state and type, the queue's depth and oldest job, mail received, and jobs finished per
//! hour or day. The only SQL on the jobs table outside the queue and the listing.

use super::JobState;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// How many jobs of one type are in one state.
#[derive(Debug, Clone, QueryableByName)]
pub struct StateCount {
    #[diesel(sql_type = Text)]
    pub state: JobState,
    #[diesel(sql_type = Text)]
    pub job_type: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Every (state, type) pair with jobs, in order.
pub async fn counts_by_state(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<StateCount>> {
    diesel::sql_query(
        "SELECT state, job_type, count(*) AS n FROM jobs GROUP BY state, job_type ORDER BY 1, 2",
    )
    .load(conn)
    .await
}

/// The queue and the mail, in one pass over the table.
#[derive(Debug, Clone, QueryableByName)]
pub struct QueueFigures {
    /// Queued jobs due now.
    #[diesel(sql_type = BigInt)]
    pub depth: i64,
    /// The oldest queued job's age, in seconds (None when nothing is queued).
    #[diesel(sql_type = Nullable<Double>)]
    pub oldest_queued_seconds: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub mails: i64,
    #[diesel(sql_type = BigInt)]
    pub mails_quarantined: i64,
    /// When the last mail's job was made, as Unix seconds.
    #[diesel(sql_type = Nullable<Double>)]
    pub last_mail_at: Option<f64>,
}

pub async fn queue_figures(conn: &mut AsyncPgConnection) -> diesel::QueryResult<QueueFigures> {
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE state = 'queued' AND run_after <= now()) AS depth,
                EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state = 'queued'))::float8 AS oldest_queued_seconds,
                count(*) FILTER (WHERE source = 'email') AS mails,
                count(*) FILTER (WHERE source = 'email' AND state = 'quarantined') AS mails_quarantined,
                EXTRACT(EPOCH FROM max(created_at) FILTER (WHERE source = 'email'))::float8 AS last_mail_at
         FROM jobs",
    )
    .get_result(conn)
    .await
}

/// Jobs that ended done or in error within one hour or day.
#[derive(Debug, Clone, QueryableByName)]
pub struct Finished {
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub done: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
}

/// The span `finished_per` counts over, and the bucket it counts in.
#[derive(Debug, Clone, Copy)]
pub enum Span {
    /// The last 24 hours, per hour.
    DayByHour,
    /// The last 7 days, per day.
    WeekByDay,
}

/// Done and failed jobs per bucket of `span` (buckets without any are absent).
pub async fn finished_per(
    conn: &mut AsyncPgConnection,
    span: Span,
) -> diesel::QueryResult<Vec<Finished>> {
    let (unit, within) = match span {
        Span::DayByHour => ("hour", "24 hours"),
        Span::WeekByDay => ("day", "7 days"),
    };
    diesel::sql_query(format!(
        "SELECT date_trunc('{unit}', finished_at) AS at,
                count(*) FILTER (WHERE state = 'done') AS done,
                count(*) FILTER (WHERE state = 'error') AS failed
           FROM jobs WHERE finished_at > now() - interval '{within}'
          GROUP BY 1"
    ))
    .load(conn)
    .await
}
