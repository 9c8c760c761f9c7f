//! When and how strongly a session's user last proved who they are: the basis of step-up
//! re-authentication (ASVS 5.0 7.5.1, 7.5.3).
//!
//! The app says how strong a sign-in was (a level it defines, and RFC 8176 `amr` values) when it
//! signs the user in or re-authenticates them; Tessera records the time. Before a sensitive
//! change the app asks [`Authenticated::freshness`] whether that proof is recent and strong
//! enough, and sends the user through re-authentication if not.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMillis;
use crate::error::{Error, Result};

/// At most this many `amr` values per session.
pub const MAX_AMR: usize = 8;
/// At most this many bytes per `amr` value.
pub const MAX_AMR_LEN: usize = 32;

/// How the user authenticated, as the app states it at sign-in or re-authentication.
///
/// ```
/// use tessera::authn::Authn;
/// let mfa = Authn::new(2, ["pwd", "otp"]).unwrap();
/// assert_eq!(mfa.level(), 2);
/// assert!(Authn::new(1, ["not a token"]).is_err());
/// ```
///
/// Kept with the session record as is (one byte and a pointer that is null without `amr`), so
/// reading it on every request costs no memory access of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authn {
    level: u8,
    amr: Option<Arc<Vec<String>>>,
}

impl Default for Authn {
    /// One factor, no `amr`: what a plain sign-in records.
    fn default() -> Self {
        Authn {
            level: 1,
            amr: None,
        }
    }
}

impl Authn {
    /// `level` is the app's own scale (suggested: 1 one factor, 2 several); `amr` the methods
    /// used (RFC 8176 names such as `pwd`, `otp`, `hwk`).
    ///
    /// # Errors
    /// `invalid_argument` for level 0 (that is "anonymous"), more than [`MAX_AMR`] values, or a
    /// value that is empty, longer than [`MAX_AMR_LEN`] or not `[A-Za-z0-9_.-]`.
    pub fn new<S: AsRef<str>>(level: u8, amr: impl IntoIterator<Item = S>) -> Result<Authn> {
        if level == 0 {
            return Err(Error::invalid_argument(
                "an authentication level starts at 1 (0 means anonymous)",
            ));
        }
        let amr: Vec<String> = amr.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if amr.len() > MAX_AMR {
            return Err(Error::invalid_argument(format!(
                "at most {MAX_AMR} authentication methods (amr) per session"
            )));
        }
        for value in &amr {
            let ok = !value.is_empty()
                && value.len() <= MAX_AMR_LEN
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err(Error::invalid_argument(format!(
                    "an amr value is 1 to {MAX_AMR_LEN} characters of [A-Za-z0-9_.-]"
                )));
            }
        }
        Ok(Authn {
            level,
            amr: (!amr.is_empty()).then(|| Arc::new(amr)),
        })
    }

    /// Its two parts, for a store that keeps the level beside its other small fields.
    pub(crate) fn into_parts(self) -> (u8, Option<Arc<Vec<String>>>) {
        (self.level, self.amr)
    }

    /// From [`into_parts`](Self::into_parts); `None` for level 0 (no authentication).
    pub(crate) fn from_parts(level: u8, amr: Option<Arc<Vec<String>>>) -> Option<Authn> {
        (level > 0).then_some(Authn { level, amr })
    }

    /// The level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The methods.
    pub fn amr(&self) -> &[String] {
        self.amr.as_deref().map_or(&[], Vec::as_slice)
    }

    /// This authentication, done at `at`.
    pub fn at(&self, at: UnixMillis) -> Authenticated {
        Authenticated {
            at,
            level: self.level,
            amr: self.amr().to_vec(),
        }
    }

    /// The text a networked store keeps (JSON: level and methods).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&StoredAuthn {
            level: self.level,
            amr: self.amr().to_vec(),
        })
        .expect("plain fields serialise")
    }

    /// Read what [`to_stored`](Self::to_stored) wrote.
    ///
    /// # Errors
    /// `store_unavailable` for text no Tessera wrote: a session whose authentication cannot be
    /// read is not served (fail closed).
    pub fn from_stored(text: &str) -> Result<Authn> {
        let stored: StoredAuthn = serde_json::from_str(text)
            .map_err(|_| Error::store_unavailable("a stored authentication is not readable"))?;
        Authn::new(stored.level, stored.amr)
            .map_err(|_| Error::store_unavailable("a stored authentication is not valid"))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAuthn {
    level: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
}

/// When and how strongly a session's user last authenticated, as the API reports it. The time
/// is the session's `created_at`: a sign-in and a re-authentication both restart the session's
/// life, so the record keeps no second clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authenticated {
    /// When (sign-in or the latest re-authentication); activity does not move it.
    pub at: UnixMillis,
    /// The app's level for that authentication (the latest, not the strongest ever).
    pub level: u8,
    /// Its methods.
    pub amr: Vec<String>,
}

impl Authenticated {
    /// Whether this authentication allows an operation that wants one at most `max_age_ms`
    /// old and of at least `min_level`, at `now`. The level is judged first: re-authenticating
    /// with a stronger factor cures both.
    pub fn freshness(&self, now: UnixMillis, max_age_ms: u64, min_level: u8) -> Freshness {
        if self.level < min_level {
            Freshness::Level
        } else if now.saturating_sub(self.at) >= max_age_ms {
            Freshness::Stale
        } else {
            Freshness::Allowed
        }
    }
}

/// The answer to "may this request do something sensitive now?".
///
/// The numeric values are the C ABI's (`enum tessera_freshness`) and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Freshness {
    /// Recent and strong enough.
    Allowed = 0,
    /// No user: sign in first (the login flow, not re-authentication).
    Anonymous = 1,
    /// Signed in, but longer ago than allowed: re-authenticate.
    Stale = 2,
    /// Signed in with a weaker method than required: re-authenticate with a stronger one.
    Level = 3,
}

impl Freshness {
    /// The stable lowercase name, the same in every binding.
    pub const fn code(self) -> &'static str {
        match self {
            Freshness::Allowed => "allowed",
            Freshness::Anonymous => "anonymous",
            Freshness::Stale => "stale",
            Freshness::Level => "level",
        }
    }

    /// Whether the operation may go ahead.
    pub const fn allowed(self) -> bool {
        matches!(self, Freshness::Allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_judges_the_level_then_the_age_with_an_exclusive_bound() {
        let a = Authn::new(1, ["pwd"]).unwrap().at(1000);
        assert_eq!(a.freshness(1099, 100, 1), Freshness::Allowed);
        assert_eq!(a.freshness(1100, 100, 1), Freshness::Stale);
        assert_eq!(a.freshness(1000, 100, 2), Freshness::Level);
        assert_eq!(a.freshness(5000, 100, 2), Freshness::Level);
        // A clock that went backwards does not make a proof stale.
        assert_eq!(a.freshness(10, 100, 1), Freshness::Allowed);
    }

    #[test]
    fn bad_authn_is_refused() {
        assert!(Authn::new(0, [""; 0]).is_err());
        assert!(Authn::new(1, [""]).is_err());
        assert!(Authn::new(1, ["x".repeat(33)]).is_err());
        assert!(Authn::new(1, ["a"; 9]).is_err());
        assert!(Authn::new(1, ["a b"]).is_err());
        assert!(Authn::new(255, ["a"; 8]).is_ok());
    }

    #[test]
    fn stored_text_round_trips() {
        for a in [Authn::new(2, ["pwd", "otp"]).unwrap(), Authn::default()] {
            assert_eq!(Authn::from_stored(&a.to_stored()).unwrap(), a);
        }
        assert!(Authn::from_stored("{\"at\":1}").is_err());
        assert!(Authn::from_stored("{\"level\":0}").is_err());
    }
}
