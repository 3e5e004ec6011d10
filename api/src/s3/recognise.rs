//! Which requests on the shared API port are S3's: the endpoint answers them, the console
//! and the REST API the rest.

/// A request from an S3 client: signed, or unsigned but for the bucket's path or with S3's
/// headers or query parameters (the endpoint then refuses it with an error the client
/// reads). A browser's `/favicon.ico` or a scanner's probe is neither.
pub fn speaks_s3(head: &actix_web::dev::RequestHead, bucket: &str) -> bool {
    const S3_QUERY: [&str; 6] = [
        "uploadId",
        "uploads",
        "list-type",
        "delete",
        "X-Amz-",
        "partNumber",
    ];
    let query = head.uri.query().unwrap_or("");
    let first_segment = head.uri.path().trim_start_matches('/').split('/').next();
    super::bridge::is_signed(head)
        || first_segment == Some(bucket)
        || head
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("x-amz-"))
        || S3_QUERY.iter().any(|word| query.contains(word))
}
