//! More than one node on one Postgres, one shared volume and one object store. Each node
//! has a name (`node.name`), beats in the `nodes` table, and takes part in electing one
//! leader by a lease in Postgres (`leader`). Duties that must run once at a time across the
//! cluster run only on the leader (`duty`): the reaper, reconciliation, retention, the inbox
//! and store sweepers, the store's recovery, the gauges that scan tables. Safe everywhere,
//! and so run on every node: ticket ingest (a ticket makes its job once, by its dedupe
//! key), the workers (claims skip locked rows), the auto trigger (one object, one job), the
//! API, the console and the S3 endpoint.

mod duty;
mod leader;
mod nodes;

pub use duty::{DutyRun, duty_runs, next_try, record_duty, spawn_duty};
pub use leader::{Leadership, spawn_membership};
pub use nodes::{NodeRow, list_nodes};

use std::sync::OnceLock;

static THIS_NODE: OnceLock<String> = OnceLock::new();

/// Names this process's node for every database connection it opens from now on (see
/// `db::pool`); set once, at start.
pub fn set_this_node(name: &str) {
    let _ = THIS_NODE.set(name.to_string());
}

/// This process's node, once `set_this_node` ran.
pub fn this_node() -> Option<&'static str> {
    THIS_NODE.get().map(String::as_str)
}
