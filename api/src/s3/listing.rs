//! One page of a listing (ListObjectsV2, or v1 for older clients) from the sorted keys under
//! a prefix: delimiter folding into common prefixes, `max-keys`, and continuing after the
//! last key given.

use s3s::dto::{
    CommonPrefix, ETag, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, Timestamp,
};
use shared_modules::object_store::disk::ObjectMeta;

struct Page {
    contents: Vec<Object>,
    prefixes: Vec<String>,
    /// Where the next page starts (after this), when there is one.
    next: Option<String>,
}

fn page(
    all: &[(String, ObjectMeta)],
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: usize,
    after: &str,
) -> Page {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last = None;
    let mut truncated = false;
    for (key, meta) in all.iter().filter(|(k, _)| k.as_str() > after) {
        // A key inside a folder already returned as a common prefix adds nothing.
        if prefixes.last().is_some_and(|p| key.starts_with(p.as_str())) {
            continue;
        }
        if contents.len() + prefixes.len() == max_keys {
            truncated = true;
            break;
        }
        let folded = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_string())
        });
        match folded {
            Some(common) => {
                // Continuing after a common prefix must skip the whole folder.
                last = Some(format!("{common}\u{10FFFF}"));
                prefixes.push(common);
            }
            None => {
                last = Some(key.clone());
                contents.push(Object {
                    key: Some(key.clone()),
                    size: Some(meta.size as i64),
                    e_tag: Some(ETag::Strong(meta.etag.clone())),
                    last_modified: Some(Timestamp::from(std::time::SystemTime::from(
                        meta.last_modified,
                    ))),
                    ..Default::default()
                });
            }
        }
    }
    Page {
        contents,
        prefixes,
        next: if truncated { last } else { None },
    }
}

fn max_keys(asked: Option<i32>) -> usize {
    asked.unwrap_or(1000).clamp(0, 1000) as usize
}

fn common(prefixes: Vec<String>) -> Option<Vec<CommonPrefix>> {
    (!prefixes.is_empty()).then(|| {
        prefixes
            .into_iter()
            .map(|p| CommonPrefix { prefix: Some(p) })
            .collect()
    })
}

pub fn v2(
    all: &[(String, ObjectMeta)],
    input: &ListObjectsV2Input,
    prefix: &str,
) -> ListObjectsV2Output {
    let after = input
        .continuation_token
        .as_deref()
        .or(input.start_after.as_deref())
        .unwrap_or("");
    let limit = max_keys(input.max_keys);
    let found = page(all, prefix, input.delimiter.as_deref(), limit, after);
    ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys: Some(limit as i32),
        key_count: Some((found.contents.len() + found.prefixes.len()) as i32),
        is_truncated: Some(found.next.is_some()),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: found.next,
        start_after: input.start_after.clone(),
        contents: (!found.contents.is_empty()).then_some(found.contents),
        common_prefixes: common(found.prefixes),
        ..Default::default()
    }
}

pub fn v1(
    all: &[(String, ObjectMeta)],
    input: &ListObjectsInput,
    prefix: &str,
) -> ListObjectsOutput {
    let limit = max_keys(input.max_keys);
    let after = input.marker.as_deref().unwrap_or("");
    let found = page(all, prefix, input.delimiter.as_deref(), limit, after);
    ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        marker: input.marker.clone(),
        max_keys: Some(limit as i32),
        is_truncated: Some(found.next.is_some()),
        next_marker: found.next,
        contents: (!found.contents.is_empty()).then_some(found.contents),
        common_prefixes: common(found.prefixes),
        ..Default::default()
    }
}
