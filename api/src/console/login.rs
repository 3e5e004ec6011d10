//! Sign-in with an API key (posted in a form, never in a URL) and sign-out.

use super::layout::{head, respond};
use super::session::{SignedIn, cookie};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

fn form(message: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body.login {
                main #main {
                    h1 { "HView DataProcessor" }
                    form method="post" action="/login" {
                        label for="key" { "API key" }
                        input #key type="password" name="key" autocomplete="current-password" required autofocus;
                        @if let Some(message) = message {
                            p.error role="alert" { (message) }
                        }
                        button type="submit" { "Sign in" }
                    }
                    p.hint { "An operator key (api.keys) or your company's API key signs in. The session lasts a working day; signing out ends it." }
                }
                (super::layout::footer())
            }
        }
    }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // Already signed in: straight to the overview.
    let signed = match req.cookie(super::session::COOKIE) {
        Some(c) => state.sessions.find(c.value()).await.ok().flatten(),
        None => None,
    };
    if signed.is_some() {
        return HttpResponse::SeeOther()
            .insert_header(("Location", "/"))
            .finish();
    }
    respond(StatusCode::OK, form(None))
}

#[derive(Deserialize)]
pub struct Credentials {
    key: String,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form_data: web::Form<Credentials>,
) -> HttpResponse {
    let client = state.client_ip(req.peer_addr());
    if let Some(wait) = state.sign_in_throttle.wait_for(client) {
        tracing::info!(%client, "console: sign-in refused (too many wrong keys from this address)");
        let seconds = wait.as_secs().max(1);
        let mut answer = respond(
            StatusCode::TOO_MANY_REQUESTS,
            form(Some(&format!(
                "Too many wrong keys from your address: try again in {seconds} s."
            ))),
        );
        answer.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(seconds),
        );
        return answer;
    }
    let principal = match crate::http::auth::principal_of(&state, form_data.key.trim()).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            state.sign_in_throttle.failed(client);
            tracing::warn!(%client, "console: sign-in refused (unknown key)");
            return respond(
                StatusCode::UNAUTHORIZED,
                form(Some("That key is not valid here.")),
            );
        }
        Err(e) => {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                form(Some(&format!("Cannot check your key right now: {e}"))),
            );
        }
    };
    let by = principal.label();
    let home = if principal.customer().is_some() {
        "/jobs"
    } else {
        "/"
    };
    let session = match state.sessions.create(principal, form_data.key.trim()).await {
        Ok(session) => session,
        Err(e) => {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                form(Some(&format!("Cannot sign you in right now: {e}"))),
            );
        }
    };
    tracing::info!(%client, %by, "console: signed in");
    HttpResponse::SeeOther()
        .cookie(cookie(
            Some(&session),
            state.sessions.lifetime(),
            state.over_tls(&req),
        ))
        .insert_header(("Location", home))
        .finish()
}

#[derive(Deserialize)]
pub struct Csrf {
    pub csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: SignedIn,
    form_data: web::Form<Csrf>,
) -> HttpResponse {
    if let Some(refused) = signed.refuse_forged(&form_data.csrf) {
        return refused;
    }
    if let Err(e) = state.sessions.end(&signed.0.token).await {
        return actix_web::ResponseError::error_response(&e);
    }
    HttpResponse::SeeOther()
        .cookie(cookie(
            None,
            state.sessions.lifetime(),
            state.over_tls(&req),
        ))
        .insert_header(("Location", "/login"))
        .finish()
}
