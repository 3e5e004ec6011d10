//! The connections the front holds open: how many may be (`api.max_connections`, and no more
//! than the open-file limit allows), and, for each one carried to actix, the client's real
//! address and a switch that closes it. Actix sees every request coming from the front's own
//! loopback socket; that socket's address is the key to look the client up by.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// A carried connection holds three descriptors: the client's socket, the front's socket
/// to actix and actix's end of it. One waiting for its first byte holds one.
const DESCRIPTORS_CARRIED: u32 = 3;

pub struct Connections {
    slots: Arc<Semaphore>,
    descriptors: Arc<Semaphore>,
    carried: Mutex<HashMap<SocketAddr, Carried>>,
}

#[derive(Clone)]
struct Carried {
    client: SocketAddr,
    close: CancellationToken,
}

/// One admitted connection's share of the limits; given back when dropped.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    descriptors: OwnedSemaphorePermit,
    pool: Arc<Semaphore>,
}

impl Admitted {
    /// Takes the descriptors that carrying to actix needs; false when they are not there.
    pub fn widen(&mut self) -> bool {
        match self
            .pool
            .clone()
            .try_acquire_many_owned(DESCRIPTORS_CARRIED - 1)
        {
            Ok(more) => {
                self.descriptors.merge(more);
                true
            }
            Err(_) => false,
        }
    }
}

/// A carried connection's entry, removed when dropped.
pub struct Registration<'a> {
    connections: &'a Connections,
    seen_as: SocketAddr,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.seen_as);
    }
}

impl Connections {
    /// At most `max_connections` open at once, holding at most `descriptors` file descriptors.
    pub fn new(max_connections: usize, descriptors: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_connections)),
            descriptors: Arc::new(Semaphore::new(descriptors)),
            carried: Mutex::default(),
        }
    }

    /// A connection just accepted, or None when the port is full.
    pub fn admit(&self) -> Option<Admitted> {
        let slot = self.slots.clone().try_acquire_owned().ok()?;
        let descriptors = self.descriptors.clone().try_acquire_owned().ok()?;
        Some(Admitted {
            _slot: slot,
            descriptors,
            pool: self.descriptors.clone(),
        })
    }

    /// Records that requests arriving at actix from `seen_as` come from `client`; `close`
    /// ends the connection.
    pub fn register(
        &self,
        seen_as: SocketAddr,
        client: SocketAddr,
        close: CancellationToken,
    ) -> Registration<'_> {
        self.lock().insert(seen_as, Carried { client, close });
        Registration {
            connections: self,
            seen_as,
        }
    }

    /// The client behind the front's socket `seen_as`; None for a connection not carried
    /// by the front (a test's server, say).
    pub fn client(&self, seen_as: SocketAddr) -> Option<SocketAddr> {
        self.lock().get(&seen_as).map(|c| c.client)
    }

    /// Closes the connection behind `seen_as`, both halves, at once.
    pub fn close(&self, seen_as: SocketAddr) {
        if let Some(carried) = self.lock().get(&seen_as) {
            carried.close.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Carried>> {
        self.carried.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for Connections {
    /// No front: nothing carried, nothing limited (tests that serve actix directly).
    fn default() -> Self {
        Self::new(Semaphore::MAX_PERMITS, Semaphore::MAX_PERMITS)
    }
}

/// Raises this process's open-file limit to its hard limit and says how many descriptors
/// connections may take: the limit less a reserve for the database pool, the inbox and the
/// store's files.
pub fn descriptor_budget() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, current, maximum, "cannot raise the open-file limit");
        }
    }
    let current = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    let reserve = (current / 2).min(1024);
    usize::try_from(current - reserve).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_a_connection_is_not_admitted_and_a_closed_one_frees_its_slot() {
        let connections = Connections::new(2, 100);
        let first = connections.admit().expect("first");
        let _second = connections.admit().expect("second");
        assert!(connections.admit().is_none(), "a third past a cap of two");
        drop(first);
        assert!(
            connections.admit().is_some(),
            "the first's slot is free again"
        );
    }

    #[test]
    fn carrying_needs_three_descriptors_and_gives_them_back() {
        let connections = Connections::new(10, 4);
        let mut carried = connections.admit().expect("admitted");
        assert!(carried.widen(), "1 + 2 of 4");
        let mut waiting = connections.admit().expect("one descriptor left");
        assert!(
            !waiting.widen(),
            "no two more for a second carried connection"
        );
        drop(carried);
        assert!(waiting.widen(), "the first's three are back");
    }

    #[test]
    fn a_registered_connection_names_its_client_until_dropped_and_can_be_closed() {
        let connections = Connections::default();
        let seen: SocketAddr = "127.0.0.1:40000".parse().expect("address");
        let client: SocketAddr = "203.0.113.7:5555".parse().expect("address");
        let close = CancellationToken::new();
        let registration = connections.register(seen, client, close.clone());
        assert_eq!(connections.client(seen), Some(client));
        connections.close(seen);
        assert!(close.is_cancelled());
        drop(registration);
        assert_eq!(connections.client(seen), None);
    }
}
