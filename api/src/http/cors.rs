//! CORS for the front ends in `api.cors_origins` only (empty by default): their pages may
//! call the API with `X-Api-Key` and PUT upload parts to the embedded store. A preflight
//! from a listed origin is answered here; any other origin gets no CORS header, so the
//! browser keeps its page out.

use super::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// The request's `Origin` when it is one of `api.cors_origins`.
fn allowed_origin(req: &ServiceRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let state = req.app_data::<web::Data<AppState>>()?;
    let text = origin.to_str().ok()?;
    state
        .config
        .api
        .cors_origins
        .iter()
        .any(|o| o == text)
        .then(|| origin.clone())
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(origin) = allowed_origin(&req) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let answer = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, PUT"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "X-Api-Key, Content-Type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"))
            .finish();
        return Ok(req.into_response(answer).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response.map_into_left_body())
}
