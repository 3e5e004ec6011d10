//! Console sessions: signing in with an API key gives a random token in a cookie (HttpOnly,
//! SameSite=Strict, expiring); the key itself is never stored, put in a URL or logged.
//! Each session has its own CSRF token, which every form that changes something carries.
//! Sessions live in this process's memory: a restart signs everyone out. A session keeps
//! who signed in (`Principal`); a customer's session ends when its key is revoked or expires
//! (checked at every request).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use shared_modules::customers::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const COOKIE: &str = "dp_console";

#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub principal: Principal,
    expires: Instant,
}

pub struct Sessions {
    lifetime: Duration,
    open: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS's randomness; without it no session is safe to hand out.
    getrandom::getrandom(&mut bytes).expect("the operating system's random numbers");
    hex::encode(bytes)
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            open: Mutex::default(),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn create(&self, principal: Principal) -> Session {
        let session = Session {
            token: random_token(),
            csrf: random_token(),
            principal,
            expires: Instant::now() + self.lifetime,
        };
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, s| s.expires > Instant::now());
        open.insert(session.token.clone(), session.clone());
        session
    }

    pub fn find(&self, token: &str) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get(token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                open.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, token: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }
}

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
        let session = req
            .cookie(COOKIE)
            .zip(state.as_ref())
            .and_then(|(cookie, state)| state.sessions.find(cookie.value()));
        if let Some(session) = &session {
            // For the request log: who this page acted as.
            actix_web::HttpMessage::extensions_mut(req).insert(session.principal.clone());
        }
        Box::pin(async move {
            match (session, state) {
                (Some(session), Some(state)) if still_valid(&state, &session).await => {
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

/// A customer's session lasts only while its key is valid (a revocation or the end of a
/// rotation's overlap ends it); an operator's key comes from the config, read at start.
async fn still_valid(state: &crate::state::AppState, session: &Session) -> bool {
    let Principal::Customer { key_id, .. } = &session.principal else {
        return true;
    };
    let valid = state
        .db(async {
            Ok(shared_modules::customers::key_is_valid(&mut *state.conn().await?, key_id).await?)
        })
        .await;
    match valid {
        Ok(true) => true,
        Ok(false) => {
            state.sessions.end(&session.token);
            false
        }
        // The database is away: no customer page could be shown anyway.
        Err(_) => false,
    }
}
