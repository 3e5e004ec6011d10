//! How many database connections the API's requests hold at once (`api.database_connections`,
//! by default twice the CPU cores). A request past that waits its turn, first come first
//! served, inside its `database.read_timeout_seconds`. On 2 cores with 16 clients listing
//! jobs, every request on a backend of its own (16) left the processes crowding the CPUs and
//! the slowest 1 % took 60–150 ms; 4 at a time kept them near 15 ms at the same throughput.
//! It also leaves the job workers their share of the pool when the API is flooded.

use shared_modules::db::PooledConn;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct DbGate(Arc<Semaphore>);

impl DbGate {
    /// `configured`, or twice the CPU cores (at least 2).
    pub fn new(configured: Option<usize>) -> DbGate {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let turns = configured.unwrap_or(2 * cores).max(1);
        DbGate(Arc::new(Semaphore::new(turns)))
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
        let gate = DbGate::new(Some(2));
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
    fn the_default_is_twice_the_cores_and_never_zero() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(DbGate::new(None).available(), 2 * cores);
        assert_eq!(DbGate::new(Some(0)).available(), 1);
        assert_eq!(DbGate::new(Some(7)).available(), 7);
    }
}
