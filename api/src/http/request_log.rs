//! One log line per API request, refused ones included: method, path (no query string),
//! status, duration, client address, and the key by the first 8 hex digits of its SHA-256
//! (`key=sha256:1a2b3c4d`), never the key, and who it acted as (`acting=operator` or
//! `acting=<customer>:<key id>`, once the key was accepted), and the node that answered.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// How a presented key appears in the log.
pub fn key_id(key: &str) -> String {
    format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(key.as_bytes()))[..8]
    )
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let client = match req.app_data::<actix_web::web::Data<super::AppState>>() {
        Some(state) => state.client_ip(req.peer_addr()).to_string(),
        None => "-".into(),
    };
    let key = super::auth::presented_key(req.headers())
        .map(key_id)
        .unwrap_or_else(|| "-".into());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let acting = match &result {
        Ok(response) => response
            .request()
            .extensions()
            .get::<shared_modules::customers::Principal>()
            .map(|p| p.label()),
        Err(_) => None,
    }
    .unwrap_or_else(|| "-".into());
    tracing::info!(
        target: "request",
        %method,
        %path,
        status,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        %client,
        %key,
        %acting,
        node = shared_modules::cluster::this_node().unwrap_or("-"),
        "request"
    );
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_is_shown_only_by_a_short_digest() {
        let id = super::key_id("local-dev-key-change-me-0123");
        assert!(id.starts_with("sha256:") && id.len() == 15, "{id}");
        assert!(!id.contains("local-dev"));
    }
}
