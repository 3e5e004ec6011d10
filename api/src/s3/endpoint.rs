//! The S3 operations the embedded endpoint answers, on the files of `DiskStore`: what the
//! aws CLI and SDKs use to upload, read back, list and delete (multipart uploads'
//! operations are `multipart`'s). One bucket exists.

use super::conditions::{ReadConditions, for_delete, for_put, refused};
use super::declared_length::{AtMost, declared_length};
use super::digest::{Expected, Hashing, sent};
use super::keys::S3Keys;
use super::stored::sent_headers;
use crate::uploads::Uploaded;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use shared_modules::object_store::DiskStore;
use shared_modules::object_store::disk::{
    BlobWriter, CommitError, FillError, FinishedBlob, KeyError, ObjectMeta, Precondition, fill_from,
};
use std::io::SeekFrom;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc::UnboundedSender;

pub struct Endpoint {
    pub store: Arc<DiskStore>,
    pub keys: S3Keys,
    /// Told of every completed object (auto trigger); None: nobody listens.
    pub uploaded: Option<UnboundedSender<Uploaded>>,
    /// Multipart uploads one access key may have open at once.
    pub max_open_uploads: usize,
    /// The keys an upload may have.
    pub contract: super::upload_contract::UploadContract,
}

impl Endpoint {
    pub(super) fn bucket(&self, bucket: &str) -> S3Result<()> {
        if bucket == self.store.bucket {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "only the bucket `{}` exists here",
                self.store.bucket
            ))
        }
    }

    /// The bucket is this one and the signer may use `key` in it.
    pub(super) fn may_use(
        &self,
        bucket: &str,
        credentials: &Option<s3s::auth::Credentials>,
        key: &str,
    ) -> S3Result<()> {
        self.bucket(bucket)?;
        self.keys.may_use(credentials.as_ref(), key)
    }

    /// `may_use`, and `key` is one to write: a safe path, and one the upload contract takes.
    pub(super) fn may_write(
        &self,
        bucket: &str,
        credentials: &Option<s3s::auth::Credentials>,
        key: &str,
    ) -> S3Result<()> {
        self.may_use(bucket, credentials, key)?;
        shared_modules::object_store::disk::check_key(key).map_err(key_error)?;
        if self.keys.is_server(credentials.as_ref()) {
            // The upload API checked the customer before it signed this request.
            return Ok(());
        }
        self.contract
            .check(key, self.keys.prefix_of(credentials.as_ref())?.as_deref())
    }

    /// Runs blocking file work off the async thread.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DiskStore) -> Result<T, S3Error> + Send + 'static,
    ) -> S3Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| s3_error!(InternalError, "the store's worker stopped: {e}"))?
    }

    /// Tells the auto trigger of a completed object; a folder marker is never a job.
    pub(super) fn announce(
        &self,
        credentials: &Option<s3s::auth::Credentials>,
        key: &str,
        etag: &str,
        size: u64,
    ) {
        if shared_modules::object_store::is_folder_marker(key) {
            return;
        }
        if let Some(tx) = &self.uploaded {
            let _ = tx.send(Uploaded {
                key: key.to_string(),
                etag: etag.to_string(),
                size,
                by: self.keys.principal_of(credentials.as_ref()),
            });
        }
    }
}

/// A full disk is the client's to know about and not worth retrying at once: 507, not 500.
/// (Logged with the answer, by `bridge`.)
pub(super) fn io_error(e: std::io::Error) -> S3Error {
    if e.kind() == std::io::ErrorKind::StorageFull {
        let mut err = S3Error::with_message(
            "StorageFull".parse().unwrap_or(S3ErrorCode::InternalError),
            "the server's disk is full: the upload was not stored; try again later",
        );
        err.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
        return err;
    }
    s3_error!(InternalError, "the store failed: {e}")
}

pub(super) fn key_error(e: KeyError) -> S3Error {
    s3_error!(InvalidArgument, "{e}")
}

pub(super) fn commit_error(e: CommitError) -> S3Error {
    match e {
        CommitError::Key(e) => key_error(e),
        CommitError::Precondition(e) => refused(e),
        CommitError::Io(e) => io_error(e),
    }
}

fn fill_error(e: FillError) -> S3Error {
    match e {
        FillError::Io(e) => io_error(e),
        FillError::Body(reason) => s3_error!(IncompleteBody, "{reason}"),
    }
}

pub(super) fn timestamp(at: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from(std::time::SystemTime::from(at))
}

/// S3's largest part.
pub(super) const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Streams `body` into `writer`, computing on the way the checksums `expected` names, then
/// checks its length and digests: the blob to commit and the checksums to echo, or an
/// error with nothing left on disk (the blob is removed when dropped uncommitted).
pub(super) async fn receive(
    writer: BlobWriter,
    body: StreamingBlob,
    expected: &Expected,
    length: Option<u64>,
    trailers: Option<&s3s::TrailingHeaders>,
) -> S3Result<(FinishedBlob, Checksum)> {
    let mut hasher = expected.hasher();
    let blob = fill_from(
        writer,
        Hashing {
            inner: AtMost {
                inner: body,
                left: length,
            },
            hasher: &mut hasher,
        },
    )
    .await
    .map_err(fill_error)?;
    if let Some(want) = length
        && want != blob.size
    {
        blob.discard();
        return Err(s3_error!(IncompleteBody, "the body was cut short"));
    }
    let checksums = expected.verify(&blob.etag, hasher.finalize(), trailers)?;
    Ok((blob, checksums))
}

#[async_trait::async_trait]
impl S3 for Endpoint {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(vec![Bucket {
                name: Some(self.store.bucket.clone()),
                // The aws CLI needs a creation date: when the bucket's folder was made.
                creation_date: std::fs::metadata(self.store.dir())
                    .and_then(|m| m.modified())
                    .ok()
                    .map(Timestamp::from),
                ..Default::default()
            }]),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.bucket(&req.input.bucket)?;
        Err(s3_error!(BucketAlreadyOwnedByYou))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.may_write(&input.bucket, &req.credentials, &input.key)?;
        let expected = Expected::from_request(&sent!(input, req.headers))?;
        let headers = sent_headers!(input).into_stored()?;
        let precondition = for_put(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        if precondition != Precondition::Always {
            // Refused before the body is read when it is clear already; the store checks
            // again as it commits.
            let key = input.key.clone();
            let now = self
                .blocking(move |store| store.meta(&key).map_err(io_error))
                .await?;
            precondition.check(now.as_ref()).map_err(refused)?;
        }
        let body = input
            .body
            .ok_or_else(|| s3_error!(IncompleteBody, "no body"))?;
        let length = declared_length(input.content_length, &req.headers)?;
        let writer = self.store.new_blob().map_err(io_error)?;
        let (blob, checksums) = receive(
            writer,
            body,
            &expected,
            length,
            req.trailing_headers.as_ref(),
        )
        .await?;
        let key = input.key.clone();
        let meta = self
            .blocking(move |store| {
                store
                    .commit_if(&key, blob, headers, &precondition)
                    .map_err(commit_error)
            })
            .await?;
        self.announce(&req.credentials, &input.key, &meta.etag, meta.size);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(meta.etag)),
            checksum_crc32: checksums.checksum_crc32,
            checksum_crc32c: checksums.checksum_crc32c,
            checksum_crc64nvme: checksums.checksum_crc64nvme,
            checksum_sha1: checksums.checksum_sha1,
            checksum_sha256: checksums.checksum_sha256,
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        let key = input.key.clone();
        let (meta, file) = self
            .blocking(move |store| store.open_object(&key).map_err(io_error))
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&meta)?;
        let (start, length, content_range) = match (input.range, input.part_number) {
            (Some(_), Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Range and partNumber cannot be asked together"
                ));
            }
            (None, None) => (0, meta.size, None),
            (Some(range), None) => {
                let span = range.check(meta.size)?;
                let range = format!("bytes {}-{}/{}", span.start, span.end - 1, meta.size);
                (span.start, span.end - span.start, Some(range))
            }
            (None, Some(number)) => {
                let (start, length) = part_span(&meta, number)?;
                let range = (length > 0)
                    .then(|| format!("bytes {start}-{}/{}", start + length - 1, meta.size));
                (start, length, range)
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        file.seek(SeekFrom::Start(start)).await.map_err(io_error)?;
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(length), 256 * 1024);
        let h = &meta.headers;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(length as i64),
            content_range,
            content_type: input.response_content_type.or(h.content_type.clone()),
            cache_control: input.response_cache_control.or(h.cache_control.clone()),
            content_disposition: input
                .response_content_disposition
                .or(h.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or(h.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or(h.content_language.clone()),
            expires: input.response_expires.or(super::stored::expires(h)),
            metadata: super::stored::metadata(h),
            parts_count: parts_count(&meta, input.part_number),
            e_tag: Some(ETag::Strong(meta.etag.clone())),
            last_modified: Some(timestamp(meta.last_modified)),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        let key = input.key.clone();
        let meta = self
            .blocking(move |store| store.meta(&key).map_err(io_error))
            .await?
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&meta)?;
        let length = match input.part_number {
            Some(number) => part_span(&meta, number)?.1,
            None => meta.size,
        };
        let h = &meta.headers;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(length as i64),
            content_type: h.content_type.clone(),
            cache_control: h.cache_control.clone(),
            content_disposition: h.content_disposition.clone(),
            content_encoding: h.content_encoding.clone(),
            content_language: h.content_language.clone(),
            expires: super::stored::expires(h),
            metadata: super::stored::metadata(h),
            parts_count: parts_count(&meta, input.part_number),
            e_tag: Some(ETag::Strong(meta.etag.clone())),
            last_modified: Some(timestamp(meta.last_modified)),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.may_use(&input.bucket, &req.credentials, &input.key)?;
        let key = input.key.clone();
        let precondition = for_delete(input.if_match.as_ref());
        // S3 answers 204 whether or not the key existed.
        self.blocking(move |store| store.delete_if(&key, &precondition).map_err(commit_error))
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    /// Batch delete (up to 1,000 keys): each key judged on its own, refusals listed.
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket)?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "a DeleteObjects request names at most 1000 keys; it named {}",
                input.delete.objects.len()
            ));
        }
        let refused = |key: String, e: S3Error| Error {
            code: Some(e.code().as_str().to_string()),
            key: Some(key),
            message: e.message().map(str::to_string),
            ..Default::default()
        };
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for object in input.delete.objects {
            if let Err(e) = self.keys.may_use(req.credentials.as_ref(), &object.key) {
                errors.push(refused(object.key, e));
                continue;
            }
            let key = object.key.clone();
            match self
                .blocking(move |store| store.delete(&key).map_err(io_error))
                .await
            {
                Ok(_) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(e) => errors.push(refused(object.key, e)),
            }
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet && !deleted.is_empty()).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let all = self
            .listed(&input.bucket, &prefix, &req.credentials)
            .await?;
        Ok(S3Response::new(super::listing::v2(&all, &input, &prefix)))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let all = self
            .listed(&input.bucket, &prefix, &req.credentials)
            .await?;
        Ok(S3Response::new(super::listing::v1(&all, &input, &prefix)))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.copy(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.receive_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_uploads(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_upload_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req).await
    }
}

/// Where part `number` of `meta` lies: (start, length). An object not uploaded in parts is
/// its own part 1, as in S3.
fn part_span(meta: &ObjectMeta, number: i32) -> S3Result<(u64, u64)> {
    let whole = [meta.size];
    let sizes: &[u64] = if meta.part_sizes.is_empty() {
        &whole
    } else {
        &meta.part_sizes
    };
    let index = usize::try_from(number)
        .ok()
        .filter(|n| (1..=sizes.len()).contains(n))
        .ok_or_else(|| {
            let mut e = S3Error::with_message(
                "InvalidPartNumber"
                    .parse()
                    .unwrap_or(S3ErrorCode::InvalidArgument),
                format!(
                    "the object has {} part(s); part {number} was asked",
                    sizes.len()
                ),
            );
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            e
        })?;
    let start = sizes[..index - 1].iter().sum();
    Ok((start, sizes[index - 1]))
}

/// `PartsCount` when a part was asked of an object uploaded in parts.
fn parts_count(meta: &ObjectMeta, asked: Option<i32>) -> Option<i32> {
    asked?;
    (!meta.part_sizes.is_empty()).then_some(meta.part_sizes.len() as i32)
}

impl Endpoint {
    /// Every object under `prefix`, sorted, for a signer allowed to list it.
    async fn listed(
        &self,
        bucket: &str,
        prefix: &str,
        credentials: &Option<s3s::auth::Credentials>,
    ) -> S3Result<Vec<(String, shared_modules::object_store::disk::ObjectMeta)>> {
        self.bucket(bucket)?;
        self.keys.may_list(credentials.as_ref(), prefix)?;
        let owned = prefix.to_string();
        self.blocking(move |store| store.list(&owned).map_err(io_error))
            .await
    }
}
