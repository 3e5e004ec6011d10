//! Who may use the embedded S3 endpoint: the configured access keys (SigV4, checked by
//! s3s against the secret returned here), each optionally limited to one prefix.

use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use shared_modules::config::S3Config;
use std::collections::HashMap;

#[derive(Clone)]
struct Key {
    secret: String,
    prefix: Option<String>,
}

#[derive(Clone, Default)]
pub struct S3Keys {
    keys: HashMap<String, Key>,
}

impl S3Keys {
    /// `s3.access_key_id` (the whole bucket) and every entry of `s3.keys`.
    pub fn from_config(config: &S3Config) -> Self {
        let mut keys = HashMap::new();
        if !config.access_key_id.is_empty() {
            keys.insert(
                config.access_key_id.clone(),
                Key {
                    secret: config.secret_access_key.clone(),
                    prefix: None,
                },
            );
        }
        for key in &config.keys {
            keys.insert(
                key.access_key_id.clone(),
                Key {
                    secret: key.secret_access_key.clone(),
                    prefix: key.prefix.clone(),
                },
            );
        }
        Self { keys }
    }

    /// The prefix the signer is limited to: None for the whole bucket. Anonymous requests
    /// are refused before they get here (s3s denies them when auth is on).
    pub(super) fn prefix_of(&self, credentials: Option<&Credentials>) -> S3Result<Option<&str>> {
        let credentials =
            credentials.ok_or_else(|| s3_error!(AccessDenied, "requests must be signed"))?;
        let key = self
            .keys
            .get(&credentials.access_key)
            .ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        Ok(key.prefix.as_deref())
    }

    /// Refuses `key` to a signer limited to another prefix.
    pub fn may_use(&self, credentials: Option<&Credentials>, key: &str) -> S3Result<()> {
        match self.prefix_of(credentials)? {
            Some(prefix) if !key.starts_with(prefix) => Err(s3_error!(
                AccessDenied,
                "this access key may only use keys under `{prefix}`"
            )),
            _ => Ok(()),
        }
    }

    /// The prefix a listing may cover: a limited signer lists only below its own.
    pub fn may_list(&self, credentials: Option<&Credentials>, prefix: &str) -> S3Result<()> {
        match self.prefix_of(credentials)? {
            Some(own) if !prefix.starts_with(own) => Err(s3_error!(
                AccessDenied,
                "this access key may only list with a prefix starting `{own}`"
            )),
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for S3Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.keys
            .get(access_key)
            .map(|key| SecretKey::from(key.secret.clone()))
            .ok_or_else(|| s3_error!(InvalidAccessKeyId, "the access key is not known here"))
    }
}
