//! The embedded object store's files: one bucket under `<root>/s3/<bucket>/`.
//!
//! - `blobs/<unique>`: an object's bytes, written once, fsynced, never changed;
//! - `objects/…`: each object's metadata (JSON: key, blob, ETag, size, time, the headers and
//!   user metadata it was stored with, its parts' sizes when it was uploaded in parts), at a
//!   path `layout` makes of the key (1.0.0's `keys/<key>` is moved there at start). Renaming it into
//!   place is the commit point of a PUT: readers see the old object or the new one, never
//!   a part. The blob it replaced is removed after;
//! - `uploads/<id>/`: a multipart upload's parts until it completes or is aborted;
//!   `uploads/<id>.completed`: what a completed upload became, for a repeated completion;
//! - `tmp/`: metadata being written.
//!
//! Keys are S3's (1 to 1024 bytes: `a` beside `a/b`, `folder/`, `a//b` alike), but for
//! characters that make a name read differently from what it is (controls, backslashes,
//! bidi overrides, line separators). What crashes and abandoned uploads leave is removed
//! by `sweep`.

mod blob;
mod copy;
mod headers;
pub mod layout;
mod live;
mod multipart;
mod open_uploads;
mod sweep;

pub use blob::{BlobWriter, FillError, FinishedBlob, fill_from};
pub use headers::{MAX_METADATA_BYTES, StoredHeaders};
pub use multipart::{
    CompleteError, Completed, CreateUploadError, MIN_PART_SIZE, PartInfo, UploadInfo,
    valid_upload_id,
};
pub use sweep::{SweepAges, Swept};

use crate::inbox::{fsync_dir, unique_name};
use chrono::{DateTime, Utc};
use live::LiveFiles;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The object's key (1.0.0 did not write it: its path was the key; `upgrade_layout`
    /// adds it).
    #[serde(default)]
    pub key: String,
    /// File name under `blobs/`.
    pub blob: String,
    /// As S3 computes it, without quotes: the MD5 of the bytes, or for a multipart upload
    /// the MD5 of the parts' MD5s followed by `-<parts>`.
    pub etag: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// Content-Type and the other stored headers, user metadata (flattened: 1.0.0 wrote
    /// only `content_type`, at the same place).
    #[serde(flatten)]
    pub headers: StoredHeaders,
    /// The sizes of the parts of a multipart upload, in order (GET `partNumber`,
    /// `PartsCount`); empty for a single PUT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sizes: Vec<u64>,
}

/// What must hold of the key's object for a write to happen (`If-Match`, `If-None-Match: *`),
/// checked under the store's commit lock, so that two writers cannot both pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    #[default]
    Always,
    /// `If-None-Match: *`: no object at the key.
    Absent,
    /// `If-Match`: an object at the key with this ETag (`*`: any object).
    ETag(Option<String>),
}

impl Precondition {
    /// Ok, or why not: the object at the key is `now`.
    pub fn check(&self, now: Option<&ObjectMeta>) -> Result<(), PreconditionError> {
        match (self, now) {
            (Self::Always, _) => Ok(()),
            (Self::Absent, None) => Ok(()),
            (Self::Absent, Some(_)) => Err(PreconditionError::Exists),
            (Self::ETag(_), None) => Err(PreconditionError::Missing),
            (Self::ETag(None), Some(_)) => Ok(()),
            (Self::ETag(Some(want)), Some(meta)) if *want == meta.etag => Ok(()),
            (Self::ETag(Some(_)), Some(_)) => Err(PreconditionError::Changed),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreconditionError {
    #[error("an object exists at this key already (If-None-Match: *)")]
    Exists,
    #[error("no object at this key (If-Match)")]
    Missing,
    #[error("the object's ETag is not the one given (If-Match)")]
    Changed,
    #[error("the source object does not meet the copy's x-amz-copy-source-if-* conditions")]
    SourceRefused,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key `{0}` is not usable here: {1}")]
    Invalid(String, &'static str),
}

pub struct DiskStore {
    dir: PathBuf,
    pub bucket: String,
    /// Commits and deletes of keys, one at a time: a replaced blob is removed exactly once.
    commits: Mutex<()>,
    /// Files this process is writing: never swept.
    live: Arc<LiveFiles>,
    /// Open multipart uploads per access key (the per-key limit).
    open: open_uploads::OpenUploads,
}

impl DiskStore {
    /// The bucket under `<data_root>/s3/<bucket>/`; `create` makes its folders.
    pub fn new(data_root: &Path, bucket: &str) -> Self {
        Self {
            dir: data_root.join("s3").join(bucket),
            bucket: bucket.to_string(),
            commits: Mutex::new(()),
            live: Arc::default(),
            open: open_uploads::OpenUploads::default(),
        }
    }

    /// Creates the bucket's folders when missing (and moves a 1.0.0 store's metadata to
    /// today's layout); true when they were created now.
    pub fn create(&self) -> io::Result<bool> {
        let existed = self.objects_dir().is_dir() || self.dir.join("keys").is_dir();
        for sub in ["objects", "blobs", "uploads", "tmp"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        self.upgrade_layout()?;
        Ok(!existed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the objects' metadata lives (`layout`).
    pub fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }

    fn blob_path(&self, blob: &str) -> PathBuf {
        self.dir.join("blobs").join(blob)
    }

    /// Where a key's metadata lives, once the key is known to be usable.
    fn meta_path(&self, key: &str) -> Result<PathBuf, KeyError> {
        check_key(key)?;
        Ok(self.objects_dir().join(layout::object_path(key)))
    }

    /// A new blob's writer; the blob stays invisible until `commit`.
    pub fn new_blob(&self) -> io::Result<BlobWriter> {
        let name = unique_name();
        let path = self.blob_path(&name);
        let live = self.live.hold(path.clone());
        BlobWriter::create(path, name, live)
    }

    /// The object's metadata, or None when the key has no object.
    pub fn meta(&self, key: &str) -> io::Result<Option<ObjectMeta>> {
        let Ok(path) = self.meta_path(key) else {
            return Ok(None);
        };
        read_meta(&path)
    }

    /// The object's metadata and its bytes, opened together (a concurrent replace or delete
    /// never gives the new metadata with the old bytes).
    pub fn open_object(&self, key: &str) -> io::Result<Option<(ObjectMeta, File)>> {
        for _ in 0..3 {
            let Some(meta) = self.meta(key)? else {
                return Ok(None);
            };
            match File::open(self.blob_path(&meta.blob)) {
                Ok(file) => return Ok(Some((meta, file))),
                // Replaced between the two reads: read the metadata again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "the object `{key}` kept changing while it was opened"
        )))
    }

    /// Makes `blob` the object at `key` (durably), removing the blob it replaces.
    pub fn commit(
        &self,
        key: &str,
        blob: FinishedBlob,
        headers: StoredHeaders,
    ) -> Result<ObjectMeta, CommitError> {
        self.commit_if(key, blob, headers, &Precondition::Always)
    }

    /// `commit`, when `precondition` holds of the object at `key` at the moment of the
    /// commit (else the blob is removed and nothing changes).
    pub fn commit_if(
        &self,
        key: &str,
        blob: FinishedBlob,
        headers: StoredHeaders,
        precondition: &Precondition,
    ) -> Result<ObjectMeta, CommitError> {
        let path = self.meta_path(key)?;
        let meta = ObjectMeta {
            key: key.to_string(),
            blob: blob.name.clone(),
            etag: blob.etag.clone(),
            size: blob.size,
            last_modified: Utc::now(),
            headers,
            part_sizes: blob.part_sizes.clone(),
        };
        let staged = self.dir.join("tmp").join(unique_name());
        let write = || -> io::Result<()> {
            let mut file = File::create(&staged)?;
            serde_json::to_writer(&mut file, &meta)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&staged);
            return Err(CommitError::Io(e));
        }
        let _one_at_a_time = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = read_meta(&path).ok().flatten();
        if let Err(e) = precondition.check(replaced.as_ref()) {
            let _ = std::fs::remove_file(&staged);
            blob.discard();
            return Err(CommitError::Precondition(e));
        }
        let parent = path.parent().unwrap_or(&path).to_path_buf();
        // Held by this process, the blob cannot have been swept; this guards against a
        // sweep in another process sharing the volume (whose grace a stalled writer outlived).
        let present = std::fs::symlink_metadata(&blob.path).map(|_| ());
        let placed = present
            .and_then(|()| std::fs::create_dir_all(&parent))
            .and_then(|()| std::fs::rename(&staged, &path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&staged);
            blob.discard();
            return Err(CommitError::Io(e));
        }
        blob.keep();
        fsync_dir(&parent).map_err(CommitError::Io)?;
        if let Some(old) = replaced
            && old.blob != meta.blob
        {
            let _ = std::fs::remove_file(self.blob_path(&old.blob));
        }
        Ok(meta)
    }

    /// Removes the object at `key`; false when there was none.
    pub fn delete(&self, key: &str) -> io::Result<bool> {
        match self.delete_if(key, &Precondition::Always) {
            Ok(deleted) => Ok(deleted),
            Err(CommitError::Io(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// `delete`, when `precondition` holds of the object at the moment of the delete.
    pub fn delete_if(&self, key: &str, precondition: &Precondition) -> Result<bool, CommitError> {
        let Ok(path) = self.meta_path(key) else {
            return precondition
                .check(None)
                .map(|()| false)
                .map_err(CommitError::Precondition);
        };
        let _one_at_a_time = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        let now = read_meta(&path).map_err(CommitError::Io)?;
        precondition
            .check(now.as_ref())
            .map_err(CommitError::Precondition)?;
        let Some(meta) = now else {
            return Ok(false);
        };
        std::fs::remove_file(&path).map_err(CommitError::Io)?;
        let parent = path.parent().unwrap_or(&path);
        fsync_dir(parent).map_err(CommitError::Io)?;
        let _ = std::fs::remove_file(self.blob_path(&meta.blob));
        self.remove_empty_folders(parent);
        Ok(true)
    }

    /// Folders a delete left empty, up to `objects/` (a key's folder is not an object).
    fn remove_empty_folders(&self, mut dir: &Path) {
        let top = self.objects_dir();
        while dir != top && dir.starts_with(&top) {
            if std::fs::remove_dir(dir).is_err() {
                return;
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => return,
            }
        }
    }

    /// Every object whose key starts with `prefix`, sorted by key.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<(String, ObjectMeta)>> {
        let top = self.objects_dir();
        // Walk only the folder the prefix's whole parts name, not the whole bucket.
        let whole: Vec<&str> = prefix.split('/').collect();
        let folder = top.join(layout::folder_path(&whole[..whole.len() - 1]));
        let mut found = Vec::new();
        let mut pending = vec![folder];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    pending.push(path);
                    continue;
                }
                if !layout::is_object_file(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                if let Some(meta) = read_meta(&path)?
                    && meta.key.starts_with(prefix)
                {
                    found.push((meta.key.clone(), meta));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Precondition(PreconditionError),
    #[error(transparent)]
    Io(io::Error),
}

fn read_meta(path: &Path) -> io::Result<Option<ObjectMeta>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display()))),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) if e.raw_os_error() == Some(21) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A key this store takes: S3's (1 to 1024 bytes), without characters that make it read as
/// another name (`layout` makes any of them a safe path).
pub fn check_key(key: &str) -> Result<(), KeyError> {
    let invalid = |why| Err(KeyError::Invalid(key.chars().take(200).collect(), why));
    if key.is_empty() || key.len() > 1024 {
        return invalid("a key has 1 to 1024 bytes");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return invalid("no control characters or backslashes");
    }
    if key.chars().any(misleading) {
        return invalid(
            "no bidirectional controls (U+200E, U+200F, U+061C, U+202A to U+202E, U+2066 to U+2069) or line and paragraph separators (U+2028, U+2029)",
        );
    }
    Ok(())
}

/// Characters that make a key display as something it is not (`invoice\u{202E}fdp.exe`
/// shows as `invoiceexe.pdf`) or break it over lines in logs and listings.
fn misleading(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
    )
}
