//! What the manager hands back for a good token: the session as of this request.

use std::sync::Arc;

use once_cell::sync::Lazy;
use serde_json::Value;

use crate::authn::{Authenticated, Freshness};
use crate::binding::{Binding, BindingState, Presented, Proof};
use crate::clock::UnixMillis;
use crate::data::Data;
use crate::error::{Error, Reason, Result};
use crate::fields::Fields;
use crate::id::SessionId;
use crate::record::Record;
use crate::token::Token;

static EMPTY: Lazy<Data> = Lazy::new(Data::new);

/// Per-request context for [`validate`](crate::SessionManager::validate) and friends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context<'a> {
    /// Whether the request arrived over HTTPS. A session created over plain HTTP that is first
    /// seen over HTTPS gets a new token at once (the old one crossed the network in clear).
    pub https: bool,
    /// The request's `User-Agent`, recorded at creation and login as a device label for
    /// [`list_user`](crate::SessionManager::list_user). It is not enforced: browsers change it on
    /// every update, and an attacker who has the token can copy it anyway.
    pub user_agent: Option<&'a str>,
    /// The request's bound cookie(s) (device-bound sessions, `docs/dbsc.md`). A bound session is
    /// served only to a request that carries a current one; [`http::begin`](crate::http::begin)
    /// fills it from the `Cookie` header.
    pub bound: Presented,
    /// Which of the session's larger parts (data, CSRF secret, user agent) the caller will read:
    /// a read copies out only those ([`Fields`]). Every part by default.
    pub fields: Fields,
}

impl Context<'_> {
    /// A context for a request over HTTPS.
    pub const HTTPS: Context<'static> = Context {
        https: true,
        user_agent: None,
        bound: Presented::Absent,
        fields: Fields::ALL,
    };
}

/// The outcome of validating a token.
// Unboxed on purpose: validate runs on every request and a Box would allocate each time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Validation {
    /// The token is good.
    Valid(Session),
    /// It is not; the request is anonymous.
    Rejected(Reason),
}

impl Validation {
    /// The session, if valid.
    pub fn session(self) -> Option<Session> {
        match self {
            Validation::Valid(s) => Some(s),
            Validation::Rejected(_) => None,
        }
    }

    /// The rejection reason, if rejected.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Validation::Valid(_) => None,
            Validation::Rejected(r) => Some(*r),
        }
    }
}

/// A live session as seen by one request.
///
/// If [`Session::new_token`] is set, the session was given a new token during this call
/// (rotation, HTTPS upgrade, login) and the response must send it in `Set-Cookie`.
#[derive(Debug)]
pub struct Session {
    pub(crate) record: Record,
    pub(crate) new_token: Option<Token>,
    pub(crate) idle_ms: u64,
    pub(crate) proof: Proof,
    pub(crate) offer: Option<String>,
    /// The parts the read was asked for ([`Context::fields`]); the record's others are empty.
    pub(crate) fields: Fields,
}

impl Session {
    /// Its public id.
    pub fn id(&self) -> &SessionId {
        &self.record.id
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<&str> {
        self.record.user.as_deref()
    }

    /// Its data: the empty object if the read did not ask for [`Fields::DATA`].
    pub fn data(&self) -> &Data {
        self.data_shared().map_or(&EMPTY, |d| d)
    }

    /// Its data as a shared pointer (`None` when empty, or not read), without copying.
    pub fn data_shared(&self) -> Option<&Arc<Data>> {
        self.record
            .data
            .as_ref()
            .filter(|_| self.fields.contains(Fields::DATA))
    }

    /// Which of its larger parts the read that produced it was asked for ([`Context::fields`]).
    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// One data value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data().get(key)
    }

    /// The token the client must be sent now, if it changed during this call.
    pub fn new_token(&self) -> Option<&Token> {
        self.new_token.as_ref()
    }

    /// Take the new token out (for handing to the cookie writer).
    pub fn take_new_token(&mut self) -> Option<Token> {
        self.new_token.take()
    }

    /// When it was created (or last logged in).
    pub fn created_at(&self) -> UnixMillis {
        self.record.created_at
    }

    /// When it was last seen (now, for a session just validated).
    pub fn last_seen(&self) -> UnixMillis {
        self.record.last_seen
    }

    /// Its absolute deadline.
    pub fn absolute_deadline(&self) -> UnixMillis {
        self.record.deadline
    }

    /// When it ends if unused: `last_seen + idle_timeout`, or the absolute deadline if sooner.
    pub fn expires_at(&self) -> UnixMillis {
        self.record.expires_at(self.idle_ms)
    }

    /// When its token last changed.
    pub fn rotated_at(&self) -> UnixMillis {
        self.record.rotated_at
    }

    /// Whether its token has only travelled over HTTPS.
    pub fn secure(&self) -> bool {
        self.record.secure
    }

    /// The user agent recorded for it (`None` if the read did not ask for
    /// [`Fields::USER_AGENT`]).
    pub fn user_agent(&self) -> Option<&str> {
        self.record
            .user_agent
            .as_deref()
            .filter(|_| self.fields.contains(Fields::USER_AGENT))
    }

    /// A fresh masked CSRF token for a form or header of this session.
    ///
    /// # Errors
    /// `invalid_argument` if the read did not ask for [`Fields::CSRF`]; `internal` if the OS
    /// cannot supply randomness.
    pub fn csrf_token(&self) -> Result<String> {
        if !self.fields.contains(Fields::CSRF) {
            return Err(Error::invalid_argument(
                "this session was read without its CSRF secret (Fields::CSRF)",
            ));
        }
        self.record.csrf.mint()
    }

    /// Whether `candidate` is a CSRF token of this session (constant time). Always false if the
    /// read did not ask for [`Fields::CSRF`]: without the secret nothing is verified.
    pub fn verify_csrf(&self, candidate: &str) -> bool {
        self.fields.contains(Fields::CSRF) && self.record.csrf.verify(candidate)
    }

    /// The underlying record. Parts the read was not asked for ([`Session::fields`]) are
    /// empty in it: no data, no user agent, an all-zero CSRF secret (which verifies nothing).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// How this request proved the session's device: `Unbound` for a session that is not
    /// device-bound, `Pending` just after registration, `Fresh` with a current bound cookie.
    /// (A request that did not prove a bound session never gets the session at all.)
    pub fn proof(&self) -> Proof {
        self.proof
    }

    /// The device binding, if the session is bound.
    pub fn binding(&self) -> Option<&Binding> {
        self.record.binding.as_deref().and_then(BindingState::bound)
    }

    /// When and how strongly the user last authenticated; `None` for an anonymous session.
    pub fn authenticated(&self) -> Option<Authenticated> {
        self.record.authenticated()
    }

    /// Whether a sensitive operation may go ahead: the user authenticated less than
    /// `max_age_ms` before `now`, with at least `min_level` (see [`Freshness`]).
    pub fn freshness(&self, now: UnixMillis, max_age_ms: u64, min_level: u8) -> Freshness {
        match self.authenticated() {
            None => Freshness::Anonymous,
            Some(a) => a.freshness(now, max_age_ms, min_level),
        }
    }

    /// The registration challenge this call offered the browser (device-bound sessions): the
    /// response must carry it in `Secure-Session-Registration`.
    pub fn offered_challenge(&self) -> Option<&str> {
        self.offer.as_deref()
    }
}

/// Public information about one of a user's sessions, for "your devices" pages. Never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Its id (give it to [`revoke`](crate::SessionManager::revoke) to end it).
    pub id: SessionId,
    /// When it was created or last logged in.
    pub created_at: UnixMillis,
    /// When it was last seen.
    pub last_seen: UnixMillis,
    /// When it ends if unused.
    pub expires_at: UnixMillis,
    /// Its absolute deadline.
    pub absolute_deadline: UnixMillis,
    /// The recorded user agent.
    pub user_agent: Option<String>,
    /// Whether it has only used HTTPS.
    pub secure: bool,
    /// When and how strongly its user last authenticated.
    pub authenticated: Option<Authenticated>,
    /// When it was bound to a device (DBSC), if it is.
    pub bound_at: Option<UnixMillis>,
    /// The bound key's RFC 7638 thumbprint (base64url), if it is bound.
    pub key_thumbprint: Option<String>,
}

/// A session that one read of the store settled, for the request whose cookie carried the token
/// it was found by: what [`SessionManager::validate_then`](crate::SessionManager::validate_then)
/// hands over and [`http::begin_prevalidated`](crate::http::begin_prevalidated) takes instead of
/// validating again. It holds the token only to check that it is used for that same request.
pub struct Prevalidated {
    token: String,
    session: Session,
}

impl Prevalidated {
    pub(crate) fn new(token: String, session: Session) -> Self {
        Prevalidated { token, session }
    }

    /// Whether this is the session of `token`.
    pub fn is_for(&self, token: &str) -> bool {
        self.token == token
    }

    /// The session found.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The validation it stands for.
    pub fn into_validation(self) -> Validation {
        Validation::Valid(self.session)
    }

    /// The validation it stands for, answering for `fields` as a validate asked for them would
    /// (the one read behind it fetched the whole record).
    pub(crate) fn into_validation_for(self, fields: Fields) -> Validation {
        let mut session = self.session;
        session.record.keep_only(fields);
        session.fields = fields;
        Validation::Valid(session)
    }
}

impl std::fmt::Debug for Prevalidated {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prevalidated")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}
