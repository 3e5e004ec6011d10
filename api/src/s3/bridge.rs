//! Carries a request actix received to s3s and its answer back: the method, URI and
//! headers as they came (SigV4 signs them), the body streamed both ways with bounded
//! memory. actix's body is not `Send`; a small channel hands it to s3s.

use actix_web::body::{BodyStream, SizedStream};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;
use s3s::service::S3Service;
use s3s::stream::{ByteStream, RemainingLength};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tracing::instrument::WithSubscriber;

/// Whether a request is signed the S3 way (an `Authorization: AWS4-HMAC-SHA256 …` header,
/// or a presigned query): then it is S3's, even on a path the console also uses (`GET /`
/// is ListBuckets when signed, the console's overview when not).
pub fn is_signed(head: &actix_web::dev::RequestHead) -> bool {
    let signed_header = head
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256") || v.starts_with("AWS "));
    let query = head.uri.query().unwrap_or("");
    signed_header || query.contains("X-Amz-Signature=") || query.contains("Signature=")
}

pub async fn handle(
    service: &S3Service,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    let id = super::request_id::next();
    if let Some(refused) = negative_expiry(&req, &id) {
        return refused;
    }
    let mut builder = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let length = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Pumps actix's body into the channel on this (local) task while s3s reads the other end.
    let pump = async move {
        while let Some(chunk) = payload.next().await {
            let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    };
    // No length and not chunked: no body (s3s wants to know a body's length up front).
    let chunked = req.headers().contains_key("transfer-encoding");
    let body = if length.unwrap_or(0) == 0 && !chunked {
        s3s::Body::empty()
    } else {
        s3s::Body::from(Box::pin(ChannelBody { rx, length }) as s3s::stream::DynByteStream)
    };
    let request = match builder.body(body) {
        Ok(request) => request,
        Err(e) => return HttpResponse::BadRequest().body(format!("unusable request: {e}")),
    };
    // s3s's own ERROR line for each refusal is left out; the answer is logged below.
    let call = service
        .call(request)
        .with_subscriber(super::refusals::without_s3s_errors());
    let (response, ()) = futures_util::join!(call, pump);
    match response {
        Ok(response) => {
            // The path only: the query of a presigned URL carries its signature.
            let response = with_request_id(response, &id);
            super::refusals::log_answer(
                req.method().as_str(),
                req.path(),
                response.status(),
                response.body(),
            );
            to_actix(response)
        }
        Err(e) => {
            tracing::warn!(error = ?e, "S3 request failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The answer with `x-amz-request-id`, and the id in its error document when it is one.
fn with_request_id(response: http::Response<s3s::Body>, id: &str) -> http::Response<s3s::Body> {
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = http::HeaderValue::from_str(id) {
        parts.headers.insert("x-amz-request-id", value);
    }
    let failed = parts.status.is_client_error() || parts.status.is_server_error();
    let named = failed
        .then(|| body.bytes())
        .flatten()
        .and_then(|xml| super::request_id::into_error(&xml, id));
    match named {
        Some(xml) => {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(xml.len()),
            );
            http::Response::from_parts(parts, s3s::Body::from(xml))
        }
        None => http::Response::from_parts(parts, body),
    }
}

/// A presigned URL whose `X-Amz-Expires` is negative was never valid: S3's AccessDenied
/// (s3s would answer 400, its query parser failing on the sign).
fn negative_expiry(req: &HttpRequest, id: &str) -> Option<HttpResponse> {
    let query = req.uri().query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let negative = pairs
        .iter()
        .any(|(name, value)| name == "X-Amz-Expires" && value.trim_start().starts_with('-'));
    if !negative {
        return None;
    }
    let message = "Request has expired: X-Amz-Expires is negative";
    let xml = super::request_id::error_document("AccessDenied", message, id);
    tracing::info!(
        method = req.method().as_str(),
        path = req.path(),
        status = 403,
        code = "AccessDenied",
        reason = message,
        "S3 request refused"
    );
    Some(
        HttpResponse::Forbidden()
            .insert_header(("x-amz-request-id", id))
            .content_type("application/xml")
            .body(xml),
    )
}

fn to_actix(response: http::Response<s3s::Body>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    let mut length = None;
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH {
            length = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        out.append_header((name.as_str(), value.as_bytes()));
    }
    let stream = body.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    match length {
        // A HEAD answer carries the object's length and no body: actix writes the length
        // from the sized body and sends no bytes for HEAD.
        Some(length) => out.body(SizedStream::new(length, stream)),
        None => out.body(BodyStream::new(stream)),
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    length: Option<usize>,
}

impl futures_util::Stream for ChannelBody {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled
            && let Some(left) = self.length.as_mut()
        {
            *left = left.saturating_sub(chunk.len());
        }
        polled.map(|item| item.map(|r| r.map_err(|e| Box::new(e) as s3s::StdError)))
    }
}

impl ByteStream for ChannelBody {
    fn remaining_length(&self) -> RemainingLength {
        match self.length {
            Some(n) => RemainingLength::new_exact(n),
            None => RemainingLength::unknown(),
        }
    }
}
