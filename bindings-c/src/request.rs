//! The per-request protocol for C servers: `tessera_request_begin`, what the app may do
//! between (read the session, sign in or out, cycle the key, mint a CSRF token, set an expiry),
//! and `tessera_request_finish`, which gives the headers the response must carry.
//!
//! A thin layer over `tessera::http` (the core's module docs state the rules): every decision
//! about cookies, `no-store`, which methods need CSRF, which data changed and when a user change
//! is a login is made there, once for every framework; this module converts C strings, JSON
//! text and enum numbers.

use std::cell::OnceCell;
use std::ffi::{CString, c_char, c_int};
use std::time::Duration;

use tessera_core::http::{self, Auth, CsrfCheck, Expiry, Outcome, Request, RequestHead};
use zeroize::Zeroizing;

use crate::boundary::{Out, OutBuf, arg_ref, arg_str, opt_header, opt_str};
use crate::handles::{REQUESTS, RESPONSES};
use crate::manager::tessera_manager;
use crate::response::tessera_response;
use crate::session::to_json;
use crate::status::{Failure, tessera_reason, tessera_status};
use crate::strings::{TESSERA_ID_BUFFER_LEN, alloc_string, write_id};

/// One HTTP request's session, from `tessera_request_begin` to `tessera_request_finish`.
///
/// Begin it when the request's headers are in, let the app read and change the session, then
/// finish it with what the app did: finish makes the store writes and returns the response's
/// `Set-Cookie` and `Cache-Control` headers. Finish consumes the handle (also when it fails);
/// `tessera_request_free` releases one that is not finished (a request abandoned midway: nothing
/// is written).
///
/// Thread safety: a request handle may be moved to another thread, but must not be used from two
/// threads at once. The manager passed to its calls must be the one that began it, and must
/// outlive it.
pub struct tessera_request {
    inner: Request,
    /// The user as a C string, made on first request and dropped by every step that may change
    /// it (`Err` if the user id holds a NUL byte).
    user: OnceCell<Option<Result<CString, ()>>>,
}

/// The CSRF verdict of `tessera_request_begin`. Values are fixed forever.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_csrf {
    /// A safe method (`GET`, `HEAD`, `OPTIONS`, `TRACE`): no token needed.
    NotNeeded = 0,
    /// The method needs a token and the request carries a valid one of its session.
    Valid = 1,
    /// The method needs a token and the request carries none, a wrong one, or one of another
    /// session. Answer 403 unless a token found later (a form field) passes
    /// `tessera_request_verify_csrf`.
    Invalid = 2,
}

/// What the app did to who is signed in, for `tessera_request_finish` (passed as an `int`).
/// Values are fixed forever.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_auth {
    /// Nothing: the session keeps its user (`user` must be NULL).
    Unchanged = 0,
    /// `user` is who the app holds as signed in after the request (NULL: nobody). A different
    /// user than the session's is a login; NULL where the session had one is a logout.
    User = 1,
    /// The app authenticated `user` during the request (a sign-in form, a re-authentication):
    /// always a login with a new token, even for the user already signed in.
    LoggedIn = 2,
    /// The app signed the user out (`user` must be NULL).
    LoggedOut = 3,
}

/// A session's own expiry, which may shorten the configured policy and never lengthen it
/// (passed as an `int` with a number of milliseconds). Values are fixed forever.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_expiry {
    /// Not given: nothing changes (`tessera_request_finish` only).
    None = 0,
    /// The configured policy and the configured cookie (`cookie_max_age_ms`, else a
    /// browser-session cookie).
    Policy = 1,
    /// The configured policy with a browser-session cookie (no `Max-Age`).
    BrowserSession = 2,
    /// The session ends after this many milliseconds unused (at most the configured idle
    /// timeout); the cookie lives as long as the session could.
    Idle = 3,
    /// The session ends at this time (milliseconds since the Unix epoch) at the latest, capped
    /// at its absolute deadline.
    Until = 4,
    /// The configured policy, with a cookie that survives the browser for this many
    /// milliseconds (0: as long as the session can live), never beyond the session's absolute
    /// deadline.
    Persistent = 5,
}

/// An expiry from its C number and milliseconds; `None` for `TESSERA_EXPIRY_NONE`.
fn expiry_from(kind: c_int, ms: u64) -> Result<Option<Expiry>, Failure> {
    let duration = Duration::from_millis(ms);
    Ok(Some(match kind {
        0 => return Ok(None),
        1 => Expiry::Policy,
        2 => Expiry::BrowserSession,
        3 => Expiry::Idle(duration),
        4 => Expiry::Until(ms),
        5 => Expiry::Persistent((ms != 0).then_some(duration)),
        _ => {
            return Err(Failure::invalid_argument(format!(
                "expiry {kind} is not a tessera_expiry value"
            )));
        }
    }))
}

/// The user change from its C number and the user argument.
fn auth_from(kind: c_int, user: Option<&str>) -> Result<Auth, Failure> {
    let no_user = |name: &str| {
        Failure::invalid_argument(format!("user must be NULL with TESSERA_AUTH_{name}"))
    };
    Ok(match (kind, user) {
        (0, None) => Auth::Unchanged,
        (0, Some(_)) => return Err(no_user("UNCHANGED")),
        (1, user) => Auth::User(user.map(str::to_owned)),
        (2, Some(user)) => Auth::LoggedIn(user.to_owned()),
        (2, None) => {
            return Err(Failure::invalid_argument(
                "user must not be NULL with TESSERA_AUTH_LOGGED_IN",
            ));
        }
        (3, None) => Auth::LoggedOut,
        (3, Some(_)) => return Err(no_user("LOGGED_OUT")),
        _ => {
            return Err(Failure::invalid_argument(format!(
                "auth {kind} is not a tessera_auth value"
            )));
        }
    })
}

/// Borrow a live request handle argument.
///
/// # Safety
/// `request` must be NULL or a pointer `tessera_request_begin` returned, not used by another
/// call at the same time.
pub(crate) unsafe fn arg_request<'a>(
    request: *const tessera_request,
) -> Result<&'a tessera_request, Failure> {
    if request.is_null() {
        return Err(Failure::null("request"));
    }
    REQUESTS.check_live(request)?;
    // SAFETY: live (the registry holds it until its finish or free) and not used concurrently.
    Ok(unsafe { &*request })
}

/// Borrow a live request handle argument mutably (a step changes it).
///
/// # Safety
/// As [`arg_request`].
pub(crate) unsafe fn arg_request_mut<'a>(
    request: *mut tessera_request,
) -> Result<&'a mut tessera_request, Failure> {
    if request.is_null() {
        return Err(Failure::null("request"));
    }
    REQUESTS.check_live(request)?;
    // SAFETY: live, and no other call uses it at the same time (this function's contract).
    Ok(unsafe { &mut *request })
}

impl tessera_request {
    /// The core's request, to read.
    pub(crate) fn inner(&self) -> &Request {
        &self.inner
    }

    /// Run a step that may change who is signed in (or end the session), and forget the cached
    /// user.
    pub(crate) fn step<T>(
        &mut self,
        run: impl FnOnce(&mut Request) -> tessera_core::Result<T>,
    ) -> Result<T, Failure> {
        self.user = OnceCell::new();
        Ok(run(&mut self.inner)?)
    }

    /// Run a step that leaves the user as it is (a CSRF token, an id): the string
    /// `tessera_request_user` gave stays valid.
    fn step_keeping_user<T>(
        &mut self,
        run: impl FnOnce(&mut Request) -> tessera_core::Result<T>,
    ) -> Result<T, Failure> {
        Ok(run(&mut self.inner)?)
    }
}

/// Begin a request: find the session cookie in `cookie_header` (the whole `Cookie` header; join
/// several with `"; "`; may be NULL), validate it (rotating the token on schedule), and check
/// `csrf_candidate` (e.g. the `X-CSRF-Token` header; may be NULL) when `method` needs a CSRF
/// token. `https` says whether the request arrived over HTTPS; `user_agent` (may be NULL) is
/// recorded as a device label when a session is made. Invalid UTF-8 in the client's headers and
/// method is replaced by U+FFFD rather than refused.
///
/// A dead, unknown or malformed cookie, or two of the session's name, is not an error: the
/// request is anonymous (`tessera_request_reason` says why) and the response will clear the
/// cookie.
///
/// Errors: `STORE_UNAVAILABLE` (the request is NOT authenticated: answer 503); `INVALID_ARGUMENT`
/// for a NULL manager, method or `request_out`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `request_out` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_begin(
    manager: *const tessera_manager,
    cookie_header: *const c_char,
    https: bool,
    method: *const c_char,
    user_agent: *const c_char,
    csrf_candidate: *const c_char,
    request_out: *mut *mut tessera_request,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, cookie, method, user_agent, csrf, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_header(cookie_header),
                opt_header(method).ok_or_else(|| Failure::null("method"))?,
                opt_header(user_agent),
                opt_header(csrf_candidate),
                Out::new(request_out, "request_out")?,
            )
        };
        let head = RequestHead {
            cookie_header: cookie.as_deref(),
            https,
            method: &method,
            user_agent: user_agent.as_deref(),
            csrf_candidate: csrf.as_deref(),
        };
        let inner = http::begin(&m.core, &head)?;
        let handle = Box::into_raw(Box::new(tessera_request {
            inner,
            user: OnceCell::new(),
        }));
        REQUESTS.insert(handle);
        out.write(handle);
        Ok(tessera_status::Ok)
    })
}

/// Release a request that will not be finished (the app gave up on it): nothing is written, no
/// header is produced. NULL is ignored; so is a request already finished or freed (the call
/// changes nothing and sets `tessera_last_error`), even from two threads at once.
///
/// # Safety
/// `request` must be NULL or a pointer `tessera_request_begin` returned; no other call may be
/// using it except another free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_free(request: *mut tessera_request) {
    ffi_void!({
        if request.is_null() {
            return;
        }
        match REQUESTS.remove(request) {
            // SAFETY: the registry held this address, so it came from `Box::into_raw` in
            // `tessera_request_begin`; removing it succeeds once, so it is released once.
            Ok(()) => drop(unsafe { Box::from_raw(request) }),
            Err(failure) => {
                failure.report();
            }
        }
    })
}

/// Set `*user_out` to the signed-in user of the request's session, or NULL (anonymous). The
/// string belongs to the request: valid until the next call that may change who is signed in
/// (`tessera_request_login`, `_logout`, `_regenerate`, `_set_expiry`), its finish or free;
/// never free it.
///
/// # Safety
/// `request` must be NULL or a live handle; `user_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_user(
    request: *const tessera_request,
    user_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(user_out, "user_out")?) };
        let user = r
            .user
            .get_or_init(|| r.inner.user().map(|u| CString::new(u).map_err(drop)));
        match user {
            None => out.write(std::ptr::null()),
            Some(Ok(u)) => out.write(u.as_ptr()),
            Some(Err(())) => {
                return Err(Failure::internal(
                    "the user id contains a NUL byte and cannot be returned as a C string",
                ));
            }
        }
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the session's data as the store holds it now, compact JSON object text
/// (`{}` without a session): give it to the app, and hand the app's version back to
/// `tessera_request_finish`. Release it with `tessera_string_free`.
///
/// # Safety
/// `request` must be NULL or a live handle; `json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_data_json(
    request: *const tessera_request,
    json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(json_out, "json_out")?) };
        let text = Zeroizing::new(to_json(r.inner.data())?);
        out.write(alloc_string(&text)?);
        Ok(tessera_status::Ok)
    })
}

/// Write the session's public id (64 hex digits and a NUL) into `id_out` (`id_out_len` bytes, at
/// least `TESSERA_ID_BUFFER_LEN`) and set `*present_out` to true; without a session, write the
/// empty string and set it to false. See `tessera_request_ensure_id` for an id before anything
/// is stored.
///
/// # Safety
/// `request` must be NULL or a live handle; `id_out` NULL or writable for `id_out_len` bytes;
/// `present_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_id(
    request: *const tessera_request,
    id_out: *mut c_char,
    id_out_len: usize,
    present_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, buf, present) = unsafe {
            (
                arg_request(request)?,
                OutBuf::new(id_out, id_out_len, TESSERA_ID_BUFFER_LEN, "id_out")?,
                Out::new(present_out, "present_out")?,
            )
        };
        match r.inner.id() {
            Some(id) => write_id(buf, &id)?,
            None => buf.write_c_str(b"")?,
        }
        present.write(r.inner.id().is_some());
        Ok(tessera_status::Ok)
    })
}

/// Write the session's public id into `id_out` as `tessera_request_id` does, reserving one for a
/// new session if the request has none (nothing is stored for it unless the app writes data,
/// asks for a CSRF token or signs someone in).
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `id_out` NULL or writable for `id_out_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_ensure_id(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    id_out: *mut c_char,
    id_out_len: usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, buf) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                OutBuf::new(id_out, id_out_len, TESSERA_ID_BUFFER_LEN, "id_out")?,
            )
        };
        let id = r.step_keeping_user(|inner| inner.ensure_id(&m.core))?;
        write_id(buf, &id)?;
        Ok(tessera_status::Ok)
    })
}

/// Set `*reason_out` to why the request has no session although it carried a session cookie
/// (`TESSERA_REASON_MALFORMED` for two of them), or `TESSERA_REASON_NONE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_reason(
    request: *const tessera_request,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(reason_out, "reason_out")?) };
        out.write(r.inner.reason().map_or(tessera_reason::None, Into::into));
        Ok(tessera_status::Ok)
    })
}

/// Set `*csrf_out` to the CSRF verdict of `tessera_request_begin`.
///
/// # Safety
/// `request` must be NULL or a live handle; `csrf_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_csrf(
    request: *const tessera_request,
    csrf_out: *mut tessera_csrf,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(csrf_out, "csrf_out")?) };
        out.write(match r.inner.csrf() {
            CsrfCheck::NotNeeded => tessera_csrf::NotNeeded,
            CsrfCheck::Valid => tessera_csrf::Valid,
            CsrfCheck::Invalid => tessera_csrf::Invalid,
        });
        Ok(tessera_status::Ok)
    })
}

/// Set `*valid_out` to whether `candidate` is a CSRF token of this request's session (constant
/// time), for a token found after begin, such as a form field. A wrong candidate gives false.
///
/// # Safety
/// `request` must be NULL or a live handle; `candidate` NULL or NUL-terminated; `valid_out` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_verify_csrf(
    request: *const tessera_request,
    candidate: *const c_char,
    valid_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, candidate, out) = unsafe {
            (
                arg_request(request)?,
                opt_header(candidate).ok_or_else(|| Failure::null("candidate"))?,
                Out::new(valid_out, "valid_out")?,
            )
        };
        out.write(r.inner.verify_csrf(&candidate));
        Ok(tessera_status::Ok)
    })
}

/// Set `*ended_out` to whether the session ended under this request (logged out, revoked or
/// expired elsewhere while it ran), so its writes were dropped.
///
/// # Safety
/// `request` must be NULL or a live handle; `ended_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_ended(
    request: *const tessera_request,
    ended_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(ended_out, "ended_out")?) };
        out.write(r.inner.ended());
        Ok(tessera_status::Ok)
    })
}

/// Sign `user` in now (after checking the password): a new token (the old one dies at once), a
/// new CSRF secret, a fresh absolute deadline; the data carried over as `login_keeps_data`
/// says. Without a live session a new one is made. `tessera_request_finish` then sends the new
/// cookie. (Passing `TESSERA_AUTH_LOGGED_IN` to finish does the same at the end of the request,
/// and not at all if the response is an error.)
///
/// Errors: `INVALID_ARGUMENT` for an empty or over-long user; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `user` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_login(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    user: *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, user) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                arg_str(user, "user")?,
            )
        };
        r.step(|inner| inner.login(&m.core, user))?;
        Ok(tessera_status::Ok)
    })
}

/// End the session now (its token and alias die); the response will clear the cookie unless the
/// app stores something again before finish (then a new anonymous session holds it).
/// `*ended_out` (may be NULL) says whether a live session ended.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `ended_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_logout(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    ended_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, out) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                crate::boundary::OptOut::new(ended_out),
            )
        };
        out.write(r.step(|inner| inner.logout(&m.core))?);
        Ok(tessera_status::Ok)
    })
}

/// Give the session a new token now, the old one dead at once, user, data and CSRF secret kept
/// (e.g. after a change of privilege inside the app). `*cycled_out` (may be NULL) is false if
/// there was no live session to cycle.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `cycled_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_regenerate(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    cycled_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, out) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                crate::boundary::OptOut::new(cycled_out),
            )
        };
        out.write(r.step(|inner| inner.regenerate(&m.core))?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*csrf_out` to a fresh CSRF token for a form or a header (different on every call). A
/// visitor without a session gets one too. Release it with `tessera_string_free`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `csrf_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_csrf_token(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    csrf_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, out) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                Out::new(csrf_out, "csrf_out")?,
            )
        };
        let csrf = Zeroizing::new(r.step_keeping_user(|inner| inner.csrf_token(&m.core))?);
        out.write(alloc_string(&csrf)?);
        Ok(tessera_status::Ok)
    })
}

/// Give the live session its own expiry now (`expiry`: a `tessera_expiry` value other than
/// `TESSERA_EXPIRY_NONE`, with `expiry_ms` as that value says); it may shorten the configured
/// policy, never lengthen it. Without a session it does nothing. To send the cookie again with
/// its new lifetime, pass the same expiry to `tessera_request_finish` with `expiry_changed`.
///
/// Errors: `INVALID_ARGUMENT` for a number that is not an expiry, or a zero idle time;
/// `STORE_UNAVAILABLE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_set_expiry(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    expiry: c_int,
    expiry_ms: u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m) = unsafe { (arg_request_mut(request)?, arg_ref(manager, "manager")?) };
        let expiry = expiry_from(expiry, expiry_ms)?
            .ok_or_else(|| Failure::invalid_argument("expiry must not be TESSERA_EXPIRY_NONE"))?;
        r.step(|inner| inner.set_expiry(&m.core, expiry))?;
        Ok(tessera_status::Ok)
    })
}

/// Finish the request with what the app did, make the store writes, and set `*response_out` to
/// the headers the response must carry (add every one of `tessera_response_header`, as it is).
///
/// - `data_json`: the session data as the app left it, JSON object text; NULL if the app never
///   read or changed the session (nothing is compared). Only the top-level keys whose JSON
///   value changed are written, so concurrent requests changing other keys keep theirs.
/// - `auth` (a `tessera_auth` value) and `user`: a user change.
/// - `regenerate`: give the session a new token, the old one dead at once.
/// - `expiry` (a `tessera_expiry` value) and `expiry_ms`: the session's expiry as the app holds
///   it (`TESSERA_EXPIRY_NONE`: not given); `expiry_changed`: it changed during this request, so
///   the cookie is sent again with its new lifetime.
/// - `error`: the response is an error (5xx): no data is written, nobody signs in, no key is
///   cycled; a logout still happens, and a token rotated by begin is still sent.
///
/// The request is consumed in every case — also when finish fails, even on a refused argument
/// (like rustls-ffi's builders): do not use or free it afterwards (a free is a harmless no-op).
/// Only a NULL or already finished `request` is left alone.
///
/// Errors: `INVALID_ARGUMENT` for a NULL `manager` or `response_out`, text that is not a JSON
/// object, a bad user, or numbers that are not enum values — nothing was done and
/// `*response_out` is set to NULL. When the app's changes cannot all be carried out
/// (`DATA_TOO_LARGE`: nothing of the data was written; `STORE_UNAVAILABLE`; `INVALID_ARGUMENT`
/// for a user id the store refuses; `INTERNAL`), `*response_out` is **still set**: answer with
/// an error status (500, 503 for `STORE_UNAVAILABLE`) and that response's headers — a token
/// rotated at begin must reach the client, or it is signed out when the grace ends. So: send
/// the headers of any non-NULL `*response_out`, then free it.
///
/// # Safety
/// `request` must be NULL or a live handle, used by no other call; `manager` NULL or the live
/// handle that began it; strings NULL or NUL-terminated; `response_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_finish(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    data_json: *const c_char,
    auth: c_int,
    user: *const c_char,
    regenerate: bool,
    expiry: c_int,
    expiry_ms: u64,
    expiry_changed: bool,
    error: bool,
    response_out: *mut *mut tessera_response,
) -> tessera_status {
    ffi_boundary!({
        if request.is_null() {
            return Err(Failure::null("request"));
        }
        // The request is consumed first, whatever follows: after finish the caller never has
        // to ask whether it still owns it.
        REQUESTS.remove(request)?;
        // SAFETY: the registry held this address, so it came from `Box::into_raw` in
        // `tessera_request_begin`; removing it succeeded, so this call alone releases it.
        let request = unsafe { Box::from_raw(request) };
        // SAFETY: `response_out` is NULL or writable (this function's contract).
        let out = unsafe { Out::new(response_out, "response_out")? };
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let checked = unsafe {
            (|| {
                let (m, data, user) = (
                    arg_ref(manager, "manager")?,
                    opt_str(data_json, "data_json")?,
                    opt_str(user, "user")?,
                );
                let outcome = Outcome {
                    data: data.map(tessera_core::data::parse_object).transpose()?,
                    auth: auth_from(auth, user)?,
                    regenerate,
                    expiry: expiry_from(expiry, expiry_ms)?,
                    expiry_changed,
                    error,
                    ..Outcome::default()
                };
                Ok::<_, Failure>((m, outcome))
            })()
        };
        let (m, outcome) = match checked {
            Ok(checked) => checked,
            Err(refused) => {
                out.write(std::ptr::null_mut());
                return Err(refused);
            }
        };
        let (response, failure) = match request.inner.finish(&m.core, outcome) {
            Ok(response) => (response, None),
            Err(e) => {
                let (error, response) = e.into_parts();
                (response, Some(Failure::from(error)))
            }
        };
        let handle = Box::into_raw(Box::new(tessera_response::from_core(response)));
        RESPONSES.insert(handle);
        out.write(handle);
        failure.map_or(Ok(tessera_status::Ok), Err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_numbers_map_to_the_core() {
        assert_eq!(expiry_from(0, 5).unwrap(), None);
        assert_eq!(expiry_from(5, 0).unwrap(), Some(Expiry::Persistent(None)));
        assert_eq!(
            expiry_from(3, 1500).unwrap(),
            Some(Expiry::Idle(Duration::from_millis(1500)))
        );
        assert!(expiry_from(6, 0).is_err() && expiry_from(-1, 0).is_err());
        assert_eq!(auth_from(1, None).unwrap(), Auth::User(None));
        assert!(auth_from(2, None).is_err() && auth_from(0, Some("a")).is_err());
        assert!(auth_from(4, None).is_err());
    }
}
