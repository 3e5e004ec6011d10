//! The Upload page: a customer picks a NetBackup export and a grid; the page's script
//! (`assets/upload.js`) starts a browser upload (`uploads::browser`), sends the parts
//! straight to the store with a progress bar, resumes after a dropped connection (the
//! parts already there are not sent again), completes, and follows the job to its end. The
//! script talks to the JSON routes here, which use the session (and its CSRF token, in a
//! header) instead of an API key.

use super::layout::{page, respond};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::http::uploads::origin;
use crate::state::AppState;
use crate::uploads::browser::{self, StartUpload};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use modules::hydrastor::grid_status::grid_statuses;

pub async fn show(state: web::Data<AppState>, signed: SignedIn) -> HttpResponse {
    let customer = signed.0.principal.customer().map(str::to_string);
    let grids: Vec<String> = state
        .db(async {
            let mut conn = state.conn().await?;
            Ok::<_, ApiError>(
                grid_statuses(&mut conn, state.config.console.report_overdue_hours).await?,
            )
        })
        .await
        .map(|all| {
            all.into_iter()
                .filter(|g| signed.sees(&g.customer))
                .map(|g| g.grid)
                .collect()
        })
        .unwrap_or_default();
    let body = html! {
        p { "Send a NetBackup export (" code { ".tar.gz" } ", " code { ".tgz" } " or " code { ".zip" } ") of one grid. It goes straight to the object store in parts: if the connection drops, pick the same file again and only the missing parts are sent." }
        form #upload-form data-csrf=(signed.0.csrf) {
            @if customer.is_none() {
                label for="upload-customer" { "Customer" }
                input #upload-customer name="customer" required;
            }
            label for="upload-grid" { "Grid" }
            input #upload-grid name="grid" list="upload-grids" required autocomplete="off";
            datalist #upload-grids { @for grid in &grids { option value=(grid) {} } }
            label for="upload-file" { "Export" }
            input #upload-file type="file" name="file" accept=".tar.gz,.tgz,.zip,application/gzip,application/zip" required;
            button #upload-start type="submit" { "Upload" }
        }
        div #upload-status hidden {
            progress #upload-progress max="1" value="0" {}
            p #upload-message role="status" aria-live="polite" {}
            p #upload-resumed {}
            p #upload-job {}
        }
        script src="/console/upload.js" defer {}
    };
    respond(StatusCode::OK, page("Upload", "Upload", &signed.0, body))
}

/// The CSRF token a script's request carries in `X-CSRF-Token`.
fn refuse_forged(signed: &SignedIn, req: &HttpRequest) -> Option<HttpResponse> {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    signed.refuse_forged(token)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    customer: Option<String>,
    grid: String,
    file_name: String,
    size: u64,
}

pub async fn start(
    state: web::Data<AppState>,
    signed: SignedIn,
    req: HttpRequest,
    form: web::Json<StartForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(refused) = refuse_forged(&signed, &req) {
        return Ok(refused);
    }
    let form = form.into_inner();
    let customer = match (signed.0.principal.customer(), form.customer) {
        (Some(own), _) => own.to_string(),
        (None, Some(named)) => named,
        (None, None) => return Err(ApiError::BadRequest("name the customer".into())),
    };
    let request = StartUpload {
        customer,
        grid: form.grid,
        file_name: form.file_name,
        size: form.size,
    };
    let view = browser::start(&state, &signed.0.principal, &origin(&state, &req), request).await?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn status(
    state: web::Data<AppState>,
    signed: SignedIn,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = browser::view(&state, &signed.0.principal, &origin(&state, &req), &id).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn complete(
    state: web::Data<AppState>,
    signed: SignedIn,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(refused) = refuse_forged(&signed, &req) {
        return Ok(refused);
    }
    let (view, _) =
        browser::complete(&state, &signed.0.principal, &origin(&state, &req), &id).await?;
    state.listing.clear();
    Ok(HttpResponse::Ok().json(view))
}
