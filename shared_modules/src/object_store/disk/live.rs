//! What this process is writing in the store right now: blobs being filled or not yet
//! committed, parts on their way into an upload, uploads being completed. The sweeper
//! never removes a path held here, however old its file looks (a slow client's blob keeps
//! the time of its last write).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub(super) struct LiveFiles {
    /// Path → how many holders (an upload's folder may be held by several parts at once).
    paths: Mutex<HashMap<PathBuf, usize>>,
}

/// Held while a path is in use; dropping it lets the sweeper judge the path again.
pub struct Live {
    files: Arc<LiveFiles>,
    path: PathBuf,
}

impl LiveFiles {
    /// Holds `path` until the returned guard drops. Take it before creating the file: the
    /// sweeper then never sees the file unheld.
    pub(super) fn hold(self: &Arc<Self>, path: PathBuf) -> Live {
        *self.lock().entry(path.clone()).or_insert(0) += 1;
        Live {
            files: self.clone(),
            path,
        }
    }

    /// The held paths, locked: the sweeper checks and removes under this lock, so nothing
    /// is held between its check and its removal.
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, usize>> {
        self.paths.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `path` (a file or a folder) is held, or anything below it is.
pub(super) fn is_held(held: &HashMap<PathBuf, usize>, path: &Path) -> bool {
    held.keys().any(|p| p.starts_with(path))
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut held = self.files.lock();
        if let Some(count) = held.get_mut(&self.path) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.path);
            }
        }
    }
}
