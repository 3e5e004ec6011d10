//! Multipart uploads: `uploads/<id>/upload.json` says which key and who, each part is a
//! blob `part-<n>-<its MD5>` written (and hashed) as it arrives; completing checks the
//! ETags the client lists against those MD5s, has the kernel copy the parts in order into
//! one blob (no second pass over the bytes) and commits it like a single PUT. A multi-GB
//! upload is never held in memory.

use super::{BlobWriter, CommitError, DiskStore, FinishedBlob, KeyError, ObjectMeta, check_key};
use crate::inbox::{fsync_dir, unique_name};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    pub key: String,
    /// The access key that started it: only it may add parts, complete or abort.
    pub owner: String,
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("there is no multipart upload `{0}` (completed, aborted or never started)")]
    NoSuchUpload(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl From<io::Error> for CompleteError {
    fn from(e: io::Error) -> Self {
        Self::Commit(CommitError::Io(e))
    }
}

impl DiskStore {
    fn upload_dir(&self, id: &str) -> Option<PathBuf> {
        let safe = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        safe.then(|| self.dir.join("uploads").join(id))
    }

    pub fn create_upload(&self, info: &UploadInfo) -> Result<String, CommitError> {
        check_key(&info.key)?;
        let id = unique_name();
        let dir = self.dir.join("uploads").join(&id);
        std::fs::create_dir(&dir).map_err(CommitError::Io)?;
        let written = std::fs::write(
            dir.join("upload.json"),
            serde_json::to_vec(info).unwrap_or_default(),
        )
        .and_then(|()| fsync_dir(&dir))
        .and_then(|()| fsync_dir(&self.dir.join("uploads")));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(CommitError::Io(e));
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

    /// A writer for part `number` of upload `id` (which must exist).
    pub fn part_writer(&self, id: &str) -> io::Result<BlobWriter> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such upload"))?;
        let name = format!(".incoming-{}", unique_name());
        BlobWriter::create(dir.join(&name), name)
    }

    /// Makes a written part part `number` (replacing an earlier one with that number).
    pub fn commit_part(&self, id: &str, number: i32, part: FinishedBlob) -> io::Result<()> {
        let dir = self
            .upload_dir(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such upload"))?;
        let earlier = parts_in(&dir)?.remove(&number);
        let name = format!("{}-{}", part_name(number), part.etag);
        std::fs::rename(&part.path, dir.join(&name))?;
        if let Some((old, _)) = earlier
            && old != name
        {
            let _ = std::fs::remove_file(dir.join(old));
        }
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
        for (number, etag) in parts {
            if *number <= previous {
                return Err(CompleteError::InvalidPart(
                    "parts must be listed in ascending order".into(),
                ));
            }
            previous = *number;
            let (name, md5) = stored.get(number).ok_or_else(|| {
                CompleteError::InvalidPart(format!("part {number} was never uploaded"))
            })?;
            if !etag.trim_matches('"').eq_ignore_ascii_case(md5) {
                return Err(CompleteError::InvalidPart(format!(
                    "part {number}'s ETag {etag} is not the part's (MD5 {md5})"
                )));
            }
            let digest =
                hex::decode(md5).map_err(|e| io::Error::other(format!("part {number}: {e}")))?;
            digests.update(&digest);
            files.push(dir.join(name));
        }
        let mut blob = self.new_blob()?;
        for path in &files {
            blob.append_unhashed(&mut std::fs::File::open(path)?)?;
        }
        let mut finished = blob.finish()?;
        finished.etag = format!("{}-{}", hex::encode(digests.finalize()), parts.len());
        let meta = self.commit(key, finished, info.content_type)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(meta)
    }

    /// Drops the upload and its parts; false when there was none.
    pub fn abort_upload(&self, id: &str) -> io::Result<bool> {
        let Some(dir) = self.upload_dir(id) else {
            return Ok(false);
        };
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn part_name(number: i32) -> String {
    format!("part-{number:05}")
}

/// The committed parts of an upload: number → (file name, hex MD5).
fn parts_in(dir: &std::path::Path) -> io::Result<std::collections::HashMap<i32, (String, String)>> {
    let mut found = std::collections::HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("part-") else {
            continue;
        };
        if let Some((number, md5)) = rest.split_once('-')
            && let Ok(number) = number.parse::<i32>()
        {
            found.insert(number, (name.clone(), md5.to_string()));
        }
    }
    Ok(found)
}
