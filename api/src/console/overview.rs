//! The overview: jobs by state, done and failed over 24 hours and 7 days, the oldest queued
//! job's age, mail waiting in quarantine, tickets not yet jobs, uploads never triggered, and
//! the cluster's nodes (alive, leader, running jobs).

use super::charts::{Bucket, bars};
use super::layout::{age, page, respond, state_badge};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{Duration, DurationRound, Utc};
use maud::html;
use shared_modules::jobs::JobState;
use shared_modules::jobs::stats::{self, Finished, Span, StateCount};

struct Figures {
    states: Vec<StateCount>,
    hours: Vec<Finished>,
    days: Vec<Finished>,
    oldest_queued: Option<f64>,
    nodes: Vec<shared_modules::cluster::NodeRow>,
}

async fn figures(state: &AppState) -> Result<Figures, ApiError> {
    let mut conn = state.conn().await?;
    Ok(Figures {
        states: stats::counts_by_state(&mut conn).await?,
        hours: stats::finished_per(&mut conn, Span::DayByHour).await?,
        days: stats::finished_per(&mut conn, Span::WeekByDay).await?,
        oldest_queued: stats::queue_figures(&mut conn).await?.oldest_queued_seconds,
        nodes: shared_modules::cluster::list_nodes(&mut conn).await?,
    })
}

/// `count` buckets of `unit` ending with the current one, filled from `rows`.
fn buckets(rows: &[Finished], unit: Duration, count: i64, label: &str) -> Vec<Bucket> {
    let now = Utc::now()
        .duration_trunc(unit)
        .unwrap_or_else(|_| Utc::now());
    (0..count)
        .rev()
        .map(|back| {
            let at = now - unit * back as i32;
            let row = rows.iter().find(|r| r.at == at);
            Bucket {
                label: at.format(label).to_string(),
                done: row.map_or(0, |r| r.done),
                failed: row.map_or(0, |r| r.failed),
            }
        })
        .collect()
}

pub async fn show(state: web::Data<AppState>, signed: SignedIn) -> HttpResponse {
    // A customer's home is its own jobs; the overview counts every customer's.
    if signed.0.principal.customer().is_some() {
        return HttpResponse::SeeOther()
            .insert_header(("Location", "/jobs"))
            .finish();
    }
    let figures = match state.db(figures(&state)).await {
        Ok(figures) => figures,
        Err(e) => return super::unavailable(&signed, "Overview", &e),
    };
    let count = |wanted: JobState| -> i64 {
        figures
            .states
            .iter()
            .filter(|s| s.state == wanted)
            .map(|s| s.n)
            .sum()
    };
    let root = state.config.paths.root.clone();
    let tickets =
        tokio::task::spawn_blocking(move || shared_modules::inbox::pending_summary(&root).ok())
            .await
            .ok()
            .flatten();
    let untriggered = state.untriggered.lock().map(|u| *u).unwrap_or(None);
    let body = html! {
        section.cards aria-label="Jobs by state" {
            @for each in JobState::ALL {
                a.card href={ "/jobs?state=" (each) } {
                    span.number { (count(each)) }
                    (state_badge(each.as_str()))
                }
            }
        }
        section.facts aria-label="Waiting" {
            dl {
                dt { "Oldest queued job" }
                dd { @match figures.oldest_queued { Some(s) => (age(s)), None => "none queued" } }
                dt { "Mail in quarantine" }
                dd { a href="/quarantine" { (count(JobState::Quarantined)) " waiting" } }
                dt { "Mail stored, job not made yet (tickets)" }
                dd { @match &tickets {
                    Some(t) if t.count > 0 => { (t.count) " pending, oldest " (age(t.oldest_age.map_or(0.0, |a| a.as_secs_f64()))) }
                    Some(_) => "none",
                    None => "unknown",
                } }
                dt { "Uploads never triggered" }
                dd { @match untriggered {
                    Some(u) if u.overdue > 0 => { strong { (u.overdue) " overdue" } " (dpctl uploads pending lists them)" }
                    Some(_) => "none",
                    None if !state.leadership.is_leader() => "checked by the leader node",
                    None => "not checked yet",
                } }
            }
        }
        section.nodes aria-label="Nodes" {
            h2 { "Nodes" }
            div.table { table.nodes {
                thead { tr { th { "Node" } th { "State" } th { "Leader" } th { "Running jobs" } th { "Last heartbeat" } th { "Version" } } }
                tbody { @for node in &figures.nodes {
                    tr {
                        td { (node.name) }
                        td { @if node.alive { "alive" } @else if node.stopped_at.is_some() { "stopped" } @else { strong { "silent" } } }
                        td { @if let Some(since) = node.leader_since { "leader since " (super::layout::time(since)) " UTC" } }
                        td.num { (node.running_jobs) }
                        td { (super::layout::time(node.heartbeat_at)) " UTC" }
                        td { (node.version) }
                    }
                } }
            } }
        }
        section.charts aria-label="Throughput" {
            (bars("Last 24 hours, per hour", &buckets(&figures.hours, Duration::hours(1), 24, "%H:00")))
            (bars("Last 7 days, per day", &buckets(&figures.days, Duration::days(1), 7, "%m-%d")))
        }
    };
    respond(
        StatusCode::OK,
        page("Overview", "Overview", &signed.0, body),
    )
}
