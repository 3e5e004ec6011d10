//! The headers and user metadata an object keeps (`StoredHeaders`), read from a PUT, a
//! CreateMultipartUpload or a CopyObject with `REPLACE`, and given back on GET and HEAD.

use s3s::dto::{Metadata, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};
use shared_modules::object_store::disk::{MAX_METADATA_BYTES, StoredHeaders};

/// What a request sent, field by field as s3s parsed it.
pub struct Sent {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
    pub metadata: Option<Metadata>,
}

/// `Sent` from an input with the six header fields and `metadata` (PUT, multipart, copy).
macro_rules! sent_headers {
    ($input:expr) => {
        super::stored::Sent {
            content_type: $input.content_type.clone(),
            cache_control: $input.cache_control.clone(),
            content_disposition: $input.content_disposition.clone(),
            content_encoding: $input.content_encoding.clone(),
            content_language: $input.content_language.clone(),
            expires: $input.expires.clone(),
            metadata: $input.metadata.clone(),
        }
    };
}
pub(super) use sent_headers;

impl Sent {
    /// What to store; refused past S3's 2 KB of user metadata (MetadataTooLarge).
    pub fn into_stored(self) -> S3Result<StoredHeaders> {
        let headers = StoredHeaders {
            content_type: self.content_type,
            cache_control: self.cache_control,
            content_disposition: self.content_disposition,
            content_encoding: self.content_encoding,
            content_language: self.content_language,
            expires: self.expires.as_ref().and_then(http_date),
            metadata: self
                .metadata
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        };
        if headers.metadata_bytes() > MAX_METADATA_BYTES {
            return Err(s3_error!(
                MetadataTooLarge,
                "user metadata (x-amz-meta-*) has at most {MAX_METADATA_BYTES} bytes, names and values together"
            ));
        }
        Ok(headers)
    }
}

fn http_date(at: &Timestamp) -> Option<String> {
    let mut out = Vec::new();
    at.format(TimestampFormat::HttpDate, &mut out).ok()?;
    String::from_utf8(out).ok()
}

/// The stored `Expires` as s3s writes it (None when it cannot be read back).
pub fn expires(headers: &StoredHeaders) -> Option<Timestamp> {
    let at = headers.expires.as_deref()?;
    Timestamp::parse(TimestampFormat::HttpDate, at).ok()
}

/// The user metadata as s3s writes it (`x-amz-meta-*`), None when there is none.
pub fn metadata(headers: &StoredHeaders) -> Option<Metadata> {
    (!headers.metadata.is_empty()).then(|| {
        headers
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Whole seconds since the epoch of an S3 timestamp (HTTP dates have no fractions).
pub fn epoch_seconds(at: &Timestamp) -> Option<i64> {
    let mut out = Vec::new();
    at.format(TimestampFormat::EpochSeconds, &mut out).ok()?;
    let text = String::from_utf8(out).ok()?;
    text.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(metadata: &[(&str, &str)]) -> Sent {
        Sent {
            content_type: Some("text/plain".into()),
            cache_control: Some("no-cache".into()),
            content_disposition: None,
            content_encoding: None,
            content_language: None,
            expires: Timestamp::parse(TimestampFormat::HttpDate, "Wed, 21 Oct 2037 07:28:00 GMT")
                .ok(),
            metadata: Some(
                metadata
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn headers_and_metadata_are_kept_and_given_back_as_sent() {
        let stored = sent(&[("Mtime", "1700000000.5")]).into_stored().unwrap();
        assert_eq!(stored.content_type.as_deref(), Some("text/plain"));
        assert_eq!(stored.metadata["mtime"], "1700000000.5");
        assert_eq!(
            stored.expires.as_deref(),
            Some("Wed, 21 Oct 2037 07:28:00 GMT")
        );
        assert_eq!(epoch_seconds(&expires(&stored).unwrap()), Some(2139722880));
        assert_eq!(metadata(&stored).unwrap()["mtime"], "1700000000.5");
    }

    #[test]
    fn more_than_two_kilobytes_of_metadata_is_refused() {
        let big = "x".repeat(2100);
        let refused = sent(&[("big", &big)]).into_stored().unwrap_err();
        assert_eq!(refused.code().as_str(), "MetadataTooLarge");
    }
}
