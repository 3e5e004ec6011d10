//! The mailhandler's delivery, without a database: the raw message staged, the ticket
//! (which holds the raw message too) written and fsynced with its directory entry — the
//! commit point — and the directory renamed into the inbox. `dataprocessor serve` makes
//! (or, for a redelivery, finds) its job.

use super::Envelope;
use super::decide::Decision;
use super::derive::RAW_FILE;
use super::error::DeliveryError;
use super::prepare::{Parse, prepare, stage};
use crate::config::Config;
use std::path::PathBuf;

/// A mail the mailhandler accepted: durably in the inbox with its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub path: PathBuf,
    pub key: String,
    /// Why it is quarantined, if it is.
    pub quarantined: Option<String>,
}

pub fn accept(config: &Config, mail: &Envelope) -> Result<Accepted, DeliveryError> {
    let prepared = prepare(config, mail, mail.dedupe_key(), Parse::Headers);
    let path = stage(config, mail, &prepared)?.ticket(RAW_FILE, mail.raw)?;
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
