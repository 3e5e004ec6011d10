//! How many database connections the API's requests hold at once (`api.database_connections`,
//! by default twice the CPU cores, within what the job workers leave of the pool). A request past that waits its turn, first come first
//! served, inside its `database.read_timeout_seconds`. On 2 cores with 16 clients listing
//! jobs, every request on a backend of its own (16) left the processes crowding the CPUs and
//! the slowest 1 % took 18–56 ms; 4 at a time kept them at 14–19 ms for about the same
//! throughput (docs/benchmark-notes.md). It also leaves the job workers their share of the
//! pool when the API's reads (listings, the console) are flooded; health, metrics, the S3
//! endpoint and upload triggers take their connections from the pool directly.

use shared_modules::config::Config;
use shared_modules::db::PooledConn;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct DbGate(Arc<Semaphore>);

impl DbGate {
    /// `api.database_connections`, or twice the CPU cores within what the job workers leave
    /// of the pool (at least 1).
    pub fn for_config(config: &Config) -> DbGate {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let left = config
            .database
            .pool_size
            .saturating_sub(config.workers.concurrency);
        DbGate::new(
            config
                .api
                .database_connections
                .unwrap_or_else(|| (2 * cores).min(left)),
        )
    }

    pub fn new(turns: usize) -> DbGate {
        DbGate(Arc::new(Semaphore::new(turns.max(1))))
    }

    /// Waits for a turn; None only if the gate was closed, which nothing does.
    pub async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }

    /// Turns free now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// A pooled connection and the turn it was taken with: the connection goes back to the pool
/// first, then the turn to the next request.
pub struct GatedConn {
    conn: PooledConn,
    _turn: OwnedSemaphorePermit,
}

impl GatedConn {
    pub fn new(conn: PooledConn, turn: OwnedSemaphorePermit) -> GatedConn {
        GatedConn { conn, _turn: turn }
    }
}

impl Deref for GatedConn {
    type Target = PooledConn;

    fn deref(&self) -> &PooledConn {
        &self.conn
    }
}

impl DerefMut for GatedConn {
    fn deref_mut(&mut self) -> &mut PooledConn {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_past_the_limit_waits_for_a_turn_handed_back() {
        let gate = DbGate::new(2);
        let first = gate.turn().await.unwrap();
        let _second = gate.turn().await.unwrap();
        assert_eq!(gate.available(), 0);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn().await.is_some() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a third turn was given while two were out"
        );
        drop(first);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn the_default_is_twice_the_cores_within_what_the_workers_leave() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut config = Config::default();
        config.database.pool_size = 100;
        config.workers.concurrency = 4;
        assert_eq!(DbGate::for_config(&config).available(), 2 * cores);
        config.database.pool_size = 5;
        assert_eq!(DbGate::for_config(&config).available(), 1, "5 - 4");
        config.workers.concurrency = 10;
        assert_eq!(DbGate::for_config(&config).available(), 1, "never none");
        config.api.database_connections = Some(7);
        assert_eq!(DbGate::for_config(&config).available(), 7);
    }
}
