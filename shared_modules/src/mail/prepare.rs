//! What every delivery does before it is made durable: decide where the mail goes, build
//! its job, and stage its files.

use super::Envelope;
use super::decide::{Decision, decide};
use super::derive::{RAW_FILE, write_derived};
use super::error::DeliveryError;
use super::parts::{Extracted, extract, headers};
use crate::config::Config;
use crate::db::storable_json;
use crate::inbox::{Intake, new_job, quarantine_root};
use crate::jobs::{JobSource, JobState, NewJob, QUARANTINED_TYPE};
use crate::paths::{JobLocation, inbox_root};
use serde_json::json;
use std::path::PathBuf;

/// A mail ready to store: its key, where it goes, its job, computed without I/O.
pub(super) struct Prepared {
    pub key: String,
    pub decision: Decision,
    parse: Parse,
    extracted: Option<Extracted>,
    pub job: NewJob,
    parent: PathBuf,
}

/// How much of the message to parse: all of it (a delivery that writes its derived files
/// itself), or its headers (the mailhandler: serve derives the rest).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Parse {
    Whole,
    Headers,
}

pub(super) fn prepare(config: &Config, mail: &Envelope, key: String, parse: Parse) -> Prepared {
    let extracted = (parse == Parse::Whole).then(|| extract(mail.raw)).flatten();
    let headers = match &extracted {
        Some(extracted) => Some(extracted.headers()),
        None if parse == Parse::Headers => headers(mail.raw),
        None => None,
    };
    let decision = decide(config, mail.sender, mail.recipient, headers.as_ref());
    let root = &config.paths.root;
    let headers = headers.unwrap_or_default();
    let metadata = storable_json(&json!({
        "sender": mail.sender,
        "recipient": mail.recipient,
        "subject": headers.subject,
        "message_id": headers.message_id,
        "size": mail.raw.len(),
        "attachments": extracted.as_ref().map(|e| e.attachments.clone()).unwrap_or_default(),
        "received_at": mail.received_at,
    }))
    .into_owned();
    let (mut job, parent) = match &decision {
        Decision::Route { location } => (
            new_job(config, JobSource::Email, location, JobState::Queued, None),
            inbox_root(root).join(location.relative()),
        ),
        Decision::Quarantine { customer, reason } => {
            let location = JobLocation {
                customer: customer.clone(),
                category: QUARANTINED_TYPE.0.into(),
                job_type: QUARANTINED_TYPE.1.into(),
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
pub(super) fn stage<'a>(
    config: &'a Config,
    mail: &Envelope,
    prepared: &Prepared,
) -> Result<Intake<'a>, DeliveryError> {
    let intake = Intake::stage(
        config,
        prepared.job.clone(),
        prepared.parent.clone(),
        mail.received_at,
    )?;
    let staging = intake.staging();
    staging.write_file(RAW_FILE, mail.raw)?;
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
