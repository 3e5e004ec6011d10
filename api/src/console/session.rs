//! Console sessions: signing in with an API key gives a random token in a cookie (HttpOnly,
//! SameSite=Strict, expiring); the key itself is never stored, put in a URL or logged.
//! Each session has its own CSRF token, which every form that changes something carries.
//! Sessions are kept in Postgres (`sessions`): any node serves them. A session keeps who
//! signed in (`Principal`); a customer's session ends when its key is revoked or expires
//! (checked at every request).

pub use super::sessions::{Session, Sessions};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use shared_modules::customers::Principal;
use std::time::Duration;

pub const COOKIE: &str = "dp_console";

/// The session cookie for `session`, or (None) the one that clears it. `secure` (the
/// sign-in came over TLS): the browser sends it back over TLS only.
pub fn cookie(session: Option<&Session>, lifetime: Duration, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, session.map(|s| s.token.clone()).unwrap_or_default())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    match session {
        Some(_) => cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
            lifetime.as_secs() as i64,
        )),
        None => cookie.make_removal(),
    }
    cookie
}

/// A signed-in request. Without a valid session the page answers with the sign-in form's
/// address instead (303), so no page or data is shown.
pub struct SignedIn(pub Session);

impl SignedIn {
    /// Whether this session may see `customer`'s jobs (an operator sees all).
    pub fn sees(&self, customer: &str) -> bool {
        self.0.principal.may_see(customer)
    }

    /// The refusal (403) of a form whose CSRF token is not this session's; None when it is.
    pub fn refuse_forged(&self, csrf: &str) -> Option<HttpResponse> {
        let same = subtle::ConstantTimeEq::ct_eq(csrf.as_bytes(), self.0.csrf.as_bytes());
        (!bool::from(same)).then(|| {
            HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body("This form is stale or did not come from the console: reload the page and try again.")
        })
    }
}

impl FromRequest for SignedIn {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<crate::state::AppState>>().cloned();
        let token = req.cookie(COOKIE).map(|c| c.value().to_string());
        let req = req.clone();
        Box::pin(async move {
            let session = match (token, state.as_ref()) {
                (Some(token), Some(state)) => state.sessions.find(&token).await?,
                _ => None,
            };
            match (session, state) {
                (Some(session), Some(state)) if still_valid(&state, &session).await => {
                    // For the request log: who this page acted as.
                    actix_web::HttpMessage::extensions_mut(&req).insert(session.principal.clone());
                    Ok(SignedIn(session))
                }
                _ => {
                    let to_login = HttpResponse::SeeOther()
                        .insert_header(("Location", "/login"))
                        .finish();
                    Err(
                        actix_web::error::InternalError::from_response("sign in first", to_login)
                            .into(),
                    )
                }
            }
        })
    }
}

/// A session lasts only while its key is valid: a customer's until it is revoked or its
/// rotation's overlap ends, an operator's while `api.keys` (read at start) still holds it.
async fn still_valid(state: &crate::state::AppState, session: &Session) -> bool {
    let Principal::Customer { key_id, .. } = &session.principal else {
        let valid = session
            .operator_key
            .is_some_and(|digest| state.keys.accepts_digest(&digest));
        if !valid {
            let _ = state.sessions.end(&session.token).await;
        }
        return valid;
    };
    let valid = state
        .db(async {
            Ok(shared_modules::customers::key_is_valid(&mut *state.conn().await?, key_id).await?)
        })
        .await;
    match valid {
        Ok(true) => true,
        Ok(false) => {
            let _ = state.sessions.end(&session.token).await;
            false
        }
        // The database is away: no customer page could be shown anyway.
        Err(_) => false,
    }
}
