//! Which of a session's larger parts a read hands back.
//!
//! Every request reads its session, and most need little of it: an API gateway checks that the
//! token is live and whose it is; a page that renders no form never needs the CSRF secret; no
//! request needs the user agent (a device label for listings). The memory store copies out only
//! the parts asked for, so a read that asks for none of them does not touch the shared data, the
//! user agent's allocation or the secret at all (issue 14: "the caller asks for what it needs").
//! The id, the user, the times, the authentication and the device binding always come back: the
//! checks every read makes need them.

use std::ops::BitOr;

/// A set of a session's larger parts: its data, its CSRF secret, its user agent.
///
/// Asked for through [`Context::fields`](crate::Context::fields); [`Fields::ALL`] is the default,
/// so a caller that says nothing gets the whole session. A [`Session`](crate::Session) read
/// without a part answers as if the part were empty, and fails closed where that matters: it
/// verifies no CSRF token and mints none without [`Fields::CSRF`].
///
/// ```
/// use tessera::{Config, Context, Fields, SessionManager};
/// let manager = SessionManager::new(Config::default())?;
/// let token = manager.login(None, "alice", &Context::HTTPS)?.new_token().unwrap().expose();
/// // A gateway that only needs to know who is calling:
/// let ctx = Context { fields: Fields::NONE, ..Context::HTTPS };
/// let session = manager.validate(&token, &ctx)?.session().unwrap();
/// assert_eq!(session.user(), Some("alice"));
/// assert!(!session.fields().contains(Fields::CSRF));
/// assert!(session.csrf_token().is_err());
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fields(u8);

impl Fields {
    /// None of the larger parts: the id, user, times, authentication and binding only.
    pub const NONE: Fields = Fields(0);
    /// The session's data.
    pub const DATA: Fields = Fields(1);
    /// Its CSRF secret (to verify or mint CSRF tokens).
    pub const CSRF: Fields = Fields(1 << 1);
    /// The user agent recorded when it was created or signed in.
    pub const USER_AGENT: Fields = Fields(1 << 2);
    /// Everything: the default.
    pub const ALL: Fields = Fields(0b111);

    /// The set these bits name (C and the other bindings pass them as a number), or `None` if
    /// a bit names no part.
    pub const fn from_bits(bits: u32) -> Option<Fields> {
        if bits & !(Fields::ALL.0 as u32) == 0 {
            Some(Fields(bits as u8))
        } else {
            None
        }
    }

    /// The bits of this set.
    pub const fn bits(self) -> u32 {
        self.0 as u32
    }

    /// Whether every part of `other` is in this set.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }

    /// The parts of both sets.
    pub const fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields::ALL
    }
}

impl BitOr for Fields {
    type Output = Fields;

    fn bitor(self, other: Fields) -> Fields {
        self.union(other)
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Fields::DATA, "DATA"),
            (Fields::CSRF, "CSRF"),
            (Fields::USER_AGENT, "USER_AGENT"),
        ];
        let mut set = f.debug_set();
        for (part, name) in names {
            if self.contains(part) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Fields;

    #[test]
    fn bits_round_trip_and_unknown_bits_are_refused() {
        for bits in 0..8 {
            assert_eq!(Fields::from_bits(bits).map(Fields::bits), Some(bits));
        }
        assert_eq!(Fields::from_bits(8), None);
        assert_eq!(Fields::from_bits(u32::MAX), None);
        assert_eq!(
            Fields::DATA | Fields::CSRF | Fields::USER_AGENT,
            Fields::ALL
        );
        assert!(Fields::ALL.contains(Fields::CSRF));
        assert!(!(Fields::DATA | Fields::USER_AGENT).contains(Fields::CSRF));
        assert_eq!(Fields::default(), Fields::ALL);
        assert_eq!(format!("{:?}", Fields::DATA | Fields::CSRF), "{DATA, CSRF}");
    }
}
