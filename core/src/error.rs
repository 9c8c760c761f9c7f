//! Error kinds and rejection reasons, with the stable codes every binding exposes.
//!
//! A *rejection* ([`Reason`]) is the normal answer to a token that is not (or no longer) good.
//! An *error* ([`Error`]) means the operation itself could not be carried out. Both carry a
//! stable, lowercase `code()` that Python, Node and C report verbatim; the sets are disjoint, so
//! one string is enough to say what happened.

use std::fmt;

/// Why a token did not yield a session.
///
/// The codes are part of Tessera's public contract in every language; they are never renamed.
///
/// ```
/// use tessera::Reason;
/// assert_eq!(Reason::ExpiredIdle.code(), "expired_idle");
/// assert_eq!("unknown".parse::<Reason>(), Ok(Reason::Unknown));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a well-formed token (wrong length, alphabet or encoding); the store was not consulted.
    Malformed,
    /// Well-formed, but no live session has it: never issued, logged out, revoked, or an alias
    /// whose grace window is over.
    Unknown,
    /// The session was unused for longer than the idle timeout.
    ExpiredIdle,
    /// The session reached its absolute lifetime.
    ExpiredAbsolute,
    /// The session is bound to a device (DBSC) and the request did not carry a current bound
    /// cookie: it is hidden from this request, which is anonymous. Unlike the others it is not
    /// a dead session: its owner's browser may still use it, so the cookie is not cleared.
    BindingMissing,
}

impl Reason {
    /// Every reason, in a fixed order.
    pub const ALL: [Reason; 5] = [
        Reason::Malformed,
        Reason::Unknown,
        Reason::ExpiredIdle,
        Reason::ExpiredAbsolute,
        Reason::BindingMissing,
    ];

    /// The stable string code of this reason.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Unknown => "unknown",
            Reason::ExpiredIdle => "expired_idle",
            Reason::ExpiredAbsolute => "expired_absolute",
            Reason::BindingMissing => "binding_missing",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Reason {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL.into_iter().find(|r| r.code() == s).ok_or(())
    }
}

/// The kind of an [`Error`], as a plain enum for matching and for the bindings' mapping tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value or combination is not allowed.
    InvalidConfig,
    /// An argument is not acceptable (empty user id, bad session id, data that is not an object).
    InvalidArgument,
    /// The session data would exceed the configured cap.
    DataTooLarge,
    /// The store could not be reached or answered wrongly; the request is not authenticated.
    StoreUnavailable,
    /// The store holds `max_sessions` and none of them may make room for a new anonymous one
    /// (signed-in sessions are never evicted for it). A middleware answers 503, as when the
    /// store is unavailable: the condition passes when sessions end.
    StoreFull,
    /// The session the operation targets has ended (or never existed); see [`Reason`].
    Rejected(Reason),
    /// A bug or an impossible state; reported instead of panicking.
    Internal,
}

impl ErrorKind {
    /// The stable string code: one of `invalid_config`, `invalid_argument`, `data_too_large`,
    /// `store_unavailable`, `store_full`, `internal`, or for [`ErrorKind::Rejected`] the reason's code.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::DataTooLarge => "data_too_large",
            ErrorKind::StoreUnavailable => "store_unavailable",
            ErrorKind::StoreFull => "store_full",
            ErrorKind::Rejected(reason) => reason.code(),
            ErrorKind::Internal => "internal",
        }
    }
}

/// An operation that could not be carried out.
///
/// Messages name the offending field or limit and never contain a token.
///
/// ```
/// use tessera::{Config, ErrorKind};
/// let mut config = Config::default();
/// config.idle_timeout = std::time::Duration::ZERO;
/// let err = config.validate().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
/// assert_eq!(err.code(), "invalid_config");
/// assert!(err.to_string().contains("idle_timeout"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a human-readable `message` (which must not contain secrets).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// `invalid_config` naming the field that is wrong.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, message)
    }

    /// `invalid_argument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// `store_unavailable`.
    pub fn store_unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::StoreUnavailable, message)
    }

    /// A `store_full` error: the store is at `max_sessions` and nothing may be evicted.
    pub fn store_full(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::StoreFull, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// The session targeted by a write or lookup has ended for `reason`.
    pub fn rejected(reason: Reason) -> Self {
        let message = match reason {
            Reason::Malformed => "the session token is malformed",
            Reason::Unknown => "the session does not exist or has ended",
            Reason::ExpiredIdle => "the session expired after being idle",
            Reason::ExpiredAbsolute => "the session reached its absolute lifetime",
            Reason::BindingMissing => "the session is bound to a device this request did not prove",
        };
        Error::new(ErrorKind::Rejected(reason), message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of [`Error::kind`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The rejection reason, when the error says the session has ended.
    pub fn reason(&self) -> Option<Reason> {
        match self.kind {
            ErrorKind::Rejected(reason) => Some(reason),
            _ => None,
        }
    }

    /// The message without the code.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result with Tessera's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip_and_are_distinct_from_error_codes() {
        for reason in Reason::ALL {
            assert_eq!(reason.code().parse::<Reason>(), Ok(reason));
        }
        let kinds = [
            ErrorKind::InvalidConfig,
            ErrorKind::InvalidArgument,
            ErrorKind::DataTooLarge,
            ErrorKind::StoreUnavailable,
            ErrorKind::StoreFull,
            ErrorKind::Internal,
        ];
        for kind in kinds {
            assert!(kind.code().parse::<Reason>().is_err(), "{}", kind.code());
        }
        assert_eq!(
            Error::rejected(Reason::Unknown).code(),
            "unknown",
            "a rejection reports its reason as the code"
        );
    }

    #[test]
    fn display_leads_with_the_code() {
        let e = Error::invalid_argument("user id must not be empty");
        assert_eq!(e.to_string(), "invalid_argument: user id must not be empty");
    }
}
