//! One delivery: dedupe, route, store durably, queue (or quarantine) the job.

use crate::parts::{Extracted, extract};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared_modules::config::{Config, RouteError};
use shared_modules::inbox::{Commit, Insert, Staging, commit_job_as, quarantine_root};
use shared_modules::jobs::{JobSource, JobState, NewJob, job_for_key};
use shared_modules::paths::{JobLocation, inbox_root};
use std::path::PathBuf;

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
    Route {
        customer: String,
        location: JobLocation,
    },
    Quarantine {
        customer: String,
        reason: String,
    },
}

fn decide(
    config: &Config,
    sender: &str,
    recipient: &str,
    extracted: Option<&Extracted>,
) -> Decision {
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
    let Some(extracted) = extracted else {
        return quarantine("not a parseable e-mail message".into());
    };
    let subject = extracted.subject.as_deref().unwrap_or("");
    match config.route_subject(subject) {
        Ok(route) => match JobLocation::new(
            &customer.name,
            &route.category,
            &route.job_type,
            &route.group,
        ) {
            Ok(location) => Decision::Route {
                customer: customer.name.clone(),
                location,
            },
            Err(e) => quarantine(e.to_string()),
        },
        Err(RouteError::NoRule) => {
            let shown: String = subject.chars().take(120).collect();
            quarantine(format!("no routing rule matches the subject \"{shown}\""))
        }
        Err(e) => quarantine(e.to_string()),
    }
}

pub async fn deliver(
    config: &Config,
    conn: &mut AsyncPgConnection,
    raw: &[u8],
    sender: &str,
    recipient: &str,
    received_at: DateTime<Utc>,
) -> Result<Delivered, DeliveryError> {
    deliver_keyed(
        config,
        conn,
        raw,
        sender,
        recipient,
        received_at,
        Keyed {
            key: dedupe_key(recipient, raw),
            insert: Insert::New,
        },
    )
    .await
}

/// Where a mail would go under the current config: its inbox location, or why it would be
/// quarantined.
pub fn route(
    config: &Config,
    sender: &str,
    recipient: &str,
    raw: &[u8],
) -> Result<JobLocation, String> {
    match decide(config, sender, recipient, extract(raw).as_ref()) {
        Decision::Route { location, .. } => Ok(location),
        Decision::Quarantine { reason, .. } => Err(reason),
    }
}

/// The dedupe key a delivery is stored under, and how its job row is written.
pub struct Keyed {
    pub key: String,
    pub insert: Insert,
}

/// `deliver` under a given dedupe key (a quarantined mail released by an operator is a new
/// delivery of the same bytes, whose job row cancels the quarantined one in the same
/// transaction).
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
    let extracted = extract(raw);
    let decision = decide(config, sender, recipient, extracted.as_ref());
    let root = &config.paths.root;

    let staging = Staging::new(root)?;
    staging.write_file("message.eml", raw)?;
    if let Some(extracted) = &extracted {
        for part in &extracted.parts {
            staging.write_file(&part.relative, &part.bytes)?;
        }
    }
    let metadata = json!({
        "sender": sender,
        "recipient": recipient,
        "subject": extracted.as_ref().and_then(|e| e.subject.clone()),
        "message_id": extracted.as_ref().and_then(|e| e.message_id.clone()),
        "size": raw.len(),
        "attachments": extracted.as_ref().map(|e| e.attachments.clone()).unwrap_or_default(),
        "received_at": received_at,
    });
    let metadata = without_nul(metadata);
    staging.write_file(
        "meta.json",
        serde_json::to_string_pretty(&metadata)
            .unwrap_or_default()
            .as_bytes(),
    )?;

    let (new_job, parent) = match &decision {
        Decision::Route { customer, location } => (
            job(config, customer, location, JobState::Queued, None),
            inbox_root(root).join(location.relative()),
        ),
        Decision::Quarantine { customer, reason } => {
            staging.write_file("reason.txt", format!("{reason}\n").as_bytes())?;
            let location = JobLocation {
                customer: customer.clone(),
                category: "unknown".into(),
                job_type: "unknown".into(),
                group: "unknown".into(),
            };
            (
                job(
                    config,
                    customer,
                    &location,
                    JobState::Quarantined,
                    Some(reason.clone()),
                ),
                quarantine_root(root).join(customer),
            )
        }
    };
    let promoted = staging.promote(&parent, received_at, &key)?;
    let mut new_job = new_job;
    new_job.metadata = metadata;
    new_job.dedupe_key = Some(key);
    let confirm = async |key: &str| committed_path(config, key).await.map_err(|e| e.to_string());
    Ok(
        match commit_job_as(conn, root, promoted, new_job, insert, confirm).await? {
            Commit::Created { job_id, path } => delivered(decision, job_id, path),
            Commit::Duplicate { job_id } => Delivered::Duplicate { job_id },
        },
    )
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

/// The job (id, inbox path) committed under `key`, asked on a new connection; Err when the
/// database cannot say.
async fn committed_path(
    config: &Config,
    key: &str,
) -> Result<Option<(i64, Option<String>)>, DeliveryError> {
    use diesel_async::AsyncConnection;
    let timeout = std::time::Duration::from_secs(config.database.connect_timeout_seconds);
    let mut conn =
        tokio::time::timeout(timeout, AsyncPgConnection::establish(&config.database.url))
            .await
            .map_err(|_| DeliveryError::Database("no connection to confirm the commit".into()))?
            .map_err(|e| DeliveryError::Database(e.to_string()))?;
    Ok(job_for_key(&mut conn, key)
        .await?
        .map(|(id, _, path)| (id, path)))
}

fn job(
    config: &Config,
    customer: &str,
    location: &JobLocation,
    state: JobState,
    error: Option<String>,
) -> NewJob {
    NewJob {
        source: JobSource::Email.as_str().into(),
        customer: customer.to_string(),
        category: location.category.clone(),
        job_type: location.job_type.clone(),
        job_group: location.group.clone(),
        state,
        inbox_path: None,
        metadata: json!({}),
        dedupe_key: None,
        max_attempts: i32::try_from(config.jobs.max_attempts).unwrap_or(i32::MAX),
        timeout_seconds: i32::try_from(config.jobs.timeout_seconds).unwrap_or(i32::MAX),
        error,
    }
}

async fn existing_job(
    conn: &mut AsyncPgConnection,
    key: &str,
) -> Result<Option<i64>, DeliveryError> {
    Ok(job_for_key(conn, key).await?.map(|(id, _, _)| id))
}

/// Postgres text and jsonb cannot hold U+0000; a NUL in a header or a file name becomes
/// U+FFFD in the metadata (the raw message keeps every byte).
fn without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', "\u{FFFD}")),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nul).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, without_nul(v))).collect())
        }
        other => other,
    }
}
