//! Step-up re-authentication (ASVS 5.0 7.5.1, 7.5.3; docs/dbsc.md §2.11): how strongly a user
//! signed in (`tessera_request_login_with`), signing in again (`tessera_request_reauthenticate`),
//! and whether a sensitive operation may go ahead (`tessera_request_require_recent`, or
//! `tessera_manager_require_recent` for a token).
//!
//! The core records and judges; this module converts levels, `amr` lists as JSON text and the
//! verdict's enum.

use std::ffi::{c_char, c_int};

use tessera_core::authn::{Authn, Freshness};
use tessera_core::binding::Presented;
use tessera_core::session::Context;

use crate::boundary::{OptOut, Out, arg_ref, arg_str, opt_header, opt_str};
use crate::manager::{session_or_reason, tessera_manager};
use crate::request::{arg_request, arg_request_mut, tessera_request};
use crate::session::{arg_session, into_handle, tessera_session, to_json};
use crate::status::{Failure, tessera_reason, tessera_status};
use crate::strings::alloc_string;

/// Whether a sensitive operation may go ahead (`tessera_request_require_recent`). Values are
/// fixed forever (the core's `Freshness` numbers).
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_freshness {
    /// Recent and strong enough: go ahead.
    Allowed = 0,
    /// Nobody is signed in (or a bound session was not proven): the login flow, not
    /// re-authentication.
    Anonymous = 1,
    /// Signed in longer ago than allowed: send the user to re-authenticate.
    Stale = 2,
    /// Signed in with a weaker method than required: re-authenticate with a stronger one.
    Level = 3,
}

impl From<Freshness> for tessera_freshness {
    fn from(f: Freshness) -> Self {
        match f {
            Freshness::Allowed => tessera_freshness::Allowed,
            Freshness::Anonymous => tessera_freshness::Anonymous,
            Freshness::Stale => tessera_freshness::Stale,
            Freshness::Level => tessera_freshness::Level,
        }
    }
}

/// The stable string of a `tessera_freshness` value: `"allowed"`, `"anonymous"`, `"stale"` or
/// `"level"` (the `reason` of a `reauthentication_required` answer), the same in every binding;
/// NULL for a number that is not one. Static: never free it.
///
/// Thread safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_freshness_str(freshness: c_int) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        match freshness {
            0 => c"allowed".as_ptr(),
            1 => c"anonymous".as_ptr(),
            2 => c"stale".as_ptr(),
            3 => c"level".as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// A level from C: 1..=255 for an authentication (0 means anonymous; the core says so).
fn level_from(level: c_int, name: &str) -> Result<u8, Failure> {
    u8::try_from(level)
        .map_err(|_| Failure::invalid_argument(format!("{name} {level} is not in 0..=255")))
}

/// An `Authn` from a level and `amr` JSON text (an array of strings, or NULL for none).
fn authn_from(level: c_int, amr_json: Option<&str>) -> Result<Authn, Failure> {
    let level = level_from(level, "level")?;
    let amr: Vec<String> = match amr_json {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text).map_err(|_| {
            Failure::invalid_argument("amr_json must be a JSON array of strings, or NULL")
        })?,
    };
    Ok(Authn::new(level, amr)?)
}

/// Sign `user` in now, as `tessera_request_login`, recording how strongly they authenticated:
/// `level` (the app's scale, 1..=255; suggested 1 = one factor, 2 = several) and `amr_json`
/// (a JSON array of RFC 8176 method names such as `["pwd","otp"]`, at most 8 of at most 32
/// characters `[A-Za-z0-9_.-]`; NULL for none). `tessera_request_login` records level 1.
///
/// Errors: `INVALID_ARGUMENT` for a bad user, level 0 or out of range, or a bad `amr_json`;
/// `STORE_UNAVAILABLE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `user` and `amr_json` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_login_with(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    user: *const c_char,
    level: c_int,
    amr_json: *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, user, amr) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                arg_str(user, "user")?,
                opt_str(amr_json, "amr_json")?,
            )
        };
        let authn = authn_from(level, amr)?;
        r.step(|inner| inner.login_with(&m.core, user, &authn))?;
        Ok(tessera_status::Ok)
    })
}

/// The signed-in user proved who they are again (a password re-entered, a second factor): a new
/// token now (the old one dead at once, no grace), a new CSRF secret, the authentication time
/// set to now with `level` and `amr_json` (as in `tessera_request_login_with`; the latest
/// authentication's strength, not the strongest ever); user, data and device binding kept.
/// `*done_out` (may be NULL) is false if the request had no live session (nothing is created).
///
/// Errors: `INVALID_ARGUMENT` for an anonymous session (sign the user in instead), a bad level
/// or `amr_json`; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `amr_json` NULL or NUL-terminated; `done_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_reauthenticate(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    level: c_int,
    amr_json: *const c_char,
    done_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, amr, out) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                opt_str(amr_json, "amr_json")?,
                OptOut::new(done_out),
            )
        };
        let authn = authn_from(level, amr)?;
        out.write(r.step(|inner| inner.reauthenticate(&m.core, &authn))?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*freshness_out` to whether a sensitive operation may go ahead on this request: its user
/// authenticated less than `max_age_ms` ago with at least `min_level` (0..=255). A pure read,
/// nothing is written. `ANONYMOUS` (no user, or a bound session this request did not prove)
/// calls for the login flow; `STALE` and `LEVEL` for re-authentication
/// (`tessera_request_reauthenticate`).
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `freshness_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_require_recent(
    request: *const tessera_request,
    manager: *const tessera_manager,
    max_age_ms: u64,
    min_level: c_int,
    freshness_out: *mut tessera_freshness,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, out) = unsafe {
            (
                arg_request(request)?,
                arg_ref(manager, "manager")?,
                Out::new(freshness_out, "freshness_out")?,
            )
        };
        let min_level = level_from(min_level, "min_level")?;
        let verdict = r.inner().require_recent(&m.core, max_age_ms, min_level);
        out.write(verdict.into());
        Ok(tessera_status::Ok)
    })
}

/// Set `*at_out` to when the request's user last authenticated (sign-in or re-authentication;
/// milliseconds since the Unix epoch, by the manager's clock), `*level_out` to its level, and
/// `*amr_json_out` (may be NULL: not wanted) to its methods as a JSON array (release it with
/// `tessera_string_free`). Without a signed-in user: 0, 0 and `[]`.
///
/// # Safety
/// `request` must be NULL or a live handle; `at_out` and `level_out` NULL or writable;
/// `amr_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_authenticated(
    request: *const tessera_request,
    at_out: *mut u64,
    level_out: *mut c_int,
    amr_json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, at, level, amr) = unsafe {
            (
                arg_request(request)?,
                Out::new(at_out, "at_out")?,
                Out::new(level_out, "level_out")?,
                OptOut::new(amr_json_out),
            )
        };
        let authn = r.inner().session().and_then(|s| s.authenticated());
        write_authenticated(authn, at, level, amr, !amr_json_out.is_null())
    })
}

/// Set `*freshness_out` as `tessera_request_require_recent` does, for the session of `token`
/// (outside the per-request protocol). `bound_cookie` is the value of the request's bound cookie
/// (`<cookie name>-bound`), or NULL: a device-bound session is judged only with a current one
/// (without it the answer is `ANONYMOUS`, as for a dead token). A pure read.
///
/// Errors: `INVALID_ARGUMENT` for a `min_level` out of range; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` and `bound_cookie` NULL or NUL-terminated;
/// `freshness_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_require_recent(
    manager: *const tessera_manager,
    token: *const c_char,
    bound_cookie: *const c_char,
    https: bool,
    max_age_ms: u64,
    min_level: c_int,
    freshness_out: *mut tessera_freshness,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, bound, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                opt_header(bound_cookie),
                Out::new(freshness_out, "freshness_out")?,
            )
        };
        let min_level = level_from(min_level, "min_level")?;
        let ctx = Context {
            https,
            bound: Presented::from_values(bound.as_deref().into_iter()),
            ..Context::default()
        };
        let verdict = m.core.require_recent(token, max_age_ms, min_level, &ctx)?;
        out.write(verdict.into());
        Ok(tessera_status::Ok)
    })
}

/// Sign `user` in as `tessera_manager_login` does (outside the per-request protocol), recording
/// how strongly they authenticated: `level` and `amr_json` as in `tessera_request_login_with`.
///
/// Errors: `INVALID_ARGUMENT` for a bad user, level or `amr_json`; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `session_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_login_with(
    manager: *const tessera_manager,
    token: *const c_char,
    user: *const c_char,
    level: c_int,
    amr_json: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, user, amr, user_agent, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_str(token, "token")?,
                arg_str(user, "user")?,
                opt_str(amr_json, "amr_json")?,
                opt_header(user_agent),
                Out::new(session_out, "session_out")?,
            )
        };
        let authn = authn_from(level, amr)?;
        let ctx = Context {
            https,
            user_agent: user_agent.as_deref(),
            ..Context::default()
        };
        let session = m.core.login_with(token, user, &authn, &ctx)?;
        out.write(into_handle(session));
        Ok(tessera_status::Ok)
    })
}

/// The signed-in user of `token` proved who they are again (step-up), as
/// `tessera_request_reauthenticate` does outside the per-request protocol: on `OK`
/// `*session_out` holds the session with its new token (send it in `Set-Cookie`; the old one is
/// dead at once). `REJECTED` (reason in `*reason_out`, may be NULL) if the token has no live
/// session; `INVALID_ARGUMENT` for an anonymous one, or a bad level or `amr_json`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `session_out` NULL or
/// writable; `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_reauthenticate(
    manager: *const tessera_manager,
    token: *const c_char,
    level: c_int,
    amr_json: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, amr, user_agent, out, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                opt_str(amr_json, "amr_json")?,
                opt_header(user_agent),
                Out::new(session_out, "session_out")?,
                OptOut::new(reason_out),
            )
        };
        let authn = authn_from(level, amr)?;
        let ctx = Context {
            https,
            user_agent: user_agent.as_deref(),
            ..Context::default()
        };
        session_or_reason(m.core.reauthenticate(token, &authn, &ctx)?, out, reason)
    })
}

/// Set `*at_out`, `*level_out` and `*amr_json_out` (may be NULL) as
/// `tessera_request_authenticated` does, for a session handle: when and how strongly its user
/// last authenticated; 0, 0 and `[]` for an anonymous session.
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` and `level_out` NULL or writable;
/// `amr_json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_authenticated(
    session: *const tessera_session,
    at_out: *mut u64,
    level_out: *mut c_int,
    amr_json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, at, level, amr) = unsafe {
            (
                arg_session(session)?,
                Out::new(at_out, "at_out")?,
                Out::new(level_out, "level_out")?,
                OptOut::new(amr_json_out),
            )
        };
        write_authenticated(
            s.session.authenticated(),
            at,
            level,
            amr,
            !amr_json_out.is_null(),
        )
    })
}

/// Write an authentication record (or the anonymous zeros) to the out-parameters; the string
/// first, so that nothing is written if it cannot be made.
fn write_authenticated(
    authn: Option<tessera_core::authn::Authenticated>,
    at: Out<u64>,
    level: Out<c_int>,
    amr: OptOut<*mut c_char>,
    amr_wanted: bool,
) -> Result<tessera_status, Failure> {
    let text = match &authn {
        Some(a) => to_json(&a.amr)?,
        None => "[]".to_owned(),
    };
    if amr_wanted {
        amr.write(alloc_string(&text)?);
    }
    at.write(authn.as_ref().map_or(0, |a| a.at));
    level.write(authn.as_ref().map_or(0, |a| c_int::from(a.level)));
    Ok(tessera_status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_numbers_are_the_cores() {
        for f in [
            Freshness::Allowed,
            Freshness::Anonymous,
            Freshness::Stale,
            Freshness::Level,
        ] {
            let c = tessera_freshness::from(f) as c_int;
            assert_eq!(c, f as c_int);
            // SAFETY: a static string, or NULL.
            let s = unsafe { std::ffi::CStr::from_ptr(tessera_freshness_str(c)) };
            assert_eq!(s.to_str(), Ok(f.code()));
        }
        assert!(tessera_freshness_str(4).is_null() && tessera_freshness_str(-1).is_null());
    }

    #[test]
    fn levels_and_amr_are_checked() {
        assert!(authn_from(0, None).is_err());
        assert!(authn_from(256, None).is_err() && authn_from(-1, None).is_err());
        assert!(authn_from(2, Some("[\"pwd\",\"otp\"]")).is_ok());
        assert!(authn_from(1, Some("{}")).is_err() && authn_from(1, Some("[1]")).is_err());
        assert!(authn_from(1, Some("[\"has space\"]")).is_err());
    }
}
