//! The DataProcessor's core, which every binary links (the name is historical: the parsing
//! modules live in `modules/`): configuration (`config`), paths, the database and its
//! migrations (`db`), the job queue and worker (`jobs`), the inbox and ticket ingest
//! (`inbox`), mail intake (`mail`), the object stores (`object_store`), safe archive
//! extraction (`archive`), API keys, health checks, metrics, retention and logging.

pub mod api_keys;
pub mod archive;
pub mod cluster;
pub mod config;
pub mod customers;
pub mod db;
pub mod health;
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
