//! Grids: per customer and grid, the last system report, alert and NetBackup upload with
//! their times and the latest capacity figures (`modules::hydrastor::grid_status`). A grid
//! whose daily report is older than `console.report_overdue_hours`, or that has sent none,
//! is flagged (the same count is the metric `dataprocessor_grids_report_overdue`).

use super::layout::{age, bytes, page, respond, time};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use maud::html;
use modules::hydrastor::grid_status::grid_statuses;

pub async fn show(state: web::Data<AppState>, signed: SignedIn) -> HttpResponse {
    let found = state
        .db(async {
            let mut conn = state.conn().await?;
            Ok::<_, ApiError>(
                grid_statuses(&mut conn, state.config.console.report_overdue_hours).await?,
            )
        })
        .await;
    let grids = match found {
        Ok(grids) => grids
            .into_iter()
            .filter(|g| signed.sees(&g.customer))
            .collect::<Vec<_>>(),
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
    respond(StatusCode::OK, page("Grids", "Grids", &signed.0, body))
}
