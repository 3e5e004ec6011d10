//! `GET /metrics` (Prometheus text format, no key: for the scraper): queue gauges read from
//! the database at scrape time, plus this process's counters and histograms.

use super::AppState;
use actix_web::{HttpResponse, web};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use std::fmt::Write;

#[derive(QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    job_type: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Queue {
    #[diesel(sql_type = BigInt)]
    depth: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest_age: Option<f64>,
    #[diesel(sql_type = BigInt)]
    mails: i64,
    #[diesel(sql_type = BigInt)]
    quarantined: i64,
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut out = String::new();
    match database_gauges(&state).await {
        Ok(text) => out.push_str(&text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: database gauges unavailable");
            out.push_str("# database gauges unavailable\ndataprocessor_database_up 0\n");
        }
    }
    out.push_str(&shared_modules::metrics::render());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

async fn database_gauges(state: &AppState) -> Result<String, String> {
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    let counts: Vec<StateCount> = diesel::sql_query(
        "SELECT state, job_type, count(*) AS n FROM jobs GROUP BY state, job_type ORDER BY 1, 2",
    )
    .load(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let queue: Queue = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE state = 'queued' AND run_after <= now()) AS depth,
                EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state = 'queued'))::float8 AS oldest_age,
                count(*) FILTER (WHERE source = 'email') AS mails,
                count(*) FILTER (WHERE source = 'email' AND state = 'quarantined') AS quarantined
         FROM jobs",
    )
    .get_result(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let mut out = String::from("dataprocessor_database_up 1\n# TYPE dataprocessor_jobs gauge\n");
    for c in counts {
        let _ = writeln!(
            out,
            "dataprocessor_jobs{{state=\"{}\",type=\"{}\"}} {}",
            c.state, c.job_type, c.n
        );
    }
    let _ = writeln!(
        out,
        "# TYPE dataprocessor_queue_depth gauge\ndataprocessor_queue_depth {}",
        queue.depth
    );
    let _ = writeln!(
        out,
        "# TYPE dataprocessor_oldest_queued_job_age_seconds gauge\ndataprocessor_oldest_queued_job_age_seconds {}",
        queue.oldest_age.unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "# TYPE dataprocessor_mails_received_total counter\ndataprocessor_mails_received_total {}",
        queue.mails
    );
    let _ = writeln!(
        out,
        "# TYPE dataprocessor_mails_quarantined_total counter\ndataprocessor_mails_quarantined_total {}",
        queue.quarantined
    );
    Ok(out)
}
