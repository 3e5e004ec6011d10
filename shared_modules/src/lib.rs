//! What every DataProcessor binary shares: configuration, paths, the database and its
//! migrations, the job queue, API keys and logging.

pub mod api_keys;
pub mod archive;
pub mod config;
pub mod db;
pub mod inbox;
pub mod io_count;
pub mod jobs;
pub mod logging;
pub mod mail;
pub mod metrics;
#[cfg(feature = "object-store")]
pub mod object_store;
pub mod paths;
pub mod retention;

#[cfg(feature = "testing")]
pub mod testing;
