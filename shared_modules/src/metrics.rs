//! This process's metrics in one Prometheus registry (the `prometheus` crate: HELP and TYPE
//! on every family, the text format done right), rendered by `GET /metrics` with the
//! database gauges (`set_database_gauges`).

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0];

struct Families {
    registry: Registry,
    job_runs: IntCounterVec,
    job_duration: HistogramVec,
    rows_upserted: IntCounterVec,
    bytes_downloaded: IntCounterVec,
    reaper_actions: IntCounterVec,
    database_up: Gauge,
    jobs: GaugeVec,
    queue_depth: Gauge,
    oldest_queued_age: Gauge,
    mails_received: Gauge,
    mails_quarantined: Gauge,
    last_mail: Gauge,
    tickets_pending: Gauge,
    oldest_ticket_age: Gauge,
    uploads_untriggered: Gauge,
    oldest_untriggered_upload: Gauge,
    grids_report_overdue: Gauge,
    nodes_alive: Gauge,
    leader: Gauge,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry
        .register(Box::new(family.clone()))
        .expect("registered once");
    family
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let family = Gauge::new(name, help).expect("a valid gauge");
    registry
        .register(Box::new(family.clone()))
        .expect("registered once");
    family
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let registry = Registry::new();
    let job_duration = HistogramVec::new(
        HistogramOpts::new(
            "dataprocessor_job_duration_seconds",
            "How long job attempts took, by type.",
        )
        .buckets(DURATION_BUCKETS.to_vec()),
        &["type"],
    )
    .expect("a valid histogram");
    registry
        .register(Box::new(job_duration.clone()))
        .expect("registered once");
    let jobs = GaugeVec::new(
        Opts::new(
            "dataprocessor_jobs",
            "Jobs in the database by state and type.",
        ),
        &["state", "type"],
    )
    .expect("a valid gauge");
    registry
        .register(Box::new(jobs.clone()))
        .expect("registered once");
    Families {
        job_runs: counter(
            &registry,
            "dataprocessor_job_runs_total",
            "Job attempts run by this process, by type and outcome (done, error, retry, discarded).",
            &["type", "outcome"],
        ),
        rows_upserted: counter(
            &registry,
            "dataprocessor_rows_upserted_total",
            "Rows written by done jobs, by table.",
            &["table"],
        ),
        bytes_downloaded: counter(
            &registry,
            "dataprocessor_bytes_downloaded_total",
            "Bytes of uploads fetched from the object store.",
            &[],
        ),
        reaper_actions: counter(
            &registry,
            "dataprocessor_reaper_actions_total",
            "What the reaper did: requeued, failed (attempts exhausted), timed_out.",
            &["action"],
        ),
        database_up: gauge(
            &registry,
            "dataprocessor_database_up",
            "1 when the last reading from the database (the nodes; on the leader, the table gauges too) succeeded.",
        ),
        queue_depth: gauge(
            &registry,
            "dataprocessor_queue_depth",
            "Jobs queued and due now.",
        ),
        oldest_queued_age: gauge(
            &registry,
            "dataprocessor_oldest_queued_job_age_seconds",
            "Age of the oldest queued job (0 when none).",
        ),
        mails_received: gauge(
            &registry,
            "dataprocessor_mails_received_total",
            "Mails received, all time (jobs from e-mail).",
        ),
        mails_quarantined: gauge(
            &registry,
            "dataprocessor_mails_quarantined_total",
            "Mails waiting in quarantine.",
        ),
        last_mail: gauge(
            &registry,
            "dataprocessor_last_mail_received_timestamp_seconds",
            "When the newest mail was received (Unix time; 0 when none yet).",
        ),
        tickets_pending: gauge(
            &registry,
            "dataprocessor_tickets_pending",
            "Mails stored by the mailhandler whose job is not made yet.",
        ),
        oldest_ticket_age: gauge(
            &registry,
            "dataprocessor_oldest_ticket_age_seconds",
            "Age of the oldest pending ticket (0 when none).",
        ),
        uploads_untriggered: gauge(
            &registry,
            "dataprocessor_uploads_untriggered",
            "Objects in the upload bucket with no job past s3.untriggered_after_minutes (as of the last reconciliation).",
        ),
        oldest_untriggered_upload: gauge(
            &registry,
            "dataprocessor_oldest_untriggered_upload_age_seconds",
            "Age of the oldest object in the upload bucket with no job (0 when none).",
        ),
        grids_report_overdue: gauge(
            &registry,
            "dataprocessor_grids_report_overdue",
            "Grids (heard of by a report, an alert or an upload) with no daily system report within console.report_overdue_hours.",
        ),
        nodes_alive: gauge(
            &registry,
            "dataprocessor_nodes_alive",
            "Nodes whose heartbeat is recent (the nodes table; dpctl nodes).",
        ),
        leader: gauge(
            &registry,
            "dataprocessor_leader",
            "1 on the node that leads the cluster now (it runs the cluster duties and exports the gauges read from the tables).",
        ),
        job_duration,
        jobs,
        registry,
    }
});

/// The gauges read by scanning tables, and those of the leader's duties: only the leader
/// reads them (a cluster duty), so only the leader exports them; every other node leaves
/// them out rather than show a stale value.
const LEADERS_GAUGES: &[&str] = &[
    "dataprocessor_jobs",
    "dataprocessor_queue_depth",
    "dataprocessor_oldest_queued_job_age_seconds",
    "dataprocessor_mails_received_total",
    "dataprocessor_mails_quarantined_total",
    "dataprocessor_last_mail_received_timestamp_seconds",
    "dataprocessor_uploads_untriggered",
    "dataprocessor_oldest_untriggered_upload_age_seconds",
    "dataprocessor_grids_report_overdue",
];

/// Whether this node leads the cluster (and so exports the leader's gauges).
pub fn set_leader(leader: bool) {
    FAMILIES.leader.set(if leader { 1.0 } else { 0.0 });
}

/// How many nodes are alive, as read from the database just now (so it answers).
pub fn set_nodes_alive(nodes_alive: i64) {
    FAMILIES.nodes_alive.set(nodes_alive as f64);
    FAMILIES.database_up.set(1.0);
}

/// One job attempt ended: counted by type and outcome (`done`, `error`, `retry`,
/// `discarded`), its duration observed by type.
pub fn job_ran(job_type: &str, outcome: &str, seconds: f64) {
    let f = &*FAMILIES;
    f.job_runs.with_label_values(&[job_type, outcome]).inc();
    f.job_duration
        .with_label_values(&[job_type])
        .observe(seconds);
}

/// Rows a job upserted into `table`.
pub fn rows_upserted(table: &str, rows: u64) {
    FAMILIES
        .rows_upserted
        .with_label_values(&[table])
        .inc_by(rows);
}

/// Bytes an upload trigger fetched from the object store.
pub fn bytes_downloaded(bytes: u64) {
    FAMILIES
        .bytes_downloaded
        .with_label_values::<&str>(&[])
        .inc_by(bytes);
}

/// Jobs the reaper `action`ed (`requeued`, `failed`, `timed_out`).
pub fn reaper_acted(action: &str, jobs: u64) {
    FAMILIES
        .reaper_actions
        .with_label_values(&[action])
        .inc_by(jobs);
}

/// A reading of the queue from the database.
pub struct DatabaseGauges {
    /// (state, type, count)
    pub jobs: Vec<(String, String, i64)>,
    pub queue_depth: i64,
    pub oldest_queued_age_seconds: f64,
    pub mails_received: i64,
    pub mails_quarantined: i64,
    /// Unix time of the newest mail, if any.
    pub last_mail_at: Option<f64>,
}

/// Sets the database gauges from a reading, or marks the database down (None).
pub fn set_database_gauges(reading: Option<&DatabaseGauges>) {
    let f = &*FAMILIES;
    let Some(r) = reading else {
        f.database_up.set(0.0);
        return;
    };
    f.database_up.set(1.0);
    f.jobs.reset();
    for (state, job_type, n) in &r.jobs {
        f.jobs.with_label_values(&[state, job_type]).set(*n as f64);
    }
    f.queue_depth.set(r.queue_depth as f64);
    f.oldest_queued_age.set(r.oldest_queued_age_seconds);
    f.mails_received.set(r.mails_received as f64);
    f.mails_quarantined.set(r.mails_quarantined as f64);
    f.last_mail.set(r.last_mail_at.unwrap_or(0.0));
}

/// Sets the ticket gauges from a look at `.tickets/`.
pub fn set_ticket_gauges(pending: &crate::inbox::PendingTickets) {
    let f = &*FAMILIES;
    f.tickets_pending.set(pending.count as f64);
    f.oldest_ticket_age.set(
        pending
            .oldest_age
            .map(|age| age.as_secs_f64())
            .unwrap_or(0.0),
    );
}

/// Sets the upload gauges from a reconciliation: objects overdue, and the oldest without a job.
pub fn set_upload_gauges(overdue: usize, oldest_age: Option<std::time::Duration>) {
    let f = &*FAMILIES;
    f.uploads_untriggered.set(overdue as f64);
    f.oldest_untriggered_upload
        .set(oldest_age.map(|age| age.as_secs_f64()).unwrap_or(0.0));
}

/// Sets how many grids have no recent daily report.
pub fn set_grids_overdue(count: i64) {
    FAMILIES.grids_report_overdue.set(count as f64);
}

/// Everything in the registry, in the text exposition format.
pub fn render() -> String {
    let mut out = Vec::new();
    let leads = FAMILIES.leader.get() > 0.0;
    let families: Vec<_> = FAMILIES
        .registry
        .gather()
        .into_iter()
        .filter(|family| leads || !LEADERS_GAUGES.contains(&family.name()))
        .collect();
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(error = %e, "cannot render the metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_values_render() {
        job_ran("alert", "done", 0.01);
        job_ran("alert", "done", 0.01);
        job_ran("x", "error", 0.2);
        rows_upserted("hydrastor_alerts", 3);
        bytes_downloaded(1024);
        reaper_acted("requeued", 1);
        let text = render();
        for expected in [
            "dataprocessor_job_runs_total{outcome=\"done\",type=\"alert\"} 2",
            "dataprocessor_rows_upserted_total{table=\"hydrastor_alerts\"} 3",
            "dataprocessor_bytes_downloaded_total 1024",
            "dataprocessor_reaper_actions_total{action=\"requeued\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(
            text.contains("dataprocessor_job_duration_seconds_bucket{type=\"x\",le=\"0.1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("dataprocessor_job_duration_seconds_bucket{type=\"x\",le=\"0.25\"} 1"),
            "{text}"
        );
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split_whitespace().nth(2).unwrap_or_default();
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has HELP");
        }
    }
}
