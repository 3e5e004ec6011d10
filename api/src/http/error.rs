//! The REST API's answers to requests no handler took: a body, query or path the
//! extractors refuse, and a route that does not exist (404, or 405 with `Allow`).

pub use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse};

pub fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match &err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => {
            ApiError::PayloadTooLarge(format!("request body too large: {err}"))
        }
        _ => ApiError::BadRequest(format!("invalid JSON body: {err}")),
    }
    .into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid path: {err}")).into()
}

/// No route matched: 405 with `Allow` when the path exists for other methods, else 404.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed: Vec<&str> = super::routes()
        .iter()
        .filter(|(_, path, _)| {
            actix_web::dev::ResourceDef::new(format!("/api/1.0{path}")).is_match(req.path())
        })
        .map(|(method, _, _)| *method)
        .chain((req.path() == "/metrics").then_some("GET"))
        .collect();
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    Err(ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allowed: allowed.join(", "),
    })
}
