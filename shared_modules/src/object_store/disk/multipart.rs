//! Multipart uploads: `uploads/<id>/upload.json` says which key and who, each part is a
//! blob `part-<n>-<its MD5>` written (and hashed) as it arrives; completing checks the
//! ETags the client lists against those MD5s and S3's 5 MiB minimum for every part but the
//! last, has the kernel copy the parts in order into one blob (no second pass over the
//! bytes) and commits it like a single PUT. A multi-GB upload is never held in memory.
//! An access key may have a limited number of uploads open at once; a completed upload
//! leaves `uploads/<id>.completed` so that a repeated completion answers as the first did.
//! A part sent again with other bytes (a client that gave up waiting on the first copy)
//! is kept beside the first: completion takes the one whose ETag the client lists, whichever
//! copy finished last.

use super::{
    BlobWriter, CommitError, DiskStore, FinishedBlob, KeyError, ObjectMeta, StoredHeaders,
    check_key,
};
use crate::inbox::{fsync_dir, unique_name};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

/// S3's smallest part, for every part of an upload but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadInfo {
    pub key: String,
    /// The access key that started it: only it may add parts, complete or abort.
    pub owner: String,
    /// The headers and user metadata the object will have (flattened: 1.0.0 wrote only
    /// `content_type`, at the same place).
    #[serde(flatten)]
    pub headers: StoredHeaders,
    /// When it was started (set by `create_upload`; None for uploads started before it was
    /// recorded: then the folder's time stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated: Option<DateTime<Utc>>,
}

/// One stored part of an open upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: i32,
    /// Hex MD5, the part's ETag.
    pub etag: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// What a completed upload became (kept for a while after it: a client that did not hear
/// the first answer completes again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completed {
    pub key: String,
    pub owner: String,
    pub etag: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUploadError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "this access key has {open} multipart uploads open, the most allowed at once: complete or abort some first (aws s3api list-multipart-uploads, abort-multipart-upload)"
    )]
    TooMany { open: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("there is no multipart upload `{0}` (completed, aborted or never started)")]
    NoSuchUpload(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error(
        "part {number} has {size} bytes: every part but the last needs at least 5 MiB ({MIN_PART_SIZE} bytes)"
    )]
    TooSmall { number: i32, size: u64 },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Whether `id` has the shape this store gives upload ids (`unique_name`: digits, `-`,
/// digits, `-`, digits, at most 64 characters). Anything else names no upload, and is
/// refused before it reaches the file system (a 5,000-character id is no file name).
pub fn valid_upload_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    id.len() <= 64
        && parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl From<io::Error> for CompleteError {
    fn from(e: io::Error) -> Self {
        Self::Commit(CommitError::Io(e))
    }
}

impl DiskStore {
    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        valid_upload_id(id).then(|| self.dir.join("uploads").join(id))
    }

    fn completed_path(&self, id: &str) -> Option<PathBuf> {
        valid_upload_id(id).then(|| self.dir.join("uploads").join(format!("{id}.completed")))
    }

    /// Starts an upload for `info.key`, unless `info.owner` has `max_open` uploads open.
    pub fn create_upload(
        &self,
        info: &UploadInfo,
        max_open: usize,
    ) -> Result<String, CreateUploadError> {
        check_key(&info.key)?;
        let id = unique_name();
        let uploads = self.dir.join("uploads");
        if let Err(open) = self.open.reserve(&uploads, &info.owner, &id, max_open)? {
            return Err(CreateUploadError::TooMany { open });
        }
        let dir = uploads.join(&id);
        let info = UploadInfo {
            initiated: Some(Utc::now()),
            ..info.clone()
        };
        let written = std::fs::create_dir(&dir).and_then(|()| {
            std::fs::write(
                dir.join("upload.json"),
                serde_json::to_vec(&info).unwrap_or_default(),
            )
            .and_then(|()| fsync_dir(&dir))
            .and_then(|()| fsync_dir(&uploads))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            self.open.forget(&id);
            return Err(CreateUploadError::Io(e));
        }
        Ok(id)
    }

    /// The upload `id`, or None when it does not exist.
    pub fn upload(&self, id: &str) -> io::Result<Option<UploadInfo>> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(None);
        };
        match std::fs::read(dir.join("upload.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A writer for a part of upload `id` (which must exist: NotFound when it does not).
    pub fn part_writer(&self, id: &str) -> io::Result<BlobWriter> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such upload"))?;
        let name = format!(".incoming-{}", unique_name());
        let path = dir.join(&name);
        let live = self.live.hold(path.clone());
        BlobWriter::create(path, name, live)
    }

    /// Makes a written part part `number`. Earlier copies with other bytes stay until the
    /// upload ends: completion picks the copy by its ETag, and a copy still in flight must
    /// not remove the one the client heard back about.
    pub fn commit_part(&self, id: &str, number: i32, part: FinishedBlob) -> io::Result<()> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such upload"))?;
        if !dir.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such upload"));
        }
        let name = format!("{}-{}", part_name(number), part.etag);
        std::fs::rename(&part.path, dir.join(&name))?;
        part.keep();
        fsync_dir(&dir)
    }

    /// Joins the parts the client lists (number, ETag) into the object at the upload's key.
    pub fn complete_upload(
        &self,
        id: &str,
        key: &str,
        parts: &[(i32, String)],
    ) -> Result<ObjectMeta, CompleteError> {
        let no_upload = || CompleteError::NoSuchUpload(id.to_string());
        let dir = self.upload_dir(id).ok_or_else(no_upload)?;
        // Held while its parts are joined: a sweep leaves it alone.
        let _held = self.live.hold(dir.clone());
        let info = self.upload(id)?.ok_or_else(no_upload)?;
        if info.key != key {
            return Err(CompleteError::Commit(CommitError::Key(KeyError::Invalid(
                key.to_string(),
                "the upload was started for another key",
            ))));
        }
        if parts.is_empty() {
            return Err(CompleteError::InvalidPart(
                "a multipart upload needs at least one part".into(),
            ));
        }
        let stored = parts_in(&dir)?;
        let mut digests = Md5::new();
        let mut previous = 0;
        let mut files = Vec::with_capacity(parts.len());
        let mut sizes = Vec::with_capacity(parts.len());
        for (i, (number, etag)) in parts.iter().enumerate() {
            if *number <= previous {
                return Err(CompleteError::InvalidPart(
                    "parts must be listed in ascending order".into(),
                ));
            }
            previous = *number;
            let copies = stored.get(number).ok_or_else(|| {
                CompleteError::InvalidPart(format!("part {number} was never uploaded"))
            })?;
            let want = etag.trim_matches('"');
            let Some((name, md5)) = copies
                .iter()
                .find(|(_, md5)| want.eq_ignore_ascii_case(md5))
            else {
                let have: Vec<&str> = copies.iter().map(|(_, md5)| md5.as_str()).collect();
                return Err(CompleteError::InvalidPart(format!(
                    "part {number}'s ETag {etag} is not the part's (MD5 {})",
                    have.join(" or ")
                )));
            };
            let path = dir.join(name);
            let size = std::fs::metadata(&path)?.len();
            if i + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(CompleteError::TooSmall {
                    number: *number,
                    size,
                });
            }
            let digest =
                hex::decode(md5).map_err(|e| io::Error::other(format!("part {number}: {e}")))?;
            digests.update(&digest);
            files.push(path);
            sizes.push(size);
        }
        let mut blob = self.new_blob()?;
        for path in &files {
            blob.append_unhashed(&mut std::fs::File::open(path)?)?;
        }
        let mut finished = blob.finish()?;
        finished.etag = format!("{}-{}", hex::encode(digests.finalize()), parts.len());
        finished.part_sizes = sizes;
        let meta = self.commit(key, finished, info.headers)?;
        // Best effort: without it a repeated completion is NoSuchUpload, as in MinIO.
        if let Some(path) = self.completed_path(id) {
            let completed = Completed {
                key: key.to_string(),
                owner: info.owner,
                etag: meta.etag.clone(),
            };
            let _ = std::fs::write(path, serde_json::to_vec(&completed).unwrap_or_default());
        }
        let _ = std::fs::remove_dir_all(&dir);
        self.open.forget(id);
        Ok(meta)
    }

    /// What upload `id` became, when it was completed lately (see `sweep`).
    pub fn completed(&self, id: &str) -> io::Result<Option<Completed>> {
        let Some(path) = self.completed_path(id) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Drops the upload and its parts; false when there was none.
    pub fn abort_upload(&self, id: &str) -> io::Result<bool> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(false);
        };
        let removed = match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        };
        self.open.forget(id);
        removed
    }

    /// The open uploads whose key starts with `prefix`: (id, what it is), by key, then by
    /// when each started (S3's order; the id is `unique_name`, time first).
    pub fn list_uploads(&self, prefix: &str) -> io::Result<Vec<(String, UploadInfo)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("uploads"))? {
            let entry = entry?;
            let id = entry.file_name().to_string_lossy().to_string();
            if !valid_upload_id(&id) {
                continue;
            }
            let Some(mut info) = self.upload(&id)? else {
                continue;
            };
            if !info.key.starts_with(prefix) {
                continue;
            }
            if info.initiated.is_none() {
                info.initiated = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .map(DateTime::<Utc>::from);
            }
            found.push((id, info));
        }
        // Ids begin with their creation time (`unique_name`): by key, then oldest first.
        found.sort_by(|a, b| (&a.1.key, &a.0).cmp(&(&b.1.key, &b.0)));
        Ok(found)
    }

    /// The stored parts of upload `id`, by number; None when there is no such upload.
    pub fn list_parts(&self, id: &str) -> io::Result<Option<Vec<PartInfo>>> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(None);
        };
        let stored = match parts_in(&dir) {
            Ok(stored) => stored,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut parts = Vec::with_capacity(stored.len());
        for (number, copies) in stored {
            // Of copies sent again, the newest is the one listed.
            let newest = copies
                .into_iter()
                .filter_map(|(name, md5)| {
                    let meta = std::fs::metadata(dir.join(&name)).ok()?;
                    Some((meta.modified().ok(), md5, meta))
                })
                .max_by_key(|(modified, _, _)| *modified);
            // Dropped since the folder was read: not a part any more.
            let Some((_, md5, meta)) = newest else {
                continue;
            };
            parts.push(PartInfo {
                number,
                etag: md5,
                size: meta.len(),
                last_modified: meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or_else(|_| Utc::now()),
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(Some(parts))
    }
}

fn part_name(number: i32) -> String {
    format!("part-{number:05}")
}

/// The committed parts of an upload: number → its copies' (file name, hex MD5).
type StoredParts = std::collections::HashMap<i32, Vec<(String, String)>>;

fn parts_in(dir: &std::path::Path) -> io::Result<StoredParts> {
    let mut found = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("part-") else {
            continue;
        };
        if let Some((number, md5)) = rest.split_once('-')
            && let Ok(number) = number.parse::<i32>()
        {
            found
                .entry(number)
                .or_insert_with(Vec::new)
                .push((name.clone(), md5.to_string()));
        }
    }
    Ok(found)
}
