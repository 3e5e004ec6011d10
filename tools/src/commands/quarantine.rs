use super::{CONFLICT, FAILED, Failure, NOT_FOUND, Outcome, conn};
use clap::Subcommand;
use diesel_async::AsyncPgConnection;
use mailhandler::{Delivered, DeliveryError, Keyed, deliver_keyed, route};
use shared_modules::config::Config;
use shared_modules::inbox::Insert;
use shared_modules::jobs::{JobFilter, JobState, find_job, list_jobs};

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
    let job = find_job(c, id)
        .await?
        .ok_or_else(|| Failure::new(NOT_FOUND, format!("job {id} does not exist")))?;
    if job.state != JobState::Quarantined {
        return Err(Failure::new(
            CONFLICT,
            format!("job {id} is {}, not quarantined", job.state),
        ));
    }
    let dir = std::path::PathBuf::from(job.inbox_path.clone().unwrap_or_default());
    let raw = std::fs::read(dir.join("message.eml")).map_err(|e| {
        Failure::new(
            FAILED,
            format!("cannot read {}: {e}", dir.join("message.eml").display()),
        )
    })?;
    let sender = job.metadata["sender"].as_str().unwrap_or("");
    let recipient = job.metadata["recipient"].as_str().unwrap_or("");
    route(config, sender, recipient, &raw).map_err(|reason| {
        Failure::new(
            CONFLICT,
            format!("job {id} would still be quarantined: {reason}"),
        )
    })?;
    let delivered = deliver_keyed(
        config,
        c,
        &raw,
        sender,
        recipient,
        chrono::Utc::now(),
        Keyed {
            key: format!("release:{id}"),
            insert: Insert::ReleaseOf(id),
        },
    )
    .await
    .map_err(|e| match e {
        DeliveryError::NotQuarantined => Failure::new(
            CONFLICT,
            format!("job {id} was released or changed by someone else meanwhile"),
        ),
        e => Failure::new(mailhandler::exit::TEMPFAIL, e.to_string()),
    })?;
    let new_id = match delivered {
        Delivered::Stored { job_id, .. } | Delivered::Duplicate { job_id } => job_id,
        Delivered::Quarantined { reason, .. } => {
            return Err(Failure::new(
                CONFLICT,
                format!("still quarantined: {reason}"),
            ));
        }
    };
    println!("job {id} released as job {new_id}");
    Ok(())
}
