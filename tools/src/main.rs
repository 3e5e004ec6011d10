//! `dpctl`: what an operator runs inside the container (`docker exec -it hview.data dpctl …`).
//! Exit codes: 0 done, 1 failed, 2 usage, 3 not found, 4 conflict (wrong state),
//! 75 temporary failure (database down: try again), 78 bad config.

mod commands;
mod service_user;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dpctl",
    version = build_info::LONG_VERSION,
    about = "Operate the DataProcessor: jobs, mail, database, config"
)]
struct Cli {
    /// Config file (default: $DATAPROCESSOR_CONFIG, else ./config.json).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List, show, retry or cancel jobs.
    #[command(subcommand)]
    Jobs(commands::jobs::JobsCommand),
    /// Feed mail in as Postfix would.
    #[command(subcommand)]
    Mail(commands::mail::MailCommand),
    /// The cluster's nodes: alive or not, the leader, what each runs.
    Nodes {
        #[arg(long)]
        json: bool,
        /// Also the last day's runs of the cluster duties (reaper, reconciliation, …).
        #[arg(long)]
        duties: bool,
    },
    /// Customers' credentials: add, list, rotate, revoke.
    #[command(subcommand)]
    Customers(commands::customers::CustomersCommand),
    /// Quarantined mail: list, release after fixing the config.
    #[command(subcommand)]
    Quarantine(commands::quarantine::QuarantineCommand),
    /// Uploads in the bucket that no trigger has turned into a job yet.
    #[command(subcommand)]
    Uploads(commands::uploads::UploadsCommand),
    /// Database maintenance.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// Is this DataProcessor healthy (database, storage, API)? For the container's HEALTHCHECK.
    Health,
    /// Configuration checks.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// This binary's version and commit, and the database schema's; says when they differ.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove what retention allows (archive copies and finished jobs' inbox directories
    /// older than archive.retention_days) and tmp/ leftovers of dead workers; each
    /// removal is recorded on its job.
    Cleanup {
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let config = match shared_modules::config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(78);
        }
    };
    // Before any thread or file: as root, continue as the service user.
    if let Err(e) = service_user::become_service_user(&config) {
        eprintln!("dpctl: {e}");
        return ExitCode::from(78);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dpctl: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cli, config))
}

/// `dpctl … | head -3` (or `less` quit early, `grep -q`): the reader has what it wanted,
/// so a write to the closed pipe ends dpctl quietly with 0, as a Unix tool killed by SIGPIPE
/// would end silently. Rust ignores SIGPIPE and `println!` panics on EPIPE instead (exit 101
/// with a backtrace); restoring SIGPIPE needs `unsafe`, which the workspace forbids, so the
/// panic of a failed print to a broken pipe is caught here. Any other panic is reported as
/// before.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

async fn run(cli: Cli, config: shared_modules::config::Config) -> ExitCode {
    let outcome = match cli.command {
        Command::Jobs(cmd) => commands::jobs::run(cmd, &config).await,
        Command::Mail(cmd) => commands::mail::run(cmd, &config).await,
        Command::Nodes { json, duties } => commands::nodes::run(&config, json, duties).await,
        Command::Customers(cmd) => commands::customers::run(cmd, &config).await,
        Command::Quarantine(cmd) => commands::quarantine::run(cmd, &config).await,
        Command::Uploads(cmd) => commands::uploads::run(cmd, &config).await,
        Command::Db(cmd) => commands::db::run(cmd, &config).await,
        Command::Health => commands::health::run(&config).await,
        Command::Config(cmd) => commands::config::run(cmd, &config).await,
        Command::Cleanup { dry_run } => commands::cleanup::run(&config, dry_run).await,
        Command::Version { json } => commands::version::run(&config, json).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpctl: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
