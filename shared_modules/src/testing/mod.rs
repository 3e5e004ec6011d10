//! Test support, on the real services (never mocks): `database` (a fresh database per test
//! from a migrated template), `config` (short timings; waiting for a condition), `fixtures`
//! (fixture files by extension), `queue`
//! (a counting handler and workers), `db_proxy` (an outage), `postfix` (the machine's
//! Postfix put back), `small_disk` (a tmpfs to fill).

#![allow(clippy::unwrap_used)] // test support: a failure here must fail the test loudly

mod config;
mod database;
mod db_proxy;
mod fixtures;
mod postfix;
mod queue;
mod small_disk;

pub use config::*;
pub use database::*;
pub use db_proxy::*;
pub use fixtures::*;
pub use postfix::*;
pub use queue::*;
pub use small_disk::*;
