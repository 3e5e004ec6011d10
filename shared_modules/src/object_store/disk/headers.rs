//! What an object keeps besides its bytes, as the client sent it: the headers S3 stores
//! (`Content-Type`, `Cache-Control`, `Content-Disposition`, `Content-Encoding`,
//! `Content-Language`, `Expires`) and the user metadata (`x-amz-meta-*`, where tools such as
//! rclone keep modification times and MD5s). Given back on GET and HEAD, kept or replaced by
//! a copy. Stored in the key's JSON beside the rest; a store written before they were kept
//! (1.0.0) reads as having none but its `content_type`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// As sent (an HTTP date), given back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-<name>` → value, names in lower case as S3 gives them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// S3's limit on the user metadata of one object: names and values together.
pub const MAX_METADATA_BYTES: usize = 2048;

impl StoredHeaders {
    /// The user metadata's size as S3 counts it (names and values).
    pub fn metadata_bytes(&self) -> usize {
        self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}
