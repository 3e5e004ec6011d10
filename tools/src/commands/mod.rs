//! One file per command group. Every command returns `Failure` with the exit code scripts
//! rely on.

pub mod config;
pub mod db;
pub mod health;
pub mod jobs;
pub mod mail;
pub mod progress;
pub mod quarantine;

use shared_modules::config::Config;
use shared_modules::db::{DbPool, PooledConn, connect_pool};
use std::time::Duration;

pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub const FAILED: u8 = 1;
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
        Failure::new(FAILED, format!("database: {e}"))
    }
}

pub type Outcome = Result<(), Failure>;

pub fn pool(config: &Config) -> Result<DbPool, Failure> {
    let timeout = Duration::from_secs(config.database.connect_timeout_seconds);
    connect_pool(&config.database.url, 2, timeout).map_err(|e| Failure::new(FAILED, e.to_string()))
}

pub async fn conn(config: &Config) -> Result<PooledConn, Failure> {
    pool(config)?
        .get()
        .await
        .map_err(|e| Failure::new(FAILED, format!("cannot reach the database: {e}")))
}
