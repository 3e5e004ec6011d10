//! One file per command group. Every command returns `Failure` with the exit code scripts
//! rely on.

pub mod cleanup;
pub mod config;
pub mod customers;
pub mod db;
pub mod health;
pub mod jobs;
pub mod mail;
pub mod nodes;
pub mod progress;
pub mod quarantine;
pub mod table;
pub mod uploads;
pub mod version;

use shared_modules::config::Config;
use shared_modules::db::{DbPool, PooledConn, connect_pool};
use std::time::Duration;

pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub const FAILED: u8 = 1;
/// Temporary: the database or the object store cannot be reached; try again.
pub const TEMPFAIL: u8 = 75;
pub const BAD_CONFIG: u8 = 78;
pub const NOT_FOUND: u8 = 3;
pub const CONFLICT: u8 = 4;

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        let e = shared_modules::db::DbError::from(e);
        if shared_modules::db::is_unavailable(&e) {
            Failure::new(
                TEMPFAIL,
                format!("the database went away: {}", one_line(&e.to_string())),
            )
        } else {
            Failure::new(FAILED, format!("database: {e}"))
        }
    }
}

/// The first line of an error: the exit code says what kind, this line says why.
fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

pub type Outcome = Result<(), Failure>;

pub fn pool(config: &Config) -> Result<DbPool, Failure> {
    let timeout = Duration::from_secs(config.database.connect_timeout_seconds);
    connect_pool(&config.database.url, 2, timeout).map_err(|e| {
        Failure::new(
            BAD_CONFIG,
            format!("database.url: {}", one_line(&e.to_string())),
        )
    })
}

/// A connection, or 75 with one line saying why the database cannot be reached.
pub async fn conn(config: &Config) -> Result<PooledConn, Failure> {
    pool(config)?.get().await.map_err(|e| {
        Failure::new(
            TEMPFAIL,
            format!(
                "cannot reach the database: {}",
                one_line(&shared_modules::db::pool_error_text(&e))
            ),
        )
    })
}
