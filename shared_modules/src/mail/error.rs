//! Why a delivery did not happen. Every failure is temporary from Postfix's point of view:
//! it keeps the mail and retries.

use crate::inbox::IntakeError;

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
