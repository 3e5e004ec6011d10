//! Clearing what crashes, killed requests and abandoned uploads leave, safely while the
//! store is in use: run at serve's start (`recover`) and periodically (`sweep`).
//!
//! - a blob no key names, not held by this process (`live`), untouched for the grace: the
//!   bytes of a PUT killed before its commit (a blob another process on a shared volume
//!   is writing is touched at every MiB, so the grace covers it);
//! - metadata left in `tmp/` past the grace;
//! - a multipart upload no part reached for `abandoned_upload` (S3's lifecycle rule for
//!   incomplete uploads), unless this process is adding a part or completing it; and the
//!   note of a completed upload after as long.
//!
//! A blob is judged in two steps so that a commit can never be mistaken for an orphan:
//! first the blobs not held now are listed, then the keys are read. A blob not held at the
//! first step was committed (its key written) before it, or never will be.

use super::DiskStore;
use super::live::is_held;
use super::multipart::valid_upload_id;
use crate::inbox::older_than;
use std::collections::HashSet;
use std::io;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct SweepAges {
    /// A blob or staged metadata no key names, untouched this long, is a leftover.
    pub orphan_grace: Duration,
    /// A multipart upload untouched this long is abandoned.
    pub abandoned_upload: Duration,
}

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub blobs: usize,
    pub blob_bytes: u64,
    pub staged: usize,
    pub uploads: usize,
    pub completed_notes: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.blobs + self.staged + self.uploads + self.completed_notes
    }
}

impl DiskStore {
    /// Removes what was left behind (see the module's doc); safe while the store is in use.
    pub fn sweep(&self, ages: &SweepAges) -> io::Result<Swept> {
        let mut swept = Swept::default();
        for entry in std::fs::read_dir(self.dir.join("tmp"))? {
            let path = entry?.path();
            if older_than(&path, ages.orphan_grace) && std::fs::remove_file(&path).is_ok() {
                swept.staged += 1;
            }
        }
        self.sweep_blobs(ages.orphan_grace, &mut swept)?;
        self.sweep_uploads(ages.abandoned_upload, &mut swept)?;
        Ok(swept)
    }

    fn sweep_blobs(&self, grace: Duration, swept: &mut Swept) -> io::Result<()> {
        let blobs = self.dir.join("blobs");
        let mut candidates = Vec::new();
        for entry in std::fs::read_dir(&blobs)? {
            let path = entry?.path();
            if older_than(&path, grace) {
                candidates.push(path);
            }
        }
        {
            let held = self.live.lock();
            candidates.retain(|path| !is_held(&held, path));
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let named: HashSet<String> = self.list("")?.into_iter().map(|(_, m)| m.blob).collect();
        for path in candidates {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if named.contains(&name) {
                continue;
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(&path).is_ok() {
                swept.blobs += 1;
                swept.blob_bytes += size;
            }
        }
        Ok(())
    }

    fn sweep_uploads(&self, abandoned: Duration, swept: &mut Swept) -> io::Result<()> {
        for entry in std::fs::read_dir(self.dir.join("uploads"))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if !older_than(&path, abandoned) {
                continue;
            }
            if let Some(id) = name.strip_suffix(".completed") {
                if valid_upload_id(id) && std::fs::remove_file(&path).is_ok() {
                    swept.completed_notes += 1;
                }
                continue;
            }
            if !valid_upload_id(&name) {
                continue;
            }
            // Each part lands in its upload's folder, so the folder's time is its last
            // activity. Checked and removed under the lock: a part starting now waits, then
            // finds no upload.
            let held = self.live.lock();
            if is_held(&held, &path) || !older_than(&path, abandoned) {
                continue;
            }
            if std::fs::remove_dir_all(&path).is_ok() {
                swept.uploads += 1;
                self.open.forget(&name);
            }
        }
        Ok(())
    }
}
