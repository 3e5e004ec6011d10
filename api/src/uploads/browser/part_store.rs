//! A browser upload's multipart upload in whichever store is configured. The server starts
//! it, lists what arrived and completes it; the browser sends each part straight to the
//! store with a presigned URL. For the embedded store those URLs point at the address the
//! browser called us on (it is the S3 endpoint too) and are signed with the server's
//! presigning key; for an external store they point at its endpoint (its CORS must let the
//! console's origin PUT).

use crate::error::ApiError;
use crate::state::AppState;
use shared_modules::object_store::disk::CompleteError;
use shared_modules::object_store::disk::UploadInfo;
use shared_modules::object_store::{ExternalStore, ObjectStore, ReceivedPart, StoreError};
use std::time::Duration;

/// How long a part URL may be used: long enough for one part on a slow line, short enough
/// that a leaked URL is soon worthless. The page asks for fresh ones as it goes.
pub const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

const CONTENT_TYPE: &str = "application/octet-stream";

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
        e => ApiError::Unavailable(e.to_string()),
    }
}

fn io_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the embedded store: {e}"))
}

pub async fn start(state: &AppState, key: &str) -> Result<String, ApiError> {
    match &*state.store {
        ObjectStore::External(store) => store
            .start_multipart(key, CONTENT_TYPE)
            .await
            .map_err(store_error),
        ObjectStore::Embedded(store) => {
            let info = UploadInfo {
                key: key.to_string(),
                owner: state.server_key.presigning_credentials().0,
                headers: shared_modules::object_store::disk::StoredHeaders {
                    content_type: Some(CONTENT_TYPE.into()),
                    ..Default::default()
                },
                initiated: None,
            };
            let store = store.clone();
            // The upload API caps open uploads per customer itself (`rows::open_count`).
            tokio::task::spawn_blocking(move || store.create_upload(&info, usize::MAX))
                .await
                .map_err(io_error)?
                .map_err(io_error)
        }
    }
}

/// The parts the store holds, in order; None when the upload is gone (completed or
/// aborted).
pub async fn received(
    state: &AppState,
    key: &str,
    upload_id: &str,
) -> Result<Option<Vec<ReceivedPart>>, ApiError> {
    match &*state.store {
        ObjectStore::External(store) => match store.received_parts(key, upload_id).await {
            Ok(parts) => Ok(Some(parts)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) if e.to_string().contains("NoSuchUpload") => Ok(None),
            Err(e) => Err(store_error(e)),
        },
        ObjectStore::Embedded(store) => {
            let (store, id) = (store.clone(), upload_id.to_string());
            let parts = tokio::task::spawn_blocking(move || store.list_parts(&id))
                .await
                .map_err(io_error)?
                .map_err(io_error)?;
            Ok(parts.map(|parts| {
                parts
                    .into_iter()
                    .map(|p| ReceivedPart {
                        number: p.number,
                        etag: p.etag,
                        size: p.size,
                    })
                    .collect()
            }))
        }
    }
}

pub async fn complete(
    state: &AppState,
    key: &str,
    upload_id: &str,
    parts: &[ReceivedPart],
) -> Result<(), ApiError> {
    match &*state.store {
        ObjectStore::External(store) => store
            .complete_multipart(key, upload_id, parts)
            .await
            .map_err(store_error),
        ObjectStore::Embedded(store) => {
            let (store, id, key) = (store.clone(), upload_id.to_string(), key.to_string());
            let parts: Vec<(i32, String)> =
                parts.iter().map(|p| (p.number, p.etag.clone())).collect();
            tokio::task::spawn_blocking(move || store.complete_upload(&id, &key, &parts))
                .await
                .map_err(io_error)?
                .map(|_| ())
                .map_err(|e| match e {
                    CompleteError::NoSuchUpload(_) => ApiError::NotFound(e.to_string()),
                    CompleteError::InvalidPart(_) | CompleteError::TooSmall { .. } => {
                        ApiError::Conflict(e.to_string())
                    }
                    CompleteError::Commit(e) => io_error(e),
                })
        }
    }
}

/// Signs part URLs: with the configured external store's client, or for the embedded store
/// a client of its own, pointing at `origin` (`https://host:port`, where the browser reached
/// us, which is where the embedded store answers it too) and signing with the server's
/// presigning key.
pub enum PartSigner<'a> {
    Configured(&'a ExternalStore),
    Embedded(Box<ExternalStore>),
}

impl<'a> PartSigner<'a> {
    pub fn new(state: &'a AppState, origin: &str) -> Self {
        match &*state.store {
            ObjectStore::External(configured) => PartSigner::Configured(configured),
            ObjectStore::Embedded(_) => {
                let (id, secret) = state.server_key.presigning_credentials();
                let mut s3 = state.config.s3.clone();
                s3.endpoint = origin.to_string();
                s3.access_key_id = id;
                s3.secret_access_key = secret;
                PartSigner::Embedded(Box::new(ExternalStore::new(&s3)))
            }
        }
    }

    pub async fn url(&self, key: &str, upload_id: &str, number: i32) -> Result<String, ApiError> {
        let store = match self {
            PartSigner::Configured(store) => store,
            PartSigner::Embedded(store) => store.as_ref(),
        };
        store
            .presign_part(key, upload_id, number, URL_LIFETIME)
            .await
            .map_err(store_error)
    }
}
