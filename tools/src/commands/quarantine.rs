use super::{CONFLICT, FAILED, Failure, NOT_FOUND, Outcome, conn};
use clap::Subcommand;
use diesel_async::AsyncPgConnection;
use shared_modules::config::Config;
use shared_modules::jobs::{JobFilter, JobState, list_jobs};
use shared_modules::mail::{ReleaseError, release_quarantined};

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined mail, newest first, with the reason.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Route a quarantined mail again with the current config (after fixing a customer's
    /// address, allowed senders or a routing rule). It becomes a new queued job; the
    /// quarantined one is closed as cancelled, pointing to it.
    Release { id: i64 },
}

pub async fn run(cmd: QuarantineCommand, config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    match cmd {
        QuarantineCommand::List { limit } => {
            let filter = JobFilter {
                state: Some(JobState::Quarantined),
                limit,
                ..Default::default()
            };
            let page = list_jobs(&mut c, &filter).await?;
            if page.jobs.is_empty() {
                println!("(nothing in quarantine)");
                return Ok(());
            }
            let mut table = super::table::new(&["ID", "RECEIVED", "FROM", "TO", "REASON"]);
            for j in &page.jobs {
                super::table::add_row(
                    &mut table,
                    vec![
                        j.id.to_string(),
                        j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        j.metadata["sender"].as_str().unwrap_or("").to_string(),
                        j.metadata["recipient"].as_str().unwrap_or("").to_string(),
                        j.error.clone().unwrap_or_default(),
                    ],
                );
            }
            println!("{table}");
            Ok(())
        }
        QuarantineCommand::Release { id } => release(&mut c, config, id).await,
    }
}

async fn release(c: &mut AsyncPgConnection, config: &Config, id: i64) -> Outcome {
    let new_id = release_quarantined(config, c, id)
        .await
        .map_err(|e| match e {
            ReleaseError::NotFound(_) => Failure::new(NOT_FOUND, e.to_string()),
            ReleaseError::Conflict(_) => Failure::new(CONFLICT, e.to_string()),
            ReleaseError::Unreadable(_) => Failure::new(FAILED, e.to_string()),
            ReleaseError::Temporary(_) => {
                Failure::new(shared_modules::mail::exit::TEMPFAIL, e.to_string())
            }
        })?;
    println!("job {id} released as job {new_id}");
    Ok(())
}
