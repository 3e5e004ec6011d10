//! Every S3 answer names its request, as S3's do: the `x-amz-request-id` header, and the
//! same id in an error's XML (`<RequestId>`), so that a customer's report of a failure can
//! be matched to the line serve logged for it. s3s sets neither unless each error is
//! given one; the bridge adds them to whatever s3s answered.

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

/// A new id: 16 hex digits, unique within the process (start time, then a count).
pub fn next() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{:08X}{:08X}", start as u32, count as u32)
}

/// `xml` (an S3 error document) with `<RequestId>id</RequestId>` before `</Error>`; None
/// when it is no error document or names a request already.
pub fn into_error(xml: &[u8], id: &str) -> Option<Bytes> {
    let text = std::str::from_utf8(xml).ok()?;
    if text.contains("<RequestId>") {
        return None;
    }
    let end = text.rfind("</Error>")?;
    Some(Bytes::from(format!(
        "{}<RequestId>{id}</RequestId>{}",
        &text[..end],
        &text[end..]
    )))
}

/// S3's own error document, for answers the bridge gives before s3s is asked.
pub fn error_document(code: &str, message: &str, id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId></Error>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_errors_carry_them() {
        let (a, b) = (next(), next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        let with = into_error(xml, &a).unwrap();
        assert!(std::str::from_utf8(&with).unwrap().ends_with(&format!(
            "<Code>NoSuchKey</Code><RequestId>{a}</RequestId></Error>"
        )));
        assert!(into_error(&with, &b).is_none(), "one id");
        assert!(into_error(b"<ListBucketResult/>", &a).is_none());
    }
}
