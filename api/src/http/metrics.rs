//! `GET /metrics` (Prometheus text format): queue gauges read from the database, plus this
//! process's counters and histograms. Needs a key (`X-Api-Key`, or `Authorization: Bearer`
//! as Prometheus sends it) unless `api.metrics_public`. The database gauges are read at most
//! once per `GAUGES_FOR` whatever the number of scrapers, so scraping cannot starve the pool.

use super::{ApiError, AppState};
use actix_web::{HttpRequest, HttpResponse, web};
use shared_modules::jobs::stats;
use std::time::{Duration, Instant};

/// How long one reading of the database gauges is served.
const GAUGES_FOR: Duration = Duration::from_secs(5);

/// When the database gauges were last read.
#[derive(Default)]
pub struct GaugeCache {
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl GaugeCache {
    /// Reads the database gauges into the registry unless read less than `GAUGES_FOR` ago;
    /// one caller reads them while the others wait.
    async fn refresh(&self, state: &AppState) {
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < GAUGES_FOR) {
            return;
        }
        shared_modules::metrics::set_leader(state.leadership.is_leader());
        let reading = state.db(async {
            cluster_gauges(state).await.map_err(ApiError::Unavailable)?;
            // Scanning the tables is the leader's duty: one node reads them, not every one.
            if state.leadership.is_leader() {
                database_gauges(state)
                    .await
                    .map_err(ApiError::Unavailable)?;
            }
            Ok(())
        });
        if let Err(e) = reading.await {
            tracing::warn!(error = %e, "metrics: database gauges unavailable");
            shared_modules::metrics::set_database_gauges(None);
        }
        *last = Some(Instant::now());
    }
}

fn key_given(state: &AppState, request: &HttpRequest) -> bool {
    super::auth::presented_key(request.headers()).is_some_and(|k| state.keys.accepts(k))
}

pub async fn metrics(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.config.api.metrics_public && !key_given(&state, &request) {
        tracing::info!(path = "/metrics", "request refused: missing or invalid key");
        return Err(ApiError::Unauthorized);
    }
    state.gauges.refresh(&state).await;
    match shared_modules::inbox::pending_summary(&state.config.paths.root) {
        Ok(pending) => shared_modules::metrics::set_ticket_gauges(&pending),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the ticket folder"),
    }
    let out = shared_modules::metrics::render() + &build_info_family();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}

/// `dataprocessor_build_info{version,commit} 1`: which build answers (the usual
/// Prometheus way to show a version, joined onto other series by the labels).
fn build_info_family() -> String {
    format!(
        "# HELP dataprocessor_build_info The version and git commit of this dataprocessor (always 1).\n\
         # TYPE dataprocessor_build_info gauge\n\
         dataprocessor_build_info{{commit=\"{}\",version=\"{}\"}} 1\n",
        build_info::COMMIT,
        build_info::VERSION
    )
}

/// How many nodes are alive.
async fn cluster_gauges(state: &AppState) -> Result<(), String> {
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    let nodes = shared_modules::cluster::list_nodes(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    shared_modules::metrics::set_nodes_alive(nodes.iter().filter(|n| n.alive).count() as i64);
    Ok(())
}

async fn database_gauges(state: &AppState) -> Result<(), String> {
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    let text = |e: diesel::result::Error| e.to_string();
    let counts = stats::counts_by_state(&mut conn).await.map_err(text)?;
    let queue = stats::queue_figures(&mut conn).await.map_err(text)?;
    shared_modules::metrics::set_database_gauges(Some(&shared_modules::metrics::DatabaseGauges {
        jobs: counts
            .into_iter()
            .map(|c| (c.state.to_string(), c.job_type, c.n))
            .collect(),
        queue_depth: queue.depth,
        oldest_queued_age_seconds: queue.oldest_queued_seconds.unwrap_or(0.0),
        mails_received: queue.mails,
        mails_quarantined: queue.mails_quarantined,
        last_mail_at: queue.last_mail_at,
    }));
    let overdue = modules::hydrastor::grid_status::count_report_overdue(
        &mut conn,
        state.config.console.report_overdue_hours,
    )
    .await
    .map_err(text)?;
    shared_modules::metrics::set_grids_overdue(overdue);
    Ok(())
}
