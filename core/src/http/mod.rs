//! The per-request protocol every framework integration runs: [`begin`], then [`Request::finish`].
//!
//! Users meet Tessera through their framework's session object, not through the lifecycle API.
//! Everything that decides what a request's session is and what its response must send lives
//! here, once, so Flask, Django, Express and a C server behave alike:
//!
//! - **begin** takes what the request brings ([`RequestHead`]: the `Cookie` header, HTTPS or
//!   not, the method, the user agent, the CSRF candidate) and gives the request's state
//!   ([`Request`]): its live session or the reason it has none, whether the cookie must be
//!   cleared, and the CSRF verdict ([`CsrfCheck`]; [`needs_csrf`] is the one list of methods
//!   that need a token).
//! - **finish** takes what the app did ([`Outcome`]: the data as it left it, a user change, an
//!   expiry, whether the response is an error) and makes the store writes, then returns exactly
//!   the headers the response must carry ([`Response`]: the `Set-Cookie` line,
//!   `Cache-Control: no-store`).
//!
//! Between the two, an app may act at once where its framework promises an immediate effect
//! (Django's `cycle_key()` changes `session_key` before it returns): [`Request::login`],
//! [`Request::logout`], [`Request::regenerate`], [`Request::write`], [`Request::set_expiry`].
//! `finish` uses the very same steps.
//!
//! # Rules, in one place
//!
//! - **Data changes** are found by comparing JSON values per top-level key ([`Changes`]): an
//!   in-place mutation counts, `1 → true` counts. Only changed keys are written, in one atomic
//!   patch, so concurrent requests that change different keys keep both.
//! - **No write resurrects a session.** A session that ended while the request ran (logout
//!   elsewhere, revocation, expiry) is not re-created by the request's write: the write is
//!   dropped and the cookie cleared. A request whose cookie was already dead when it began is
//!   anonymous; if it stores something, that is a *new* session under a new token — a token the
//!   client brought is never adopted.
//! - **A user change is a login.** A user appearing, changing, or re-authenticating
//!   ([`Auth::LoggedIn`], also for the user already signed in) gives a new token at once (the
//!   old one dies), a new CSRF secret and a fresh absolute deadline. The user going away is a
//!   logout: the server-side session ends, and only what this request wrote after it survives,
//!   in a new anonymous session.
//! - **Error responses** (5xx) write no data and perform no login or key cycle — the request
//!   failed — but a logout still happens (ending a session is never undone), and a token rotated
//!   by `begin` is still sent: the old one is on its way out, so dropping the new one would sign
//!   the user out when the grace window ends.
//! - **Cookies**: a new token is sent with the configured attributes and `no-store`; a dead,
//!   ambiguous (tossed) or logged-out cookie is cleared, also with `no-store`. A per-session
//!   [`Expiry`] may shorten the session's life, never lengthen it past the configured policy.
//! - **Tokens before writes**: the tokens a response will carry can be minted before the store
//!   is written ([`Request::prepare`]), so a framework that sends headers before the app
//!   finishes (streaming, `res.writeHead`) still sends the right cookie, and a new session has
//!   an id the moment the app asks ([`Request::ensure_id`]).
//!
//! # Examples
//!
//! ```
//! use tessera::http::{self, Auth, Outcome, RequestHead};
//! use tessera::{Config, SessionManager};
//!
//! let manager = SessionManager::new(Config::default())?;
//!
//! // A visitor without a cookie signs in.
//! let head = RequestHead { method: "POST", https: true, ..RequestHead::default() };
//! let request = http::begin(&manager, &head)?;
//! let response = request.finish(&manager, Outcome { auth: Auth::LoggedIn("alice".into()), ..Outcome::default() })?;
//! let set_cookie = response.set_cookie.unwrap();
//! assert!(set_cookie.starts_with("__Host-session=") && response.no_store);
//!
//! // The next request carries the cookie.
//! let cookie = set_cookie.split(';').next().unwrap();
//! let head = RequestHead { cookie_header: Some(cookie), method: "GET", https: true, ..RequestHead::default() };
//! let request = http::begin(&manager, &head)?;
//! assert_eq!(request.user(), Some("alice"));
//! let response = request.finish(&manager, Outcome::default())?;
//! assert!(response.set_cookie.is_none());
//! # Ok::<(), tessera::Error>(())
//! ```

mod changes;
mod method;
mod outcome;
mod request;
pub(crate) mod visitor_csrf;

pub use changes::Changes;
pub use method::needs_csrf;
pub use outcome::{Auth, Expiry, Outcome, Response};
pub use request::{
    CsrfCheck, FinishError, Request, RequestHead, begin, begin_prevalidated, session_token,
};
