//! Releasing a quarantined mail: route it again with the current config (after fixing a
//! customer's address, allowed senders or a routing rule). It becomes a new queued job and
//! the quarantined one is closed as cancelled, pointing to it. dpctl and the console share
//! this.

use super::{Delivered, DeliveryError, Envelope, Keyed, RAW_FILE, deliver_keyed, route};
use crate::config::Config;
use crate::inbox::Insert;
use crate::jobs::{JobState, find_job};
use diesel_async::AsyncPgConnection;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("job {0} does not exist")]
    NotFound(i64),
    /// Not quarantined, or it would be quarantined again: the operator must change something.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unreadable(String),
    /// The database or the disk: try again.
    #[error("{0}")]
    Temporary(String),
}

/// Releases quarantined job `id`; the id of the job it became.
pub async fn release_quarantined(
    config: &Config,
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<i64, ReleaseError> {
    let job = find_job(conn, id)
        .await
        .map_err(|e| ReleaseError::Temporary(e.to_string()))?
        .ok_or(ReleaseError::NotFound(id))?;
    if job.state != JobState::Quarantined {
        return Err(ReleaseError::Conflict(format!(
            "job {id} is {}, not quarantined",
            job.state
        )));
    }
    let file = std::path::PathBuf::from(job.inbox_path.clone().unwrap_or_default()).join(RAW_FILE);
    let raw = std::fs::read(&file)
        .map_err(|e| ReleaseError::Unreadable(format!("cannot read {}: {e}", file.display())))?;
    let mail = Envelope {
        raw: &raw,
        sender: job.metadata["sender"].as_str().unwrap_or(""),
        recipient: job.metadata["recipient"].as_str().unwrap_or(""),
        received_at: chrono::Utc::now(),
    };
    route(config, &mail).map_err(|reason| {
        ReleaseError::Conflict(format!("job {id} would still be quarantined: {reason}"))
    })?;
    let keyed = Keyed {
        key: format!("release:{id}"),
        insert: Insert::ReleaseOf(id),
    };
    let delivered = deliver_keyed(config, conn, &mail, keyed)
        .await
        .map_err(|e| match e {
            DeliveryError::NotQuarantined => ReleaseError::Conflict(format!(
                "job {id} was released or changed by someone else meanwhile"
            )),
            e => ReleaseError::Temporary(e.to_string()),
        })?;
    match delivered {
        Delivered::Stored { job_id, .. } | Delivered::Duplicate { job_id } => Ok(job_id),
        Delivered::Quarantined { reason, .. } => Err(ReleaseError::Conflict(format!(
            "still quarantined: {reason}"
        ))),
    }
}
