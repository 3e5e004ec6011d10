//! The length a PUT or part says its body has, and holding the body to it. A body signed
//! with a streaming payload (`Content-Encoding: aws-chunked`) and sent chunked has no
//! Content-Length: its length is `x-amz-decoded-content-length`, which s3s needs to decode
//! the body but does not hold it to. Without this, a body longer or shorter than declared
//! would be stored, and a longer one written to disk for as long as the client sends.

use bytes::Bytes;
use futures_util::Stream;
use s3s::{S3Result, StdError, s3_error};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Content-Length (s3s has put the decoded length there when the body was aws-chunked
/// with a length), else `x-amz-decoded-content-length`; None when neither is sent.
pub fn declared_length(
    content_length: Option<i64>,
    headers: &http::HeaderMap,
) -> S3Result<Option<u64>> {
    if let Some(n) = content_length {
        return u64::try_from(n)
            .map(Some)
            .map_err(|_| s3_error!(InvalidArgument, "Content-Length is negative"));
    }
    let Some(value) = headers.get("x-amz-decoded-content-length") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "x-amz-decoded-content-length is not a length"
            )
        })
}

/// The body, failing as soon as more than `left` bytes have come (None: no limit). That it
/// is not shorter is checked once it has ended.
pub struct AtMost<S> {
    pub inner: S,
    pub left: Option<u64>,
}

impl<S> Stream for AtMost<S>
where
    S: Stream<Item = Result<Bytes, StdError>> + Unpin,
{
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled
            && let Some(left) = this.left.as_mut()
        {
            match left.checked_sub(chunk.len() as u64) {
                Some(still) => *left = still,
                None => {
                    return Poll::Ready(Some(Err(
                        "more bytes came than the request's declared length".into(),
                    )));
                }
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn headers(decoded: &str) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        map.insert("x-amz-decoded-content-length", decoded.parse().unwrap());
        map
    }

    #[test]
    fn content_length_first_then_the_decoded_length() {
        assert_eq!(declared_length(Some(5), &headers("9")).unwrap(), Some(5));
        assert_eq!(declared_length(None, &headers("9")).unwrap(), Some(9));
        assert_eq!(
            declared_length(None, &http::HeaderMap::new()).unwrap(),
            None
        );
        assert!(declared_length(None, &headers("-1")).is_err());
        assert!(declared_length(Some(-1), &http::HeaderMap::new()).is_err());
    }

    #[tokio::test]
    async fn a_body_longer_than_declared_fails_at_the_chunk_past_it() {
        let chunks = || {
            futures_util::stream::iter(
                [b"abc".as_slice(), b"de"].map(|c| Ok::<_, StdError>(Bytes::from_static(c))),
            )
        };
        let cut: Vec<_> = AtMost {
            inner: chunks(),
            left: Some(4),
        }
        .collect()
        .await;
        assert!(cut[0].is_ok() && cut[1].is_err());
        for left in [Some(5), None] {
            let all: Vec<_> = AtMost {
                inner: chunks(),
                left,
            }
            .collect()
            .await;
            assert!(all.iter().all(Result::is_ok));
        }
    }
}
