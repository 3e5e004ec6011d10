//! Where a key's metadata file lies under `objects/`, whatever the key: S3 keys are not
//! paths (`foo/bar` beside `foo/bar/x`, a key ending in `/` as desktop tools make folders,
//! `a//b`, `.` and `..` parts, parts longer than a file name may be), so each part of a key
//! is given a name of its own kind: a folder `d<part>`, the object's file `o<part>` (a
//! folder and a file never share a name), and a part too long for a file name the SHA-256
//! of it (`D…`, `O…`). The key itself is in the file (`ObjectMeta::key`); the path is only
//! where to find it.
//!
//! 1.0.0 kept metadata at `keys/<key>` (the key as a path). `upgrade` moves such files to
//! their place under `objects/` as the store is opened: each move is a rename of a complete
//! file, so a start interrupted midway continues at the next one.

use super::{DiskStore, ObjectMeta};
use crate::inbox::{fsync_dir, unique_name};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// Parts up to this many bytes keep their name (with a one-byte kind before it).
const LONGEST_PLAIN_PART: usize = 200;

fn part_name(kind: char, part: &str) -> String {
    if part.len() <= LONGEST_PLAIN_PART {
        format!("{kind}{part}")
    } else {
        format!(
            "{}{}",
            kind.to_ascii_uppercase(),
            hex::encode(Sha256::digest(part.as_bytes()))
        )
    }
}

/// The folders a prefix of whole parts (`a/b/` or `a/b`'s `a/`) names, below `objects/`.
pub fn folder_path(parts: &[&str]) -> PathBuf {
    parts.iter().map(|p| part_name('d', p)).collect()
}

/// The metadata file of `key`, below `objects/`: only plain names, never `.` or `..`.
pub fn object_path(key: &str) -> PathBuf {
    let parts: Vec<&str> = key.split('/').collect();
    let (last, folders) = parts.split_last().unwrap_or((&"", &[]));
    folder_path(folders).join(part_name('o', last))
}

/// Whether a file under `objects/` is an object's metadata (not a folder's name).
pub fn is_object_file(name: &str) -> bool {
    name.starts_with('o') || name.starts_with('O')
}

impl DiskStore {
    /// Moves 1.0.0's `keys/<key>` files to their place under `objects/`; how many moved.
    pub(super) fn upgrade_layout(&self) -> io::Result<usize> {
        let old = self.dir.join("keys");
        if !old.is_dir() {
            return Ok(0);
        }
        let _one_at_a_time = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        let (mut moved, mut left) = (0, 0);
        let mut pending = vec![old.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    pending.push(path);
                } else if self.upgrade_one(&old, &path)? {
                    moved += 1;
                } else {
                    left += 1;
                }
            }
        }
        // Every file moved: the old tree is only empty folders now.
        if left == 0 {
            std::fs::remove_dir_all(&old)?;
            fsync_dir(&self.dir)?;
        }
        if moved > 0 {
            tracing::info!(
                objects = moved,
                bucket = %self.bucket,
                "the embedded store's metadata moved to the layout that takes any S3 key"
            );
        }
        Ok(moved)
    }

    /// One 1.0.0 metadata file at `path` (below `old`) to its new place; false when it was
    /// not one (left where it is, said in the log, and the old tree kept).
    fn upgrade_one(&self, old: &Path, path: &Path) -> io::Result<bool> {
        let key = path
            .strip_prefix(old)
            .ok()
            .and_then(Path::to_str)
            .map(str::to_string);
        let bytes = std::fs::read(path)?;
        let meta = serde_json::from_slice::<ObjectMeta>(&bytes);
        let (Some(key), Ok(mut meta)) = (key, meta) else {
            tracing::error!(file = %path.display(), "not an object's metadata: left where it is (the store does not read it)");
            return Ok(false);
        };
        meta.key = key.clone();
        let target = self.objects_dir().join(object_path(&key));
        let parent = target.parent().unwrap_or(&target).to_path_buf();
        std::fs::create_dir_all(&parent)?;
        let staged = self.dir.join("tmp").join(unique_name());
        let written = std::fs::File::create(&staged).and_then(|mut file| {
            serde_json::to_writer(&mut file, &meta)?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&staged, &target)) {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        fsync_dir(&parent)?;
        std::fs::remove_file(path)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_not_paths_get_names_that_never_meet() {
        assert_eq!(object_path("a/b"), PathBuf::from("da/ob"));
        assert_eq!(object_path("a/b/"), PathBuf::from("da/db/o"));
        assert_eq!(object_path("a//../."), PathBuf::from("da/d/d../o."));
        assert_eq!(object_path("/x"), PathBuf::from("d/ox"));
        let long = "x".repeat(300);
        let path = object_path(&format!("{long}/{long}"));
        let names: Vec<_> = path
            .iter()
            .map(|p| p.to_str().unwrap().to_string())
            .collect();
        assert!(names[0].starts_with('D') && names[1].starts_with('O'));
        assert!(names.iter().all(|n| n.len() == 65));
        for key in ["a/b", "a/b/", "a/b/x", "a", "a/"] {
            assert!(
                object_path(key)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            );
        }
    }
}
