//! Per customer and grid: the last daily system report (status, capacity), the last alert
//! and the last NetBackup upload done, and whether the daily report is overdue. The console's
//! Grids page and the metric `dataprocessor_grids_report_overdue` read the same definition.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;

#[derive(QueryableByName)]
pub struct GridStatus {
    #[diesel(sql_type = Text)]
    pub customer: String,
    #[diesel(sql_type = Text)]
    pub grid: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_report: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub capacity: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub used: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub dedup: Option<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_alert: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_alert_severity: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_upload: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    pub overdue: bool,
}

/// Every grid heard of: from a daily report, an alert or a done NetBackup upload.
macro_rules! known_grids {
    () => {
        "WITH known AS (
    SELECT customer, grid_name FROM hydrastor_grids
    UNION SELECT customer, grid_name FROM hydrastor_alerts
    UNION SELECT customer, job_group FROM jobs WHERE job_type = 'veritas2hview' AND state = 'done'
)
"
    };
}

/// A known grid `k` (joined to its report `g`) whose daily report is overdue: none yet, or
/// older than `$1` hours. One definition for the page and the metric.
macro_rules! report_overdue {
    () => {
        "(g.last_report_at IS NULL OR g.last_report_at < now() - make_interval(hours => $1))"
    };
}

const GRIDS: &str = concat!(
    known_grids!(),
    "SELECT k.customer, k.grid_name AS grid, g.status, g.last_report_at AS last_report,
       g.physical_capacity_bytes AS capacity, g.physical_used_bytes AS used, g.dedup_ratio AS dedup,
       a.occurred_at AS last_alert, a.severity AS last_alert_severity,
       (SELECT max(finished_at) FROM jobs j
         WHERE j.customer = k.customer AND j.job_group = k.grid_name
           AND j.job_type = 'veritas2hview' AND j.state = 'done') AS last_upload,
       ",
    report_overdue!(),
    " AS overdue
  FROM known k
  LEFT JOIN hydrastor_grids g USING (customer, grid_name)
  LEFT JOIN LATERAL (SELECT occurred_at, severity FROM hydrastor_alerts x
                      WHERE x.customer = k.customer AND x.grid_name = k.grid_name
                      ORDER BY occurred_at DESC LIMIT 1) a ON true
 ORDER BY k.customer, k.grid_name"
);

const OVERDUE_COUNT: &str = concat!(
    known_grids!(),
    "SELECT count(*) AS n FROM known k LEFT JOIN hydrastor_grids g USING (customer, grid_name) WHERE ",
    report_overdue!()
);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many grids the page flags as overdue (the metric `dataprocessor_grids_report_overdue`).
pub async fn count_report_overdue(
    conn: &mut diesel_async::AsyncPgConnection,
    hours: u64,
) -> diesel::QueryResult<i64> {
    let counted: Count = diesel::sql_query(OVERDUE_COUNT)
        .bind::<Integer, _>(hours_bound(hours))
        .get_result(conn)
        .await?;
    Ok(counted.n)
}

/// Every grid heard of, by customer and grid, with `overdue` set for a daily report older
/// than `hours` (or none).
pub async fn grid_statuses(
    conn: &mut diesel_async::AsyncPgConnection,
    hours: u64,
) -> diesel::QueryResult<Vec<GridStatus>> {
    diesel::sql_query(GRIDS)
        .bind::<Integer, _>(hours_bound(hours))
        .load(conn)
        .await
}

fn hours_bound(hours: u64) -> i32 {
    i32::try_from(hours).unwrap_or(i32::MAX)
}
