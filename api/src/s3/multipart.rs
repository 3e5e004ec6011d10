//! The multipart operations of the embedded endpoint: create (within the signer's limit of
//! open uploads), parts (checked like a PUT), complete (S3's part rules; a repeat answers
//! as the first), abort, and the two listings (within the signer's prefix). Only the
//! signer that started an upload may add to, complete or abort it.

use super::declared_length::declared_length;
use super::digest::{Expected, sent};
use super::endpoint::{Endpoint, MAX_PART_SIZE, commit_error, io_error, key_error, receive};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use shared_modules::object_store::disk::{CompleteError, CreateUploadError, UploadInfo};

impl Endpoint {
    pub(super) async fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.may_write(&input.bucket, &req.credentials, &input.key)?;
        let info = UploadInfo {
            key: input.key.clone(),
            owner: req
                .credentials
                .as_ref()
                .map(|c| c.access_key.clone())
                .unwrap_or_default(),
            headers: super::stored::sent_headers!(input).into_stored()?,
            initiated: None,
        };
        let max_open = self.max_open_uploads;
        let id = self
            .blocking(move |store| {
                store.create_upload(&info, max_open).map_err(|e| match e {
                    CreateUploadError::Key(e) => key_error(e),
                    CreateUploadError::Io(e) => io_error(e),
                    // No S3 code says "too many uploads open"; S3 asks a client that
                    // sends too much to slow down (503, which SDKs retry with backoff).
                    CreateUploadError::TooMany { .. } => s3_error!(SlowDown, "{e}"),
                })
            })
            .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    pub(super) async fn receive_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10000"));
        }
        let length = declared_length(input.content_length, &req.headers)?;
        if length.is_some_and(|n| n > MAX_PART_SIZE) {
            return Err(s3_error!(
                EntityTooLarge,
                "a part has at most 5 GiB ({MAX_PART_SIZE} bytes)"
            ));
        }
        self.owned_upload(&req.credentials, &input.upload_id, &input.key)
            .await?;
        let expected = Expected::from_request(&sent!(input, req.headers))?;
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "no body"))?;
        let writer = self
            .store
            .part_writer(&input.upload_id)
            .map_err(|e| match e.kind() {
                // Aborted, completed or swept since it was looked up.
                std::io::ErrorKind::NotFound => s3_error!(NoSuchUpload),
                _ => io_error(e),
            })?;
        let (part, checksums) = receive(
            writer,
            body,
            &expected,
            length,
            req.trailing_headers.as_ref(),
        )
        .await?;
        let etag = part.etag.clone();
        let (id, number) = (input.upload_id.clone(), input.part_number);
        self.blocking(move |store| {
            store
                .commit_part(&id, number, part)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => s3_error!(NoSuchUpload),
                    _ => io_error(e),
                })
        })
        .await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: checksums.checksum_crc32,
            checksum_crc32c: checksums.checksum_crc32c,
            checksum_crc64nvme: checksums.checksum_crc64nvme,
            checksum_sha1: checksums.checksum_sha1,
            checksum_sha256: checksums.checksum_sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        if let Err(e) = self
            .owned_upload(&req.credentials, &input.upload_id, &input.key)
            .await
        {
            // Completed already (a client that did not hear the answer asks again): the
            // same answer, while the object is still what that completion made.
            return match self.completed_again(&req.credentials, &input).await? {
                Some(etag) => Ok(S3Response::new(CompleteMultipartUploadOutput {
                    bucket: Some(input.bucket),
                    key: Some(input.key),
                    e_tag: Some(ETag::Strong(etag)),
                    ..Default::default()
                })),
                None => Err(e),
            };
        }
        let parts: Vec<(i32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    p.part_number.unwrap_or(0),
                    p.e_tag.map(ETag::into_value).unwrap_or_default(),
                )
            })
            .collect();
        let (id, key) = (input.upload_id.clone(), input.key.clone());
        let meta = self
            .blocking(move |store| {
                store
                    .complete_upload(&id, &key, &parts)
                    .map_err(|e| match e {
                        CompleteError::NoSuchUpload(_) => s3_error!(NoSuchUpload, "{e}"),
                        CompleteError::InvalidPart(_) => s3_error!(InvalidPart, "{e}"),
                        CompleteError::TooSmall { .. } => s3_error!(EntityTooSmall, "{e}"),
                        CompleteError::Commit(e) => commit_error(e),
                    })
            })
            .await?;
        self.announce(&req.credentials, &input.key, &meta.etag, meta.size);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(meta.etag)),
            ..Default::default()
        }))
    }

    pub(super) async fn list_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        self.keys.may_list(req.credentials.as_ref(), &prefix)?;
        let all = self
            .blocking(move |store| store.list_uploads(&prefix).map_err(io_error))
            .await?;
        Ok(S3Response::new(super::uploads_listing::uploads(
            &all, &input,
        )))
    }

    pub(super) async fn list_upload_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        let (id, key) = (input.upload_id.clone(), input.key.clone());
        let (info, parts) = self
            .blocking(move |store| {
                let info = store.upload(&id).map_err(io_error)?;
                let parts = store.list_parts(&id).map_err(io_error)?;
                match (info, parts) {
                    (Some(info), Some(parts)) if info.key == key => Ok((info, parts)),
                    _ => Err(s3_error!(NoSuchUpload)),
                }
            })
            .await?;
        Ok(S3Response::new(super::uploads_listing::parts(
            &parts, &input, &info,
        )))
    }

    pub(super) async fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        self.owned_upload(&req.credentials, &input.upload_id, &input.key)
            .await?;
        let id = input.upload_id.clone();
        self.blocking(move |store| store.abort_upload(&id).map_err(io_error))
            .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    /// The ETag a repeated completion of `input`'s upload answers: the upload was completed
    /// by this signer for this key, and the object there is still what it made.
    async fn completed_again(
        &self,
        credentials: &Option<s3s::auth::Credentials>,
        input: &CompleteMultipartUploadInput,
    ) -> S3Result<Option<String>> {
        let (id, key) = (input.upload_id.clone(), input.key.clone());
        let signer = credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .unwrap_or_default();
        self.blocking(move |store| {
            let Some(done) = store.completed(&id).map_err(io_error)? else {
                return Ok(None);
            };
            if done.key != key || done.owner != signer {
                return Ok(None);
            }
            let now = store.meta(&key).map_err(io_error)?;
            Ok(now.filter(|m| m.etag == done.etag).map(|m| m.etag))
        })
        .await
    }

    /// The upload exists, is for `key`, and was started by this signer.
    async fn owned_upload(
        &self,
        credentials: &Option<s3s::auth::Credentials>,
        id: &str,
        key: &str,
    ) -> S3Result<()> {
        let owned = id.to_string();
        let info = self
            .blocking(move |store| store.upload(&owned).map_err(io_error))
            .await?
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let signer = credentials.as_ref().map(|c| c.access_key.as_str());
        if info.key != key || signer != Some(info.owner.as_str()) {
            return Err(s3_error!(
                NoSuchUpload,
                "no such upload for this key and signer"
            ));
        }
        Ok(())
    }
}
