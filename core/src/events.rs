//! Lifecycle events for audit logs and metrics.
//!
//! Events carry the public session id and the user, never a token. Listeners run synchronously
//! after the transition, outside every store lock; a panicking listener is contained so it can
//! never turn into a failed (or, worse, a half-done) authentication decision.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use crate::clock::UnixMillis;
use crate::error::Reason;
use crate::id::SessionId;

/// What happened to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new session was created.
    Created,
    /// Its token was replaced (periodic rotation, HTTPS upgrade, or an explicit rotate).
    Rotated,
    /// A user logged in: new token, old one dead at once.
    Login,
    /// The holder logged out.
    Logout,
    /// An administrator (or a limit) ended it; `id: None` means every session at once.
    Revoked,
    /// It reached its idle or absolute timeout (`reason` says which).
    Expired,
    /// A token was refused (`reason` says why); `id` is set when the token was well-formed.
    Rejected,
    /// An anonymous session was ended to make room under the store's `max_sessions` (the least
    /// recently seen first; signed-in sessions never are).
    Evicted,
    /// A browser bound the session to its key (DBSC); `detail` is the algorithm.
    Registered,
    /// A proof of the bound key minted a new bound cookie.
    Refreshed,
    /// A registration or refresh proof was refused; `detail` says why (a stable code such as
    /// `bad_signature`, `unknown_challenge`).
    ProofFailed,
    /// A request brought a bound session's long-lived cookie without a current bound cookie;
    /// the session was hidden from it. `detail`: `absent`, `expired`, `mismatch`, `ambiguous`.
    BindingMissing,
    /// A binding ended while the session lives on; `detail`: `login` or `app`.
    Unbound,
    /// The signed-in user proved who they are again (step-up): new token, no grace.
    Reauthenticated,
}

impl EventKind {
    /// The stable lowercase name, the same in every binding.
    pub const fn code(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Rotated => "rotated",
            EventKind::Login => "login",
            EventKind::Logout => "logout",
            EventKind::Revoked => "revoked",
            EventKind::Expired => "expired",
            EventKind::Rejected => "rejected",
            EventKind::Evicted => "evicted",
            EventKind::Registered => "registered",
            EventKind::Refreshed => "refreshed",
            EventKind::ProofFailed => "proof_failed",
            EventKind::BindingMissing => "binding_missing",
            EventKind::Unbound => "unbound",
            EventKind::Reauthenticated => "reauthenticated",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One lifecycle transition.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The session's id after the transition (before it, for endings).
    pub id: Option<SessionId>,
    /// For rotations and logins, the id it had before.
    pub previous_id: Option<SessionId>,
    /// The user, if known.
    pub user: Option<Arc<str>>,
    /// For `expired` and `rejected`, why.
    pub reason: Option<Reason>,
    /// When, by the manager's clock.
    pub at: UnixMillis,
    /// More about what happened, as a stable code (see each [`EventKind`]). Never a secret.
    pub detail: Option<&'static str>,
}

impl Event {
    pub(crate) fn new(
        kind: EventKind,
        id: Option<SessionId>,
        user: Option<Arc<str>>,
        at: UnixMillis,
    ) -> Self {
        Event {
            kind,
            id,
            previous_id: None,
            user,
            reason: None,
            at,
            detail: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    pub(crate) fn with_reason(mut self, reason: Option<Reason>) -> Self {
        self.reason = reason;
        self
    }

    pub(crate) fn with_previous(mut self, previous: SessionId) -> Self {
        self.previous_id = Some(previous);
        self
    }
}

/// A registered event callback.
pub type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// The listeners of one manager.
#[derive(Default)]
pub(crate) struct Listeners {
    any: AtomicBool,
    list: RwLock<Vec<Listener>>,
}

impl Listeners {
    pub(crate) fn add(&self, listener: Listener) {
        self.list.write().push(listener);
        self.any.store(true, Ordering::Release);
    }

    /// Whether anyone listens: lets hot paths skip building events.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    pub(crate) fn emit(&self, event: impl FnOnce() -> Event) {
        if !self.active() {
            return;
        }
        let event = event();
        let list = self.list.read().clone();
        for listener in list {
            // A listener's panic must not abort the request that triggered the event.
            let _ = catch_unwind(AssertUnwindSafe(|| listener(&event)));
        }
    }
}
