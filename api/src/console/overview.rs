//! The overview: jobs by state, done and failed over 24 hours and 7 days, the oldest queued
//! job's age, mail waiting in quarantine, tickets not yet jobs, uploads never triggered.

use super::charts::{Bucket, bars};
use super::layout::{age, page, respond, state_badge};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use maud::html;

#[derive(QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Finished {
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    done: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Double>)]
    seconds: Option<f64>,
}

struct Figures {
    states: Vec<StateCount>,
    hours: Vec<Finished>,
    days: Vec<Finished>,
    oldest_queued: Option<f64>,
}

async fn figures(state: &AppState) -> Result<Figures, ApiError> {
    let mut conn = state.conn().await?;
    let states = diesel::sql_query("SELECT state, count(*) AS n FROM jobs GROUP BY state")
        .load::<StateCount>(&mut conn)
        .await?;
    let per = |unit: &str, span: &str| {
        format!(
            "SELECT date_trunc('{unit}', finished_at) AS at,
                    count(*) FILTER (WHERE state = 'done') AS done,
                    count(*) FILTER (WHERE state = 'error') AS failed
               FROM jobs WHERE finished_at > now() - interval '{span}'
              GROUP BY 1"
        )
    };
    let hours = diesel::sql_query(per("hour", "24 hours"))
        .load::<Finished>(&mut conn)
        .await?;
    let days = diesel::sql_query(per("day", "7 days"))
        .load::<Finished>(&mut conn)
        .await?;
    let oldest = diesel::sql_query(
        "SELECT extract(epoch FROM now() - min(created_at))::float8 AS seconds FROM jobs WHERE state = 'queued'",
    )
    .get_result::<Oldest>(&mut conn)
    .await?;
    Ok(Figures {
        states,
        hours,
        days,
        oldest_queued: oldest.seconds,
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
    let figures = match state.db(figures(&state)).await {
        Ok(figures) => figures,
        Err(e) => return super::unavailable(&signed, "Overview", &e),
    };
    let count = |name: &str| {
        figures
            .states
            .iter()
            .find(|s| s.state == name)
            .map_or(0, |s| s.n)
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
            @for name in ["queued", "running", "done", "error", "quarantined", "cancelled"] {
                a.card href={ "/jobs?state=" (name) } {
                    span.number { (count(name)) }
                    (state_badge(name))
                }
            }
        }
        section.facts aria-label="Waiting" {
            dl {
                dt { "Oldest queued job" }
                dd { @match figures.oldest_queued { Some(s) => (age(s)), None => "none queued" } }
                dt { "Mail in quarantine" }
                dd { a href="/quarantine" { (count("quarantined")) " waiting" } }
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
                    None => "not checked yet",
                } }
            }
        }
        section.charts aria-label="Throughput" {
            (bars("Last 24 hours, per hour", &buckets(&figures.hours, Duration::hours(1), 24, "%H:00")))
            (bars("Last 7 days, per day", &buckets(&figures.days, Duration::days(1), 7, "%m-%d")))
        }
    };
    respond(
        StatusCode::OK,
        page("Overview", "Overview", &signed.0.csrf, body),
    )
}
