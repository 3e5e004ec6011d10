//! The customers and their credentials in Postgres: add, list, rotate, revoke, and the
//! lookups every request makes. A credential is valid while it is neither revoked nor past
//! the end of its rotation overlap; that is checked at every lookup, so a revocation takes
//! effect on every node at its next request.

use super::{NewCredentials, Principal, ServerKey, ServerKeyError};
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bytea, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use sha2::{Digest, Sha256};

const VALID: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("customer `{0}` already has credentials: `dpctl customers rotate {0}` makes new ones")]
    Exists(String),
    #[error("`{0}` is reserved (mail no customer receives is filed under it): choose another name")]
    Reserved(String),
    #[error("customer `{0}` is not known: `dpctl customers add {0}` makes it")]
    Unknown(String),
    #[error("no valid credential `{0}` (see `dpctl customers list`)")]
    NoSuchKey(String),
    #[error(transparent)]
    ServerKey(#[from] ServerKeyError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

/// Adds `customer` with its first credentials.
pub async fn add_customer(
    conn: &mut AsyncPgConnection,
    server_key: &ServerKey,
    customer: &str,
) -> Result<NewCredentials, RegistryError> {
    if super::RESERVED_NAMES.contains(&customer) {
        return Err(RegistryError::Reserved(customer.to_string()));
    }
    let credentials = NewCredentials::generate(customer);
    let sealed = server_key.seal(&credentials.s3_secret_access_key);
    let name = customer.to_string();
    conn.transaction(|conn| {
        Box::pin(async move {
            let inserted = diesel::sql_query(
                "INSERT INTO customers (name) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(&name)
            .execute(conn)
            .await?;
            let live: i64 = count_valid(conn, &name).await?;
            if inserted == 0 && live > 0 {
                return Err(RegistryError::Exists(name));
            }
            insert_credentials(conn, &credentials, &sealed).await?;
            Ok(credentials)
        })
    })
    .await
}

/// New credentials for `customer`; the current ones stay valid for `overlap`, then end.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    server_key: &ServerKey,
    customer: &str,
    overlap: std::time::Duration,
) -> Result<NewCredentials, RegistryError> {
    let credentials = NewCredentials::generate(customer);
    let sealed = server_key.seal(&credentials.s3_secret_access_key);
    let name = customer.to_string();
    conn.transaction(|conn| {
        Box::pin(async move {
            if !customer_exists(conn, &name).await? {
                return Err(RegistryError::Unknown(name));
            }
            diesel::sql_query(format!(
                "UPDATE customer_credentials
                 SET expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => $2))
                 WHERE customer = $1 AND {VALID}"
            ))
            .bind::<Text, _>(&name)
            .bind::<diesel::sql_types::Double, _>(overlap.as_secs_f64())
            .execute(conn)
            .await?;
            insert_credentials(conn, &credentials, &sealed).await?;
            Ok(credentials)
        })
    })
    .await
}

/// Ends credentials now: one (`key_id`) or every one of `customer`. Returns how many ended.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    customer: &str,
    key_id: Option<&str>,
) -> Result<usize, RegistryError> {
    if !customer_exists(conn, customer).await? {
        return Err(RegistryError::Unknown(customer.to_string()));
    }
    let ended = diesel::sql_query(format!(
        "UPDATE customer_credentials SET revoked_at = now()
         WHERE customer = $1 AND ($2::text IS NULL OR key_id = $2) AND {VALID}"
    ))
    .bind::<Text, _>(customer)
    .bind::<Nullable<Text>, _>(key_id)
    .execute(conn)
    .await?;
    if ended == 0
        && let Some(key_id) = key_id
    {
        return Err(RegistryError::NoSuchKey(key_id.to_string()));
    }
    Ok(ended)
}

async fn insert_credentials(
    conn: &mut AsyncPgConnection,
    credentials: &NewCredentials,
    sealed: &[u8],
) -> Result<(), RegistryError> {
    diesel::sql_query(
        "INSERT INTO customer_credentials (customer, key_id, api_key_sha256, s3_access_key_id, s3_secret_sealed)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind::<Text, _>(&credentials.customer)
    .bind::<Text, _>(&credentials.key_id)
    .bind::<Bytea, _>(Sha256::digest(credentials.api_key.as_bytes()).to_vec())
    .bind::<Text, _>(&credentials.s3_access_key_id)
    .bind::<Bytea, _>(sealed)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count_valid(conn: &mut AsyncPgConnection, customer: &str) -> diesel::QueryResult<i64> {
    let row: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM customer_credentials WHERE customer = $1 AND {VALID}"
    ))
    .bind::<Text, _>(customer)
    .get_result(conn)
    .await?;
    Ok(row.n)
}

pub async fn customer_exists(
    conn: &mut AsyncPgConnection,
    customer: &str,
) -> diesel::QueryResult<bool> {
    let row: Count = diesel::sql_query("SELECT count(*) AS n FROM customers WHERE name = $1")
        .bind::<Text, _>(customer)
        .get_result(conn)
        .await?;
    Ok(row.n > 0)
}

#[derive(QueryableByName)]
struct ApiKeyMatch {
    #[diesel(sql_type = Text)]
    customer: String,
    #[diesel(sql_type = Text)]
    key_id: String,
}

/// The customer a presented API key belongs to, while it is valid. The key is looked up by
/// its SHA-256, so neither the key nor a near miss is ever compared in clear.
pub async fn find_api_key(
    conn: &mut AsyncPgConnection,
    presented: &str,
) -> diesel::QueryResult<Option<Principal>> {
    let found: Option<ApiKeyMatch> = diesel::sql_query(format!(
        "SELECT customer, key_id FROM customer_credentials WHERE api_key_sha256 = $1 AND {VALID}"
    ))
    .bind::<Bytea, _>(Sha256::digest(presented.as_bytes()).to_vec())
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)?;
    Ok(found.map(|m| Principal::Customer {
        customer: m.customer,
        key_id: m.key_id,
    }))
}

/// Whether the credential `key_id` is still valid (a console session re-checks its key).
pub async fn key_is_valid(conn: &mut AsyncPgConnection, key_id: &str) -> diesel::QueryResult<bool> {
    let row: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM customer_credentials WHERE key_id = $1 AND {VALID}"
    ))
    .bind::<Text, _>(key_id)
    .get_result(conn)
    .await?;
    Ok(row.n > 0)
}

#[derive(QueryableByName)]
struct S3KeyMatch {
    #[diesel(sql_type = Text)]
    customer: String,
    #[diesel(sql_type = Text)]
    key_id: String,
    #[diesel(sql_type = Bytea)]
    s3_secret_sealed: Vec<u8>,
}

/// A valid customer S3 key: its principal and its secret in clear (for SigV4).
pub async fn find_s3_key(
    conn: &mut AsyncPgConnection,
    server_key: &ServerKey,
    access_key_id: &str,
) -> Result<Option<(Principal, String)>, RegistryError> {
    let found: Option<S3KeyMatch> = diesel::sql_query(format!(
        "SELECT customer, key_id, s3_secret_sealed FROM customer_credentials
         WHERE s3_access_key_id = $1 AND {VALID}"
    ))
    .bind::<Text, _>(access_key_id)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(not_found_is_none)?;
    let Some(found) = found else { return Ok(None) };
    let secret = server_key.open(&found.s3_secret_sealed)?;
    Ok(Some((
        Principal::Customer {
            customer: found.customer,
            key_id: found.key_id,
        },
        secret,
    )))
}

fn not_found_is_none<T>(e: diesel::result::Error) -> diesel::QueryResult<Option<T>> {
    match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    }
}

/// One credential as `dpctl customers list` shows it (never a key or secret).
#[derive(Debug, Clone, Serialize, QueryableByName)]
pub struct CredentialRow {
    #[diesel(sql_type = Text)]
    pub customer: String,
    #[diesel(sql_type = Text)]
    pub key_id: String,
    #[diesel(sql_type = Text)]
    pub s3_access_key_id: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub valid: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerRow {
    pub name: String,
    pub credentials: Vec<CredentialRow>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Every customer with its credentials, valid ones first, newest first.
pub async fn list_customers(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<CustomerRow>> {
    let names: Vec<Name> = diesel::sql_query("SELECT name FROM customers ORDER BY name")
        .load(conn)
        .await?;
    let credentials: Vec<CredentialRow> = diesel::sql_query(format!(
        "SELECT customer, key_id, s3_access_key_id, created_at, expires_at, revoked_at,
                ({VALID}) AS valid
         FROM customer_credentials ORDER BY customer, ({VALID}) DESC, id DESC"
    ))
    .load(conn)
    .await?;
    Ok(names
        .into_iter()
        .map(|n| CustomerRow {
            credentials: credentials
                .iter()
                .filter(|c| c.customer == n.name)
                .cloned()
                .collect(),
            name: n.name,
        })
        .collect())
}
