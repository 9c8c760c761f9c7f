//! The server-side session record and the one rule that says whether it is still alive.
//!
//! Stores hold [`Record`]s; the manager decides what to do with them. The liveness rule lives
//! here, once, and every store calls it so they agree to the millisecond.

use std::sync::Arc;

use crate::authn::{Authenticated, Authn};
use crate::binding::{BindingState, Missing};
use crate::clock::UnixMillis;
use crate::csrf::CsrfSecret;
use crate::data::Data;
use crate::error::Reason;
use crate::fields::Fields;
use crate::id::SessionId;

/// What a store keeps for one session. Never contains the token.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The session's current id (changes with every rotation).
    pub id: SessionId,
    /// The authenticated user, if any.
    pub user: Option<Arc<str>>,
    /// The user agent the session was created with, as a device label for listings.
    pub user_agent: Option<Arc<str>>,
    /// When the session was created, or last logged in (a login restarts its life).
    pub created_at: UnixMillis,
    /// When it was last validated.
    pub last_seen: UnixMillis,
    /// Absolute deadline: `created_at + absolute_timeout`.
    pub deadline: UnixMillis,
    /// When its token last changed.
    pub rotated_at: UnixMillis,
    /// Whether its token has only ever travelled over HTTPS.
    pub secure: bool,
    /// Its CSRF secret.
    pub csrf: CsrfSecret,
    /// Its data; `None` is the empty object.
    pub data: Option<Arc<Data>>,
    /// The id of the token rotated away just before the current one, while that alias may live.
    /// Set on what [`Store::rekey`](crate::store::Store::rekey) answers; a store that resolves
    /// an alias whose target has gone to nothing (the memory store) need not keep it after.
    pub predecessor: Option<SessionId>,
    /// This session's own idle timeout, set by the app to end it sooner than the configured one
    /// (`None` = the configured one). It can only shorten: see [`Record::idle_ms`].
    pub max_idle_ms: Option<u64>,
    /// How strongly its user last authenticated (when: `created_at`, which a sign-in and a
    /// re-authentication restart). `None` for anonymous sessions, and for signed-in ones written
    /// before step-up existed: [`Record::authenticated`] reads those as one factor.
    pub auth: Option<Authn>,
    /// Its device binding, or the offer of one. Changed only by
    /// [`Store::swap_binding`](crate::store::Store::swap_binding) and by a login's rekey: a
    /// write of the data never touches it.
    pub binding: Option<Arc<BindingState>>,
}

impl Record {
    /// Empty the larger parts `fields` does not name, as a store that reads only those would
    /// have returned it: so a narrow read answers the same whichever store served it.
    pub fn keep_only(&mut self, fields: Fields) {
        if !fields.contains(Fields::DATA) {
            self.data = None;
        }
        if !fields.contains(Fields::USER_AGENT) {
            self.user_agent = None;
        }
        if !fields.contains(Fields::CSRF) {
            self.csrf = CsrfSecret::UNREAD;
        }
    }

    /// A new record, created now.
    pub fn new(
        id: SessionId,
        user: Option<Arc<str>>,
        now: UnixMillis,
        absolute_ms: u64,
        secure: bool,
        csrf: CsrfSecret,
    ) -> Self {
        Record {
            id,
            user,
            user_agent: None,
            created_at: now,
            last_seen: now,
            deadline: now.saturating_add(absolute_ms),
            rotated_at: now,
            secure,
            csrf,
            data: None,
            predecessor: None,
            max_idle_ms: None,
            auth: None,
            binding: None,
        }
    }

    /// When and how strongly the user last authenticated; `None` for an anonymous session.
    pub fn authenticated(&self) -> Option<Authenticated> {
        self.user.as_ref()?;
        Some(match &self.auth {
            Some(a) => a.at(self.created_at),
            None => Authn::default().at(self.created_at),
        })
    }

    /// The idle timeout in force for this record when `configured` is the manager's: the shorter
    /// of the two, so a per-session timeout — even one stored under a longer configuration
    /// since shortened — never lengthens a session's life.
    #[inline]
    pub fn idle_ms(&self, configured: u64) -> u64 {
        effective_idle(self.max_idle_ms, configured)
    }

    /// Whether the record is alive at `now` under the configured idle timeout `idle_ms` (tightened
    /// by its own, see [`Record::idle_ms`]); see [`check_live`].
    ///
    /// # Errors
    /// The reason it is not.
    pub fn check_live(&self, now: UnixMillis, idle_ms: u64) -> Result<(), Reason> {
        check_live(self.deadline, self.last_seen, now, self.idle_ms(idle_ms))
    }

    /// When the record will expire if nobody touches it: the earlier of the idle deadline (under
    /// its effective idle timeout, see [`Record::idle_ms`]) and the absolute deadline.
    pub fn expires_at(&self, idle_ms: u64) -> UnixMillis {
        self.deadline
            .min(self.last_seen.saturating_add(self.idle_ms(idle_ms)))
    }
}

/// The idle timeout in force for a session whose own timeout is `own` when the configured one is
/// `configured`: the shorter. The memory store, which keeps records in its own layout, uses it too,
/// so both apply the same rule.
#[inline]
pub(crate) fn effective_idle(own: Option<u64>, configured: u64) -> u64 {
    own.map_or(configured, |own| own.min(configured))
}

/// The liveness rule of DESIGN.md: the absolute deadline first (`now ≥ deadline`), then the idle
/// timeout (`now − last_seen ≥ idle`). Both bounds are exclusive of the instant they are reached.
///
/// # Errors
/// [`Reason::ExpiredAbsolute`] or [`Reason::ExpiredIdle`].
#[inline]
pub fn check_live(
    deadline: UnixMillis,
    last_seen: UnixMillis,
    now: UnixMillis,
    idle_ms: u64,
) -> Result<(), Reason> {
    if now >= deadline {
        Err(Reason::ExpiredAbsolute)
    } else if now.saturating_sub(last_seen) >= idle_ms {
        Err(Reason::ExpiredIdle)
    } else {
        Ok(())
    }
}

/// A session a store removed, for events and counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Its id at removal.
    pub id: SessionId,
    /// Its user.
    pub user: Option<Arc<str>>,
    /// Why it ended, when it expired (`None` for logout and revocation).
    pub expired: Option<Reason>,
}

impl From<&Record> for Removed {
    fn from(r: &Record) -> Self {
        Removed {
            id: r.id,
            user: r.user.clone(),
            expired: None,
        }
    }
}

/// The result of looking a session up.
#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    /// Alive; `last_seen` was moved to now. `via_alias` says the id was a rotated-away token
    /// inside its grace window, and `record` is its successor.
    Live {
        /// The (successor) record, as touched.
        record: Record,
        /// Whether the id looked up was an alias.
        via_alias: bool,
    },
    /// Present but expired (not touched); the caller removes it.
    Expired(Reason, Record),
    /// Alive and bound to a device, but the request did not prove the device (see
    /// [`Gate`](crate::binding::Gate)): not touched, and not to be served to this request.
    Unproven(Missing, Record),
    /// No such session (or an alias past its grace).
    Missing,
}

/// An atomic change of a session's id (rotation) and, for a login, of who it belongs to.
#[derive(Clone, Debug)]
pub struct Rekey {
    /// The id of the new token.
    pub new_id: SessionId,
    /// Until when the old id keeps resolving to the new one; `None` ends it at once.
    pub alias_until: Option<UnixMillis>,
    /// Set the record's `secure` flag (the new token is only sent over HTTPS).
    pub secure: bool,
    /// For a login: the privilege change that comes with the new id.
    pub login: Option<LoginChange>,
}

/// A session's own, tighter expiry.
///
/// Applied by [`Store::set_expiry`](crate::store::Store::set_expiry) as given: the
/// [`SessionManager`](crate::SessionManager) computes it so that it never lengthens the configured
/// policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryChange {
    /// The session's own idle timeout; `None` restores the configured one.
    pub max_idle_ms: Option<u64>,
    /// The session's absolute deadline.
    pub deadline: UnixMillis,
}

/// What a login changes besides the id.
#[derive(Clone, Debug)]
pub struct LoginChange {
    /// The user the session now belongs to.
    pub user: Arc<str>,
    /// The user the caller saw on the record; the rekey fails if it changed meanwhile.
    pub expected_user: Option<Arc<str>>,
    /// A fresh CSRF secret.
    pub csrf: CsrfSecret,
    /// The new absolute deadline (the session's life restarts). The session's own idle timeout
    /// ([`Record::max_idle_ms`]) is kept: the app shortened it for this session, and a login
    /// does not make the session less sensitive.
    pub deadline: UnixMillis,
    /// Keep the data (else it is cleared).
    pub keep_data: bool,
    /// New user agent label, if known.
    pub user_agent: Option<Arc<str>>,
    /// How the user authenticated, now (the rekey's `now` becomes `created_at`).
    pub auth: Authn,
    /// What becomes of the device binding.
    pub binding: BindingChange,
}

/// What a login's rekey does to the session's device binding.
#[derive(Clone, Debug)]
pub enum BindingChange {
    /// Keep it (re-authentication of the same user on the same device).
    Keep,
    /// Replace it: `None` ends it, `Some` stores a new offer (a sign-in ends the binding of
    /// the session it started from).
    Replace(Option<Arc<BindingState>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_bounds_are_exclusive_and_absolute_wins() {
        assert_eq!(check_live(100, 0, 99, 50), Err(Reason::ExpiredIdle));
        assert_eq!(check_live(100, 50, 99, 50), Ok(()));
        assert_eq!(check_live(100, 50, 100, 50), Err(Reason::ExpiredAbsolute));
        assert_eq!(check_live(100, 0, 49, 50), Ok(()));
        assert_eq!(check_live(100, 0, 50, 50), Err(Reason::ExpiredIdle));
        // A clock that went backwards never expires a session by idleness.
        assert_eq!(check_live(100, 60, 10, 50), Ok(()));
    }

    #[test]
    fn a_per_session_idle_only_shortens() {
        let mut r = Record::new(
            SessionId::from_bytes([1; 32]),
            None,
            1_000,
            10_000,
            true,
            CsrfSecret::from_bytes([2; 32]),
        );
        assert_eq!(r.idle_ms(500), 500);
        assert_eq!(r.expires_at(500), 1_500);
        r.max_idle_ms = Some(200);
        assert_eq!(r.idle_ms(500), 200);
        assert_eq!(r.expires_at(500), 1_200);
        assert_eq!(r.check_live(1_199, 500), Ok(()));
        assert_eq!(r.check_live(1_200, 500), Err(Reason::ExpiredIdle));
        // A configuration shortened below the session's own timeout wins.
        assert_eq!(r.idle_ms(100), 100);
        assert_eq!(r.check_live(1_100, 100), Err(Reason::ExpiredIdle));
        // The absolute deadline still bounds it.
        r.deadline = 1_150;
        assert_eq!(r.expires_at(500), 1_150);
        assert_eq!(r.check_live(1_150, 500), Err(Reason::ExpiredAbsolute));
    }
}
