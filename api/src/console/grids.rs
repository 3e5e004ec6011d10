//! Grids: per customer and grid, the last system report, alert and NetBackup upload with
//! their times and the latest capacity figures. A grid whose daily report is older than
//! `console.report_overdue_hours`, or that has sent none, is flagged (the same count is the
//! metric `dataprocessor_grids_report_overdue`).

use super::layout::{age, bytes, page, respond, time};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use maud::html;

#[derive(QueryableByName)]
struct Grid {
    #[diesel(sql_type = Text)]
    customer: String,
    #[diesel(sql_type = Text)]
    grid: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_report: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    capacity: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    used: Option<i64>,
    #[diesel(sql_type = Nullable<Double>)]
    dedup: Option<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_alert: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    last_alert_severity: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_upload: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    overdue: bool,
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

fn hours_bound(hours: u64) -> i32 {
    i32::try_from(hours).unwrap_or(i32::MAX)
}

pub async fn show(state: web::Data<AppState>, signed: SignedIn) -> HttpResponse {
    let found = state
        .db(async {
            let mut conn = state.conn().await?;
            Ok::<_, ApiError>(
                diesel::sql_query(GRIDS)
                    .bind::<Integer, _>(hours_bound(state.config.console.report_overdue_hours))
                    .load::<Grid>(&mut conn)
                    .await?,
            )
        })
        .await;
    let grids = match found {
        Ok(grids) => grids,
        Err(e) => return super::unavailable(&signed, "Grids", &e),
    };
    let limit = state.config.console.report_overdue_hours;
    let now = Utc::now();
    let flagged = grids.iter().filter(|g| g.overdue).count();
    let body = html! {
        p { "A grid is flagged when its last daily system report is older than " (limit) " hours (console.report_overdue_hours), or when it has sent none. Times are UTC." }
        @if flagged > 0 { p.warning role="status" { (flagged) " grid(s) have no recent daily report." } }
        @if grids.is_empty() { p.empty { "No grid has reported yet." } }
        div.table {
            table.grids {
                thead { tr { th { "Customer" } th { "Grid" } th { "Daily report" } th { "Status" } th { "Used / capacity" } th { "Dedup" } th { "Last alert" } th { "Last NetBackup upload" } } }
                tbody {
                    @for g in &grids {
                        tr class=[g.overdue.then_some("overdue")] {
                            td { (g.customer) }
                            td { (g.grid) }
                            td {
                                @match g.last_report {
                                    Some(at) => { (time(at)) " UTC" br; span.age { (age((now - at).as_seconds_f64())) " ago" } }
                                    None => "never",
                                }
                                @if g.overdue { " " strong.flag { "overdue" } }
                            }
                            td { (g.status.as_deref().unwrap_or("")) }
                            td.num { @if let (Some(used), Some(cap)) = (g.used, g.capacity) {
                                (bytes(used)) " / " (bytes(cap))
                                @if cap > 0 { " (" (format!("{:.0}", used as f64 * 100.0 / cap as f64)) "%)" }
                            } }
                            td.num { @if let Some(d) = g.dedup { (format!("{d:.1}")) ":1" } }
                            td { @if let Some(at) = g.last_alert { (time(at)) " UTC " (g.last_alert_severity.as_deref().unwrap_or("")) } @else { "none" } }
                            td { @if let Some(at) = g.last_upload { (time(at)) " UTC" } @else { "none" } }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page("Grids", "Grids", &signed.0.csrf, body))
}
