//! One page of a listing (ListObjectsV2, or v1 for older clients) from the sorted keys under
//! a prefix: delimiter folding into common prefixes, `max-keys`, continuing after the last
//! key or common prefix given (a common prefix as marker skips its whole folder), names
//! URL-encoded when the client asks (`encoding-type=url`, which the aws CLI always does), the
//! owner when asked (`fetch-owner`, and always in v1 as S3 does).

use s3s::dto::{
    CommonPrefix, ETag, EncodingType, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, ObjectStorageClass, Owner, Timestamp,
};
use shared_modules::object_store::disk::ObjectMeta;

struct Page {
    contents: Vec<Object>,
    prefixes: Vec<String>,
    /// The last key or common prefix given, when there is more after it.
    next: Option<String>,
}

/// The one owner of every object here (S3 names the bucket's account).
pub fn owner() -> Owner {
    Owner {
        id: Some("hview".into()),
        display_name: Some("hview".into()),
    }
}

fn page(
    all: &[(String, ObjectMeta)],
    prefix: &str,
    delimiter: Option<&str>,
    max_keys: usize,
    after: &str,
    with_owner: bool,
) -> Page {
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last = None;
    let mut truncated = false;
    for (key, meta) in all {
        let folded = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| &key[..prefix.len() + i + d.len()])
        });
        // Given already: keys up to the marker, and a folder returned as a common prefix
        // (on this page, or as the marker of the page before).
        let given = match folded {
            Some(common) => common <= after || prefixes.last().is_some_and(|p| p == common),
            None => key.as_str() <= after,
        };
        if given {
            continue;
        }
        if contents.len() + prefixes.len() == max_keys {
            truncated = true;
            break;
        }
        match folded {
            Some(common) => {
                last = Some(common.to_string());
                prefixes.push(common.to_string());
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
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    owner: with_owner.then(owner),
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

/// How names go out: as they are, or percent-encoded (`encoding-type=url`: everything but
/// unreserved characters and `/`, so that `asdf+b` is `asdf%2Bb` and a space `%20`).
#[derive(Clone, Copy)]
struct Names {
    url: bool,
}

impl Names {
    fn of(asked: Option<&EncodingType>) -> Self {
        Self {
            url: asked.is_some_and(|e| e.as_str() == EncodingType::URL),
        }
    }

    fn out(self, name: &str) -> String {
        if !self.url {
            return name.to_string();
        }
        let mut encoded = String::with_capacity(name.len());
        for byte in name.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    encoded.push(byte as char)
                }
                _ => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        encoded
    }

    fn opt(self, name: Option<&String>) -> Option<String> {
        name.map(|n| self.out(n))
    }

    fn encoding(self) -> Option<EncodingType> {
        self.url
            .then(|| EncodingType::from_static(EncodingType::URL))
    }

    fn page(self, mut page: Page) -> (Option<Vec<Object>>, Option<Vec<CommonPrefix>>) {
        for object in &mut page.contents {
            object.key = self.opt(object.key.as_ref());
        }
        let prefixes = (!page.prefixes.is_empty()).then(|| {
            page.prefixes
                .iter()
                .map(|p| CommonPrefix {
                    prefix: Some(self.out(p)),
                })
                .collect()
        });
        (
            (!page.contents.is_empty()).then_some(page.contents),
            prefixes,
        )
    }
}

/// An empty delimiter is no delimiter, and is not echoed.
fn delimiter(asked: Option<&String>) -> Option<&String> {
    asked.filter(|d| !d.is_empty())
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
    let delimiter = delimiter(input.delimiter.as_ref());
    let with_owner = input.fetch_owner.unwrap_or(false);
    let found = page(
        all,
        prefix,
        delimiter.map(String::as_str),
        limit,
        after,
        with_owner,
    );
    let names = Names::of(input.encoding_type.as_ref());
    let key_count = (found.contents.len() + found.prefixes.len()) as i32;
    let next = found.next.clone();
    let (contents, common_prefixes) = names.page(found);
    ListObjectsV2Output {
        name: Some(input.bucket.clone()),
        prefix: Some(names.out(prefix)),
        delimiter: names.opt(delimiter),
        encoding_type: names.encoding(),
        max_keys: Some(limit as i32),
        key_count: Some(key_count),
        is_truncated: Some(next.is_some()),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: next,
        start_after: names.opt(input.start_after.as_ref()),
        contents,
        common_prefixes,
        ..Default::default()
    }
}

pub fn v1(
    all: &[(String, ObjectMeta)],
    input: &ListObjectsInput,
    prefix: &str,
) -> ListObjectsOutput {
    let limit = max_keys(input.max_keys);
    let marker = input.marker.as_deref().unwrap_or("");
    let delimiter = delimiter(input.delimiter.as_ref());
    let found = page(
        all,
        prefix,
        delimiter.map(String::as_str),
        limit,
        marker,
        true,
    );
    let names = Names::of(input.encoding_type.as_ref());
    let next = found.next.clone();
    // S3 gives NextMarker only with a delimiter; without one the last key is the marker.
    let next_marker = next.as_ref().filter(|_| delimiter.is_some());
    let next_marker = names.opt(next_marker);
    let (contents, common_prefixes) = names.page(found);
    ListObjectsOutput {
        name: Some(input.bucket.clone()),
        prefix: Some(names.out(prefix)),
        delimiter: names.opt(delimiter),
        encoding_type: names.encoding(),
        marker: Some(names.out(marker)),
        max_keys: Some(limit as i32),
        is_truncated: Some(next.is_some()),
        next_marker,
        contents,
        common_prefixes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keys: &[&str]) -> Vec<(String, ObjectMeta)> {
        keys.iter()
            .map(|k| {
                let meta = ObjectMeta {
                    key: k.to_string(),
                    blob: "b".into(),
                    etag: "e".into(),
                    size: 1,
                    last_modified: chrono::Utc::now(),
                    headers: Default::default(),
                    part_sizes: vec![],
                };
                (k.to_string(), meta)
            })
            .collect()
    }

    fn v1_input(marker: Option<&str>, delimiter: Option<&str>, max: i32) -> ListObjectsInput {
        let mut input = ListObjectsInput::builder()
            .bucket("b".into())
            .build()
            .unwrap();
        input.marker = marker.map(str::to_string);
        input.delimiter = delimiter.map(str::to_string);
        input.max_keys = Some(max);
        input
    }

    #[test]
    fn a_common_prefix_is_the_next_marker_and_continuing_after_it_skips_its_folder() {
        let all = store(&["a", "b/1", "b/2", "c"]);
        let first = v1(&all, &v1_input(None, Some("/"), 2), "");
        assert_eq!(first.next_marker.as_deref(), Some("b/"));
        assert_eq!(first.marker.as_deref(), Some(""), "v1 always has Marker");
        let second = v1(&all, &v1_input(Some("b/"), Some("/"), 2), "");
        let keys: Vec<_> = second
            .contents
            .unwrap()
            .into_iter()
            .map(|o| o.key.unwrap())
            .collect();
        assert_eq!(keys, ["c"]);
        assert!(second.common_prefixes.is_none());
        assert_eq!(second.is_truncated, Some(false));
    }

    #[test]
    fn url_encoding_and_an_empty_delimiter() {
        let all = store(&["asdf+b", "sp ace/é"]);
        let mut input = v1_input(None, Some(""), 10);
        input.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        let out = v1(&all, &input, "");
        assert!(out.delimiter.is_none(), "an empty delimiter is not echoed");
        let keys: Vec<_> = out
            .contents
            .unwrap()
            .into_iter()
            .map(|o| o.key.unwrap())
            .collect();
        assert_eq!(keys, ["asdf%2Bb", "sp%20ace/%C3%A9"]);
        assert_eq!(out.encoding_type.unwrap().as_str(), "url");
    }
}
