//! One page of ListMultipartUploads (the open uploads under a prefix, by key then by when
//! each started; `key-marker`/`upload-id-marker` continue after the last given, a
//! delimiter folds keys into common prefixes) and of ListParts (an upload's parts by
//! number after `part-number-marker`).

use s3s::dto::{
    CommonPrefix, ETag, Initiator, ListMultipartUploadsInput, ListMultipartUploadsOutput,
    ListPartsInput, ListPartsOutput, MultipartUpload, Owner, Part, StorageClass, Timestamp,
};
use shared_modules::object_store::disk::{PartInfo, UploadInfo};

fn limit(asked: Option<i32>) -> usize {
    asked.unwrap_or(1000).clamp(0, 1000) as usize
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from(std::time::SystemTime::from(at))
}

fn who(access_key: &str) -> (Initiator, Owner) {
    (
        Initiator {
            id: Some(access_key.to_string()),
            display_name: Some(access_key.to_string()),
        },
        Owner {
            id: Some(access_key.to_string()),
            display_name: Some(access_key.to_string()),
        },
    )
}

/// `all`: (id, upload) under the asked prefix, sorted by key then id (ids sort by time).
pub fn uploads(
    all: &[(String, UploadInfo)],
    input: &ListMultipartUploadsInput,
) -> ListMultipartUploadsOutput {
    let prefix = input.prefix.as_deref().unwrap_or("");
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let key_marker = input.key_marker.as_deref().unwrap_or("");
    let id_marker = input
        .upload_id_marker
        .as_deref()
        .filter(|_| !key_marker.is_empty());
    let max = limit(input.max_uploads);
    let after = |key: &str, id: &str| match id_marker {
        Some(marker) => key > key_marker || (key == key_marker && id > marker),
        // A marker that is a common prefix continues after the whole folder.
        None => {
            key > key_marker
                && !(delimiter.is_some_and(|d| key_marker.ends_with(d))
                    && key.starts_with(key_marker))
        }
    };
    let (mut uploads, mut prefixes): (Vec<MultipartUpload>, Vec<String>) = (vec![], vec![]);
    let mut last: Option<(String, Option<String>)> = None;
    let mut truncated = false;
    for (id, info) in all.iter().filter(|(id, info)| after(&info.key, id)) {
        if prefixes
            .last()
            .is_some_and(|p| info.key.starts_with(p.as_str()))
        {
            continue;
        }
        if uploads.len() + prefixes.len() == max {
            truncated = true;
            break;
        }
        let folded = delimiter.and_then(|d| {
            info.key[prefix.len()..]
                .find(d)
                .map(|i| info.key[..prefix.len() + i + d.len()].to_string())
        });
        if let Some(common) = folded {
            last = Some((common.clone(), None));
            prefixes.push(common);
            continue;
        }
        let (initiator, owner) = who(&info.owner);
        last = Some((info.key.clone(), Some(id.clone())));
        uploads.push(MultipartUpload {
            key: Some(info.key.clone()),
            upload_id: Some(id.clone()),
            initiated: info.initiated.map(timestamp),
            initiator: Some(initiator),
            owner: Some(owner),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        });
    }
    let (next_key, next_id) = match last.filter(|_| truncated) {
        Some((key, id)) => (Some(key), id),
        None => (None, None),
    };
    ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        key_marker: input.key_marker.clone(),
        upload_id_marker: input.upload_id_marker.clone(),
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        uploads: (!uploads.is_empty()).then_some(uploads),
        common_prefixes: (!prefixes.is_empty()).then(|| {
            prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect()
        }),
        ..Default::default()
    }
}

/// `parts`: the upload's stored parts, by number.
pub fn parts(parts: &[PartInfo], input: &ListPartsInput, upload: &UploadInfo) -> ListPartsOutput {
    let marker = input.part_number_marker.unwrap_or(0);
    let max = limit(input.max_parts);
    let mut after = parts.iter().filter(|p| p.number > marker);
    let page: Vec<Part> = after
        .by_ref()
        .take(max)
        .map(|p| Part {
            part_number: Some(p.number),
            e_tag: Some(ETag::Strong(p.etag.clone())),
            size: Some(p.size as i64),
            last_modified: Some(timestamp(p.last_modified)),
            ..Default::default()
        })
        .collect();
    let truncated = after.next().is_some();
    let (initiator, owner) = who(&upload.owner);
    ListPartsOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(input.upload_id.clone()),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: page
            .last()
            .and_then(|p| p.part_number)
            .filter(|_| truncated),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        initiator: Some(initiator),
        owner: Some(owner),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: (!page.is_empty()).then_some(page),
        ..Default::default()
    }
}
