use super::{CONFLICT, Failure, NOT_FOUND, Outcome, conn};
use clap::Subcommand;
use shared_modules::config::Config;
use shared_modules::jobs::{
    Job, JobFilter, JobState, Refused, cancel_job, events_of, find_job, list_jobs, retry_job,
};

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Jobs newest first, as a table (or JSON).
    List {
        #[command(flatten)]
        filters: Filters,
        /// At most this many jobs (1 to 1000).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The jobs as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job with its event trail, result and metadata.
    Show {
        id: i64,
        /// The job and its events as one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Queue a finished job (done, error, cancelled) again.
    Retry { id: i64 },
    /// Run jobs again from their files (inbox, or archive once done): the given ids, or every job matching the
    /// filters (e.g. `--status error --type alert`); a progress bar follows them until
    /// each is done or in error (exit 1 if any ends in error).
    Reprocess {
        /// Job ids (or use the filters instead).
        ids: Vec<i64>,
        #[command(flatten)]
        filters: Filters,
        /// Stop once they are queued instead of following them to the end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Cancel a queued or running job.
    Cancel { id: i64 },
}

/// The filters `list` and `reprocess` share.
#[derive(clap::Args)]
pub struct Filters {
    /// Only jobs in this state: queued, running, done, error, quarantined, cancelled.
    #[arg(long, value_parser = parse_status)]
    status: Option<JobState>,
    /// Only jobs of this customer.
    #[arg(long)]
    customer: Option<String>,
    /// Only jobs of this type (system_report, alert, veritas2hview, …).
    #[arg(long = "type")]
    job_type: Option<String>,
    /// Only jobs created at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Filters {
    fn given(&self) -> bool {
        self.status.is_some()
            || self.customer.is_some()
            || self.job_type.is_some()
            || self.since.is_some()
    }

    fn into_filter(self, limit: i64) -> JobFilter {
        JobFilter {
            state: self.status,
            customer: self.customer,
            job_type: self.job_type,
            since: self.since,
            limit,
            ..Default::default()
        }
    }
}

pub async fn run(cmd: JobsCommand, config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    match cmd {
        JobsCommand::List {
            filters,
            limit,
            json,
        } => {
            let filter = filters.into_filter(limit);
            let page = list_jobs(&mut c, &filter).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&page.jobs).unwrap_or_default()
                );
            } else {
                print_table(&page.jobs);
            }
            Ok(())
        }
        JobsCommand::Show { id, json } => {
            let job = find_job(&mut c, id)
                .await?
                .ok_or_else(|| Failure::new(NOT_FOUND, format!("job {id} does not exist")))?;
            let events = events_of(&mut c, id).await?;
            if json {
                let mut value = serde_json::to_value(&job).unwrap_or_default();
                value["events"] = serde_json::to_value(&events).unwrap_or_default();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
                return Ok(());
            }
            println!(
                "job {}  {}  {}/{}/{}/{}",
                job.id, job.state, job.customer, job.category, job.job_type, job.job_group
            );
            println!(
                "source {}  attempts {}/{}  created {}",
                job.source, job.attempts, job.max_attempts, job.created_at
            );
            if let Some(path) = &job.inbox_path {
                println!("inbox {path}");
            }
            if let Some(path) = &job.archive_path {
                println!("archive {path}");
            }
            if let Some(error) = &job.error {
                println!("error {error}");
            }
            if let Some(progress) = &job.progress {
                let label = if job.state == JobState::Running {
                    "progress"
                } else {
                    "last progress"
                };
                println!("{label} {progress}");
            }
            if let Some(result) = &job.result {
                println!("result {}", pretty(result));
            }
            if job.metadata.as_object().is_some_and(|m| !m.is_empty()) {
                println!("metadata {}", pretty(&job.metadata));
            }
            println!("events:");
            for e in events {
                let duration = e
                    .duration_ms
                    .map(|d| format!(" {d} ms"))
                    .unwrap_or_default();
                println!(
                    "  {}  {:<10} {:<5} {}{}  {}",
                    e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                    e.step,
                    e.phase,
                    e.status.unwrap_or_default(),
                    duration,
                    e.message.unwrap_or_default()
                );
            }
            Ok(())
        }
        JobsCommand::Reprocess {
            ids,
            filters,
            no_wait,
        } => {
            let filtered = filters.given();
            if ids.is_empty() != filtered {
                return Err(Failure::new(
                    2,
                    "give job ids or filters (--status, --customer, --type, --since), not both",
                ));
            }
            let ids = if filtered {
                matching_ids(&mut c, filters.into_filter(1000)).await?
            } else {
                ids
            };
            reprocess(&mut c, &ids, !no_wait).await
        }
        JobsCommand::Retry { id } => {
            let job = retry_job(&mut c, id, "retry requested with dpctl")
                .await?
                .map_err(|refused| refused_failure(id, refused))?;
            println!("job {} queued again", job.id);
            Ok(())
        }
        JobsCommand::Cancel { id } => {
            let job = cancel_job(&mut c, id)
                .await?
                .map_err(|refused| refused_failure(id, refused))?;
            println!("job {} cancelled", job.id);
            Ok(())
        }
    }
}

fn print_table(jobs: &[Job]) {
    if jobs.is_empty() {
        println!("(no jobs)");
        return;
    }
    let mut table = super::table::new(&[
        "ID",
        "STATE",
        "CUSTOMER",
        "TYPE/GROUP",
        "CREATED",
        "TRY",
        "ERROR",
    ]);
    for j in jobs {
        super::table::add_row(
            &mut table,
            vec![
                j.id.to_string(),
                j.state.to_string(),
                j.customer.clone(),
                format!("{}/{}/{}", j.category, j.job_type, j.job_group),
                j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                j.attempts.to_string(),
                j.error.clone().unwrap_or_default(),
            ],
        );
    }
    println!("{table}");
}

/// Every job id the filter matches (all pages).
async fn matching_ids(
    c: &mut diesel_async::AsyncPgConnection,
    mut filter: JobFilter,
) -> Result<Vec<i64>, Failure> {
    let mut ids = Vec::new();
    loop {
        let page = list_jobs(c, &filter).await?;
        ids.extend(page.jobs.iter().map(|j| j.id));
        match page.next_cursor {
            Some(cursor) => filter.before_id = Some(cursor),
            None => return Ok(ids),
        }
    }
}

async fn reprocess(c: &mut diesel_async::AsyncPgConnection, ids: &[i64], follow: bool) -> Outcome {
    let mut progress = super::progress::Progress::new("queuing", ids.len());
    let mut refused = Vec::new();
    let mut queued = Vec::new();
    for id in ids {
        match retry_job(c, *id, "reprocess requested with dpctl").await? {
            Ok(_) => queued.push(*id),
            Err(reason) => refused.push(format!("{id} ({reason})")),
        }
        progress.step();
    }
    println!("{} job(s) queued again", queued.len());
    if !refused.is_empty() {
        return Err(Failure::new(
            CONFLICT,
            format!("not reprocessed: {}", refused.join(", ")),
        ));
    }
    if !follow || queued.is_empty() {
        return Ok(());
    }
    follow_to_the_end(c, &queued).await
}

/// Follows `ids` until each is done or in error, with a progress bar.
async fn follow_to_the_end(c: &mut diesel_async::AsyncPgConnection, ids: &[i64]) -> Outcome {
    let mut progress = super::progress::Progress::new("processing", ids.len());
    loop {
        let states = shared_modules::jobs::states_of(c, ids).await?;
        let failed: Vec<i64> = states
            .iter()
            .filter(|(_, s)| *s == JobState::Error)
            .map(|(id, _)| *id)
            .collect();
        let ended = states.iter().filter(|(_, s)| s.is_final()).count();
        let done = states.iter().filter(|(_, s)| *s == JobState::Done).count();
        progress.set(ended, &format!("{done} done, {} error", failed.len()));
        if ended == ids.len() {
            println!("{done} done, {} error", failed.len());
            if failed.is_empty() {
                return Ok(());
            }
            let listed: Vec<String> = failed.iter().map(i64::to_string).collect();
            return Err(Failure::new(
                super::FAILED,
                format!("ended in error: {} (dpctl jobs show ID)", listed.join(", ")),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Exit 3 (not found) or 4 (conflict), saying why.
fn refused_failure(id: i64, refused: Refused) -> Failure {
    let code = match refused {
        Refused::NotFound => NOT_FOUND,
        _ => CONFLICT,
    };
    Failure::new(code, format!("job {id} {refused}"))
}

/// `--status NAME` as a state; an unknown name is a usage error (exit 2).
fn parse_status(status: &str) -> Result<JobState, String> {
    JobState::parse(status).ok_or_else(|| format!("unknown status `{status}`"))
}

/// JSON for people: indented, one key a line.
fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
