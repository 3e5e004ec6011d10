use super::{CONFLICT, Failure, NOT_FOUND, Outcome, conn};
use clap::Subcommand;
use shared_modules::config::Config;
use shared_modules::jobs::{
    Job, JobFilter, JobState, cancel_job, events_of, find_job, list_jobs, retry_job,
};

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Jobs newest first, as a table (or JSON).
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long = "type")]
        job_type: Option<String>,
        /// Only jobs created at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One job with its event trail.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Queue a finished job (done, error, cancelled) again.
    Retry { id: i64 },
    /// Run jobs again from their inbox copies: the given ids, or every job matching the
    /// filters (e.g. `--status error --type alert`), with a progress bar.
    Reprocess {
        ids: Vec<i64>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long = "type")]
        job_type: Option<String>,
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Cancel a queued or running job.
    Cancel { id: i64 },
}

pub async fn run(cmd: JobsCommand, config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    match cmd {
        JobsCommand::List {
            status,
            customer,
            job_type,
            since,
            limit,
            json,
        } => {
            let filter = JobFilter {
                state: parse_status(status.as_deref())?,
                customer,
                job_type,
                since,
                limit,
                ..Default::default()
            };
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
                println!("result {result}");
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
            status,
            customer,
            job_type,
            since,
        } => {
            let filtered =
                status.is_some() || customer.is_some() || job_type.is_some() || since.is_some();
            if ids.is_empty() != filtered {
                return Err(Failure::new(
                    2,
                    "give job ids or filters (--status, --customer, --type, --since), not both",
                ));
            }
            let ids = if filtered {
                let filter = JobFilter {
                    state: parse_status(status.as_deref())?,
                    customer,
                    job_type,
                    since,
                    limit: 1000,
                    ..Default::default()
                };
                matching_ids(&mut c, filter).await?
            } else {
                ids
            };
            reprocess(&mut c, &ids).await
        }
        JobsCommand::Retry { id } => {
            match retry_job(&mut c, id, "retry requested with dpctl").await? {
                None => Err(Failure::new(NOT_FOUND, format!("job {id} does not exist"))),
                Some(Err(state)) => Err(Failure::new(
                    CONFLICT,
                    format!(
                        "job {id} is {state}; only done, error or cancelled jobs can be retried"
                    ),
                )),
                Some(Ok(job)) => {
                    println!("job {} queued again", job.id);
                    Ok(())
                }
            }
        }
        JobsCommand::Cancel { id } => match cancel_job(&mut c, id).await? {
            None => Err(Failure::new(NOT_FOUND, format!("job {id} does not exist"))),
            Some(Err(state)) => Err(Failure::new(
                CONFLICT,
                format!("job {id} is {state}; only queued or running jobs can be cancelled"),
            )),
            Some(Ok(job)) => {
                println!("job {} cancelled", job.id);
                Ok(())
            }
        },
    }
}

fn print_table(jobs: &[Job]) {
    println!(
        "{:>8}  {:<11} {:<16} {:<28} {:<19} {:>3}  ERROR",
        "ID", "STATE", "CUSTOMER", "TYPE/GROUP", "CREATED", "TRY"
    );
    for j in jobs {
        let kind = format!("{}/{}/{}", j.category, j.job_type, j.job_group);
        let error: String = j.error.as_deref().unwrap_or("").chars().take(60).collect();
        println!(
            "{:>8}  {:<11} {:<16} {:<28} {:<19} {:>3}  {}",
            j.id,
            j.state,
            j.customer,
            kind,
            j.created_at.format("%Y-%m-%d %H:%M:%S"),
            j.attempts,
            error
        );
    }
    if jobs.is_empty() {
        println!("(no jobs)");
    }
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

async fn reprocess(c: &mut diesel_async::AsyncPgConnection, ids: &[i64]) -> Outcome {
    let mut progress = super::progress::Progress::new("reprocessing", ids.len());
    let mut refused = Vec::new();
    for id in ids {
        match retry_job(c, *id, "reprocess requested with dpctl").await? {
            Some(Ok(_)) => {}
            Some(Err(state)) => refused.push(format!("{id} ({state})")),
            None => refused.push(format!("{id} (does not exist)")),
        }
        progress.step();
    }
    println!("{} job(s) queued again", ids.len() - refused.len());
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            CONFLICT,
            format!("not reprocessed: {}", refused.join(", ")),
        ))
    }
}

/// `--status NAME` as a state; an unknown name is a usage error.
fn parse_status(status: Option<&str>) -> Result<Option<JobState>, Failure> {
    status
        .map(|s| JobState::parse(s).ok_or_else(|| Failure::new(2, format!("unknown status `{s}`"))))
        .transpose()
}
