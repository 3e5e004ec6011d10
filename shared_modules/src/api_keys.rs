//! API keys: configured as plain text or `sha256:<hex>`, held only as hashes, compared in
//! constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 digests of every valid key; several may be valid at once (rotation).
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

/// Reads one configured key; the error says what is wrong without repeating the key.
pub fn parse_configured_key(configured: &str) -> Result<[u8; 32], String> {
    if let Some(hex_digest) = configured.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_digest)
            .map_err(|_| "after `sha256:` comes 64 hex digits".to_string())?;
        return bytes
            .try_into()
            .map_err(|_| "after `sha256:` comes 64 hex digits".to_string());
    }
    if configured.len() < 16 {
        return Err("a plain key must be at least 16 characters".into());
    }
    Ok(Sha256::digest(configured.as_bytes()).into())
}

impl ApiKeys {
    /// Keys were validated with the config; any that fail here are skipped.
    pub fn from_config(keys: &[String]) -> Self {
        Self {
            digests: keys
                .iter()
                .filter_map(|k| parse_configured_key(k).ok())
                .collect(),
        }
    }

    /// Hashes the presented key and compares it with every digest without early exit.
    pub fn accepts(&self, presented: &str) -> bool {
        self.accepts_digest(&Sha256::digest(presented.as_bytes()).into())
    }

    /// Whether the key whose SHA-256 is `digest` is still one of these (a console session
    /// remembers its key only so).
    pub fn accepts_digest(&self, digest: &[u8; 32]) -> bool {
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(digest))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed_keys_both_work_and_others_do_not() {
        let hashed = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(b"second-key-0123456789"))
        );
        let keys = ApiKeys::from_config(&["first-key-0123456789".into(), hashed]);
        assert!(keys.accepts("first-key-0123456789"));
        assert!(keys.accepts("second-key-0123456789"));
        assert!(!keys.accepts("first-key-012345678"));
        assert!(!keys.accepts(""));
        assert!(!ApiKeys::default().accepts("anything"));
    }

    #[test]
    fn short_or_malformed_keys_are_refused() {
        assert!(parse_configured_key("short").is_err());
        assert!(parse_configured_key("sha256:zz").is_err());
        assert!(parse_configured_key(&format!("sha256:{}", "ab".repeat(31))).is_err());
    }
}
