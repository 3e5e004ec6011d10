//! Who may call at all, once s3s has checked the signature: signed requests only (s3s's
//! default), and a presigned URL valid for at most a week, as S3 allows (`X-Amz-Expires`
//! up to 604800; SigV2's `Expires`, a time, at most a week ahead). Which keys a signer
//! may use is `keys`'s.

use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

/// S3's longest presigned URL: seven days.
pub const MAX_PRESIGNED_SECONDS: u64 = 604_800;

pub struct SignedOnly;

#[async_trait::async_trait]
impl S3Access for SignedOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        presigned_within_a_week(cx.uri().query().unwrap_or(""))
    }
}

/// Refuses a presigned URL that stays valid longer than S3 allows.
pub fn presigned_within_a_week(query: &str) -> S3Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    for (name, value) in pairs {
        let valid_for = match name.as_str() {
            "X-Amz-Expires" => value.parse::<u64>().ok(),
            "Expires" => value.parse::<u64>().ok().map(|at| at.saturating_sub(now)),
            _ => continue,
        };
        if valid_for.is_none_or(|seconds| seconds > MAX_PRESIGNED_SECONDS) {
            return Err(too_long());
        }
    }
    Ok(())
}

fn too_long() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AuthorizationQueryParametersError,
        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_is_the_longest_a_presigned_url_lives() {
        assert!(presigned_within_a_week("X-Amz-Expires=604800&X-Amz-Signature=ab").is_ok());
        assert!(presigned_within_a_week("").is_ok());
        for refused in [
            "X-Amz-Expires=604801",
            "X-Amz-Expires=2147483647",
            "X-Amz-Expires=-1",
            "X-Amz-Expires=soon",
            "Expires=4102444800&Signature=x",
        ] {
            let e = presigned_within_a_week(refused).unwrap_err();
            assert_eq!(
                e.code(),
                &S3ErrorCode::AuthorizationQueryParametersError,
                "{refused}"
            );
        }
    }
}
