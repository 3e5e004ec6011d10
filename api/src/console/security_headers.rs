//! Every console answer says what a browser may do with it: only this origin's script and
//! style (no inline script or style), never framed (clickjacking), never cached (the pages
//! show customers' data and carry the session's CSRF token), its type not guessed, no
//! referrer sent on. API and S3 answers are not pages and are left as they are.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The policy; `connect-src` also names an external store, which the Upload page sends
/// parts to.
fn content_security_policy(store: Option<&str>) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        store.map(|s| format!(" {s}")).unwrap_or_default()
    )
}

pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<actix_web::web::Data<crate::state::AppState>>();
    let bucket = state
        .map(|state| state.config.s3.bucket.clone())
        .unwrap_or_default();
    let external_store = state
        .filter(|state| state.store.embedded().is_none())
        .map(|state| state.config.s3.endpoint.clone())
        .filter(|endpoint| !endpoint.contains([';', ',', ' ', '\'']));
    let policy = content_security_policy(external_store.as_deref());
    let page = !req.path().starts_with("/api/")
        && req.path() != "/metrics"
        && !crate::s3::speaks_s3(req.head(), &bucket);
    let mut res = next.call(req).await?;
    if page {
        let headers = res.headers_mut();
        if let Ok(policy) = HeaderValue::from_str(&policy) {
            headers.insert(HeaderName::from_static("content-security-policy"), policy);
        }
        for (name, value) in [
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        if !headers.contains_key("cache-control") {
            headers.insert(
                HeaderName::from_static("cache-control"),
                HeaderValue::from_static("no-store"),
            );
        }
    }
    Ok(res)
}
