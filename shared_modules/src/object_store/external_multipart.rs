//! A multipart upload on an external store, driven by the server for a browser: the server
//! starts and completes it and lists its parts; the browser sends the parts straight to the
//! store with presigned URLs, so no byte passes through the DataProcessor.

use super::{ExternalStore, StoreError};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::time::Duration;

/// A part the store holds: its number, ETag (without quotes) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPart {
    pub number: i32,
    pub etag: String,
    pub size: u64,
}

impl ExternalStore {
    /// Starts a multipart upload of `key`; its upload id.
    pub async fn start_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| self.classify(key, e))?;
        created
            .upload_id()
            .map(str::to_string)
            .ok_or_else(|| self.unavailable(key, "the store gave no upload id"))
    }

    /// The parts the store holds so far, in order (every page of ListParts).
    pub async fn received_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<ReceivedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let answer = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await;
            let (page, next) = match answer {
                Ok(page) => (
                    page.parts()
                        .iter()
                        .map(|p| ReceivedPart {
                            number: p.part_number().unwrap_or(0),
                            etag: p.e_tag().unwrap_or("").trim_matches('"').to_string(),
                            size: p.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        })
                        .collect(),
                    page.next_part_number_marker()
                        .filter(|_| page.is_truncated() == Some(true))
                        .map(str::to_string),
                ),
                // A 200 the SDK could not read (moto's root element): read it leniently.
                Err(SdkError::ServiceError(e)) if e.raw().status().is_success() => {
                    let body = e.raw().body().bytes().unwrap_or_default();
                    super::list_parts_xml::parse(&String::from_utf8_lossy(body))
                }
                Err(e) => return Err(self.classify(key, e)),
            };
            parts.extend(page);
            match next {
                Some(next) => marker = Some(next),
                None => return Ok(parts),
            }
        }
    }

    /// Joins `parts` into the object.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[ReceivedPart],
    ) -> Result<(), StoreError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(format!("\"{}\"", p.etag))
                            .build()
                    })
                    .collect(),
            ))
            .build();
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // A 200 the SDK could not read (moto's root element) is a completion, unless it
            // is S3's 200 that carries an <Error> (a completion that failed late).
            Err(SdkError::ServiceError(e)) if e.raw().status().is_success() => {
                let body =
                    String::from_utf8_lossy(e.raw().body().bytes().unwrap_or_default()).to_string();
                if body.contains("<Error>") {
                    Err(self.unavailable(key, body.chars().take(300).collect::<String>()))
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(self.classify(key, e)),
        }
    }

    /// A URL that lets its holder PUT part `number` of the upload, and nothing else, until
    /// `valid_for` has passed.
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        valid_for: Duration,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(valid_for)
            .map_err(|e| self.unavailable(key, e.to_string()))?;
        let presigned = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .presigned(config)
            .await
            .map_err(|e| self.classify(key, e))?;
        Ok(presigned.uri().to_string())
    }
}
