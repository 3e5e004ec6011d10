use super::{AppState, error::ApiError};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

/// The key a request presents: `X-Api-Key`, or `Authorization: Bearer` as Prometheus
/// sends it.
pub fn presented_key(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")))
}

/// Documentation, readable without a key.
const PUBLIC: &str = "/api/1.0/openapi.json";

/// Lets a request through only with an `X-Api-Key` that matches a configured key (the API's
/// own description excepted). The key itself is never logged.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path() == PUBLIC {
        return next.call(req).await;
    }
    let accepted = match (
        req.app_data::<web::Data<AppState>>(),
        req.headers().get("x-api-key"),
    ) {
        (Some(state), Some(value)) => value.to_str().is_ok_and(|key| state.keys.accepts(key)),
        _ => false,
    };
    if !accepted {
        tracing::info!(path = %req.path(), "request refused: missing or invalid X-Api-Key");
        return Err(ApiError::Unauthorized.into());
    }
    next.call(req).await
}
