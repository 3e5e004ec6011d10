//! Why an upload's job could not be made.

/// The route answers 400, 403, 404 and 503 for these; the auto trigger tries again only what is
/// not permanent.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The request names no valid customer, grid or key: it will never be a job.
    #[error("{0}")]
    Invalid(String),
    /// The key that asked may not name this customer.
    #[error("{0}")]
    Forbidden(String),
    /// The object is not in the store (never uploaded, or deleted since).
    #[error("{0}")]
    ObjectGone(String),
    /// The database, the store or the disk failed: try again.
    #[error("{0}")]
    Unavailable(String),
}

impl TriggerError {
    /// Whether trying again cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TriggerError::Invalid(_) | TriggerError::Forbidden(_) | TriggerError::ObjectGone(_)
        )
    }
}
