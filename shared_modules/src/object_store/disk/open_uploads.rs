//! How many multipart uploads each access key has open, for the per-key limit: counted
//! from `uploads/` at the first creation, then kept as uploads are created, completed,
//! aborted and swept. At the limit the count is checked against the folders (another
//! process may have completed or swept some); uploads another process creates on a shared
//! volume are not counted here, so the limit holds per process.

use super::multipart::UploadInfo;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct OpenUploads {
    /// Access key → its open uploads' ids; None until first counted.
    by_owner: Mutex<Option<HashMap<String, HashSet<String>>>>,
}

impl OpenUploads {
    /// Counts `id` as open for `owner`, unless `owner` already has `max` open: then
    /// `Ok(Err(open))`.
    pub(super) fn reserve(
        &self,
        uploads: &Path,
        owner: &str,
        id: &str,
        max: usize,
    ) -> io::Result<Result<(), usize>> {
        let mut guard = self.by_owner.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(count(uploads)?);
        }
        let by_owner = guard.get_or_insert_with(HashMap::new);
        let ids = by_owner.entry(owner.to_string()).or_default();
        if ids.len() >= max {
            ids.retain(|id| uploads.join(id).is_dir());
        }
        if ids.len() >= max {
            return Ok(Err(ids.len()));
        }
        ids.insert(id.to_string());
        Ok(Ok(()))
    }

    /// `id` is no longer open (completed, aborted, swept, or never made).
    pub(super) fn forget(&self, id: &str) {
        let mut guard = self.by_owner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(by_owner) = guard.as_mut() {
            for ids in by_owner.values_mut() {
                if ids.remove(id) {
                    break;
                }
            }
            by_owner.retain(|_, ids| !ids.is_empty());
        }
    }
}

/// The open uploads in `uploads/`, by the access key that started each.
fn count(uploads: &Path) -> io::Result<HashMap<String, HashSet<String>>> {
    let mut by_owner: HashMap<String, HashSet<String>> = HashMap::new();
    for entry in std::fs::read_dir(uploads)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path().join("upload.json")) else {
            continue;
        };
        if let Ok(info) = serde_json::from_slice::<UploadInfo>(&bytes) {
            by_owner
                .entry(info.owner)
                .or_default()
                .insert(entry.file_name().to_string_lossy().to_string());
        }
    }
    Ok(by_owner)
}
