//! Integrity headers of a PUT or an UploadPart: `Content-MD5` and the `x-amz-checksum-*`
//! a client sends as headers, or as the aws-chunked trailer that `x-amz-trailer` names
//! (the aws CLI over https). The checksums are computed as the body streams to disk (the
//! MD5 is the store's, for the ETag); a mismatch is `BadDigest` and the caller stores
//! nothing. A `Content-MD5` that is not 16 bytes of base64 is `InvalidDigest`, a checksum
//! value of the wrong shape `InvalidRequest`, as S3 answers. The newer `-md5` and
//! `-sha512` are checked too; an xxHash this endpoint cannot compute is refused rather
//! than stored unchecked.

use bytes::Bytes;
use futures_util::Stream;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;
use s3s::{S3Error, S3Result, TrailingHeaders, s3_error};
use sha2::Digest as _;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The algorithms checked: (header, digest length in bytes). The first five are s3s's
/// input fields (in `Sent::checksums`' order), the others are read from the headers.
const ALGORITHMS: [(&str, usize); 7] = [
    ("x-amz-checksum-crc32", 4),
    ("x-amz-checksum-crc32c", 4),
    ("x-amz-checksum-crc64nvme", 8),
    ("x-amz-checksum-sha1", 20),
    ("x-amz-checksum-sha256", 32),
    ("x-amz-checksum-md5", 16),
    ("x-amz-checksum-sha512", 64),
];

/// Checksums S3 accepts that this endpoint cannot compute.
const UNCHECKED: [&str; 3] = [
    "x-amz-checksum-xxhash64",
    "x-amz-checksum-xxhash3",
    "x-amz-checksum-xxhash128",
];

/// What the client said the body's digests are.
#[derive(Debug, Default)]
pub struct Expected {
    md5: Option<Vec<u8>>,
    /// (header, decoded digest) for each checksum sent as a header.
    sums: Vec<(&'static str, Vec<u8>)>,
    /// The checksum header the body's trailer carries (`x-amz-trailer`), if any.
    trailer: Option<&'static str>,
}

/// The checksum fields of a PUT or an UploadPart, in `ALGORITHMS`' order.
pub struct Sent<'a> {
    pub content_md5: Option<&'a str>,
    pub checksums: [Option<&'a str>; 5],
    pub headers: &'a http::HeaderMap,
}

/// The `Sent` of a PutObjectInput or UploadPartInput (same fields, different types).
macro_rules! sent {
    ($input:expr, $headers:expr) => {
        $crate::s3::digest::Sent {
            content_md5: $input.content_md5.as_deref(),
            checksums: [
                $input.checksum_crc32.as_deref(),
                $input.checksum_crc32c.as_deref(),
                $input.checksum_crc64nvme.as_deref(),
                $input.checksum_sha1.as_deref(),
                $input.checksum_sha256.as_deref(),
            ],
            headers: &$headers,
        }
    };
}
pub(super) use sent;

impl Expected {
    pub fn from_request(sent: &Sent<'_>) -> S3Result<Self> {
        let mut expected = Self::default();
        if let Some(md5) = sent.content_md5 {
            match decode(md5) {
                Some(bytes) if bytes.len() == 16 => expected.md5 = Some(bytes),
                _ => {
                    return Err(s3_error!(
                        InvalidDigest,
                        "The Content-MD5 you specified is not valid: it must be the base64 of the body's 16-byte MD5"
                    ));
                }
            }
        }
        let from_headers = ALGORITHMS[5..]
            .iter()
            .map(|(h, _)| sent.headers.get(*h).and_then(|v| v.to_str().ok()));
        let values = sent.checksums.into_iter().chain(from_headers);
        for ((header, length), value) in ALGORITHMS.iter().zip(values) {
            let Some(value) = value else { continue };
            match decode(value) {
                Some(bytes) if bytes.len() == *length => expected.sums.push((header, bytes)),
                _ => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Value for {header} header is invalid."
                    ));
                }
            }
        }
        if let Some(header) = UNCHECKED.iter().find(|h| sent.headers.contains_key(**h)) {
            return Err(s3_error!(
                InvalidRequest,
                "{header} is not supported by this endpoint: send CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512 or MD5"
            ));
        }
        if let Some(trailer) = sent
            .headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
        {
            let trailer = trailer.trim().to_ascii_lowercase();
            match ALGORITHMS.iter().find(|(h, _)| *h == trailer) {
                Some((header, _)) => expected.trailer = Some(header),
                None => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The value specified in the x-amz-trailer header is not supported"
                    ));
                }
            }
        }
        Ok(expected)
    }

    /// A hasher for the checksums to compare (none: nothing to compute but the MD5).
    pub fn hasher(&self) -> Hasher {
        let mut hasher = Hasher::default();
        let wanted = self.sums.iter().map(|(h, _)| *h).chain(self.trailer);
        for header in wanted {
            let sums = &mut hasher.s3s;
            match header {
                "x-amz-checksum-crc32" => sums.crc32 = Some(Crc32::default()),
                "x-amz-checksum-crc32c" => sums.crc32c = Some(Crc32c::default()),
                "x-amz-checksum-crc64nvme" => sums.crc64nvme = Some(Crc64Nvme::default()),
                "x-amz-checksum-sha1" => sums.sha1 = Some(Sha1::default()),
                "x-amz-checksum-sha256" => sums.sha256 = Some(Sha256::default()),
                "x-amz-checksum-sha512" => hasher.sha512 = Some(sha2::Sha512::new()),
                _ => {} // md5: the store's
            }
        }
        hasher
    }

    /// Compares what was computed (`md5_hex`, the store's; `computed`, the hasher's) with
    /// what was sent, the trailer's value read now that the body has ended. On success,
    /// the checksums to echo in the answer (as S3 does).
    pub fn verify(
        &self,
        md5_hex: &str,
        computed: Computed,
        trailers: Option<&TrailingHeaders>,
    ) -> S3Result<Checksum> {
        if let Some(md5) = &self.md5
            && hex::encode(md5) != md5_hex
        {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
        let mut claimed = self.sums.clone();
        if let Some(header) = self.trailer {
            let value = trailers
                .and_then(|t| {
                    t.read(|h| {
                        h.get(header)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    })
                })
                .flatten()
                .ok_or_else(|| {
                    s3_error!(
                        IncompleteBody,
                        "the body ended without the trailer {header} that x-amz-trailer announced"
                    )
                })?;
            let length = ALGORITHMS
                .iter()
                .find(|(h, _)| *h == header)
                .map_or(0, |(_, l)| *l);
            match decode(&value) {
                Some(bytes) if bytes.len() == length => claimed.push((header, bytes)),
                _ => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Value for {header} trailing header is invalid."
                    ));
                }
            }
        }
        let Computed {
            s3s: computed,
            sha512,
        } = computed;
        let mut echoed = Checksum::default();
        for (header, want) in claimed {
            let extra = match header {
                "x-amz-checksum-md5" => Some(hex::decode(md5_hex).ok()),
                "x-amz-checksum-sha512" => Some(sha512.clone()),
                _ => None,
            };
            if let Some(got) = extra {
                if got != Some(want) {
                    return Err(bad_checksum(header));
                }
                continue;
            }
            let (got, slot) = match header {
                "x-amz-checksum-crc32" => (&computed.checksum_crc32, &mut echoed.checksum_crc32),
                "x-amz-checksum-crc32c" => (&computed.checksum_crc32c, &mut echoed.checksum_crc32c),
                "x-amz-checksum-crc64nvme" => {
                    (&computed.checksum_crc64nvme, &mut echoed.checksum_crc64nvme)
                }
                "x-amz-checksum-sha1" => (&computed.checksum_sha1, &mut echoed.checksum_sha1),
                _ => (&computed.checksum_sha256, &mut echoed.checksum_sha256),
            };
            if got.as_deref().and_then(decode) != Some(want) {
                return Err(bad_checksum(header));
            }
            slot.clone_from(got);
        }
        Ok(echoed)
    }
}

fn bad_checksum(header: &str) -> S3Error {
    let algorithm = header
        .trim_start_matches("x-amz-checksum-")
        .to_ascii_uppercase();
    s3_error!(
        BadDigest,
        "The {algorithm} you specified did not match the calculated checksum."
    )
}

/// Standard base64 with its padding, as S3's digest headers are (None: not that).
fn decode(value: &str) -> Option<Vec<u8>> {
    let text = value.trim().as_bytes();
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let padding = text.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return None;
    }
    let sextet = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let body = &text[..text.len() - padding];
    for group in body.chunks(4) {
        let mut bits = 0u32;
        for &b in group {
            bits = (bits << 6) | sextet(b)?;
        }
        bits <<= 6 * (4 - group.len() as u32);
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Some(out)
}

/// The checksums being computed: s3s's, and SHA-512 (which s3s does not know).
#[derive(Default)]
pub struct Hasher {
    s3s: ChecksumHasher,
    sha512: Option<sha2::Sha512>,
}

/// What `Hasher` computed.
pub struct Computed {
    s3s: Checksum,
    sha512: Option<Vec<u8>>,
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        self.s3s.update(bytes);
        if let Some(sha512) = &mut self.sha512 {
            sha512.update(bytes);
        }
    }

    pub fn finalize(self) -> Computed {
        Computed {
            s3s: self.s3s.finalize(),
            sha512: self.sha512.map(|h| h.finalize().to_vec()),
        }
    }
}

/// The body, each chunk also fed to `hasher` as it passes to the store.
pub struct Hashing<'h, S> {
    pub inner: S,
    pub hasher: &'h mut Hasher,
}

impl<S, E> Stream for Hashing<'_, S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            this.hasher.update(chunk);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::crypto::Checksum as _;

    #[test]
    fn base64_is_read_as_s3_sends_it() {
        assert_eq!(decode("AAAAAA==").unwrap(), [0u8; 4]);
        assert_eq!(decode("1B2M2Y8AsgTpgAmY7PhCfg==").unwrap().len(), 16);
        assert_eq!(decode("aGk=").unwrap(), b"hi");
        assert_eq!(decode("aGkh").unwrap(), b"hi!");
        for bad in ["", "AAA", "AA=A", "A===", "not base64!", "%%%%"] {
            assert!(decode(bad).is_none(), "{bad}");
        }
    }

    fn expected(headers: &[(&'static str, &str)], md5: Option<&str>) -> S3Result<Expected> {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        Expected::from_request(&Sent {
            content_md5: md5,
            checksums: [
                get("x-amz-checksum-crc32"),
                get("x-amz-checksum-crc32c"),
                get("x-amz-checksum-crc64nvme"),
                get("x-amz-checksum-sha1"),
                get("x-amz-checksum-sha256"),
            ],
            headers: &map,
        })
    }

    fn checked(expected: &Expected, body: &[u8]) -> S3Result<Checksum> {
        let mut hasher = expected.hasher();
        hasher.update(body);
        let md5 = hex::encode(s3s::crypto::Md5::checksum(body));
        expected.verify(&md5, hasher.finalize(), None)
    }

    #[test]
    fn each_digest_is_compared_with_the_body() {
        let body = b"the body";
        let crc32 = hex::encode(Crc32::checksum(body));
        let right = base64_of(&hex::decode(crc32).unwrap());
        let e = expected(&[("x-amz-checksum-crc32", &right)], None).unwrap();
        assert_eq!(checked(&e, body).unwrap().checksum_crc32.unwrap(), right);
        assert_eq!(
            checked(&e, b"another").unwrap_err().code(),
            &s3s::S3ErrorCode::BadDigest
        );
        let sha512 = base64_of(&sha2::Sha512::digest(body));
        let e = expected(&[("x-amz-checksum-sha512", &sha512)], None).unwrap();
        assert!(checked(&e, body).is_ok());
        assert_eq!(
            checked(&e, b"x").unwrap_err().code(),
            &s3s::S3ErrorCode::BadDigest
        );
        let md5 = base64_of(&s3s::crypto::Md5::checksum(body));
        let e = expected(&[], Some(&md5)).unwrap();
        assert!(checked(&e, body).is_ok());
        assert_eq!(
            checked(&e, b"x").unwrap_err().code(),
            &s3s::S3ErrorCode::BadDigest
        );
        let code = |r: S3Result<Expected>| r.unwrap_err().code().clone();
        assert_eq!(
            code(expected(&[], Some("AAAA"))),
            s3s::S3ErrorCode::InvalidDigest
        );
        assert_eq!(
            code(expected(&[("x-amz-checksum-sha256", "AAAAAA==")], None)),
            s3s::S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(expected(
                &[("x-amz-checksum-xxhash64", "AAAAAAAAAAA=")],
                None
            )),
            s3s::S3ErrorCode::InvalidRequest
        );
    }

    fn base64_of(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
