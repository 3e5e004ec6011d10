//! The `dataprocessor` binary's library: the REST API and `serve`, which runs the API, the
//! worker pool and the reaper in one process.

pub mod console;
pub mod error;
pub mod http;
pub mod s3;
pub mod serve;
pub mod state;
pub mod uploads;
