//! The `dataprocessor` binary's library: `serve` runs, in one process, the REST API
//! (`http`), the console (`console`), the embedded S3 endpoint (`s3`), the upload triggers
//! (`uploads`), and from `shared_modules` the ticket ingester, the worker pool and the
//! reaper. `state` is what they share, `error` the JSON error envelope.

pub mod console;
pub mod db_gate;
pub mod error;
pub mod http;
pub mod s3;
pub mod serve;
pub mod state;
pub mod uploads;
