//! One page of ListObjectsV2 from the sorted keys under a prefix: delimiter folding into
//! common prefixes, `max-keys`, and continuation after the last key given.

use s3s::dto::{CommonPrefix, ETag, ListObjectsV2Input, ListObjectsV2Output, Object, Timestamp};
use shared_modules::object_store::disk::ObjectMeta;

pub fn page(
    all: &[(String, ObjectMeta)],
    input: &ListObjectsV2Input,
    prefix: &str,
) -> ListObjectsV2Output {
    let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
    let after = input
        .continuation_token
        .as_deref()
        .or(input.start_after.as_deref())
        .unwrap_or("");
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
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
    let key_count = (contents.len() + prefixes.len()) as i32;
    ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys: Some(max_keys as i32),
        key_count: Some(key_count),
        is_truncated: Some(truncated),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: if truncated { last } else { None },
        start_after: input.start_after.clone(),
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: (!prefixes.is_empty()).then(|| {
            prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect()
        }),
        ..Default::default()
    }
}
