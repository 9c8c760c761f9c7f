//! What the app did with a request's session, and what the response must carry.

use std::time::Duration;

use crate::authn::Authn;
use crate::clock::UnixMillis;
use crate::data::Data;
use crate::id::SessionId;
use crate::token::Token;

/// What the app did to who is signed in, as its framework reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// The framework does not say; the session keeps its user.
    #[default]
    Unchanged,
    /// The user the framework holds for the session after the request (`None`: nobody), e.g.
    /// Passport's `session.passport.user` or Django's `_auth_user_id`. A different user than the
    /// session's is a login; none where the session had one is a logout.
    User(Option<String>),
    /// The app authenticated this user during the request (a sign-in form, a re-authentication):
    /// always a login, even for the user already signed in — ASVS 5.0 7.2.4 wants a new token
    /// whenever a user authenticates.
    LoggedIn(String),
    /// The app signed out or ended the session during the request.
    LoggedOut,
    /// The signed-in user proved who they are again (step-up re-authentication): a new token,
    /// the old one dead at once, and this authentication recorded as of now. User, data and
    /// device binding are kept. Ignored without a signed-in session.
    Reauthenticated(Authn),
}

/// A session's own expiry, which may shorten the configured policy and never lengthen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The configured policy, and the configured cookie (`cookie_max_age`, else a
    /// browser-session cookie).
    Policy,
    /// The configured policy, with a browser-session cookie (no `Max-Age`), whatever
    /// `cookie_max_age` says (Django `set_expiry(0)`).
    BrowserSession,
    /// The session ends after this long unused (capped at the configured idle timeout); the
    /// cookie lives as long as the session could (Django `set_expiry(seconds)`).
    Idle(Duration),
    /// The session ends at this time at the latest (capped at its absolute deadline)
    /// (Django `set_expiry(datetime)`).
    Until(UnixMillis),
    /// The configured policy, with a cookie that survives the browser for this long (`None`: as
    /// long as the session can live), never longer than the session's absolute deadline
    /// (Flask's `session.permanent`, express-session's `cookie.maxAge`).
    Persistent(Option<Duration>),
}

/// What the app did with the session, for [`Request::finish`](super::Request::finish).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The session's data as the app left it; `None` when the app cannot have changed it (it
    /// never read or wrote the session), which skips the comparison.
    pub data: Option<Data>,
    /// A user change.
    pub auth: Auth,
    /// How strongly the user of a login in [`auth`](Self::auth) authenticated (`None`: one
    /// factor, [`Authn::default`]).
    pub authn: Option<Authn>,
    /// Give the session a new token, the old one dead at once, user and data kept.
    pub regenerate: bool,
    /// The session's expiry as the framework holds it (`None`: not given, nothing changes).
    pub expiry: Option<Expiry>,
    /// The app changed the expiry during this request: send the cookie again (with its new
    /// lifetime) even if the token did not change.
    pub expiry_changed: bool,
    /// The response is an error (5xx): no data write, no login, no key cycle.
    pub error: bool,
}

/// What the response must carry, and what became of the session.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The `Set-Cookie` value for the session cookie, if one must be sent (a new token, or the
    /// clearing of a dead, tossed or logged-out one).
    pub set_cookie: Option<String>,
    /// The `Set-Cookie` value of a visitor CSRF cookie made by this request (see
    /// [`Request::csrf_token`](super::Request::csrf_token)), if any.
    pub csrf_cookie: Option<String>,
    /// Whether the response must carry `Cache-Control: no-store` (it sets or clears a cookie,
    /// so no shared cache may keep it).
    pub no_store: bool,
    /// The token the client holds after this response, if it holds a live session's (Django's
    /// `session_key`). Never log it.
    pub token: Option<Token>,
    /// The session the client holds after this response, if any.
    pub session_id: Option<SessionId>,
    /// Its user.
    pub user: Option<String>,
    /// The session ended under this request (logged out, revoked or expired elsewhere while it
    /// ran); the request's writes were dropped.
    pub ended: bool,
    /// The `Set-Cookie` value deleting the bound cookie of a device-bound session this request
    /// signed out, signed in over, or found dead.
    pub bound_cookie: Option<String>,
    /// The `Secure-Session-Registration` value offering the browser a device binding (a
    /// sign-in with device-bound sessions on, or [`Request::offer_binding`](super::Request::offer_binding)).
    pub registration: Option<String>,
}

impl Response {
    /// The headers to add, as `(name, value)` pairs, in order.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::with_capacity(3);
        if let Some(cookie) = &self.set_cookie {
            out.push(("Set-Cookie", cookie.as_str()));
        }
        if let Some(cookie) = &self.csrf_cookie {
            out.push(("Set-Cookie", cookie.as_str()));
        }
        if let Some(cookie) = &self.bound_cookie {
            out.push(("Set-Cookie", cookie.as_str()));
        }
        if let Some(offer) = &self.registration {
            out.push(("Secure-Session-Registration", offer.as_str()));
        }
        if self.no_store {
            out.push(crate::cookie::CACHE_CONTROL);
        }
        out
    }
}

// The Set-Cookie line holds a token: never printed.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field(
                "set_cookie",
                &self.set_cookie.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "csrf_cookie",
                &self.csrf_cookie.as_ref().map(|_| "<redacted>"),
            )
            .field("bound_cookie", &self.bound_cookie)
            .field(
                "registration",
                &self.registration.as_ref().map(|_| "<offer>"),
            )
            .field("no_store", &self.no_store)
            .field("session_id", &self.session_id)
            .field("user", &self.user)
            .field("ended", &self.ended)
            .finish()
    }
}
