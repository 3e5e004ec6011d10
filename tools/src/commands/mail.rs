use super::{Failure, Outcome};
use clap::Subcommand;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mailhandler::{Delivered, deliver, exit};
use shared_modules::config::Config;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum MailCommand {
    /// Deliver an .eml file exactly as Postfix would hand it to the mailhandler.
    Inject {
        file: PathBuf,
        #[arg(long)]
        sender: String,
        #[arg(long)]
        recipient: String,
    },
}

pub async fn run(cmd: MailCommand, config: &Config) -> Outcome {
    match cmd {
        MailCommand::Inject {
            file,
            sender,
            recipient,
        } => {
            let raw = std::fs::read(&file)
                .map_err(|e| Failure::new(2, format!("cannot read {}: {e}", file.display())))?;
            let tempfail = |message: String| Failure::new(exit::TEMPFAIL, message);
            let mut conn = AsyncPgConnection::establish(&config.database.url)
                .await
                .map_err(|e| tempfail(format!("database unavailable: {e}")))?;
            let delivered = deliver(
                config,
                &mut conn,
                &raw,
                &sender,
                &recipient,
                chrono::Utc::now(),
            )
            .await
            .map_err(|e| tempfail(e.to_string()))?;
            match delivered {
                Delivered::Stored { job_id, path } => {
                    println!("queued as job {job_id} ({})", path.display())
                }
                Delivered::Quarantined { job_id, reason, .. } => {
                    println!("quarantined as job {job_id}: {reason}")
                }
                Delivered::Duplicate { job_id } => println!("already stored as job {job_id}"),
            }
            Ok(())
        }
    }
}
