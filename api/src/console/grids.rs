//! Grids: per customer and grid, the last system report, alert and NetBackup upload with
//! their times and the latest capacity figures. A grid whose daily report is older than
//! `console.report_overdue_hours` is flagged (the same count is the metric
//! `dataprocessor_grids_report_overdue`).

use super::layout::{age, bytes, page, respond, time};
use super::session::SignedIn;
use crate::http::{ApiError, AppState};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
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
}

const GRIDS: &str = "
WITH known AS (
    SELECT customer, grid_name FROM hydrastor_grids
    UNION SELECT customer, grid_name FROM hydrastor_alerts
    UNION SELECT customer, job_group FROM jobs WHERE job_type = 'veritas2hview' AND state = 'done'
)
SELECT k.customer, k.grid_name AS grid, g.status, g.last_report_at AS last_report,
       g.physical_capacity_bytes AS capacity, g.physical_used_bytes AS used, g.dedup_ratio AS dedup,
       a.occurred_at AS last_alert, a.severity AS last_alert_severity,
       (SELECT max(finished_at) FROM jobs j
         WHERE j.customer = k.customer AND j.job_group = k.grid_name
           AND j.job_type = 'veritas2hview' AND j.state = 'done') AS last_upload
  FROM known k
  LEFT JOIN hydrastor_grids g USING (customer, grid_name)
  LEFT JOIN LATERAL (SELECT occurred_at, severity FROM hydrastor_alerts x
                      WHERE x.customer = k.customer AND x.grid_name = k.grid_name
                      ORDER BY occurred_at DESC LIMIT 1) a ON true
 ORDER BY k.customer, k.grid_name";

pub async fn show(state: web::Data<AppState>, signed: SignedIn) -> HttpResponse {
    let found = state
        .db(async {
            let mut conn = state.conn().await?;
            Ok::<_, ApiError>(diesel::sql_query(GRIDS).load::<Grid>(&mut conn).await?)
        })
        .await;
    let grids = match found {
        Ok(grids) => grids,
        Err(e) => return super::unavailable(&signed, "Grids", &e),
    };
    let limit = state.config.console.report_overdue_hours;
    let now = Utc::now();
    let overdue = |g: &Grid| {
        g.last_report
            .is_none_or(|at| (now - at).num_seconds() > limit as i64 * 3600)
    };
    let flagged = grids.iter().filter(|g| overdue(g)).count();
    let body = html! {
        p { "A grid is flagged when its last daily system report is older than " (limit) " hours (console.report_overdue_hours)." }
        @if flagged > 0 { p.warning role="status" { (flagged) " grid(s) have no recent daily report." } }
        @if grids.is_empty() { p.empty { "No grid has reported yet." } }
        div.table {
            table.grids {
                thead { tr { th { "Customer" } th { "Grid" } th { "Daily report" } th { "Status" } th { "Used / capacity" } th { "Dedup" } th { "Last alert" } th { "Last NetBackup upload" } } }
                tbody {
                    @for g in &grids {
                        tr class=[overdue(g).then_some("overdue")] {
                            td { (g.customer) }
                            td { (g.grid) }
                            td {
                                @match g.last_report {
                                    Some(at) => { (time(at)) " UTC" br; span.age { (age((now - at).as_seconds_f64())) " ago" } }
                                    None => "never",
                                }
                                @if overdue(g) { " " strong.flag { "overdue" } }
                            }
                            td { (g.status.as_deref().unwrap_or("")) }
                            td.num { @if let (Some(used), Some(cap)) = (g.used, g.capacity) {
                                (bytes(used)) " / " (bytes(cap))
                                @if cap > 0 { " (" (format!("{:.0}", used as f64 * 100.0 / cap as f64)) "%)" }
                            } }
                            td.num { @if let Some(d) = g.dedup { (format!("{d:.1}")) ":1" } }
                            td { @if let Some(at) = g.last_alert { (time(at)) " " (g.last_alert_severity.as_deref().unwrap_or("")) } @else { "none" } }
                            td { @if let Some(at) = g.last_upload { (time(at)) } @else { "none" } }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page("Grids", "Grids", &signed.0.csrf, body))
}
