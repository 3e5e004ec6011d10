//! Guessing keys at the sign-in form is slowed per client address: past
//! `console.sign_in_failures` wrong keys in `console.sign_in_window_seconds`, that address
//! is answered 429 (with `Retry-After`) until its window has passed. Other addresses, and the
//! right key from them, are untouched. IPv6 clients count by their /64, which one host
//! usually holds whole.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At this many addresses remembered, windows that have passed are forgotten and, if more
/// than half are still open, the older half goes: a flood of addresses cannot grow it, and
/// the pruning is paid once per many failures.
const REMEMBERED_MOST: usize = 65_536;

pub struct SignInThrottle {
    failures_allowed: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl SignInThrottle {
    pub fn new(failures_allowed: u32, window: Duration) -> Self {
        Self {
            failures_allowed,
            window,
            failures: Mutex::default(),
        }
    }

    /// How long `client` must wait before trying again; None when it may try now.
    pub fn wait_for(&self, client: IpAddr) -> Option<Duration> {
        let failures = self.lock();
        let window = failures.get(&counted_as(client))?;
        let left = self.window.checked_sub(window.started.elapsed())?;
        (window.failures >= self.failures_allowed).then_some(left)
    }

    /// A wrong key from `client`.
    pub fn failed(&self, client: IpAddr) {
        let mut failures = self.lock();
        if failures.len() >= REMEMBERED_MOST {
            failures.retain(|_, w| w.started.elapsed() < self.window);
            if failures.len() > REMEMBERED_MOST / 2 {
                let mut ages: Vec<Instant> = failures.values().map(|w| w.started).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                failures.retain(|_, w| w.started > cut);
            }
        }
        let now = Instant::now();
        let window = failures.entry(counted_as(client)).or_insert(Window {
            started: now,
            failures: 0,
        });
        if window.started.elapsed() >= self.window {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The key an address counts under: itself for IPv4, its /64 for IPv6.
fn counted_as(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn past_the_allowed_failures_an_address_waits_and_others_do_not() {
        let throttle = SignInThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(throttle.wait_for(ip("203.0.113.9")).is_none());
            throttle.failed(ip("203.0.113.9"));
        }
        let wait = throttle.wait_for(ip("203.0.113.9")).expect("throttled");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        assert!(throttle.wait_for(ip("198.51.100.1")).is_none());
    }

    #[test]
    fn the_window_passing_lets_an_address_try_again() {
        let throttle = SignInThrottle::new(1, Duration::from_millis(50));
        throttle.failed(ip("203.0.113.9"));
        assert!(throttle.wait_for(ip("203.0.113.9")).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(throttle.wait_for(ip("203.0.113.9")).is_none());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_many_addresses_stay_bounded() {
        let throttle = SignInThrottle::new(2, Duration::from_secs(60));
        throttle.failed(ip("2001:db8:1:2::1"));
        throttle.failed(ip("2001:db8:1:2::ffff"));
        assert!(throttle.wait_for(ip("2001:db8:1:2:abcd::9")).is_some());
        assert!(throttle.wait_for(ip("2001:db8:1:3::1")).is_none());
        for i in 0..(REMEMBERED_MOST as u32 + 10) {
            throttle.failed(IpAddr::V4(i.into()));
        }
        assert!(throttle.lock().len() <= REMEMBERED_MOST);
    }
}
