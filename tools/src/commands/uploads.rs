use super::{Failure, Outcome, table};
use clap::Subcommand;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use shared_modules::config::Config;
use shared_modules::object_store::{ObjectStore, StoreError, untriggered};
use std::time::Duration;

#[derive(Subcommand)]
pub enum UploadsCommand {
    /// Objects in the upload bucket with no job (no curl trigger, no auto trigger), oldest
    /// first; those past s3.untriggered_after_minutes are marked overdue. Exit 0 when there
    /// are none overdue, 1 when some are (for scripts), 75 when the store or database is
    /// unreachable.
    Pending,
}

pub async fn run(cmd: UploadsCommand, config: &Config) -> Outcome {
    match cmd {
        UploadsCommand::Pending => pending(config).await,
    }
}

async fn pending(config: &Config) -> Outcome {
    let tempfail = |message: String| Failure::new(super::TEMPFAIL, message);
    let store = ObjectStore::new(config);
    let mut conn = AsyncPgConnection::establish(&config.database.url)
        .await
        .map_err(|e| tempfail(format!("the database is unavailable: {e}")))?;
    let waiting = untriggered(&store, &mut conn, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            shared_modules::object_store::ReconcileError::Store(StoreError::NotFound {
                ..
            }) => Failure::new(super::FAILED, format!("{e} ({})", store.describe(config))),
            other => tempfail(format!("{other} ({})", store.describe(config))),
        })?;
    let after = Duration::from_secs(config.s3.untriggered_after_minutes * 60);
    let overdue = waiting.iter().filter(|w| w.age >= after).count();
    if waiting.is_empty() {
        println!(
            "no uploads pending: every object in bucket {} has its job",
            store.bucket()
        );
        return Ok(());
    }
    println!(
        "{} upload(s) without a job, {overdue} overdue (older than {} min); trigger each with the curl naming its customer and grid{}",
        waiting.len(),
        config.s3.untriggered_after_minutes,
        if config.s3.auto_trigger {
            ", or let serve's reconciliation queue it"
        } else {
            ""
        }
    );
    let mut rows = table::new(&["uploaded", "age", "size", "etag", "key", ""]);
    for w in &waiting {
        table::add_row(
            &mut rows,
            vec![
                w.object
                    .last_modified
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                format!("{} min", w.age.as_secs() / 60),
                w.object.size.to_string(),
                w.object.etag.clone(),
                w.object.key.clone(),
                if w.age >= after { "overdue" } else { "" }.to_string(),
            ],
        );
    }
    println!("{rows}");
    if overdue > 0 {
        return Err(Failure::new(
            super::FAILED,
            format!("{overdue} upload(s) overdue"),
        ));
    }
    Ok(())
}
