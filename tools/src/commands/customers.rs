//! `dpctl customers add|list|rotate|revoke`: customers' credentials, kept in Postgres so
//! every node knows them. `add` and `rotate` print the new API key and S3 secret once; they
//! cannot be shown again (the database keeps the API key's hash and the secret sealed with
//! the server key).

use super::{BAD_CONFIG, CONFLICT, FAILED, Failure, NOT_FOUND, Outcome, conn};
use clap::Subcommand;
use shared_modules::config::Config;
use shared_modules::customers::{
    KeySource, NewCredentials, RegistryError, ServerKey, add_customer, list_customers, revoke,
    rotate,
};
use shared_modules::paths::normalise_segment;

#[derive(Subcommand)]
pub enum CustomersCommand {
    /// Add a customer: prints, once, its API key and an S3 key limited to `<customer>/`.
    Add {
        customer: String,
        #[arg(long)]
        json: bool,
    },
    /// Every customer and its credentials (ids only, never keys).
    List {
        #[arg(long)]
        json: bool,
    },
    /// New credentials; the current ones keep working for `--overlap-hours`, then end.
    Rotate {
        customer: String,
        #[arg(long, default_value_t = 24.0)]
        overlap_hours: f64,
        #[arg(long)]
        json: bool,
    },
    /// End a customer's credentials now, on every node (one with `--key <KEY_ID>`).
    Revoke {
        customer: String,
        #[arg(long)]
        key: Option<String>,
    },
}

pub async fn run(cmd: CustomersCommand, config: &Config) -> Outcome {
    let mut c = conn(config).await?;
    match cmd {
        CustomersCommand::Add { customer, json } => {
            let customer = customer_name(&customer)?;
            let server_key = server_key(config)?;
            let made = add_customer(&mut c, &server_key, &customer)
                .await
                .map_err(registry_failure)?;
            show_new(&made, json, &format!("customer `{customer}` added"));
            Ok(())
        }
        CustomersCommand::Rotate {
            customer,
            overlap_hours,
            json,
        } => {
            if !(0.0..=24.0 * 90.0).contains(&overlap_hours) {
                return Err(Failure::new(
                    FAILED,
                    "--overlap-hours is between 0 and 2160 (90 days)",
                ));
            }
            let customer = customer_name(&customer)?;
            let server_key = server_key(config)?;
            let overlap = std::time::Duration::from_secs_f64(overlap_hours * 3600.0);
            let made = rotate(&mut c, &server_key, &customer, overlap)
                .await
                .map_err(registry_failure)?;
            show_new(
                &made,
                json,
                &format!(
                    "customer `{customer}`: new credentials; the previous ones end in {overlap_hours} h"
                ),
            );
            Ok(())
        }
        CustomersCommand::Revoke { customer, key } => {
            let customer = customer_name(&customer)?;
            let ended = revoke(&mut c, &customer, key.as_deref())
                .await
                .map_err(registry_failure)?;
            println!(
                "customer `{customer}`: {ended} credential(s) revoked; every node refuses them from its next request"
            );
            Ok(())
        }
        CustomersCommand::List { json } => {
            let customers = list_customers(&mut c).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&customers).unwrap_or_default()
                );
                return Ok(());
            }
            if customers.is_empty() {
                println!("(no customers: `dpctl customers add <name>` adds one)");
                return Ok(());
            }
            let mut table =
                super::table::new(&["CUSTOMER", "KEY ID", "S3 ACCESS KEY", "CREATED", "STATE"]);
            for customer in &customers {
                for key in &customer.credentials {
                    let state = match (key.valid, key.revoked_at, key.expires_at) {
                        (false, Some(at), _) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                        (false, None, _) => "expired".to_string(),
                        (true, _, Some(at)) => {
                            format!("valid until {}", at.format("%Y-%m-%d %H:%M"))
                        }
                        (true, _, None) => "valid".to_string(),
                    };
                    super::table::add_row(
                        &mut table,
                        vec![
                            customer.name.clone(),
                            key.key_id.clone(),
                            key.s3_access_key_id.clone(),
                            key.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            state,
                        ],
                    );
                }
            }
            println!("{table}");
            Ok(())
        }
    }
}

fn customer_name(name: &str) -> Result<String, Failure> {
    let name =
        normalise_segment("customer", name).map_err(|e| Failure::new(FAILED, e.to_string()))?;
    if shared_modules::customers::RESERVED_NAMES.contains(&name.as_str()) {
        return Err(Failure::new(
            FAILED,
            format!(
                "`{name}` is reserved (mail no customer receives is filed under it): choose another name"
            ),
        ));
    }
    Ok(name)
}

fn server_key(config: &Config) -> Result<ServerKey, Failure> {
    let (key, source) =
        ServerKey::load(&config.paths.root).map_err(|e| Failure::new(BAD_CONFIG, e.to_string()))?;
    if let KeySource::Made(path) = source {
        eprintln!(
            "made a new server key at {} (it seals customers' S3 secrets; every node needs this same key)",
            path.display()
        );
    }
    Ok(key)
}

fn registry_failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Exists(_) => Failure::new(CONFLICT, e.to_string()),
        RegistryError::Reserved(_) => Failure::new(FAILED, e.to_string()),
        RegistryError::Unknown(_) | RegistryError::NoSuchKey(_) => {
            Failure::new(NOT_FOUND, e.to_string())
        }
        RegistryError::ServerKey(_) => Failure::new(BAD_CONFIG, e.to_string()),
        RegistryError::Database(e) => Failure::from(e),
    }
}

fn show_new(made: &NewCredentials, json: bool, headline: &str) {
    if json {
        println!("{}", serde_json::to_string_pretty(made).unwrap_or_default());
        return;
    }
    println!("{headline}. These are shown once; keep them safe:");
    println!("  key id:                {}", made.key_id);
    println!("  API key (X-Api-Key):   {}", made.api_key);
    println!("  S3 access key id:      {}", made.s3_access_key_id);
    println!("  S3 secret access key:  {}", made.s3_secret_access_key);
    println!("  S3 keys under:         {}", made.s3_prefix);
}
