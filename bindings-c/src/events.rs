//! Lifecycle events for audit logs and metrics, delivered to a C function pointer.

use std::ffi::{CStr, CString, c_char, c_void};

use tessera_core::{Event, EventKind};

use crate::boundary::arg_ref;
use crate::manager::tessera_manager;
use crate::status::{Failure, tessera_status};
use crate::strings::{TESSERA_ID_BUFFER_LEN, hex};

/// One lifecycle transition, as passed to a `tessera_listener`. Read it with the
/// `tessera_event_*` accessors. It carries the public session id and the user, never a token.
///
/// Thread safety: valid only during the listener call, on the thread that makes it; copy what
/// you need to keep.
pub struct tessera_event {
    kind: &'static CStr,
    id: Option<[u8; TESSERA_ID_BUFFER_LEN]>,
    previous_id: Option<[u8; TESSERA_ID_BUFFER_LEN]>,
    user: Option<CString>,
    reason: Option<&'static CStr>,
    detail: Option<CString>,
    at: u64,
}

/// An event listener: called synchronously after each lifecycle transition, outside every lock,
/// on the thread whose call caused it (or the background sweeper's thread, for expiries).
///
/// It may call back into Tessera (a manager is re-entrant) but must not free the manager, and
/// must not unwind or `longjmp` out (a C++ exception would be undefined behaviour). Events are
/// for audit and metrics: a listener cannot veto a transition.
pub type tessera_listener =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event: *const tessera_event)>;

/// The C callback and its context, shared with the core's listener list.
struct Callback {
    listener: unsafe extern "C" fn(*mut c_void, *const tessera_event),
    user_data: *mut c_void,
}

// SAFETY: `tessera_manager_add_listener`'s contract makes the caller responsible for
// `user_data` being usable from any thread that uses the manager; the function pointer is
// plain code.
unsafe impl Send for Callback {}
// SAFETY: as for `Send`: concurrent calls with the same `user_data` are the caller's promise.
unsafe impl Sync for Callback {}

impl Callback {
    fn call(&self, event: &Event) {
        let event = tessera_event::from(event);
        // SAFETY: the caller registered a valid function and promised that it accepts this
        // `user_data` from any thread; `event` outlives the call.
        unsafe { (self.listener)(self.user_data, &event) }
    }
}

impl From<&Event> for tessera_event {
    fn from(event: &Event) -> Self {
        tessera_event {
            kind: kind_code(event.kind),
            id: event.id.as_ref().map(c_hex),
            previous_id: event.previous_id.as_ref().map(c_hex),
            // A user id with a NUL byte (only another language could store one) shows as NULL.
            user: event.user.as_deref().and_then(|u| CString::new(u).ok()),
            reason: event.reason.map(|r| match r {
                tessera_core::Reason::Malformed => c"malformed",
                tessera_core::Reason::Unknown => c"unknown",
                tessera_core::Reason::ExpiredIdle => c"expired_idle",
                tessera_core::Reason::ExpiredAbsolute => c"expired_absolute",
                tessera_core::Reason::BindingMissing => c"binding_missing",
            }),
            // Core's details are short static codes without NUL; one that had one shows as NULL.
            detail: event.detail.and_then(|d| CString::new(d).ok()),
            at: event.at,
        }
    }
}

fn kind_code(kind: EventKind) -> &'static CStr {
    match kind {
        EventKind::Created => c"created",
        EventKind::Rotated => c"rotated",
        EventKind::Login => c"login",
        EventKind::Logout => c"logout",
        EventKind::Revoked => c"revoked",
        EventKind::Expired => c"expired",
        EventKind::Rejected => c"rejected",
        EventKind::Evicted => c"evicted",
        EventKind::Registered => c"registered",
        EventKind::Refreshed => c"refreshed",
        EventKind::ProofFailed => c"proof_failed",
        EventKind::BindingMissing => c"binding_missing",
        EventKind::Unbound => c"unbound",
        EventKind::Reauthenticated => c"reauthenticated",
    }
}

fn c_hex(id: &tessera_core::SessionId) -> [u8; TESSERA_ID_BUFFER_LEN] {
    let mut out = [0u8; TESSERA_ID_BUFFER_LEN];
    out[..64].copy_from_slice(&hex(id));
    out
}

/// Register `listener`, called with `user_data` for every lifecycle event of `manager` from now
/// on: `created`, `rotated`, `login`, `logout`, `revoked`, `expired`, `rejected`, `evicted`,
/// `registered`, `refreshed`, `proof_failed`, `binding_missing`, `unbound`, `reauthenticated`.
/// Listeners cannot be removed; they live as long as the manager.
///
/// # Safety
/// `manager` must be NULL or a live handle. `listener` must stay callable, and `user_data` valid,
/// until the manager is freed; both must be safe to use from every thread that uses the manager
/// (including the background sweeper), possibly at the same time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_add_listener(
    manager: *const tessera_manager,
    listener: tessera_listener,
    user_data: *mut c_void,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: `manager` is NULL or live (this function's contract).
        let m = unsafe { arg_ref(manager, "manager") }?;
        let listener = listener.ok_or_else(|| Failure::null("listener"))?;
        let callback = Callback {
            listener,
            user_data,
        };
        m.core.add_listener(move |event| callback.call(event));
        Ok(tessera_status::Ok)
    })
}

/// Borrow an event from an accessor's argument.
///
/// # Safety
/// `event` must be NULL or the pointer a listener is being called with.
unsafe fn event_ref<'a>(event: *const tessera_event) -> Option<&'a tessera_event> {
    // SAFETY: forwarded from this function's contract.
    unsafe { event.as_ref() }
}

/// What happened: `"created"`, `"rotated"`, `"login"`, `"logout"`, `"revoked"`, `"expired"`,
/// `"rejected"`, `"evicted"`, `"registered"`, `"refreshed"`, `"proof_failed"`,
/// `"binding_missing"`, `"unbound"` or `"reauthenticated"` (new kinds are only ever added; treat
/// an unknown one as informational). NULL for a NULL event.
///
/// # Safety
/// `event` must be NULL or the pointer a listener is being called with; the string is valid
/// until the listener returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_kind(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }.map_or(std::ptr::null(), |e| e.kind.as_ptr())
    })
}

/// The session's public id (64 hex digits) after the transition — before it, for endings —,
/// or NULL: a `rejected` event for a malformed token, and `revoked` for `revoke_all`, have none.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_id(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }
            .and_then(|e| e.id.as_ref())
            .map_or(std::ptr::null(), |id| id.as_ptr().cast())
    })
}

/// For `rotated` and `login`, the id the session had before; otherwise NULL.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_previous_id(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }
            .and_then(|e| e.previous_id.as_ref())
            .map_or(std::ptr::null(), |id| id.as_ptr().cast())
    })
}

/// The session's user, or NULL if anonymous or unknown.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_user(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }
            .and_then(|e| e.user.as_ref())
            .map_or(std::ptr::null(), |u| u.as_ptr())
    })
}

/// For `expired` and `rejected`, why: `"malformed"`, `"unknown"`, `"expired_idle"`,
/// `"expired_absolute"` or `"binding_missing"`; otherwise NULL.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_reason(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }
            .and_then(|e| e.reason)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// More about what happened, as a stable code, or NULL: the algorithm for `registered`
/// (`"ES256"`, `"RS256"`); why for `proof_failed` (`"bad_signature"`, `"unknown_challenge"`, ...);
/// `"absent"`, `"expired"`, `"mismatch"` or `"ambiguous"` for `binding_missing`; `"login"` or
/// `"app"` for `unbound`. Never a secret.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_detail(event: *const tessera_event) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }
            .and_then(|e| e.detail.as_ref())
            .map_or(std::ptr::null(), |d| d.as_ptr())
    })
}

/// When it happened, by the manager's clock (milliseconds since the Unix epoch); 0 for a NULL
/// event.
///
/// # Safety
/// As `tessera_event_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_event_at(event: *const tessera_event) -> u64 {
    ffi_value!(0, {
        // SAFETY: forwarded from this function's contract.
        unsafe { event_ref(event) }.map_or(0, |e| e.at)
    })
}
