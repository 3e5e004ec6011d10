//! New credentials for a customer, made from the OS's randomness and shown once.

use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

/// What `dpctl customers add|rotate` prints once: nothing here can be shown again.
#[derive(Debug, Clone, Serialize)]
pub struct NewCredentials {
    pub customer: String,
    /// The credential's public name (logs, `dpctl customers list`).
    pub key_id: String,
    pub api_key: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// The prefix the S3 key is limited to.
    pub s3_prefix: String,
}

pub(super) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without the OS's randomness no credential is safe to hand out.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random numbers");
    bytes
}

/// What every customer's S3 access key starts with.
pub const S3_ACCESS_KEY_PREFIX: &str = "HVC";
/// What every customer's API key starts with.
pub const API_KEY_PREFIX: &str = "hvk_";

/// S3 access keys look like AWS's (20 upper-case characters), secrets like AWS's (40).
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_text(alphabet: &[u8], length: usize) -> String {
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut text = String::with_capacity(length);
    while text.len() < length {
        for byte in random_bytes::<64>() {
            if (byte as usize) < limit && text.len() < length {
                text.push(alphabet[byte as usize % alphabet.len()] as char);
            }
        }
    }
    text
}

impl NewCredentials {
    pub fn generate(customer: &str) -> Self {
        let key_id = hex::encode(random_bytes::<6>());
        Self {
            customer: customer.to_string(),
            api_key: format!(
                "{API_KEY_PREFIX}{key_id}_{}",
                hex::encode(random_bytes::<24>())
            ),
            key_id,
            s3_access_key_id: format!(
                "{S3_ACCESS_KEY_PREFIX}{}",
                random_text(ACCESS_KEY_ALPHABET, 17)
            ),
            s3_secret_access_key: random_text(SECRET_ALPHABET, 40),
            s3_prefix: format!("{customer}/"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NewCredentials;

    #[test]
    fn credentials_are_new_each_time_and_shaped_as_clients_expect() {
        let a = NewCredentials::generate("bobs_burgers");
        let b = NewCredentials::generate("bobs_burgers");
        assert_ne!(a.api_key, b.api_key);
        assert_ne!(a.s3_secret_access_key, b.s3_secret_access_key);
        assert_eq!(a.s3_access_key_id.len(), 20);
        assert_eq!(a.s3_secret_access_key.len(), 40);
        assert!(a.api_key.starts_with(&format!("hvk_{}_", a.key_id)));
        assert_eq!(a.s3_prefix, "bobs_burgers/");
    }
}
