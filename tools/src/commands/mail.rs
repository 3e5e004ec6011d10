use super::{Failure, Outcome, table};
use clap::Subcommand;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use shared_modules::config::Config;
use shared_modules::inbox::ticket;
use shared_modules::mail::{Delivered, Envelope, accept, exit, ingest_now};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum MailCommand {
    /// Deliver an .eml file exactly as Postfix would hand it to the mailhandler, then make
    /// its job at once (as serve would) and print it.
    Inject {
        file: PathBuf,
        #[arg(long)]
        sender: String,
        #[arg(long)]
        recipient: String,
    },
    /// Mail stored by the mailhandler whose job `dataprocessor serve` has not made yet (its
    /// tickets), oldest first. Tickets that stay mean serve is not running or cannot reach
    /// the database.
    Pending,
}

pub async fn run(cmd: MailCommand, config: &Config) -> Outcome {
    match cmd {
        MailCommand::Pending => pending(config),
        MailCommand::Inject {
            file,
            sender,
            recipient,
        } => {
            let raw = std::fs::read(&file)
                .map_err(|e| Failure::new(2, format!("cannot read {}: {e}", file.display())))?;
            let tempfail = |message: String| Failure::new(exit::TEMPFAIL, message);
            let accepted = accept(config, &Envelope::now(&raw, &sender, &recipient))
                .map_err(|e| tempfail(e.to_string()))?;
            // The mail is stored with its ticket; make its job now rather than wait for serve.
            let mut conn = AsyncPgConnection::establish(&config.database.url)
                .await
                .map_err(|e| {
                    tempfail(format!(
                        "stored in {}, but the database is unavailable ({e}); serve makes its job once it is back",
                        accepted.path.display()
                    ))
                })?;
            let delivered = ingest_now(config, &mut conn, &accepted)
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

fn pending(config: &Config) -> Outcome {
    let root = &config.paths.root;
    let io = |e: std::io::Error| Failure::new(super::FAILED, e.to_string());
    let tickets = ticket::pending(root).map_err(io)?;
    let summary = ticket::summarize(&tickets);
    match summary.oldest_age {
        None => println!("no tickets pending: every stored mail has its job"),
        Some(age) => println!(
            "{} ticket(s) pending; the oldest is {} s old",
            summary.count,
            age.as_secs()
        ),
    }
    if tickets.is_empty() {
        return Ok(());
    }
    let mut rows = table::new(&["received", "customer", "type", "directory"]);
    for path in tickets.iter().take(50) {
        let Ok(t) = ticket::read_header(path) else {
            continue;
        };
        table::add_row(
            &mut rows,
            vec![
                t.accepted_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                t.job.customer.clone(),
                format!("{}/{}", t.job.category, t.job.job_type),
                t.target.display().to_string(),
            ],
        );
    }
    println!("{rows}");
    Ok(())
}
