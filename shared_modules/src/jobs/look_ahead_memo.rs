//! Which listings' windows the look-ahead did not find lately (see `listing.rs`). A window
//! that the newest jobs do not fill (one customer's last ten minutes) made every request pay
//! the look-ahead's statement before the window's own: a third of its rate. A listing whose
//! look-ahead fell short within the last minute goes straight to the window's own statement,
//! which is exact for every window; after the minute the look-ahead is tried again, so a
//! window that fills up is found again. Keyed by the filters and the window's edges' ages
//! in powers of two (a poller's "since my last poll" keeps its key), at most `MOST_HELD`.

use super::listing::JobFilter;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a look-ahead that fell short is not tried again for the same kind of listing.
const REMEMBERED: Duration = Duration::from_secs(60);

/// At most this many listings are remembered; past it, all are forgotten.
const MOST_HELD: usize = 10_000;

static FELL_SHORT: LazyLock<Mutex<HashMap<u64, Instant>>> = LazyLock::new(Mutex::default);

/// The age of a window's edge, in whole powers of two of seconds (None: no edge).
fn age_class(edge: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<u32> {
    edge.map(|at| {
        let seconds = (now - at).num_seconds().max(1) as u64;
        seconds.ilog2()
    })
}

/// A kind of listing: its filters, and its window's edges by age.
#[derive(Clone, Copy)]
pub struct Listing(u64);

impl Listing {
    pub fn of(filter: &JobFilter) -> Listing {
        let now = Utc::now();
        let mut hasher = DefaultHasher::new();
        filter.state.map(|s| s.as_str()).hash(&mut hasher);
        filter.customer.hash(&mut hasher);
        filter.category.hash(&mut hasher);
        filter.job_type.hash(&mut hasher);
        filter.before_id.is_some().hash(&mut hasher);
        age_class(filter.since, now).hash(&mut hasher);
        age_class(filter.until, now).hash(&mut hasher);
        Listing(hasher.finish())
    }

    /// Whether the look-ahead is worth trying for this kind of listing now.
    pub fn worth_trying(self) -> bool {
        let held = FELL_SHORT.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&self.0).is_none_or(|at| at.elapsed() > REMEMBERED)
    }

    /// What the look-ahead did for it: found its page, or fell short.
    pub fn found(self, page: bool) {
        let mut held = FELL_SHORT.lock().unwrap_or_else(|e| e.into_inner());
        if page {
            held.remove(&self.0);
            return;
        }
        if held.len() >= MOST_HELD {
            held.clear();
        }
        held.insert(self.0, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer_since(customer: &str, minutes: i64) -> JobFilter {
        JobFilter {
            customer: Some(customer.into()),
            since: Some(Utc::now() - chrono::Duration::minutes(minutes)),
            ..JobFilter::default()
        }
    }

    #[test]
    fn a_listing_whose_look_ahead_fell_short_skips_it_until_it_finds_its_page_again() {
        let narrow = Listing::of(&customer_since("memo-test-a", 10));
        assert!(narrow.worth_trying());
        narrow.found(false);
        assert!(!narrow.worth_trying());
        // The same kind of listing a moment later (a poller's next "since"): same key.
        assert!(!Listing::of(&customer_since("memo-test-a", 11)).worth_trying());
        // Another customer, another width: their own.
        assert!(Listing::of(&customer_since("memo-test-b", 10)).worth_trying());
        assert!(Listing::of(&customer_since("memo-test-a", 600)).worth_trying());
        narrow.found(true);
        assert!(narrow.worth_trying());
    }

    #[test]
    fn edges_fall_in_powers_of_two_of_their_age() {
        let now = Utc::now();
        let at = |seconds| Some(now - chrono::Duration::seconds(seconds));
        assert_eq!(age_class(at(600), now), Some(9));
        assert_eq!(age_class(at(700), now), Some(9));
        assert_eq!(age_class(at(1100), now), Some(10));
        assert_eq!(age_class(at(0), now), Some(0));
        assert_eq!(age_class(None, now), None);
    }
}
