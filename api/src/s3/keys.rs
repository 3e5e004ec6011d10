//! Who may use the embedded S3 endpoint (SigV4, checked by s3s against the secret returned
//! here): the configured access keys (each optionally limited to one prefix), the server's
//! own presigning key (the whole bucket; it signs the upload API's part URLs and is never
//! handed out), and each customer's key from Postgres, limited to `<customer>/` and looked up
//! at every request so a revocation takes effect at once on every node.

use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use shared_modules::config::S3Config;
use shared_modules::customers::{Principal, ServerKey, find_s3_key};
use shared_modules::db::DbPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Key {
    secret: String,
    prefix: Option<String>,
}

#[derive(Clone, Default)]
pub struct S3Keys {
    configured: HashMap<String, Key>,
    /// The server's presigning key's id, once `with_customers` added it.
    server: Option<String>,
    /// Customers' keys, with the database they are read from.
    customers: Option<(DbPool, ServerKey)>,
    /// Who each customer key seen valid by `get_secret_key` acts as (s3s calls it before
    /// every signed request reaches the endpoint).
    customer_keys: Arc<Mutex<HashMap<String, Principal>>>,
}

impl S3Keys {
    /// `s3.access_key_id` (the whole bucket) and every entry of `s3.keys`.
    pub fn from_config(config: &S3Config) -> Self {
        let mut configured = HashMap::new();
        if !config.access_key_id.is_empty() {
            configured.insert(
                config.access_key_id.clone(),
                Key {
                    secret: config.secret_access_key.clone(),
                    prefix: None,
                },
            );
        }
        for key in &config.keys {
            configured.insert(
                key.access_key_id.clone(),
                Key {
                    secret: key.secret_access_key.clone(),
                    prefix: key.prefix.clone(),
                },
            );
        }
        Self {
            configured,
            ..Self::default()
        }
    }

    /// Adds the server's presigning key and the customers' keys kept in `pool`.
    pub fn with_customers(mut self, pool: DbPool, server_key: ServerKey) -> Self {
        let (id, secret) = server_key.presigning_credentials();
        self.configured.insert(
            id.clone(),
            Key {
                secret,
                prefix: None,
            },
        );
        self.server = Some(id);
        self.customers = Some((pool, server_key));
        self
    }

    /// The prefix the signer is limited to: None for the whole bucket. Anonymous requests
    /// are refused before they get here (s3s denies them when auth is on).
    pub(super) fn prefix_of(&self, credentials: Option<&Credentials>) -> S3Result<Option<String>> {
        let credentials =
            credentials.ok_or_else(|| s3_error!(AccessDenied, "requests must be signed"))?;
        if let Some(key) = self.configured.get(&credentials.access_key) {
            return Ok(key.prefix.clone());
        }
        let known = self.customer_keys.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(&credentials.access_key) {
            Some(Principal::Customer { customer, .. }) => Ok(Some(format!("{customer}/"))),
            Some(Principal::Operator) => Ok(None),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }

    /// Who a signer acts as, for the job its upload makes: the operator for a whole-bucket
    /// key, else the customer its prefix names (a customer's key: `<customer>:<key id>`).
    pub fn principal_of(&self, credentials: Option<&Credentials>) -> Option<Principal> {
        let access_key = &credentials?.access_key;
        if let Some(key) = self.configured.get(access_key) {
            return Some(match &key.prefix {
                None => Principal::Operator,
                Some(prefix) => Principal::Customer {
                    customer: prefix.split('/').next().unwrap_or("").to_string(),
                    key_id: access_key.clone(),
                },
            });
        }
        let known = self.customer_keys.lock().unwrap_or_else(|p| p.into_inner());
        known.get(access_key).cloned()
    }

    /// Whether the signer is the server's own presigning key (a URL the upload API made).
    pub fn is_server(&self, credentials: Option<&Credentials>) -> bool {
        credentials
            .zip(self.server.as_ref())
            .is_some_and(|(c, id)| &c.access_key == id)
    }

    /// Refuses `key` to a signer limited to another prefix.
    pub fn may_use(&self, credentials: Option<&Credentials>, key: &str) -> S3Result<()> {
        match self.prefix_of(credentials)? {
            Some(prefix) if !key.starts_with(&prefix) => Err(s3_error!(
                AccessDenied,
                "this access key may only use keys under `{prefix}`"
            )),
            _ => Ok(()),
        }
    }

    /// The prefix a listing may cover: a limited signer lists only below its own.
    pub fn may_list(&self, credentials: Option<&Credentials>, prefix: &str) -> S3Result<()> {
        match self.prefix_of(credentials)? {
            Some(own) if !prefix.starts_with(&own) => Err(s3_error!(
                AccessDenied,
                "this access key may only list with a prefix starting `{own}`"
            )),
            _ => Ok(()),
        }
    }

    async fn customer_secret(&self, access_key: &str) -> S3Result<Option<String>> {
        let Some((pool, server_key)) = &self.customers else {
            return Ok(None);
        };
        // Only keys shaped as `dpctl customers add` makes them are looked up: a client
        // trying random keys costs no database round trip.
        if !access_key.starts_with(shared_modules::customers::S3_ACCESS_KEY_PREFIX) {
            return Ok(None);
        }
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "s3: cannot look up a customer's key");
            s3_error!(
                ServiceUnavailable,
                "the key store is unavailable; try again shortly"
            )
        };
        let mut conn = pool.get().await.map_err(|e| unavailable(e.to_string()))?;
        let found = find_s3_key(&mut conn, server_key, access_key)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(found.map(|(principal, secret)| {
            self.customer_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(access_key.to_string(), principal);
            secret
        }))
    }
}

#[async_trait::async_trait]
impl S3Auth for S3Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(key) = self.configured.get(access_key) {
            return Ok(SecretKey::from(key.secret.clone()));
        }
        self.customer_secret(access_key)
            .await?
            .map(SecretKey::from)
            .ok_or_else(|| s3_error!(InvalidAccessKeyId, "the access key is not known here"))
    }
}
