use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The DataProcessor: REST API, job workers and reaper (`serve`), schema migrations (`migrate`).
#[derive(Parser)]
#[command(name = "dataprocessor", version = build_info::LONG_VERSION)]
struct Cli {
    /// Config file (default: $DATAPROCESSOR_CONFIG, else ./config.json).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API on api.listen, the worker pool and the reaper until SIGTERM.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match shared_modules::config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(78); // EX_CONFIG
        }
    };
    let result = match cli.command {
        Command::Serve => {
            let _guard = shared_modules::logging::init("api", &config.logging, true);
            api::serve::serve(config).await
        }
        Command::Migrate => {
            let _guard = shared_modules::logging::init("migrate", &config.logging, true);
            match shared_modules::db::run_migrations(&config.database.url).await {
                Ok(applied) if applied.is_empty() => {
                    println!("database is up to date");
                    Ok(())
                }
                Ok(applied) => {
                    println!(
                        "applied {} migration(s): {}",
                        applied.len(),
                        applied.join(", ")
                    );
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dataprocessor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
