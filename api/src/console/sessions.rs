//! Console sessions in Postgres (`console_sessions`), so a session made through one node
//! works through every other, signing out anywhere ends it, and a restart signs nobody out.
//! The token is kept only as its SHA-256; the CSRF token and who signed in are kept beside.

use crate::error::ApiError;
use diesel::QueryableByName;
use diesel::sql_types::{Bytea, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use shared_modules::customers::Principal;
use shared_modules::db::DbPool;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub principal: Principal,
    /// An operator's session: the SHA-256 of the key it signed in with, so the session ends
    /// once that key is no longer in `api.keys`.
    pub operator_key: Option<[u8; 32]>,
}

pub struct Sessions {
    lifetime: Duration,
    pool: DbPool,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS's randomness; without it no session is safe to hand out.
    getrandom::getrandom(&mut bytes).expect("the operating system's random numbers");
    hex::encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    csrf: String,
    #[diesel(sql_type = Nullable<Text>)]
    customer: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
}

fn database(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the session store (the database): {e}"))
}

impl Sessions {
    pub fn new(lifetime: Duration, pool: DbPool) -> Self {
        Self { lifetime, pool }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new session for who signed in with `key`; expired ones are dropped on the way.
    pub async fn create(&self, principal: Principal, key: &str) -> Result<Session, ApiError> {
        let session = Session {
            token: random_token(),
            csrf: random_token(),
            operator_key: matches!(principal, Principal::Operator)
                .then(|| Sha256::digest(key.as_bytes()).into()),
            principal,
        };
        // An operator's row keeps its key's digest where a customer's keeps its key id.
        let (customer, key_id) = match &session.principal {
            Principal::Operator => (None, session.operator_key.map(hex::encode)),
            Principal::Customer { customer, key_id } => {
                (Some(customer.clone()), Some(key_id.clone()))
            }
        };
        let mut conn = self.pool.get().await.map_err(database)?;
        diesel::sql_query("DELETE FROM console_sessions WHERE expires_at < now()")
            .execute(&mut conn)
            .await
            .map_err(database)?;
        diesel::sql_query(
            "INSERT INTO console_sessions (token_sha256, csrf, customer, key_id, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind::<Bytea, _>(digest(&session.token))
        .bind::<Text, _>(&session.csrf)
        .bind::<Nullable<Text>, _>(customer)
        .bind::<Nullable<Text>, _>(key_id)
        .bind::<Double, _>(self.lifetime.as_secs_f64())
        .execute(&mut conn)
        .await
        .map_err(database)?;
        Ok(session)
    }

    /// The session of `token`, while it lasts.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, ApiError> {
        if token.len() != 64 {
            return Ok(None);
        }
        let mut conn = self.pool.get().await.map_err(database)?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT csrf, customer, key_id FROM console_sessions
             WHERE token_sha256 = $1 AND expires_at > now()",
        )
        .bind::<Bytea, _>(digest(token))
        .load(&mut conn)
        .await
        .map_err(database)?;
        Ok(rows.into_iter().next().and_then(|row| {
            let (principal, operator_key) = match (row.customer, row.key_id) {
                (Some(customer), Some(key_id)) => (Principal::Customer { customer, key_id }, None),
                (None, Some(digest)) => (
                    Principal::Operator,
                    Some(hex::decode(digest).ok()?.try_into().ok()?),
                ),
                // Anything else is no session this code made: refused.
                _ => return None,
            };
            Some(Session {
                token: token.to_string(),
                csrf: row.csrf,
                principal,
                operator_key,
            })
        }))
    }

    /// Ends the session of `token`, on every node.
    pub async fn end(&self, token: &str) -> Result<(), ApiError> {
        let mut conn = self.pool.get().await.map_err(database)?;
        diesel::sql_query("DELETE FROM console_sessions WHERE token_sha256 = $1")
            .bind::<Bytea, _>(digest(token))
            .execute(&mut conn)
            .await
            .map_err(database)?;
        Ok(())
    }
}
