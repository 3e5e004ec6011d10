//! The embedded S3 endpoint (`s3.mode = embedded`): s3s speaks the protocol (SigV4, XML,
//! the operations' shapes); `endpoint` answers from the files of the embedded store.
//! Requests reach it through actix on the API port (`bridge`).

mod access;
pub mod bridge;
mod conditions;
mod copy;
mod declared_length;
mod digest;
mod endpoint;
mod keys;
mod listing;
mod multipart;
mod recognise;
mod refusals;
mod request_id;
mod stored;
mod sweeper;
mod upload_contract;
mod uploads_listing;

pub use endpoint::Endpoint;
pub use keys::S3Keys;
pub use recognise::speaks_s3;
pub use sweeper::spawn_store_sweeper;

use crate::uploads::Uploaded;
use s3s::service::{S3Service, S3ServiceBuilder};
use shared_modules::config::Config;
use shared_modules::customers::ServerKey;
use shared_modules::db::DbPool;
use shared_modules::object_store::DiskStore;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// The S3 service for `store`, signed with the keys `config.s3` lists and, given
/// `customers` (the database and the server key), the customers' keys and the server's
/// presigning key; every completed object is announced on `uploaded`.
pub fn service(
    config: &Config,
    store: Arc<DiskStore>,
    customers: Option<(DbPool, ServerKey)>,
    uploaded: Option<UnboundedSender<Uploaded>>,
) -> S3Service {
    let keys = S3Keys::from_config(&config.s3);
    let keys = match customers {
        Some((pool, server_key)) => keys.with_customers(pool, server_key),
        None => keys,
    };
    let mut builder = S3ServiceBuilder::new(Endpoint {
        store,
        keys: keys.clone(),
        uploaded,
        max_open_uploads: config.s3.max_open_uploads_per_key,
        contract: upload_contract::UploadContract::from_config(config),
    });
    builder.set_auth(keys);
    builder.set_access(access::SignedOnly);
    builder.build()
}
