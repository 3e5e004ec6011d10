//! The object store customers upload to: embedded (`disk`: serve is the S3 endpoint and
//! the objects are files under the data root) or external (`external`: Zenko or any S3).
//! The trigger, reconciliation and dpctl see one interface either way.

pub mod disk;
mod external;
mod external_multipart;
mod list_parts_xml;
mod untriggered;

pub use disk::DiskStore;
pub use external::ExternalStore;
pub use external_multipart::ReceivedPart;
pub use untriggered::{ReconcileError, Untriggered, dedupe_key, is_folder_marker, untriggered};

use crate::config::{Config, S3Mode};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// Without the surrounding quotes.
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("the object store is unavailable for s3://{bucket}/{key}: {reason}")]
    Unavailable {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("s3://{bucket}/{key} changed or was cut short during the download: {reason}")]
    Incomplete {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("cannot write the download of s3://{bucket}/{key}: {source}")]
    Io {
        bucket: String,
        key: String,
        source: std::io::Error,
    },
}

pub enum ObjectStore {
    External(ExternalStore),
    Embedded(Arc<DiskStore>),
}

impl ObjectStore {
    /// The store `config.s3.mode` names (`ensure_bucket` creates the embedded one's folders).
    pub fn new(config: &Config) -> Self {
        match config.s3.mode {
            S3Mode::External => Self::External(ExternalStore::new(&config.s3)),
            S3Mode::Embedded => Self::Embedded(Arc::new(DiskStore::new(
                &config.paths.root,
                &config.s3.bucket,
            ))),
        }
    }

    pub fn bucket(&self) -> &str {
        match self {
            Self::External(store) => &store.bucket,
            Self::Embedded(store) => &store.bucket,
        }
    }

    /// Where the store is, for messages: its endpoint or its folder.
    pub fn describe(&self, config: &Config) -> String {
        match self {
            Self::External(_) => config.s3.endpoint.clone(),
            Self::Embedded(store) => format!("embedded in {}", store.dir().display()),
        }
    }

    pub fn embedded(&self) -> Option<&Arc<DiskStore>> {
        match self {
            Self::Embedded(store) => Some(store),
            Self::External(_) => None,
        }
    }

    /// Whether the bucket exists and the credentials work.
    pub async fn check_bucket(&self) -> Result<(), StoreError> {
        match self {
            Self::External(store) => store.check_bucket().await,
            Self::Embedded(store) => match std::fs::metadata(store.objects_dir()) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.unavailable(
                    "",
                    "not created yet: dataprocessor serve creates it when it starts",
                )),
                Err(e) => Err(self.unavailable("", e)),
            },
        }
    }

    /// Creates the bucket when missing; Ok(true) when it was created now. The embedded
    /// bucket exists from the start.
    pub async fn ensure_bucket(&self) -> Result<bool, StoreError> {
        match self {
            Self::External(store) => store.ensure_bucket().await,
            Self::Embedded(store) => store.create().map_err(|e| self.unavailable("", e)),
        }
    }

    /// Size and ETag of `key`.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        match self {
            Self::External(store) => store.head(key).await,
            Self::Embedded(store) => {
                let (store, owned) = (store.clone(), key.to_string());
                let meta = tokio::task::spawn_blocking(move || store.meta(&owned))
                    .await
                    .map_err(|e| self.unavailable(key, e))?
                    .map_err(|e| self.unavailable(key, e))?
                    .ok_or_else(|| self.not_found(key))?;
                Ok(ObjectInfo {
                    size: meta.size,
                    etag: meta.etag,
                })
            }
        }
    }

    /// Copies `key` into `file` (bounded memory) if it still has the ETag `head` saw, checks
    /// the size (and the MD5 of a single-part upload) and fsyncs. The caller promotes.
    pub async fn download(
        &self,
        key: &str,
        expected: &ObjectInfo,
        file: std::fs::File,
    ) -> Result<u64, StoreError> {
        match self {
            Self::External(store) => store.download(key, expected, file).await,
            Self::Embedded(store) => {
                let (store, owned, want) = (store.clone(), key.to_string(), expected.clone());
                tokio::task::spawn_blocking(move || copy_embedded(&store, &owned, &want, file))
                    .await
                    .map_err(|e| self.unavailable(key, e))?
            }
        }
    }

    /// Every object in the bucket.
    pub async fn list(&self) -> Result<Vec<ListedObject>, StoreError> {
        match self {
            Self::External(store) => store.list().await,
            Self::Embedded(store) => {
                let store = store.clone();
                let listed = tokio::task::spawn_blocking(move || store.list(""))
                    .await
                    .map_err(|e| self.unavailable("", e))?
                    .map_err(|e| self.unavailable("", e))?;
                Ok(listed
                    .into_iter()
                    .map(|(key, meta)| ListedObject {
                        key,
                        size: meta.size,
                        etag: meta.etag,
                        last_modified: meta.last_modified,
                    })
                    .collect())
            }
        }
    }

    fn unavailable(&self, key: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable {
            bucket: self.bucket().to_string(),
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    fn not_found(&self, key: &str) -> StoreError {
        StoreError::NotFound {
            bucket: self.bucket().to_string(),
            key: key.to_string(),
        }
    }
}

fn copy_embedded(
    store: &DiskStore,
    key: &str,
    expected: &ObjectInfo,
    mut out: std::fs::File,
) -> Result<u64, StoreError> {
    let error = |reason: String| StoreError::Incomplete {
        bucket: store.bucket.clone(),
        key: key.to_string(),
        reason,
    };
    let io = |source| StoreError::Io {
        bucket: store.bucket.clone(),
        key: key.to_string(),
        source,
    };
    let (meta, mut blob) =
        store
            .open_object(key)
            .map_err(io)?
            .ok_or_else(|| StoreError::NotFound {
                bucket: store.bucket.clone(),
                key: key.to_string(),
            })?;
    if meta.etag != expected.etag {
        return Err(error(format!(
            "it was replaced (ETag {} instead of {})",
            meta.etag, expected.etag
        )));
    }
    let mut md5 = Md5::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        let n = blob.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        md5.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(io)?;
        written += n as u64;
    }
    out.sync_all().map_err(io)?;
    copied_whole(written, md5, &meta.etag, meta.size).map_err(error)?;
    Ok(written)
}

/// Whether a copy got the whole object: `size` bytes and, for a single-part upload, the
/// MD5 its ETag names (a multipart ETag, `…-N`, is not the MD5 of the bytes). The reason
/// when not.
pub(crate) fn copied_whole(written: u64, md5: Md5, etag: &str, size: u64) -> Result<(), String> {
    if written != size {
        return Err(format!("received {written} bytes, expected {size}"));
    }
    let digest = hex::encode(md5.finalize());
    let single_part = etag.len() == 32 && etag.chars().all(|c| c.is_ascii_hexdigit());
    if single_part && !digest.eq_ignore_ascii_case(etag) {
        return Err(format!("MD5 {digest} does not match the ETag {etag}"));
    }
    Ok(())
}
