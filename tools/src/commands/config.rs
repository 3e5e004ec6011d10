use super::{Outcome, conn};
use clap::Subcommand;
use diesel_async::RunQueryDsl;
use shared_modules::config::Config;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (already done on load), print it with secrets masked,
    /// refuse published keys and secrets when api.listen is beyond loopback (as serve does;
    /// exit 78), and check that the database answers, the data root is writable and the S3
    /// bucket is reachable. Exit 75 when the database or the object store cannot be
    /// reached, 1 for anything else wrong, naming it.
    Check,
}

pub async fn run(cmd: ConfigCommand, config: &Config) -> Outcome {
    match cmd {
        ConfigCommand::Check => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config.redacted()).unwrap_or_default()
            );
            println!("config: valid");
            // What serve refuses to start with (a published key on a port beyond loopback).
            config
                .refuse_published_secrets()
                .map_err(|e| super::Failure::new(super::BAD_CONFIG, e.to_string()))?;
            if config.listens_on_loopback_only() {
                println!("secrets: api.listen is loopback only (published keys allowed)");
            } else {
                println!("secrets: none published");
                if config.api.tls_certificate.is_none() {
                    println!(
                        "warning: plain HTTP beyond loopback (api.listen {}): keys and uploads cross the network in clear; set api.tls_certificate and api.tls_private_key",
                        config.api.listen
                    );
                }
            }
            let mut c = conn(config).await?;
            diesel::sql_query("SELECT 1").execute(&mut c).await?;
            println!("database: reachable");
            let root = &config.paths.root;
            let probe = root.join(".dpctl-probe");
            std::fs::write(&probe, b"ok")
                .and_then(|_| std::fs::remove_file(&probe))
                .map_err(|e| {
                    super::Failure::new(
                        super::FAILED,
                        format!("paths.root {} is not writable: {e}", root.display()),
                    )
                })?;
            println!("storage: {} writable", root.display());
            let store = shared_modules::object_store::ObjectStore::new(config);
            store.check_bucket().await.map_err(|e| {
                // Unreachable is temporary (75); a missing bucket or refused keys are not.
                let code = match e {
                    shared_modules::object_store::StoreError::Unavailable { .. } => super::TEMPFAIL,
                    _ => super::FAILED,
                };
                super::Failure::new(
                    code,
                    format!(
                        "s3: bucket `{}` at {}: {e}",
                        config.s3.bucket,
                        store.describe(config)
                    ),
                )
            })?;
            println!(
                "s3: bucket {} at {} reachable",
                config.s3.bucket,
                store.describe(config)
            );
            Ok(())
        }
    }
}
