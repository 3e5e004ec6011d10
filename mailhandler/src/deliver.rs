//! One delivery: route, store durably, and announce it with a ticket (the mailhandler) or
//! commit its job (an operator's release).

use crate::parts::{Extracted, Headers, extract, headers};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared_modules::config::{Config, RouteError};
pub use shared_modules::inbox::derived::{RAW_FILE, derive};
use shared_modules::inbox::derived::{without_nul, write_derived};
use shared_modules::inbox::{Commit, Insert, Intake, IntakeError, new_job, quarantine_root};
use shared_modules::jobs::{JobSource, JobState, NewJob, job_for_key};
use shared_modules::paths::{JobLocation, inbox_root};
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

/// Every failure is temporary from Postfix's point of view: it keeps the mail and retries.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("database error: {0}")]
    Database(String),
    #[error("cannot store the mail: {0}")]
    Storage(#[from] std::io::Error),
    /// Releasing quarantined mail: the job was no longer in quarantine (released meanwhile).
    #[error("the quarantined job was released or changed meanwhile")]
    NotQuarantined,
}

impl From<IntakeError> for DeliveryError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Storage(e) => DeliveryError::Storage(e),
            IntakeError::Database(e) => DeliveryError::from(e),
        }
    }
}

impl From<diesel::result::Error> for DeliveryError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            // Jobs are never deleted: a row not found is a release that lost its race.
            diesel::result::Error::NotFound => DeliveryError::NotQuarantined,
            e => DeliveryError::Database(e.to_string()),
        }
    }
}

/// Same recipient and same bytes: the same delivery (Postfix redelivers the queue file
/// unchanged). Two different mails never share a key, even with the same Message-ID.
pub fn dedupe_key(recipient: &str, raw: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(recipient.trim().to_ascii_lowercase().as_bytes());
    hasher.update(b"\n");
    hasher.update(raw);
    format!("mail:{}", hex::encode(hasher.finalize()))
}

/// Where a mail goes and why.
enum Decision {
    Route { location: JobLocation },
    Quarantine { customer: String, reason: String },
}

fn decide(config: &Config, sender: &str, recipient: &str, headers: Option<&Headers>) -> Decision {
    let Some(customer) = config.customer_for_recipient(recipient) else {
        return Decision::Quarantine {
            customer: "unknown".into(),
            reason: format!("no customer receives mail at <{recipient}>"),
        };
    };
    let quarantine = |reason: String| Decision::Quarantine {
        customer: customer.name.clone(),
        reason,
    };
    if !customer.sender_allowed(sender) {
        return quarantine(format!(
            "sender <{sender}> is not allowed for customer {}",
            customer.name
        ));
    }
    let Some(headers) = headers else {
        return quarantine("not a parseable e-mail message".into());
    };
    let subject = headers.subject.as_deref().unwrap_or("");
    match config.route_subject(subject) {
        Ok(route) => match JobLocation::new(
            &customer.name,
            &route.category,
            &route.job_type,
            &route.group,
        ) {
            Ok(location) => Decision::Route { location },
            Err(e) => quarantine(e.to_string()),
        },
        Err(RouteError::NoRule) => {
            let shown: String = subject.chars().take(120).collect();
            quarantine(format!("no routing rule matches the subject \"{shown}\""))
        }
        Err(e) => quarantine(e.to_string()),
    }
}

/// A mail ready to store: its key, where it goes, its job, computed without I/O.
struct Prepared {
    key: String,
    decision: Decision,
    parse: Parse,
    extracted: Option<Extracted>,
    job: NewJob,
    parent: PathBuf,
}

/// How much of the message to parse: all of it (a delivery that writes its derived files
/// itself), or its headers (the mailhandler: serve derives the rest).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    Whole,
    Headers,
}

fn prepare(
    config: &Config,
    raw: &[u8],
    envelope: (&str, &str),
    received_at: DateTime<Utc>,
    key: String,
    parse: Parse,
) -> Prepared {
    let (sender, recipient) = envelope;
    let extracted = (parse == Parse::Whole).then(|| extract(raw)).flatten();
    let headers = match &extracted {
        Some(extracted) => Some(extracted.headers()),
        None if parse == Parse::Headers => headers(raw),
        None => None,
    };
    let decision = decide(config, sender, recipient, headers.as_ref());
    let root = &config.paths.root;
    let headers = headers.unwrap_or_default();
    let metadata = without_nul(json!({
        "sender": sender,
        "recipient": recipient,
        "subject": headers.subject,
        "message_id": headers.message_id,
        "size": raw.len(),
        "attachments": extracted.as_ref().map(|e| e.attachments.clone()).unwrap_or_default(),
        "received_at": received_at,
    }));
    let (mut job, parent) = match &decision {
        Decision::Route { location, .. } => (
            new_job(config, JobSource::Email, location, JobState::Queued, None),
            inbox_root(root).join(location.relative()),
        ),
        Decision::Quarantine { customer, reason } => {
            let location = JobLocation {
                customer: customer.clone(),
                category: shared_modules::jobs::QUARANTINED_TYPE.0.into(),
                job_type: shared_modules::jobs::QUARANTINED_TYPE.1.into(),
                group: "unknown".into(),
            };
            (
                new_job(
                    config,
                    JobSource::Email,
                    &location,
                    JobState::Quarantined,
                    Some(reason.clone()),
                ),
                quarantine_root(root).join(customer),
            )
        }
    };
    job.metadata = metadata;
    job.dedupe_key = Some(key.clone());
    Prepared {
        key,
        decision,
        parse,
        extracted,
        job,
        parent,
    }
}

/// Stages the raw message, and the files derived from it when the whole message was parsed
/// (a delivery that commits its own job; a ticketed one has them written by the ingester).
fn stage<'a>(
    config: &'a Config,
    raw: &[u8],
    prepared: &Prepared,
    received_at: DateTime<Utc>,
) -> Result<Intake<'a>, DeliveryError> {
    let intake = Intake::stage(
        config,
        prepared.job.clone(),
        prepared.parent.clone(),
        received_at,
    )?;
    let staging = intake.staging();
    staging.write_file(RAW_FILE, raw)?;
    if prepared.parse == Parse::Whole {
        let job = &prepared.job;
        let reason =
            (job.state == JobState::Quarantined).then(|| job.error.as_deref().unwrap_or(""));
        write_derived(
            &|name, bytes| staging.write_file(name, bytes),
            prepared.extracted.as_ref(),
            &job.metadata,
            reason,
        )?;
    }
    Ok(intake)
}

/// A mail the mailhandler accepted: durably in the inbox with its ticket. `dataprocessor
/// serve` makes (or, for a redelivery, finds) its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub path: PathBuf,
    pub key: String,
    /// Why it is quarantined, if it is.
    pub quarantined: Option<String>,
}

/// The mailhandler's delivery, without a database: the raw message staged, the ticket
/// (which holds the raw message too) written and fsynced with its directory entry — the
/// commit point — and the directory renamed into the inbox.
pub fn accept(
    config: &Config,
    raw: &[u8],
    sender: &str,
    recipient: &str,
    received_at: DateTime<Utc>,
) -> Result<Accepted, DeliveryError> {
    let prepared = prepare(
        config,
        raw,
        (sender, recipient),
        received_at,
        dedupe_key(recipient, raw),
        Parse::Headers,
    );
    let path = stage(config, raw, &prepared, received_at)?.ticket(RAW_FILE, raw)?;
    let quarantined = match prepared.decision {
        Decision::Quarantine { reason, .. } => Some(reason),
        Decision::Route { .. } => None,
    };
    Ok(Accepted {
        path,
        key: prepared.key,
        quarantined,
    })
}

/// `accept`, then `ingest_now`: the whole way from message to job in one call, with a
/// database at hand (`dpctl mail inject`, the tests).
pub async fn deliver_now(
    config: &Config,
    conn: &mut AsyncPgConnection,
    raw: &[u8],
    sender: &str,
    recipient: &str,
    received_at: DateTime<Utc>,
) -> Result<Delivered, DeliveryError> {
    let accepted = accept(config, raw, sender, recipient, received_at)?;
    ingest_now(config, conn, &accepted).await
}

/// Makes the jobs of the waiting tickets now, as `dataprocessor serve` would (this
/// delivery's among them), and says which job `accepted` has: for `dpctl mail inject`
/// and the tests, which have a database at hand.
pub async fn ingest_now(
    config: &Config,
    conn: &mut AsyncPgConnection,
    accepted: &Accepted,
) -> Result<Delivered, DeliveryError> {
    let grace = std::time::Duration::from_secs(config.mailhandler.deadline_seconds * 2);
    let report =
        shared_modules::inbox::ingest_tickets(conn, &config.paths.root, grace, usize::MAX, &derive)
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

/// Where a mail would go under the current config: its inbox location, or why it would be
/// quarantined.
pub fn route(
    config: &Config,
    sender: &str,
    recipient: &str,
    raw: &[u8],
) -> Result<JobLocation, String> {
    match decide(config, sender, recipient, headers(raw).as_ref()) {
        Decision::Route { location, .. } => Ok(location),
        Decision::Quarantine { reason, .. } => Err(reason),
    }
}

/// The dedupe key a delivery is stored under, and how its job row is written.
pub struct Keyed {
    pub key: String,
    pub insert: Insert,
}

/// A delivery that commits its job row itself, with a database connection (a quarantined
/// mail released by an operator is a new delivery of the same bytes, whose job row
/// cancels the quarantined one in the same transaction). Not the mailhandler's path.
pub async fn deliver_keyed(
    config: &Config,
    conn: &mut AsyncPgConnection,
    raw: &[u8],
    sender: &str,
    recipient: &str,
    received_at: DateTime<Utc>,
    keyed: Keyed,
) -> Result<Delivered, DeliveryError> {
    let Keyed { key, insert } = keyed;
    if let Some(job_id) = existing_job(conn, &key).await? {
        return Ok(Delivered::Duplicate { job_id });
    }
    let prepared = prepare(
        config,
        raw,
        (sender, recipient),
        received_at,
        key,
        Parse::Whole,
    );
    let intake = stage(config, raw, &prepared, received_at)?;
    Ok(match intake.commit(conn, insert).await? {
        Commit::Created { job_id, path } => delivered(prepared.decision, job_id, path),
        Commit::Duplicate { job_id } => Delivered::Duplicate { job_id },
    })
}

fn delivered(decision: Decision, job_id: i64, path: PathBuf) -> Delivered {
    match decision {
        Decision::Route { .. } => Delivered::Stored { job_id, path },
        Decision::Quarantine { reason, .. } => Delivered::Quarantined {
            job_id,
            path,
            reason,
        },
    }
}

async fn existing_job(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> Result<Option<i64>, DeliveryError> {
    Ok(job_for_key(conn, key).await?.map(|(id, _, _)| id))
}
