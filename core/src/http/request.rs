//! A request's session state, from `begin` to `finish`.

use std::sync::Arc;
use std::time::Duration;

use once_cell::sync::Lazy;

use super::changes::Changes;
use super::method::needs_csrf;
use super::outcome::{Auth, Expiry, Outcome, Response};
use crate::authn::{Authn, Freshness};
use crate::binding::{Presented, Proof};
use crate::clock::{UnixMillis, millis};
use crate::cookie::{self, CookieToken};
use crate::csrf::CsrfSecret;
use crate::data::{Data, DataOp};
use crate::error::{Error, Reason, Result};
use crate::fields::Fields;
use crate::id::SessionId;
use crate::manager::SessionManager;
use crate::session::{Context, Prevalidated, Session, Validation};
use crate::token::Token;

static EMPTY: Lazy<Data> = Lazy::new(Data::new);

/// What a request brings, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestHead<'a> {
    /// The `Cookie` header. A binding that receives several joins them with `"; "` (RFC 9113
    /// §8.2.3); two cookies of the session's name then make the request anonymous, as in one
    /// header.
    pub cookie_header: Option<&'a str>,
    /// Whether the request arrived over HTTPS (as the framework determines it, proxies included).
    pub https: bool,
    /// The method, as sent (case-sensitive).
    pub method: &'a str,
    /// The `User-Agent` header, recorded as a device label at creation and login.
    pub user_agent: Option<&'a str>,
    /// The CSRF token the request carries (a header, or a form field the binding has at hand).
    pub csrf_candidate: Option<&'a str>,
}

/// The CSRF verdict of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrfCheck {
    /// A safe method ([`needs_csrf`] is false): no token needed.
    NotNeeded,
    /// The request needs a token and carries a valid one of its session.
    Valid,
    /// The request needs a token and carries none, a bad one, or one of another session (or has
    /// no session). A middleware answers 403, unless a token found later (a form field) passes
    /// [`Request::verify_csrf`].
    Invalid,
}

/// A session minted for this request but not stored yet: stored only if the app writes data or
/// signs someone in.
struct Reserved {
    token: Token,
    id: SessionId,
    csrf: CsrfSecret,
}

/// `finish` could not carry out everything the app did: the error, and the headers the (error)
/// response must still carry.
pub struct FinishError(Box<(Error, Response)>);

impl FinishError {
    /// What went wrong.
    pub fn error(&self) -> &Error {
        &self.0.0
    }

    /// The headers the response must still carry (a rotated or replaced token, a cleared cookie).
    pub fn response(&self) -> &Response {
        &self.0.1
    }

    /// Both, by value.
    pub fn into_parts(self) -> (Error, Response) {
        *self.0
    }
}

impl From<FinishError> for Error {
    fn from(e: FinishError) -> Error {
        e.into_parts().0
    }
}

impl std::fmt::Debug for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishError")
            .field("error", self.error())
            .field("response", self.response())
            .finish()
    }
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.error(), f)
    }
}

impl std::error::Error for FinishError {}

/// One request's session, between [`begin`] and [`Request::finish`]. Owned and `Send`: a binding
/// keeps it beside its framework's request object.
pub struct Request {
    ctx_https: bool,
    user_agent: Option<String>,
    /// The live session, as loaded or as last changed by this request.
    session: Option<Session>,
    /// The user the session had when the request began: a framework that still reports this
    /// user after the session ended under the request (or was logged out by it) is reporting
    /// stale data, not a sign-in.
    begun_user: Option<Arc<str>>,
    /// The token the client holds for `session` (the new one once the response delivers it).
    token: Option<Token>,
    /// A token the response must send.
    send: Option<Token>,
    reserved: Option<Reserved>,
    /// The request carried a session cookie.
    had_cookie: bool,
    /// Why the request has no session, if it carried a cookie.
    reason: Option<Reason>,
    /// The secret of the visitor CSRF cookie the request carries (or that this request made).
    visitor: Option<CsrfSecret>,
    /// A visitor CSRF cookie made by this request, to send.
    visitor_new: Option<Token>,
    /// The response must clear the cookie unless it sends a new token.
    clear: bool,
    /// The session ended under this request; nothing may re-create it.
    ended: bool,
    csrf: CsrfCheck,
    /// The bound cookie(s) the request carries (device-bound sessions).
    bound: Presented,
    /// The request's cookie names a device-bound session it did not prove: the session is
    /// hidden from it, and nothing the app does may touch it or clear its cookie.
    hidden: bool,
    /// The response must delete the bound cookie (the session it proved was replaced or ended).
    clear_bound: bool,
    /// A registration challenge offered during this request, for `Secure-Session-Registration`.
    offer: Option<String>,
}

/// Begin a request: find the session cookie, validate it (rotating the token on the manager's
/// schedule), and check the CSRF candidate if the method needs one.
///
/// Two cookies of the session's name (cookie tossing) make the request anonymous with reason
/// `malformed`, and the cookie is cleared, as for a dead one.
///
/// # Errors
/// `store_unavailable` / `internal`: the request must not be treated as authenticated (fail
/// closed); a middleware answers 503 or lets the app decide.
pub fn begin(manager: &SessionManager, head: &RequestHead<'_>) -> Result<Request> {
    begin_with(manager, head, |token, ctx| manager.validate(token, ctx))
}

/// [`begin`] with the session cookie's validation already made, by
/// [`SessionManager::validate_then`] for the token this request's cookie carries (`None`: the
/// request carries no single session cookie): no store call, so an event loop may finish a
/// request's begin on the store's I/O thread.
///
/// # Errors
/// `internal` if `prevalidated` is not for this request's session cookie (a bug in the caller:
/// the request is then not authenticated).
pub fn begin_prevalidated(
    manager: &SessionManager,
    head: &RequestHead<'_>,
    prevalidated: Prevalidated,
) -> Result<Request> {
    begin_with(manager, head, |token, ctx| {
        if prevalidated.is_for(token) {
            // The same parts a request's own validate reads, whichever path found the session.
            Ok(prevalidated.into_validation_for(ctx.fields))
        } else {
            Err(Error::internal(
                "a prevalidated session was used for another request's cookie",
            ))
        }
    })
}

/// The session cookie's single token, for [`SessionManager::validate_then`]: `None` when the
/// request carries none, or two (which [`begin`] treats as malformed).
pub fn session_token<'h>(manager: &SessionManager, head: &RequestHead<'h>) -> Option<&'h str> {
    match head
        .cookie_header
        .map(|h| manager.token_from_cookie_header(h))
    {
        Some(CookieToken::One(value)) => Some(value),
        _ => None,
    }
}

fn begin_with(
    manager: &SessionManager,
    head: &RequestHead<'_>,
    validate: impl FnOnce(&str, &Context<'_>) -> Result<Validation>,
) -> Result<Request> {
    let mut request = Request {
        ctx_https: head.https,
        user_agent: head.user_agent.map(str::to_owned),
        session: None,
        begun_user: None,
        token: None,
        send: None,
        reserved: None,
        had_cookie: false,
        reason: None,
        visitor: None,
        visitor_new: None,
        clear: false,
        ended: false,
        csrf: CsrfCheck::NotNeeded,
        bound: Presented::Absent,
        hidden: false,
        clear_bound: false,
        offer: None,
    };
    if let (Some(header), Some(_)) = (head.cookie_header, &manager.config().dbsc) {
        request.bound = match cookie::find_session_cookie(header, manager.bound_cookie_name()) {
            CookieToken::Absent => Presented::Absent,
            CookieToken::One(value) => Presented::from_values(std::iter::once(value)),
            CookieToken::Ambiguous => Presented::Ambiguous,
        };
    }
    let found = head
        .cookie_header
        .map_or(CookieToken::Absent, |h| manager.token_from_cookie_header(h));
    match found {
        CookieToken::Absent => {}
        CookieToken::Ambiguous => request.dead_cookie(Reason::Malformed),
        CookieToken::One(value) => {
            request.had_cookie = true;
            match validate(value, &request.ctx())? {
                Validation::Valid(mut session) => {
                    match session.take_new_token() {
                        Some(rotated) => {
                            request.token = Some(rotated.clone());
                            request.send = Some(rotated);
                        }
                        None => request.token = Token::parse(value).ok(),
                    }
                    request.begun_user = session.record.user.clone();
                    request.session = Some(session);
                }
                // Not a dead session: its owner's browser may still prove it. The request is
                // anonymous and leaves the session and its cookie alone.
                Validation::Rejected(Reason::BindingMissing) => {
                    request.had_cookie = true;
                    request.reason = Some(Reason::BindingMissing);
                    request.hidden = true;
                }
                Validation::Rejected(reason) => request.dead_cookie(reason),
            }
        }
    }
    // A signed-in session accepts only its own CSRF tokens: its requests (the hot path) neither
    // look for the visitor cookie nor hash it.
    if let (Some(header), None) = (head.cookie_header, request.user()) {
        let visitor = manager.visitor_csrf();
        let found = cookie::find_session_cookie(header, visitor.cookie_name());
        if let Some(token) = found.value().and_then(|v| Token::parse(v).ok()) {
            request.visitor = Some(visitor.secret(&token));
        }
    }
    if needs_csrf(head.method) {
        let valid = head.csrf_candidate.is_some_and(|c| request.verify_csrf(c));
        request.csrf = if valid {
            CsrfCheck::Valid
        } else {
            CsrfCheck::Invalid
        };
    }
    Ok(request)
}

impl Request {
    fn ctx(&self) -> Context<'_> {
        Context {
            https: self.ctx_https,
            user_agent: self.user_agent.as_deref(),
            bound: self.bound,
            // A request reads its session's data and checks or mints CSRF tokens; the user
            // agent is a label for listings, so requests leave it in the store.
            fields: Fields::DATA | Fields::CSRF,
        }
    }

    fn dead_cookie(&mut self, reason: Reason) {
        self.had_cookie = true;
        self.reason = Some(reason);
        self.clear = true;
        self.clear_bound = self.bound != Presented::Absent;
    }

    /// The live session, if the request has one (loaded, or made by this request).
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.session.as_ref().and_then(Session::user)
    }

    /// The session's data as the store holds it now (empty without a session): what
    /// [`finish`](Self::finish) compares the app's data with.
    pub fn data(&self) -> &Data {
        self.session.as_ref().map_or(&EMPTY, Session::data)
    }

    /// The session's public id: the live session's, or the one reserved for a new session.
    pub fn id(&self) -> Option<SessionId> {
        match (&self.session, &self.reserved) {
            (Some(s), _) => Some(*s.id()),
            (None, Some(r)) => Some(r.id),
            (None, None) => None,
        }
    }

    /// The session's id, reserving one for a new session if the request has none yet (express's
    /// `req.sessionID` is known before anything is stored). Nothing is stored for it unless the
    /// app writes data, asks for a CSRF token or signs someone in.
    ///
    /// # Errors
    /// `internal` if the OS cannot supply randomness.
    pub fn ensure_id(&mut self, manager: &SessionManager) -> Result<SessionId> {
        if let Some(s) = &self.session {
            return Ok(*s.id());
        }
        Ok(self.reserve(manager)?.id)
    }

    /// The token (and its id) the next new token of this request will be — a new session, a
    /// login, a key cycle — reserved now without touching the store. For frameworks that name
    /// a session before it exists (express-session's `genid`, `req.sessionID` inside a
    /// `regenerate` callback). Never log the token.
    ///
    /// # Errors
    /// `internal` if the OS cannot supply randomness.
    pub fn next_token(&mut self, manager: &SessionManager) -> Result<(&Token, SessionId)> {
        let reserved = self.reserve(manager)?;
        Ok((&reserved.token, reserved.id))
    }

    /// Why the request has no session although it carried a session cookie (`malformed` for two
    /// of them), or `None`.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// Whether the session ended under this request (another request logged it out, an
    /// administrator revoked it, it expired), so its writes were dropped.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The CSRF verdict of [`begin`].
    pub fn csrf(&self) -> CsrfCheck {
        self.csrf
    }

    /// How the request proved its session's device: `None` without a session (a request that
    /// did not prove a bound session has none, and [`reason`](Self::reason) is
    /// `binding_missing`).
    pub fn proof(&self) -> Option<Proof> {
        self.session.as_ref().map(Session::proof)
    }

    /// Whether a sensitive operation may go ahead on this request: its user authenticated less
    /// than `max_age_ms` ago with at least `min_level` (step-up; see [`Freshness`]). A pure
    /// read: nothing is written.
    pub fn require_recent(
        &self,
        manager: &SessionManager,
        max_age_ms: u64,
        min_level: u8,
    ) -> Freshness {
        match &self.session {
            Some(s) => s.freshness(manager.now(), max_age_ms, min_level),
            None => Freshness::Anonymous,
        }
    }

    /// Offer the signed-in session a device binding on this response (sign-ins offer one by
    /// themselves). Returns whether an offer was made: device-bound sessions on, HTTPS, a
    /// signed-in session not bound yet.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn offer_binding(&mut self, manager: &SessionManager) -> Result<bool> {
        let Some(token) = self.token.as_ref().map(Token::expose) else {
            return Ok(false);
        };
        if self.session.as_ref().is_none_or(|s| s.user().is_none()) {
            return Ok(false);
        }
        match manager.offer_binding(&token, &self.ctx()) {
            Ok(offer) => {
                let made = offer.is_some();
                self.offer = offer.or(self.offer.take());
                Ok(made)
            }
            Err(e) if e.reason().is_some() => {
                self.lost();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `candidate` is a CSRF token of this request (constant time); for a token found
    /// after `begin`, such as a form field. A signed-in session accepts only its own tokens; an
    /// anonymous one also its visitor cookie's; no session, only the visitor cookie's (see
    /// [`visitor_csrf`](super::visitor_csrf)).
    pub fn verify_csrf(&self, candidate: &str) -> bool {
        let visitor = || self.visitor.as_ref().is_some_and(|v| v.verify(candidate));
        match &self.session {
            Some(s) if s.user().is_some() => s.verify_csrf(candidate),
            Some(s) => s.verify_csrf(candidate) || visitor(),
            None => visitor(),
        }
    }

    /// A fresh masked CSRF token for a form or header: the session's, or for a visitor without
    /// one, a token bound to a visitor cookie (made now if the request has none; the response
    /// sets it). Nothing is stored for a visitor.
    ///
    /// # Errors
    /// `internal` if the OS cannot supply randomness.
    pub fn csrf_token(&mut self, manager: &SessionManager) -> Result<String> {
        if let Some(s) = &self.session {
            return s.csrf_token();
        }
        if self.visitor.is_none() {
            let cookie = Token::generate()?;
            self.visitor = Some(manager.visitor_csrf().secret(&cookie));
            self.visitor_new = Some(cookie);
        }
        match &self.visitor {
            Some(secret) => secret.mint(),
            None => unreachable!("a visitor secret was made just above"),
        }
    }

    /// The token the client holds for the live session (after this response, the new one).
    /// Never log it.
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    fn reserve(&mut self, manager: &SessionManager) -> Result<&mut Reserved> {
        if self.reserved.is_none() {
            let ((token, id), csrf) = manager.mint_with_csrf()?;
            self.reserved = Some(Reserved { token, id, csrf });
        }
        Ok(self
            .reserved
            .as_mut()
            .unwrap_or_else(|| unreachable!("reserved just above")))
    }

    /// The reserved token and id for the next new token (minting one if none is reserved).
    fn take_minted(&mut self, manager: &SessionManager) -> Result<(Token, SessionId, CsrfSecret)> {
        match self.reserved.take() {
            Some(r) => Ok((r.token, r.id, r.csrf)),
            None => {
                let ((token, id), csrf) = manager.mint_with_csrf()?;
                Ok((token, id, csrf))
            }
        }
    }

    /// `session` is now the request's session, under the new token it carries.
    fn adopt(&mut self, mut session: Session) {
        if let Some(token) = session.take_new_token() {
            self.token = Some(token.clone());
            self.send = Some(token);
        }
        self.session = Some(session);
        self.clear = false;
        self.ended = false;
    }

    /// The session ended under this request.
    fn lost(&mut self) {
        self.session = None;
        self.token = None;
        self.send = None;
        self.ended = true;
        self.clear = true;
        self.clear_bound = self.bound != Presented::Absent;
    }

    // -- steps an app may take at once (and finish takes for it) ---------------------------

    /// Sign `user` in now: a new token (the old one dies at once), a new CSRF secret, a fresh
    /// absolute deadline; the data is carried over as the manager's `login_keeps_data` says.
    /// Without a live session (or if it ended meanwhile: signing in is a fresh
    /// authentication), a new session is made for the user.
    ///
    /// # Errors
    /// `invalid_argument` for a bad user id; `store_unavailable`; `internal`.
    pub fn login(&mut self, manager: &SessionManager, user: &str) -> Result<()> {
        self.login_with(manager, user, &Authn::default())
    }

    /// [`login`](Self::login), saying how strongly the user authenticated (step-up judges it
    /// later: [`require_recent`](Self::require_recent)).
    ///
    /// # Errors
    /// As [`login`](Self::login).
    pub fn login_with(
        &mut self,
        manager: &SessionManager,
        user: &str,
        authn: &Authn,
    ) -> Result<()> {
        let (token, id, csrf) = self.take_minted(manager)?;
        let old = self.token.as_ref().map(Token::expose);
        let ctx = self.ctx();
        let session = manager.login_minted(old.as_deref(), user, authn, &ctx, (token, id), csrf)?;
        self.offer = session.offered_challenge().map(str::to_owned);
        self.adopt(session);
        // A sign-in ends any binding: the bound cookie the browser holds is of no use now.
        self.clear_bound = self.bound != Presented::Absent;
        Ok(())
    }

    /// The signed-in user proved who they are again (step-up): a new token now, the old one
    /// dead at once, a new CSRF secret, `authn` recorded as of now; user, data and device
    /// binding kept. Returns false if there was no live session (nothing is created).
    ///
    /// # Errors
    /// `invalid_argument` for an anonymous session; `store_unavailable`; `internal`.
    pub fn reauthenticate(&mut self, manager: &SessionManager, authn: &Authn) -> Result<bool> {
        let Some(old) = self.token.as_ref().map(Token::expose) else {
            return Ok(false);
        };
        if self.session.as_ref().is_none_or(|s| s.user().is_none()) {
            return Err(Error::invalid_argument(
                "re-authentication needs a signed-in session (sign the user in instead)",
            ));
        }
        let (token, id, csrf) = self.take_minted(manager)?;
        match manager.reauthenticate_minted(&old, authn, &self.ctx(), (token, id), csrf)? {
            Validation::Valid(session) => {
                self.adopt(session);
                Ok(true)
            }
            Validation::Rejected(_) => {
                self.lost();
                Ok(false)
            }
        }
    }

    /// Whether signing `user` in now would carry the session's data over (see
    /// [`SessionManager::login_keeps_data`]): a framework that shows the session's data right
    /// after its login call asks this instead of copying the rule.
    pub fn login_keeps_data(&self, manager: &SessionManager, user: &str) -> bool {
        manager.login_keeps_data(self.user(), user)
    }

    /// End the session now (its token and alias die). Returns whether a live session ended.
    /// The response clears the cookie unless something is stored again before it ends.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn logout(&mut self, manager: &SessionManager) -> Result<bool> {
        // A hidden session is not this request's to end (nor its cookie to clear).
        let had_session = self.session.is_some() || (self.had_cookie && !self.hidden);
        self.clear_bound |= self.bound != Presented::Absent && self.session.is_some();
        let ended = match self.token.take() {
            Some(token) => manager.logout(&token.expose())?,
            None => false,
        };
        self.session = None;
        self.send = None;
        // A reservation stays: prepare may have handed its token out for what is written after
        // the logout.
        self.clear |= had_session;
        Ok(ended)
    }

    /// Give the session a new token now, the old one dead at once; user, data and CSRF secret
    /// kept (Django's `cycle_key()`). Returns false if there was no live session to cycle (a
    /// session that ended meanwhile is not re-created; one only reserved gets a new reservation).
    ///
    /// # Errors
    /// `store_unavailable`; `internal`.
    pub fn regenerate(&mut self, manager: &SessionManager) -> Result<bool> {
        let Some(old) = self.token.as_ref().map(Token::expose) else {
            if self.reserved.take().is_some() {
                self.reserve(manager)?;
            }
            return Ok(false);
        };
        let (token, id, _) = self.take_minted(manager)?;
        match manager.rekey_token(&old, &self.ctx(), true, (token, id))? {
            Validation::Valid(session) => {
                self.adopt(session);
                Ok(true)
            }
            Validation::Rejected(_) => {
                self.lost();
                Ok(false)
            }
        }
    }

    /// Write `changes` now: one atomic patch of the live session. Without one, a new session is
    /// made to hold them (under a new token, never one the client brought). A session that ended
    /// under this request is not re-created: the changes are dropped and [`ended`](Self::ended)
    /// says so.
    ///
    /// # Errors
    /// `data_too_large` (nothing written); `invalid_argument` for an empty key;
    /// `store_unavailable`.
    pub fn write(&mut self, manager: &SessionManager, changes: &Changes) -> Result<()> {
        // A request that did not prove its bound session writes nowhere: a new session would
        // replace the owner's cookie in whatever client sent it, for nothing.
        if self.ended || (self.hidden && self.session.is_none()) {
            return Ok(());
        }
        if let Some(session) = &mut self.session {
            if changes.is_empty() {
                return Ok(());
            }
            let op = DataOp::Patch(changes.set.clone(), changes.remove.clone());
            match manager.update_data(session.id(), op) {
                Ok(data) => {
                    session.record.data = (!data.is_empty()).then(|| Arc::new(data));
                    Ok(())
                }
                Err(e) if e.reason().is_some() => {
                    self.lost();
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            let data = changes.applied_to(&EMPTY);
            if data.is_empty() {
                return Ok(());
            }
            let (token, id, csrf) = self.take_minted(manager)?;
            let session = manager.create_minted(Some(data), &self.ctx(), (token, id), csrf)?;
            self.adopt(session);
            Ok(())
        }
    }

    /// Store a new, empty session now unless the request has one (Django's `create()`: a session
    /// key that exists before anything is in it). Does nothing if the request's session ended
    /// under it: a new session would receive the ended one's data at `finish`.
    ///
    /// # Errors
    /// `store_unavailable`; `internal`.
    pub fn create(&mut self, manager: &SessionManager) -> Result<()> {
        if self.session.is_some() || self.ended || self.hidden {
            return Ok(());
        }
        let (token, id, csrf) = self.take_minted(manager)?;
        let session = manager.create_minted(None, &self.ctx(), (token, id), csrf)?;
        self.adopt(session);
        Ok(())
    }

    /// Give the live session its own expiry now (see [`Expiry`]); it can shorten the configured
    /// policy, never lengthen it. Nothing is written when the session already has it.
    ///
    /// # Errors
    /// `invalid_argument` for a zero idle time; `store_unavailable`.
    pub fn set_expiry(&mut self, manager: &SessionManager, expiry: Expiry) -> Result<()> {
        let Some(session) = &mut self.session else {
            return Ok(());
        };
        let config = manager.config();
        let idle_ms = millis(config.idle_timeout);
        let natural = session
            .record
            .created_at
            .saturating_add(millis(config.absolute_timeout));
        let (max_idle, end_at) = match expiry {
            Expiry::Idle(d) => (Some(d), None),
            Expiry::Until(at) => (None, Some(at)),
            Expiry::Policy | Expiry::BrowserSession | Expiry::Persistent(_) => (None, None),
        };
        let want_idle = max_idle.map(millis).filter(|&ms| ms < idle_ms);
        let want_deadline = end_at.map_or(natural, |at| at.min(natural));
        if session.record.max_idle_ms == want_idle && session.record.deadline == want_deadline {
            return Ok(());
        }
        match manager.set_expiry(session.id(), max_idle, end_at) {
            Ok(()) => {
                session.record.max_idle_ms = want_idle;
                session.record.deadline = want_deadline;
                Ok(())
            }
            Err(e) if e.reason().is_some() => {
                self.lost();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    // -- finish -----------------------------------------------------------------------------

    /// The headers the response will carry if `outcome`'s writes succeed, for a framework that
    /// must send its headers before the writes can be made (streaming, an event loop that cannot
    /// block). New tokens are minted here and reused by [`finish`](Self::finish), so the cookie
    /// sent now is the one finish stores. If a write then finds the session ended, the browser
    /// holds a token that is not valid: its next request is anonymous and clears it.
    ///
    /// # Errors
    /// `internal` if the OS cannot supply randomness.
    pub fn prepare(&mut self, manager: &SessionManager, outcome: &Outcome) -> Result<Response> {
        let changes = self.changes(outcome);
        let plan = self.plan(outcome, &changes);
        let token = match plan.step {
            Step::Login(_) | Step::Regenerate | Step::Reauthenticate(_)
                if self.session.is_some() || plan.login() =>
            {
                Some(self.reserve(manager)?.token.clone())
            }
            _ if plan.creates(self) => Some(self.reserve(manager)?.token.clone()),
            _ => self.send.clone(),
        };
        let clear = match plan.step {
            Step::Logout => {
                !plan.creates(self) && (self.clear || self.had_cookie || self.session.is_some())
            }
            _ => self.clear,
        };
        let resend = outcome.expiry_changed && !outcome.error && token.is_none();
        let token = if resend && !plan.ends() {
            self.token.clone()
        } else {
            token
        };
        Ok(self.response_with(manager, token.as_ref(), clear, outcome))
    }

    /// Finish the request: carry out what the app did (see the module's rules) and return the
    /// headers the response must carry.
    ///
    /// # Errors
    /// A [`FinishError`]: the error (`data_too_large` — nothing of the request's data was
    /// written —, `invalid_argument` for a bad user id or key, `store_unavailable`, `internal`),
    /// which the response should report (500, or 503 for `store_unavailable`), *and* the
    /// headers that response must still carry: a token rotated by `begin`, or replaced by a
    /// step that did complete, must reach the client or it is signed out.
    pub fn finish(
        mut self,
        manager: &SessionManager,
        outcome: Outcome,
    ) -> std::result::Result<Response, FinishError> {
        let resend = match self.carry_out(manager, &outcome) {
            Ok(resend) => resend,
            Err(error) => {
                let token = self.send.clone();
                let response = self.response_with(manager, token.as_ref(), self.clear, &outcome);
                return Err(FinishError(Box::new((error, response))));
            }
        };
        let token = match (&self.send, resend) {
            (Some(t), _) => Some(t.clone()),
            (None, true) => self.token.clone(),
            (None, false) => None,
        };
        Ok(self.response_with(manager, token.as_ref(), self.clear, &outcome))
    }

    /// The steps of `finish`; returns whether the cookie must be sent again for a new expiry.
    fn carry_out(&mut self, manager: &SessionManager, outcome: &Outcome) -> Result<bool> {
        let changes = self.changes(outcome);
        let plan = self.plan(outcome, &changes);
        match &plan.step {
            Step::Logout => {
                self.logout(manager)?;
                // Only what this request wrote survives a logout, in a new anonymous session.
                self.write(
                    manager,
                    &Changes {
                        set: changes.set,
                        remove: Vec::new(),
                    },
                )?;
            }
            Step::Login(user) => {
                let authn = outcome.authn.clone().unwrap_or_default();
                self.login_with(manager, user, &authn)?;
                self.write(manager, &changes)?;
            }
            Step::Reauthenticate(authn) => {
                self.reauthenticate(manager, authn)?;
                self.write(manager, &changes)?;
            }
            Step::Regenerate => {
                // Without a session there is no key to cycle; a reservation keeps the token
                // `prepare` may already have handed out.
                if self.session.is_some() {
                    self.regenerate(manager)?;
                }
                self.write(manager, &changes)?;
            }
            Step::Write => self.write(manager, &changes)?,
            Step::Nothing => {}
        }
        match (outcome.expiry, outcome.error) {
            (Some(expiry), false) => {
                self.set_expiry(manager, expiry)?;
                Ok(outcome.expiry_changed)
            }
            _ => Ok(false),
        }
    }

    /// The app's data against the session's (none for an error response: nothing is saved).
    /// After an eager logout there is no session: the framework's data (which its logout
    /// emptied, as Django's `flush()` and express-session's `regenerate()` do) is what a new
    /// anonymous session would hold.
    fn changes(&self, outcome: &Outcome) -> Changes {
        match &outcome.data {
            Some(data) if !outcome.error => Changes::between(self.data(), data),
            _ => Changes::default(),
        }
    }

    /// What `finish` will do, decided from the outcome and the session's user alone.
    fn plan(&self, outcome: &Outcome, changes: &Changes) -> Plan {
        let current = self.user();
        let auth_step = match &outcome.auth {
            Auth::Unchanged => None,
            Auth::LoggedIn(user) => Some(Step::Login(user.clone())),
            Auth::LoggedOut => Some(Step::Logout),
            // A user the request began with is no sign-in: if the session ended under the
            // request (revoked, logged out), the framework's copy of its data is stale.
            Auth::User(Some(user))
                if current != Some(user.as_str())
                    && self.begun_user.as_deref() != Some(user.as_str()) =>
            {
                Some(Step::Login(user.clone()))
            }
            Auth::User(None) if current.is_some() => Some(Step::Logout),
            Auth::User(_) => None,
            Auth::Reauthenticated(authn) if current.is_some() => {
                Some(Step::Reauthenticate(authn.clone()))
            }
            Auth::Reauthenticated(_) => None,
        };
        let step = match auth_step {
            // A failed request signs nobody in and cycles nothing; a logout still happens.
            Some(Step::Logout) => Step::Logout,
            _ if outcome.error => Step::Nothing,
            Some(step) => step,
            None if outcome.regenerate => Step::Regenerate,
            None => Step::Write,
        };
        Plan {
            step,
            wrote: !changes.set.is_empty(),
        }
    }

    fn response_with(
        &self,
        manager: &SessionManager,
        token: Option<&Token>,
        clear: bool,
        outcome: &Outcome,
    ) -> Response {
        let config = manager.config();
        let set_cookie = match token {
            Some(token) => {
                let max_age = self.cookie_max_age(manager, outcome.expiry);
                Some(cookie::set_cookie_with_max_age(config, token, max_age))
            }
            None if clear => Some(cookie::clear_cookie(config)),
            None => None,
        };
        let csrf_cookie = self.visitor_new.as_ref().map(|token| {
            cookie::set_named_cookie(config, manager.visitor_csrf().cookie_name(), token, None)
        });
        let held = match token {
            Some(t) => Some(t.clone()),
            None if clear => None,
            None => self.session.as_ref().and(self.token.clone()),
        };
        let bound_cookie = self
            .clear_bound
            .then(|| cookie::clear_named_cookie(config, manager.bound_cookie_name()));
        let registration = match (&self.offer, &config.dbsc, &self.session) {
            (Some(challenge), Some(dbsc), Some(_)) => crate::dbsc::wire::registration_header(
                &dbsc.algorithms,
                &format!("{}/register", dbsc.path_prefix),
                challenge,
            )
            .ok(),
            _ => None,
        };
        Response {
            no_store: set_cookie.is_some()
                || csrf_cookie.is_some()
                || bound_cookie.is_some()
                || registration.is_some(),
            set_cookie,
            csrf_cookie,
            bound_cookie,
            registration,
            token: held,
            session_id: self.session.as_ref().map(|s| *s.id()),
            user: self.user().map(str::to_owned),
            ended: self.ended,
        }
    }

    /// The cookie's `Max-Age` for the session's expiry: never beyond its absolute deadline.
    fn cookie_max_age(&self, manager: &SessionManager, expiry: Option<Expiry>) -> Option<Duration> {
        let config = manager.config();
        let now = manager.now();
        let deadline = self.session.as_ref().map_or_else(
            || now.saturating_add(millis(config.absolute_timeout)),
            |s| s.absolute_deadline(),
        );
        let remaining = |until: UnixMillis| seconds_until(now, until);
        match expiry.unwrap_or(Expiry::Policy) {
            Expiry::Policy => config.cookie_max_age.map(|d| d.min(remaining(deadline))),
            Expiry::BrowserSession => None,
            Expiry::Idle(_) => Some(remaining(deadline)),
            Expiry::Until(at) => Some(remaining(at.min(deadline))),
            Expiry::Persistent(d) => {
                let left = remaining(deadline);
                Some(d.map_or(left, |d| d.min(left)))
            }
        }
    }
}

/// Whole seconds from `now` until `until`, rounded up, at least one (a `Max-Age` of 0 would
/// delete the cookie the response is setting).
fn seconds_until(now: UnixMillis, until: UnixMillis) -> Duration {
    let ms = until.saturating_sub(now);
    Duration::from_secs(ms.div_ceil(1000).max(1))
}

enum Step {
    Nothing,
    Write,
    Login(String),
    Logout,
    Regenerate,
    Reauthenticate(Authn),
}

struct Plan {
    step: Step,
    /// The app's data sets keys that differ from the session's.
    wrote: bool,
}

impl Plan {
    fn login(&self) -> bool {
        matches!(self.step, Step::Login(_))
    }

    fn ends(&self) -> bool {
        matches!(self.step, Step::Logout)
    }

    /// Whether finishing stores a new session (and so sends a new token).
    fn creates(&self, request: &Request) -> bool {
        match self.step {
            Step::Logout => self.wrote,
            // Regenerating without a session is a plain write.
            Step::Write | Step::Regenerate => {
                request.session.is_none() && !request.ended && self.wrote
            }
            Step::Login(_) => true,
            Step::Nothing | Step::Reauthenticate(_) => false,
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("session", &self.session.as_ref().map(Session::id))
            .field("user", &self.user())
            .field("reason", &self.reason)
            .field("csrf", &self.csrf)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
