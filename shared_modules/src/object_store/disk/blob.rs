//! Writing an object's bytes: hashed as they arrive, fsynced at the end, removed on any
//! failure (a full disk, a client that goes away, a digest that does not match) so nothing
//! partial is left. From its creation until it is committed or dropped, the file is held
//! (`Live`): the periodic sweep never takes it for a crash's leftover.

use super::live::Live;
use crate::inbox::fsync_dir;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

/// Bytes gathered before one write to the file (one blocking call per this much).
const WRITE_SIZE: usize = 1 << 20;

pub struct BlobWriter {
    path: PathBuf,
    name: String,
    file: Option<File>,
    md5: Md5,
    size: u64,
    live: Option<Live>,
}

/// A blob written and fsynced, not yet named by any key. Dropped without being committed,
/// its file is removed.
pub struct FinishedBlob {
    pub name: String,
    pub path: PathBuf,
    /// Hex MD5 (single-part ETag); `commit` of a multipart object overrides it.
    pub etag: String,
    pub size: u64,
    /// The parts' sizes when it joins a multipart upload's parts; empty otherwise.
    pub part_sizes: Vec<u64>,
    /// Only held (released when the blob drops, after its file is kept or removed).
    _live: Option<Live>,
    kept: bool,
}

impl std::fmt::Debug for FinishedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishedBlob")
            .field("name", &self.name)
            .field("etag", &self.etag)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    /// `live` holds `path` (taken before the file exists).
    pub(super) fn create(path: PathBuf, name: String, live: Live) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(Self {
            path,
            name,
            file: Some(file),
            md5: Md5::new(),
            size: 0,
            live: Some(live),
        })
    }

    /// Appends a whole file (a completed upload's part) without hashing it: the kernel
    /// copies it (copy_file_range); the caller knows its MD5 already.
    pub fn append_unhashed(&mut self, from: &mut File) -> io::Result<u64> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already finished"))?;
        let copied = io::copy(from, file)?;
        self.size += copied;
        Ok(copied)
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already finished"))?;
        file.write_all(bytes)?;
        self.md5.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Fsyncs the file and its directory entry.
    pub fn finish(mut self) -> io::Result<FinishedBlob> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob already finished"))?;
        let synced = file
            .sync_all()
            .and_then(|()| self.path.parent().map_or(Ok(()), fsync_dir));
        if let Err(e) = synced {
            let _ = std::fs::remove_file(&self.path);
            return Err(e);
        }
        Ok(FinishedBlob {
            name: std::mem::take(&mut self.name),
            path: std::mem::take(&mut self.path),
            etag: hex::encode(std::mem::take(&mut self.md5).finalize()),
            size: self.size,
            part_sizes: Vec::new(),
            _live: self.live.take(),
            kept: false,
        })
    }
}

impl FinishedBlob {
    /// A blob made whole at `path` another way (a link to an object's blob), held by `live`.
    pub(super) fn made(
        path: PathBuf,
        name: String,
        live: Live,
        etag: String,
        size: u64,
        part_sizes: Vec<u64>,
    ) -> Self {
        Self {
            name,
            path,
            etag,
            size,
            part_sizes,
            _live: Some(live),
            kept: false,
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not finished: an error or a cancelled upload. Nothing partial stays.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FinishedBlob {
    /// A blob no key will name (the commit failed, a digest did not match): removed.
    pub fn discard(self) {
        drop(self);
    }

    /// Named by a key (or become a part) now: the file stays, and is no longer held.
    pub(super) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        // Removed before `live` lets go of it (fields drop after this).
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// The request body failed: the client went away, or its signature or checksum was wrong.
    #[error("the upload's body failed: {0}")]
    Body(String),
    #[error("cannot store the upload: {0}")]
    Io(#[from] io::Error),
}

/// Writes `body` into `writer` with bounded memory (at most about 1 MiB buffered), the
/// blocking writes off the async thread; then fsyncs. On error the file is gone.
pub async fn fill_from<S, E>(mut writer: BlobWriter, mut body: S) -> Result<FinishedBlob, FillError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buffer = Vec::with_capacity(WRITE_SIZE);
    loop {
        let next = body.next().await;
        let end = next.is_none();
        if let Some(chunk) = next {
            let chunk = chunk.map_err(|e| FillError::Body(e.to_string()))?;
            buffer.extend_from_slice(&chunk);
        }
        if buffer.len() >= WRITE_SIZE || (end && !buffer.is_empty()) {
            let full = std::mem::take(&mut buffer);
            let (back, written) = tokio::task::spawn_blocking(move || {
                let result = writer.write(&full);
                (writer, result.map(|()| full))
            })
            .await
            .map_err(|e| io::Error::other(format!("the writer stopped: {e}")))?;
            writer = back;
            buffer = written?;
            buffer.clear();
        }
        if end {
            break;
        }
    }
    tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(|e| io::Error::other(format!("the writer stopped: {e}")))?
        .map_err(FillError::from)
}
