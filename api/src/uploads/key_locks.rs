//! One holder at a time per key (an object being downloaded), inside this process, without
//! holding anything else while waiting: no database connection, no thread. Across API
//! processes the job's unique dedupe key decides, and a loser's copy is discarded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyLocks {
    by_key: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while the key is locked; the key's entry goes when its last user leaves.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let mutex = self.map().entry(key.to_string()).or_default().clone();
        let guard = mutex.lock_owned().await;
        KeyGuard {
            locks: self,
            key: key.to_string(),
            guard: Some(guard),
        }
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map itself still refers to it: nobody holds or waits for this key.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_holder_waits_and_the_key_is_forgotten_after() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("k").await;
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _second = locks.lock("k").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the second holder got in while the first held"
        );
        let other = locks.lock("other").await;
        drop(other);
        drop(first);
        waiting.await.expect("the second holder ran");
        assert!(locks.is_empty(), "keys nobody holds are forgotten");
    }
}
