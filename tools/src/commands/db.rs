use super::{FAILED, Failure, Outcome};
use clap::Subcommand;
use shared_modules::config::Config;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations.
    Migrate,
}

pub async fn run(cmd: DbCommand, config: &Config) -> Outcome {
    match cmd {
        DbCommand::Migrate => {
            let applied = shared_modules::db::run_migrations(&config.database.url)
                .await
                .map_err(|e| Failure::new(FAILED, format!("{e:#}")))?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                println!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
    }
}
