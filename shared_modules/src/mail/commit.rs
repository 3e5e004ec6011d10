//! Deliveries that end with their job row, for callers with a database at hand: `dpctl
//! mail inject` and the tests (`deliver_now`: accept, then ingest the tickets now), and a
//! release from quarantine (`deliver_keyed`: a new delivery of the same bytes whose job row
//! cancels the quarantined one in the same transaction). Not the mailhandler's path.

use super::Envelope;
use super::accept::{Accepted, accept};
use super::decide::Decision;
use super::derive::derive;
use super::error::DeliveryError;
use super::prepare::{Parse, prepare, stage};
use crate::config::Config;
use crate::inbox::{Commit, Insert, ingest_tickets};
use crate::jobs::job_for_key;
use diesel_async::AsyncPgConnection;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Stored {
        job_id: i64,
        path: PathBuf,
    },
    Quarantined {
        job_id: i64,
        path: PathBuf,
        reason: String,
    },
    /// An earlier delivery of the same message already has this job.
    Duplicate {
        job_id: i64,
    },
}

/// `accept`, then `ingest_now`: the whole way from message to job in one call.
pub async fn deliver_now(
    config: &Config,
    conn: &mut AsyncPgConnection,
    mail: &Envelope<'_>,
) -> Result<Delivered, DeliveryError> {
    let accepted = accept(config, mail)?;
    ingest_now(config, conn, &accepted).await
}

/// Makes the jobs of the waiting tickets now, as `dataprocessor serve` would (this
/// delivery's among them), and says which job `accepted` has.
pub async fn ingest_now(
    config: &Config,
    conn: &mut AsyncPgConnection,
    accepted: &Accepted,
) -> Result<Delivered, DeliveryError> {
    let grace = std::time::Duration::from_secs(config.mailhandler.deadline_seconds * 2);
    let report = ingest_tickets(conn, &config.paths.root, grace, usize::MAX, &derive)
        .await
        .map_err(|e| DeliveryError::Database(e.to_string()))?;
    let Some((job_id, _, path)) = job_for_key(conn, &accepted.key).await? else {
        let waiting = format!("no job for the delivery in {} yet", accepted.path.display());
        // Its files could not be written (a full disk): the ticket waits for serve.
        return Err(match report.stuck_error {
            Some(e) => DeliveryError::Storage(std::io::Error::other(format!("{waiting}: {e}"))),
            None => DeliveryError::Database(waiting),
        });
    };
    if path.is_none_or(|p| Path::new(&p) != accepted.path) {
        return Ok(Delivered::Duplicate { job_id });
    }
    Ok(match &accepted.quarantined {
        Some(reason) => Delivered::Quarantined {
            job_id,
            path: accepted.path.clone(),
            reason: reason.clone(),
        },
        None => Delivered::Stored {
            job_id,
            path: accepted.path.clone(),
        },
    })
}

/// The dedupe key a delivery is stored under, and how its job row is written.
pub struct Keyed {
    pub key: String,
    pub insert: Insert,
}

/// A delivery that commits its job row itself.
pub async fn deliver_keyed(
    config: &Config,
    conn: &mut AsyncPgConnection,
    mail: &Envelope<'_>,
    keyed: Keyed,
) -> Result<Delivered, DeliveryError> {
    let Keyed { key, insert } = keyed;
    if let Some((job_id, _, _)) = job_for_key(conn, &key).await? {
        return Ok(Delivered::Duplicate { job_id });
    }
    let prepared = prepare(config, mail, key, Parse::Whole);
    let intake = stage(config, mail, &prepared)?;
    Ok(match intake.commit(conn, insert).await? {
        Commit::Created { job_id, path } => match prepared.decision {
            Decision::Route { .. } => Delivered::Stored { job_id, path },
            Decision::Quarantine { reason, .. } => Delivered::Quarantined {
                job_id,
                path,
                reason,
            },
        },
        Commit::Duplicate { job_id } => Delivered::Duplicate { job_id },
    })
}
