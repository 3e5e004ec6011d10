//! A short-lived cache of `GET /jobs` answers, keyed by the query string. Dashboards and
//! operators poll the same page: within `api.listing_cache_ms` they share one database
//! read. When an answer expires, one request reads it again while the others are still
//! given the expired one, so a page is never read by every waiting request at once.
//! The API's own retry and cancel clear it; `GET /jobs/{id}` is never cached.

use actix_web::web::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many distinct queries are kept; beyond, the cache starts afresh.
const MAX_ENTRIES: usize = 256;
/// At most this many bytes of answers are kept (a `limit=1000` page is ~1 MB): beyond, the
/// cache starts afresh, so many distinct large queries cannot grow the process.
const MAX_BYTES: usize = 16 * 1024 * 1024;

pub struct ListingCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_query: HashMap<String, Entry>,
    /// Sum of the bodies' lengths.
    bytes: usize,
    /// Bumped by `clear`: an answer read before a clear is not stored after it.
    epoch: u64,
}

struct Entry {
    stored: Instant,
    body: Bytes,
    /// A request is reading this page again.
    refreshing: bool,
}

pub enum Lookup {
    /// A fresh answer, or an expired one while another request reads the page again.
    Hit(Bytes),
    /// Read the page and `store` it with this ticket.
    Miss(Ticket),
}

/// When a missed page was looked up (see `Entries::epoch`).
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl ListingCache {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: Duration) -> ListingCache {
        ListingCache {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves only a map of answers: still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lookup(&self, key: &str) -> Lookup {
        self.lookup_at(key, Instant::now())
    }

    pub fn store(&self, key: &str, body: Bytes, ticket: Ticket) {
        self.store_at(key, body, ticket, Instant::now())
    }

    fn lookup_at(&self, key: &str, now: Instant) -> Lookup {
        let mut entries = self.entries();
        let ticket = Ticket(entries.epoch);
        if self.ttl.is_zero() {
            return Lookup::Miss(ticket);
        }
        let Some(entry) = entries.by_query.get_mut(key) else {
            return Lookup::Miss(ticket);
        };
        let age = now.saturating_duration_since(entry.stored);
        // An expired answer is given out only while its refresh is under way, and not
        // for longer than a second ttl (a refresh that failed must not pin it).
        if age < self.ttl || (entry.refreshing && age < self.ttl * 2) {
            return Lookup::Hit(entry.body.clone());
        }
        entry.refreshing = true;
        Lookup::Miss(ticket)
    }

    fn store_at(&self, key: &str, body: Bytes, ticket: Ticket, now: Instant) {
        let mut entries = self.entries();
        if self.ttl.is_zero() || ticket.0 != entries.epoch {
            return;
        }
        if body.len() > MAX_BYTES {
            return;
        }
        if let Some(old) = entries.by_query.remove(key) {
            entries.bytes -= old.body.len();
        }
        if entries.by_query.len() >= MAX_ENTRIES || entries.bytes + body.len() > MAX_BYTES {
            entries.by_query.clear();
            entries.bytes = 0;
        }
        entries.bytes += body.len();
        entries.by_query.insert(
            key.to_string(),
            Entry {
                stored: now,
                body,
                refreshing: false,
            },
        );
    }

    /// After a change made through this API: the next listing reads the database.
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.by_query.clear();
        entries.bytes = 0;
        entries.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 255 distinct `limit=1000` pages once took the server from 0.4 to 2.4 GB.
    #[test]
    fn the_cache_holds_no_more_than_its_byte_bound() {
        let cache = ListingCache::new(TTL);
        let now = Instant::now();
        let page = Bytes::from(vec![b'x'; 1024 * 1024]);
        for i in 0..255 {
            let key = format!("limit=1000&cursor={i}");
            let Lookup::Miss(ticket) = cache.lookup_at(&key, now) else {
                panic!("a new query is a miss");
            };
            cache.store_at(&key, page.clone(), ticket, now);
            let entries = cache.entries();
            let held: usize = entries.by_query.values().map(|e| e.body.len()).sum();
            assert_eq!(held, entries.bytes);
            assert!(held <= MAX_BYTES, "{held} bytes held after {i} pages");
        }
        let too_big = Bytes::from(vec![b'x'; MAX_BYTES + 1]);
        let Lookup::Miss(ticket) = cache.lookup_at("huge", now) else {
            panic!("a new query is a miss");
        };
        cache.store_at("huge", too_big, ticket, now);
        assert!(
            hit(&cache, "huge", now).is_none(),
            "an answer over the bound is not kept"
        );
    }

    const TTL: Duration = Duration::from_millis(250);

    fn hit(cache: &ListingCache, key: &str, at: Instant) -> Option<Bytes> {
        match cache.lookup_at(key, at) {
            Lookup::Hit(body) => Some(body),
            Lookup::Miss(_) => None,
        }
    }

    fn ticket(cache: &ListingCache) -> Ticket {
        Ticket(cache.entries().epoch)
    }

    #[test]
    fn a_stored_answer_is_given_until_it_expires_then_one_request_refreshes_it() {
        let cache = ListingCache::new(TTL);
        let t = Instant::now();
        assert!(hit(&cache, "limit=50", t).is_none());
        cache.store_at("limit=50", Bytes::from_static(b"page 1"), ticket(&cache), t);
        let soon = t + TTL / 2;
        assert_eq!(
            hit(&cache, "limit=50", soon).as_deref(),
            Some(&b"page 1"[..])
        );
        assert!(
            hit(&cache, "limit=10", soon).is_none(),
            "keyed by the query"
        );
        let later = t + TTL + Duration::from_millis(1);
        assert!(
            hit(&cache, "limit=50", later).is_none(),
            "expired: this request reads"
        );
        assert_eq!(
            hit(&cache, "limit=50", later).as_deref(),
            Some(&b"page 1"[..]),
            "the others get the old answer meanwhile"
        );
        cache.store_at(
            "limit=50",
            Bytes::from_static(b"page 2"),
            ticket(&cache),
            later,
        );
        assert_eq!(
            hit(&cache, "limit=50", later).as_deref(),
            Some(&b"page 2"[..])
        );
    }

    #[test]
    fn a_refresh_that_never_comes_back_does_not_pin_the_old_answer() {
        let cache = ListingCache::new(TTL);
        let t = Instant::now();
        cache.store_at("q", Bytes::from_static(b"old"), ticket(&cache), t);
        assert!(hit(&cache, "q", t + TTL).is_none());
        assert!(
            hit(&cache, "q", t + TTL * 2).is_none(),
            "past two ttl: read again"
        );
    }

    #[test]
    fn clear_and_a_zero_ttl_leave_nothing_to_give() {
        let t = Instant::now();
        let cache = ListingCache::new(TTL);
        cache.store_at("q", Bytes::from_static(b"x"), ticket(&cache), t);
        cache.clear();
        assert!(hit(&cache, "q", t).is_none());
        let off = ListingCache::new(Duration::ZERO);
        off.store_at("q", Bytes::from_static(b"x"), ticket(&off), t);
        assert!(hit(&off, "q", t).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ListingCache::new(TTL);
        for i in 0..MAX_ENTRIES + 10 {
            cache.store(&format!("q{i}"), Bytes::from_static(b"x"), ticket(&cache));
        }
        assert!(cache.entries().by_query.len() <= MAX_ENTRIES);
    }

    #[test]
    fn a_page_read_before_a_clear_is_not_stored_after_it() {
        let cache = ListingCache::new(TTL);
        let t = Instant::now();
        let Lookup::Miss(before) = cache.lookup_at("q", t) else {
            panic!("nothing stored yet");
        };
        cache.clear();
        cache.store_at("q", Bytes::from_static(b"stale"), before, t);
        assert!(hit(&cache, "q", t).is_none());
    }
}
