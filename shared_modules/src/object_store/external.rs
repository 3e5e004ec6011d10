//! An external S3-compatible object store (Zenko CloudServer in compose, moto in the
//! tests): path-style addressing, static credentials from the config, and downloads
//! streamed to disk with the size and ETag checked. Every error names the bucket and key.

use super::{ListedObject, ObjectInfo, StoreError, copied_whole};
use crate::config::S3Config;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use md5::{Digest, Md5};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub struct ExternalStore {
    pub(super) client: Client,
    pub bucket: String,
}

impl ExternalStore {
    pub fn new(config: &S3Config) -> Self {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(&config.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &config.access_key_id,
                &config.secret_access_key,
                None,
                None,
                "config",
            ))
            .http_client(http)
            // A store that stops answering is given up within 10 s without progress (a
            // long download that keeps moving is not cut), and not retried: the caller
            // answers 503 and the client tries again.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(10))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            // S3-compatible stores (Zenko, moto) do not all speak the newest checksum headers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Self {
            client: Client::from_conf(s3),
            bucket: config.bucket.clone(),
        }
    }

    pub(super) fn unavailable(&self, key: &str, reason: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(super) fn classify<
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    >(
        &self,
        key: &str,
        err: SdkError<E, R>,
    ) -> StoreError {
        match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("");
                if matches!(code, "NotFound" | "NoSuchKey" | "NoSuchBucket") {
                    StoreError::NotFound {
                        bucket: self.bucket.clone(),
                        key: key.to_string(),
                    }
                } else {
                    let message = service.err().message().unwrap_or("");
                    let said = format!("{code} {message}").trim().to_string();
                    // A store that answers with no error code (a bare 4xx/5xx): the SDK's
                    // own account, so the operator has something to go on.
                    let said = if said.is_empty() {
                        format!("{:?}", service.raw()).chars().take(300).collect()
                    } else {
                        said
                    };
                    self.unavailable(key, said)
                }
            }
            _ => self.unavailable(key, error_chain(&err)),
        }
    }

    /// Whether the bucket exists and the credentials work.
    pub async fn check_bucket(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify("", e))
    }

    /// Creates the bucket if it does not exist yet (a fresh Zenko after `compose up`);
    /// Ok(true) when it was created now.
    pub async fn ensure_bucket(&self) -> Result<bool, StoreError> {
        match self.check_bucket().await {
            Ok(()) => return Ok(false),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
                if matches!(code, "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") {
                    Ok(false)
                } else {
                    Err(self.classify("", e))
                }
            }
        }
    }

    /// Size and ETag of `key`.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                // HEAD answers 404 without an error code; the SDK reports it as NotFound.
                if let SdkError::ServiceError(s) = &e
                    && s.err().is_not_found()
                {
                    return StoreError::NotFound {
                        bucket: self.bucket.clone(),
                        key: key.to_string(),
                    };
                }
                self.classify(key, e)
            })?;
        let size = head
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let etag = head.e_tag().unwrap_or("").trim_matches('"').to_string();
        Ok(ObjectInfo { size, etag })
    }

    /// Streams `key` into `file` (bounded memory), requiring the ETag seen by `head`, and
    /// checks the size and, for single-part uploads, the MD5. The caller fsyncs and promotes.
    pub async fn download(
        &self,
        key: &str,
        expected: &ObjectInfo,
        file: std::fs::File,
    ) -> Result<u64, StoreError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if !expected.etag.is_empty() {
            request = request.if_match(format!("\"{}\"", expected.etag));
        }
        let response = request.send().await.map_err(|e| self.classify(key, e))?;
        let mut body = response.body;
        let mut out = tokio::fs::File::from_std(file);
        let mut md5 = Md5::new();
        let mut written = 0u64;
        let io = |source| StoreError::Io {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            source,
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.unavailable(key, error_chain(&e)))?;
            md5.update(&chunk);
            out.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(io)?;
        out.sync_all().await.map_err(io)?;
        let incomplete = |reason: String| StoreError::Incomplete {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            reason,
        };
        copied_whole(written, md5, &expected.etag, expected.size).map_err(incomplete)?;
        Ok(written)
    }

    /// Every object in the bucket (all pages of ListObjectsV2).
    pub async fn list(&self) -> Result<Vec<ListedObject>, StoreError> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.classify("", e))?;
            for object in page.contents() {
                let (Some(key), Some(modified)) = (object.key(), object.last_modified()) else {
                    continue;
                };
                found.push(ListedObject {
                    key: key.to_string(),
                    size: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    etag: object.e_tag().unwrap_or("").trim_matches('"').to_string(),
                    last_modified: chrono::DateTime::from_timestamp(modified.secs(), 0)
                        .unwrap_or_default(),
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(found);
            }
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
