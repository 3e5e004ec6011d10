//! A message as it arrived: the four values that always travel together.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub raw: &'a [u8],
    pub sender: &'a str,
    pub recipient: &'a str,
    pub received_at: DateTime<Utc>,
}

impl<'a> Envelope<'a> {
    /// A message received now.
    pub fn now(raw: &'a [u8], sender: &'a str, recipient: &'a str) -> Self {
        Envelope {
            raw,
            sender,
            recipient,
            received_at: Utc::now(),
        }
    }

    /// Same recipient and same bytes: the same delivery (Postfix redelivers the queue file
    /// unchanged). Two different mails never share a key, even with the same Message-ID.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(self.recipient, self.raw)
    }
}

/// The key of `raw` delivered to `recipient` (`Envelope::dedupe_key`).
pub fn dedupe_key(recipient: &str, raw: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(recipient.trim().to_ascii_lowercase().as_bytes());
    hasher.update(b"\n");
    hasher.update(raw);
    format!("mail:{}", hex::encode(hasher.finalize()))
}
