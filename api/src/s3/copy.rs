//! CopyObject within the bucket: the source's bytes become the target's without passing
//! through this process (the store links the blob), with the source's headers and user
//! metadata (`COPY`, the default) or the request's (`REPLACE`). A copy onto itself must
//! replace the metadata, as in S3: that is how rclone and others change an object's
//! metadata (a modification time) without sending it again.

use super::conditions::ReadConditions;
use super::endpoint::{Endpoint, commit_error, timestamp};
use super::stored::sent_headers;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

impl Endpoint {
    pub(super) async fn copy(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (bucket, from) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id: None,
            } => (bucket.to_string(), key.to_string()),
            CopySource::Bucket { .. } => {
                return Err(s3_error!(
                    NotImplemented,
                    "the store keeps no versions: copy without versionId"
                ));
            }
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "copies come from `bucket/key` of this bucket, not from access points"
                ));
            }
        };
        self.may_use(&bucket, &req.credentials, &from)?;
        self.may_write(&input.bucket, &req.credentials, &input.key)?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(other) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "x-amz-metadata-directive is COPY or REPLACE, not `{other}`"
                ));
            }
        };
        if from == input.key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let headers = if replace {
            Some(sent_headers!(input).into_stored()?)
        } else {
            None
        };
        let (if_match, if_none_match) = (
            input.copy_source_if_match.clone(),
            input.copy_source_if_none_match.clone(),
        );
        let (if_modified_since, if_unmodified_since) = (
            input.copy_source_if_modified_since.clone(),
            input.copy_source_if_unmodified_since.clone(),
        );
        let to = input.key.clone();
        let meta = self
            .blocking(move |store| {
                // The source's conditions all answer 412 when they fail (none is a 304).
                let wanted = |source: &_| {
                    ReadConditions {
                        if_match: if_match.as_ref(),
                        if_none_match: if_none_match.as_ref(),
                        if_modified_since: if_modified_since.as_ref(),
                        if_unmodified_since: if_unmodified_since.as_ref(),
                    }
                    .check(source)
                    .is_ok()
                };
                store
                    .copy(&from, &to, headers, wanted)
                    .map_err(commit_error)?
                    .ok_or_else(|| {
                        s3_error!(NoSuchKey, "the copy's source `{from}` does not exist")
                    })
            })
            .await?;
        self.announce(&req.credentials, &input.key, &meta.etag, meta.size);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(meta.etag)),
                last_modified: Some(timestamp(meta.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}
