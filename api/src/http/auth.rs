//! Who a request acts as. A key of `api.keys` is the operator (every customer); a customer's
//! key (`dpctl customers add`, looked up in Postgres at every request, so a revocation
//! reaches every node at once) acts as that customer only. The key itself is never logged.

use super::{AppState, error::ApiError};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use shared_modules::customers::{Principal, find_api_key};
use std::future::{Ready, ready};

/// The key a request presents: `X-Api-Key`, or `Authorization: Bearer` as Prometheus
/// sends it.
pub fn presented_key(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")))
}

/// Documentation, readable without a key.
const PUBLIC: &str = "/api/1.0/openapi.json";

/// The principal a presented key stands for: None for no valid key; 503 when the database,
/// which holds customers' keys, does not answer (an operator key works without it).
pub async fn principal_of(
    state: &AppState,
    presented: &str,
) -> Result<Option<Principal>, ApiError> {
    if state.keys.accepts(presented) {
        return Ok(Some(Principal::Operator));
    }
    // Only keys shaped as `dpctl customers add` makes them are looked up: a client trying
    // random keys costs no database round trip.
    if !presented.starts_with(shared_modules::customers::API_KEY_PREFIX) {
        return Ok(None);
    }
    state
        .db(async { Ok(find_api_key(&mut *state.conn().await?, presented).await?) })
        .await
}

/// Lets a request through only with an `X-Api-Key` that is valid (the API's own description
/// excepted), and records who it acts as for the handlers (`Caller`) and the request log.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.path() == PUBLIC {
        return next.call(req).await;
    }
    let presented = req
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let principal = match (req.app_data::<web::Data<AppState>>(), presented) {
        (Some(state), Some(key)) => principal_of(state, &key).await?,
        _ => None,
    };
    let Some(principal) = principal else {
        tracing::info!(path = %req.path(), "request refused: missing or invalid X-Api-Key");
        return Err(ApiError::Unauthorized.into());
    };
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The principal of a request `require_api_key` let through.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| ApiError::Unauthorized.into()),
        )
    }
}

impl Caller {
    /// 404 (not 403) for another customer's data: a customer's key cannot even learn that
    /// it exists.
    pub fn may_see(&self, customer: &str, what: impl FnOnce() -> String) -> Result<(), ApiError> {
        if self.0.may_see(customer) {
            Ok(())
        } else {
            Err(ApiError::NotFound(what()))
        }
    }
}
