//! CopyObject within the bucket: the copy is a new blob that is a hard link to the source's
//! (blobs are never changed once written, so two keys may share one file; removing either
//! key removes only its link). No byte goes through memory; on a file system without hard
//! links the kernel copies the file. A copy onto its own key changes only the metadata.

use super::{
    CommitError, DiskStore, FinishedBlob, ObjectMeta, Precondition, PreconditionError,
    StoredHeaders,
};
use crate::inbox::{fsync_dir, unique_name};
use std::io;

impl DiskStore {
    /// Copies the object at `from` to `to`, with `headers` (None: the source's). None when
    /// `from` has no object. `wanted` judges the source before anything is written
    /// (`x-amz-copy-source-if-*`): false refuses the copy.
    pub fn copy(
        &self,
        from: &str,
        to: &str,
        headers: Option<StoredHeaders>,
        wanted: impl Fn(&ObjectMeta) -> bool,
    ) -> Result<Option<ObjectMeta>, CommitError> {
        for _ in 0..3 {
            let Some(source) = self.meta(from).map_err(CommitError::Io)? else {
                return Ok(None);
            };
            if !wanted(&source) {
                return Err(CommitError::Precondition(PreconditionError::SourceRefused));
            }
            let name = unique_name();
            let path = self.blob_path(&name);
            let live = self.live.hold(path.clone());
            let original = self.blob_path(&source.blob);
            let made = std::fs::hard_link(&original, &path).or_else(|e| match e.kind() {
                // Replaced or deleted since its metadata was read: read it again.
                io::ErrorKind::NotFound => Err(e),
                _ => std::fs::copy(&original, &path).map(|_| ()),
            });
            match made {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(CommitError::Io(e));
                }
            }
            let blob = FinishedBlob::made(
                path.clone(),
                name,
                live,
                source.etag.clone(),
                source.size,
                source.part_sizes.clone(),
            );
            if let Some(dir) = path.parent() {
                fsync_dir(dir).map_err(CommitError::Io)?;
            }
            let headers = headers.unwrap_or(source.headers);
            return self
                .commit_if(to, blob, headers, &Precondition::Always)
                .map(Some);
        }
        Err(CommitError::Io(io::Error::other(format!(
            "the object `{from}` kept changing while it was copied"
        ))))
    }
}
