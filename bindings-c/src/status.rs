//! Status codes, rejection reasons, and the thread-local last-error message.
//!
//! Every fallible export returns a [`tessera_status`]. The numbers are part of the ABI: they are
//! never renumbered, and new codes are only ever appended.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};

use tessera_core::{Error, ErrorKind, Reason};

/// The outcome of a call. Values are fixed forever; new ones are only appended.
///
/// `TESSERA_STATUS_REJECTED` is the normal answer to a token that is not (or no longer) good:
/// the reason is written to the call's `reason_out`. Every other non-OK status is an error whose
/// stable code `tessera_status_str` returns and whose details `tessera_last_error` describes.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_status {
    /// Success: the out-parameters were written.
    Ok = 0,
    /// The token, or the session a write targets, is not good; see `tessera_reason`.
    Rejected = 1,
    /// A configuration value or combination is not allowed (code `invalid_config`).
    InvalidConfig = 2,
    /// An argument is not acceptable: NULL where a value is required, text that is not UTF-8,
    /// a buffer that is too small, an empty user id, ... (code `invalid_argument`).
    InvalidArgument = 3,
    /// The session data would exceed `max_data_bytes` (code `data_too_large`).
    DataTooLarge = 4,
    /// The store could not be reached: the request is NOT authenticated (code
    /// `store_unavailable`).
    StoreUnavailable = 5,
    /// A bug or an impossible state, including a Rust panic caught at the boundary (code
    /// `internal`).
    Internal = 6,
    /// The store holds `max_sessions` sessions and none may be evicted for a new anonymous one
    /// (code `store_full`): answer 503, as for `store_unavailable`; it passes as sessions end.
    StoreFull = 7,
}

/// Why a token did not yield a session. Values are fixed forever.
///
/// `tessera_reason_str` gives the stable string every Tessera binding uses.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_reason {
    /// Not a reason: the value a `tessera_reason` variable should be initialised with.
    None = 0,
    /// Not a well-formed token (`malformed`); the store was not consulted.
    Malformed = 1,
    /// Well-formed, but no live session has it (`unknown`): never issued, logged out, revoked,
    /// or an alias whose grace window is over.
    Unknown = 2,
    /// The session was unused for longer than the idle timeout (`expired_idle`).
    ExpiredIdle = 3,
    /// The session reached its absolute lifetime (`expired_absolute`).
    ExpiredAbsolute = 4,
    /// The session is bound to a device (DBSC) and the request did not carry a current bound
    /// cookie (`binding_missing`): the request is anonymous, but the session is not dead (its
    /// owner's browser may still use it), so its cookie is not cleared.
    BindingMissing = 5,
}

impl From<Reason> for tessera_reason {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::Malformed => tessera_reason::Malformed,
            Reason::Unknown => tessera_reason::Unknown,
            Reason::ExpiredIdle => tessera_reason::ExpiredIdle,
            Reason::ExpiredAbsolute => tessera_reason::ExpiredAbsolute,
            Reason::BindingMissing => tessera_reason::BindingMissing,
        }
    }
}

/// The stable lowercase code of a status: `"ok"`, `"rejected"`, `"invalid_config"`,
/// `"invalid_argument"`, `"data_too_large"`, `"store_unavailable"` or `"internal"`; NULL for a
/// number that is not a status. The string is static: never free it.
///
/// Takes an `int` rather than a `tessera_status` so that any number is safe to pass.
///
/// Thread safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_status_str(status: c_int) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        status_code(status).map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// The stable reason string: `"malformed"`, `"unknown"`, `"expired_idle"`,
/// `"expired_absolute"` or `"binding_missing"` — the same in Python, Node and Rust. NULL for `TESSERA_REASON_NONE` and
/// for a number that is not a reason. The string is static: never free it.
///
/// Thread safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_reason_str(reason: c_int) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        reason_code(reason).map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// A human-readable message about the most recent call on this thread that did not return
/// `TESSERA_STATUS_OK`, led by its code (`"invalid_argument: user must not be NULL"`); the empty
/// string if there was none. It never contains a token. Successful calls leave it unchanged.
///
/// The pointer stays valid until the next call into Tessera on this thread; copy the text if you
/// need it longer. Never free it.
///
/// Thread safety: each thread has its own message.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_last_error() -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        LAST_ERROR.with(|last| last.borrow().as_c_str().as_ptr())
    })
}

fn status_code(status: c_int) -> Option<&'static CStr> {
    Some(match status {
        0 => c"ok",
        1 => c"rejected",
        2 => c"invalid_config",
        3 => c"invalid_argument",
        4 => c"data_too_large",
        5 => c"store_unavailable",
        6 => c"internal",
        7 => c"store_full",
        _ => return None,
    })
}

fn reason_code(reason: c_int) -> Option<&'static CStr> {
    Some(match reason {
        1 => c"malformed",
        2 => c"unknown",
        3 => c"expired_idle",
        4 => c"expired_absolute",
        5 => c"binding_missing",
        _ => return None,
    })
}

/// What the last failing call on a thread said; static messages cost no allocation, which keeps
/// a rejected `validate` (a normal, frequent outcome) cheap.
enum LastError {
    Static(&'static CStr),
    Owned(CString),
}

impl LastError {
    fn as_c_str(&self) -> &CStr {
        match self {
            LastError::Static(s) => s,
            LastError::Owned(s) => s,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const { RefCell::new(LastError::Static(c"")) };
}

/// Why a call failed: the status to return and the message for `tessera_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    status: tessera_status,
    message: Message,
}

#[derive(Debug)]
enum Message {
    Static(&'static CStr),
    Text(Cow<'static, str>),
}

/// What an export's body produces: a status to return (OK or REJECTED with its out-parameters
/// written), or a failure to record and report.
pub(crate) type Outcome = Result<tessera_status, Failure>;

impl Failure {
    /// `invalid_argument` with a message (which must not contain a token).
    #[cold]
    pub(crate) fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Failure {
            status: tessera_status::InvalidArgument,
            message: Message::Text(message.into()),
        }
    }

    /// `invalid_config` with a message.
    #[cold]
    pub(crate) fn invalid_config(message: impl Into<Cow<'static, str>>) -> Self {
        Failure {
            status: tessera_status::InvalidConfig,
            message: Message::Text(message.into()),
        }
    }

    /// `internal` with a message.
    #[cold]
    pub(crate) fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Failure {
            status: tessera_status::Internal,
            message: Message::Text(message.into()),
        }
    }

    /// A required pointer argument was NULL.
    #[cold]
    pub(crate) fn null(name: &'static str) -> Self {
        Failure::invalid_argument(format!("{name} must not be NULL"))
    }

    /// A rejection: status REJECTED, message naming the reason (static, no allocation).
    pub(crate) fn rejected(reason: Reason) -> Self {
        let message = match reason {
            Reason::Malformed => c"malformed: the session token is malformed",
            Reason::Unknown => c"unknown: the session does not exist or has ended",
            Reason::ExpiredIdle => c"expired_idle: the session expired after being idle",
            Reason::ExpiredAbsolute => {
                c"expired_absolute: the session reached its absolute lifetime"
            }
            Reason::BindingMissing => {
                c"binding_missing: the session is bound to a device and the request did not prove it"
            }
        };
        Failure {
            status: tessera_status::Rejected,
            message: Message::Static(message),
        }
    }

    /// Record the message for `tessera_last_error` and give the status to return.
    pub(crate) fn report(self) -> tessera_status {
        let last = match self.message {
            Message::Static(s) => LastError::Static(s),
            Message::Text(text) => {
                let code = status_code(self.status as c_int)
                    .and_then(|c| c.to_str().ok())
                    .unwrap_or("internal");
                LastError::Owned(c_message(&format!("{code}: {text}")))
            }
        };
        set_last_error(last);
        self.status
    }
}

impl From<Error> for Failure {
    /// Core errors carry their own code; their messages never contain a token.
    fn from(error: Error) -> Self {
        if let Some(reason) = error.reason() {
            return Failure::rejected(reason);
        }
        let status = match error.kind() {
            ErrorKind::InvalidConfig => tessera_status::InvalidConfig,
            ErrorKind::InvalidArgument => tessera_status::InvalidArgument,
            ErrorKind::DataTooLarge => tessera_status::DataTooLarge,
            ErrorKind::StoreUnavailable => tessera_status::StoreUnavailable,
            ErrorKind::StoreFull => tessera_status::StoreFull,
            // `Internal`, and any kind a newer core adds before this binding learns of it.
            _ => tessera_status::Internal,
        };
        Failure {
            status,
            message: Message::Text(Cow::Owned(error.message().to_owned())),
        }
    }
}

fn set_last_error(last: LastError) {
    // `try_with`: during thread teardown the slot may already be gone; then there is no one left
    // to read the message anyway.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = last;
        }
    });
}

/// Record that a panic was caught at the boundary.
pub(crate) fn note_panic() {
    set_last_error(LastError::Static(
        c"internal: a Rust panic was caught at the C boundary (a bug in Tessera; please report it)",
    ));
}

/// A C string of `text`, with any NUL byte (impossible in Tessera's own messages) shown as `\0`.
fn c_message(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_core_and_the_enum_values() {
        for reason in Reason::ALL {
            let c = tessera_reason::from(reason) as c_int;
            assert_eq!(
                reason_code(c).unwrap().to_str().unwrap(),
                reason.code(),
                "{reason:?}"
            );
        }
        let kinds = [
            (tessera_status::InvalidConfig, Error::invalid_config("x")),
            (
                tessera_status::InvalidArgument,
                Error::invalid_argument("x"),
            ),
            (
                tessera_status::StoreUnavailable,
                Error::store_unavailable("x"),
            ),
            (tessera_status::Internal, Error::internal("x")),
            (tessera_status::StoreFull, Error::store_full("x")),
        ];
        for (status, error) in kinds {
            let code = error.code();
            let failure = Failure::from(error);
            assert_eq!(failure.status, status);
            assert_eq!(status_code(status as c_int).unwrap().to_str(), Ok(code));
        }
        assert_eq!(reason_code(0), None);
        assert_eq!(reason_code(6), None);
        assert_eq!(status_code(-1), None);
        assert_eq!(status_code(8), None);
    }

    #[test]
    fn a_rejected_write_reports_its_reason() {
        let f = Failure::from(Error::rejected(Reason::ExpiredIdle));
        assert_eq!(f.status, tessera_status::Rejected);
        assert_eq!(f.report(), tessera_status::Rejected);
        let text = LAST_ERROR.with(|l| l.borrow().as_c_str().to_str().unwrap().to_owned());
        assert!(text.starts_with("expired_idle: "), "{text}");
    }
}
