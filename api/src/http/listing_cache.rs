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

pub struct ListingCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
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
    /// Read the page and `store` it.
    Miss,
}

impl ListingCache {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: Duration) -> ListingCache {
        ListingCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves only a map of answers: still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lookup(&self, key: &str) -> Lookup {
        self.lookup_at(key, Instant::now())
    }

    pub fn store(&self, key: &str, body: Bytes) {
        self.store_at(key, body, Instant::now())
    }

    fn lookup_at(&self, key: &str, now: Instant) -> Lookup {
        if self.ttl.is_zero() {
            return Lookup::Miss;
        }
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(key) else {
            return Lookup::Miss;
        };
        let age = now.saturating_duration_since(entry.stored);
        // An expired answer is given out only while its refresh is under way, and not
        // for longer than a second ttl (a refresh that failed must not pin it).
        if age < self.ttl || (entry.refreshing && age < self.ttl * 2) {
            return Lookup::Hit(entry.body.clone());
        }
        entry.refreshing = true;
        Lookup::Miss
    }

    fn store_at(&self, key: &str, body: Bytes, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(
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
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_millis(250);

    fn hit(cache: &ListingCache, key: &str, at: Instant) -> Option<Bytes> {
        match cache.lookup_at(key, at) {
            Lookup::Hit(body) => Some(body),
            Lookup::Miss => None,
        }
    }

    #[test]
    fn a_stored_answer_is_given_until_it_expires_then_one_request_refreshes_it() {
        let cache = ListingCache::new(TTL);
        let t = Instant::now();
        assert!(hit(&cache, "limit=50", t).is_none());
        cache.store_at("limit=50", Bytes::from_static(b"page 1"), t);
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
        cache.store_at("limit=50", Bytes::from_static(b"page 2"), later);
        assert_eq!(
            hit(&cache, "limit=50", later).as_deref(),
            Some(&b"page 2"[..])
        );
    }

    #[test]
    fn a_refresh_that_never_comes_back_does_not_pin_the_old_answer() {
        let cache = ListingCache::new(TTL);
        let t = Instant::now();
        cache.store_at("q", Bytes::from_static(b"old"), t);
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
        cache.store_at("q", Bytes::from_static(b"x"), t);
        cache.clear();
        assert!(hit(&cache, "q", t).is_none());
        let off = ListingCache::new(Duration::ZERO);
        off.store_at("q", Bytes::from_static(b"x"), t);
        assert!(hit(&off, "q", t).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ListingCache::new(TTL);
        for i in 0..MAX_ENTRIES + 10 {
            cache.store(&format!("q{i}"), Bytes::from_static(b"x"));
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}
