//! Device-bound sessions (DBSC, `docs/dbsc.md`): the registration and refresh endpoints, which
//! a C server routes to `tessera_dbsc_register` / `tessera_dbsc_refresh` and whose whole answer
//! (status, headers, body) it sends as it is, and the manager's `unbind`.
//!
//! Everything is decided in the core (`tessera::dbsc`); this module converts the request's
//! headers from C and hands the response back as a handle.

use std::ffi::{CString, c_char, c_int};

use tessera_core::binding::Proof;
use tessera_core::dbsc::{self, DbscHead, EndpointResponse};
use zeroize::Zeroize;

use crate::boundary::{Out, arg_ref, arg_str, opt_header};
use crate::handles::ENDPOINT_RESPONSES;
use crate::manager::tessera_manager;
use crate::request::{arg_request, arg_request_mut, tessera_request};
use crate::status::{Failure, tessera_status};

/// What the two DBSC endpoints read from a request. Every string may be NULL (header absent)
/// except `method`; invalid UTF-8 is replaced by U+FFFD, as in `tessera_request_begin`.
///
/// Zero-initialise it (`tessera_dbsc_head head = {0};`) and set what the request has. Its
/// layout is fixed forever: a later need gets a new function, never a changed struct.
///
/// Thread safety: a plain value, read during the call only.
#[repr(C)]
pub struct tessera_dbsc_head {
    /// The whole `Cookie` header (several joined with `"; "`).
    pub cookie_header: *const c_char,
    /// Whether the request arrived over HTTPS (as the server determines it). DBSC needs HTTPS:
    /// a plain-HTTP request is answered 400.
    pub https: bool,
    /// The method (`"POST"`; any other is answered 405). Required.
    pub method: *const c_char,
    /// This site's origin as the server resolves it, `scheme://host[:port]` (for the session
    /// config's `scope.origin`; the `dbsc_origin` option wins when set). NULL without that
    /// option is `INVALID_CONFIG`, before anything is read or written.
    pub origin: *const c_char,
    /// The `Sec-Secure-Session-Id` header (refresh).
    pub session_id: *const c_char,
    /// The `Secure-Session-Response` header: the browser's proof.
    pub proof: *const c_char,
}

/// Which DBSC endpoint a request path names (passed as an `int` where it is an input). Values
/// are fixed forever.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_dbsc_route {
    /// Not a DBSC endpoint (or device-bound sessions are off): the app's own route.
    None = 0,
    /// `<dbsc_path_prefix>/register`: call `tessera_dbsc_register`.
    Register = 1,
    /// `<dbsc_path_prefix>/refresh`: call `tessera_dbsc_refresh`.
    Refresh = 2,
}

/// The whole HTTP response of a DBSC endpoint: send its status, every header (several
/// `Set-Cookie` lines possible) and its body exactly as they are, then release it with
/// `tessera_endpoint_response_free` (which zeroes the `Set-Cookie` values: they hold the bound
/// cookie, and after a refresh of a dead session, its clearing).
///
/// Thread safety: may be moved to another thread; its accessors only read it, so several
/// threads may call them at once, but none may run during `tessera_endpoint_response_free`.
pub struct tessera_endpoint_response {
    status: u16,
    /// NUL-terminated names and values, in order; values zeroed on drop.
    headers: Vec<(CString, CString)>,
    /// The body, NUL-terminated for convenience (its length excludes the NUL).
    body: CString,
}

impl tessera_endpoint_response {
    fn from_core(response: EndpointResponse) -> Self {
        // The core builds names, values and the JSON body without NUL bytes; one that had one
        // could not reach C and is left out rather than cut short.
        let headers = response
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    CString::new(*name).ok()?,
                    CString::new(value.as_str()).ok()?,
                ))
            })
            .collect();
        tessera_endpoint_response {
            status: response.status,
            headers,
            body: CString::new(response.body).unwrap_or_default(),
        }
    }
}

impl Drop for tessera_endpoint_response {
    fn drop(&mut self) {
        for (_, value) in self.headers.drain(..) {
            value.into_bytes_with_nul().zeroize();
        }
    }
}

/// Borrow a live endpoint response argument.
///
/// # Safety
/// `response` must be NULL or a pointer an endpoint returned, not being freed.
unsafe fn arg_endpoint<'a>(
    response: *const tessera_endpoint_response,
) -> Result<&'a tessera_endpoint_response, Failure> {
    if response.is_null() {
        return Err(Failure::null("response"));
    }
    ENDPOINT_RESPONSES.check_live(response)?;
    // SAFETY: live (the registry holds it until its free), and not freed concurrently.
    Ok(unsafe { &*response })
}

type Endpoint =
    fn(&tessera_core::SessionManager, &DbscHead<'_>) -> tessera_core::Result<EndpointResponse>;

/// The body of both endpoints: read the head, call the core, hand the response over.
///
/// # Safety
/// As `tessera_dbsc_register`.
unsafe fn serve(
    manager: *const tessera_manager,
    head: *const tessera_dbsc_head,
    response_out: *mut *mut tessera_endpoint_response,
    endpoint: Endpoint,
) -> Result<tessera_status, Failure> {
    // SAFETY: the pointers are NULL or valid (the exports' contract).
    let (m, head, out) = unsafe {
        (
            arg_ref(manager, "manager")?,
            arg_ref(head, "head")?,
            Out::new(response_out, "response_out")?,
        )
    };
    // SAFETY: the head's strings are NULL or NUL-terminated (the exports' contract).
    let (cookie, method, origin, session_id, proof) = unsafe {
        (
            opt_header(head.cookie_header),
            opt_header(head.method).ok_or_else(|| Failure::null("head->method"))?,
            opt_header(head.origin),
            opt_header(head.session_id),
            opt_header(head.proof),
        )
    };
    // The core checks the origin only when it writes the config, after the binding changed in
    // the store: a registration would bind a session whose browser never gets its cookie. So
    // the missing origin is refused here, before anything happens.
    let origin_option = m
        .core
        .config()
        .dbsc
        .as_ref()
        .and_then(|d| d.origin.as_ref());
    if origin.is_none() && origin_option.is_none() && m.core.config().dbsc.is_some() {
        return Err(Failure::invalid_config(
            "no origin: set head->origin (scheme://host[:port] of the request) or the \
             dbsc_origin option",
        ));
    }
    let core_head = DbscHead {
        cookie_header: cookie.as_deref(),
        https: head.https,
        method: &method,
        origin: origin.as_deref(),
        session_id: session_id.as_deref(),
        proof: proof.as_deref(),
    };
    let response = endpoint(&m.core, &core_head)?;
    let handle = Box::into_raw(Box::new(tessera_endpoint_response::from_core(response)));
    ENDPOINT_RESPONSES.insert(handle);
    out.write(handle);
    Ok(tessera_status::Ok)
}

/// The DBSC registration endpoint (`POST <dbsc_path_prefix>/register`, docs/dbsc.md §2.5): the
/// browser proves its new key over the challenge its sign-in response offered; a good proof
/// binds the session and sets the bound cookie. On `OK`, `*response_out` is the whole answer
/// (200, or 400/403/405 with a JSON body): send it as it is. Route it before the app's CSRF
/// check (the single-use challenge is the anti-forgery token here; browsers send no CSRF token).
///
/// Errors (nothing was answered, `*response_out` untouched): `STORE_UNAVAILABLE` (answer 503:
/// the browser keeps its session and backs off); `INVALID_ARGUMENT` for a NULL manager, head,
/// `head->method` or `response_out`; `INVALID_CONFIG` for a manager without `dbsc`, or when no
/// origin is known (neither `head->origin` nor the `dbsc_origin` option).
///
/// # Safety
/// `manager` must be NULL or a live handle; `head` NULL or a readable struct whose strings are
/// NULL or NUL-terminated; `response_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_dbsc_register(
    manager: *const tessera_manager,
    head: *const tessera_dbsc_head,
    response_out: *mut *mut tessera_endpoint_response,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { serve(manager, head, response_out, dbsc::register) }
    })
}

/// The DBSC refresh endpoint (`POST <dbsc_path_prefix>/refresh`, docs/dbsc.md §2.6): a
/// challenge (403 with `Secure-Session-Challenge`), or, for a proof of the bound key over it, a
/// new bound cookie (200 with the session config), or `{"continue": false}` for a session that
/// is gone or not bound to this key. It reads the session without touching it: a refresh is the
/// browser's activity, not the user's. Send `*response_out` as it is; errors as
/// `tessera_dbsc_register`.
///
/// # Safety
/// As `tessera_dbsc_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_dbsc_refresh(
    manager: *const tessera_manager,
    head: *const tessera_dbsc_head,
    response_out: *mut *mut tessera_endpoint_response,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { serve(manager, head, response_out, dbsc::refresh) }
    })
}

/// Set `*route_out` to the DBSC endpoint `path` (the request target's path, without the query)
/// names under the manager's `dbsc_path_prefix`, or `TESSERA_DBSC_ROUTE_NONE` (also when
/// device-bound sessions are off), so the server routes both paths without repeating the
/// option.
///
/// # Safety
/// `manager` must be NULL or a live handle; `path` NULL or NUL-terminated; `route_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_dbsc_route_of(
    manager: *const tessera_manager,
    path: *const c_char,
    route_out: *mut tessera_dbsc_route,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, path, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_header(path).ok_or_else(|| Failure::null("path"))?,
                Out::new(route_out, "route_out")?,
            )
        };
        let route = m
            .core
            .config()
            .dbsc
            .as_ref()
            .map_or(tessera_dbsc_route::None, |d| {
                match path.strip_prefix(d.path_prefix.as_str()) {
                    Some("/register") => tessera_dbsc_route::Register,
                    Some("/refresh") => tessera_dbsc_route::Refresh,
                    _ => tessera_dbsc_route::None,
                }
            });
        out.write(route);
        Ok(tessera_status::Ok)
    })
}

/// Set `*status_out` to the response's HTTP status code.
///
/// # Safety
/// `response` must be NULL or a live handle; `status_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_endpoint_response_status(
    response: *const tessera_endpoint_response,
    status_out: *mut c_int,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_endpoint(response)?, Out::new(status_out, "status_out")?) };
        out.write(c_int::from(r.status));
        Ok(tessera_status::Ok)
    })
}

/// Set `*count_out` to the number of headers the response carries; read each with
/// `tessera_endpoint_response_header` and add them all, in order, as they are.
///
/// # Safety
/// `response` must be NULL or a live handle; `count_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_endpoint_response_header_count(
    response: *const tessera_endpoint_response,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_endpoint(response)?, Out::new(count_out, "count_out")?) };
        out.write(r.headers.len());
        Ok(tessera_status::Ok)
    })
}

/// Set `*name_out` and `*value_out` to header `index` (from 0, below the count), e.g.
/// `"Secure-Session-Challenge"` and `"\"...\";id=\"...\""`. The strings belong to the response
/// (valid until `tessera_endpoint_response_free`); never free them, never log a `Set-Cookie`
/// value. `INVALID_ARGUMENT` for an index out of range.
///
/// # Safety
/// `response` must be NULL or a live handle; `name_out` and `value_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_endpoint_response_header(
    response: *const tessera_endpoint_response,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, name, value) = unsafe {
            (
                arg_endpoint(response)?,
                Out::new(name_out, "name_out")?,
                Out::new(value_out, "value_out")?,
            )
        };
        crate::response::header_at(&r.headers, index, name, value)
    })
}

/// Set `*body_out` to the response's body and `*len_out` to its length in bytes (JSON, or empty;
/// a NUL follows it, not counted). The bytes belong to the response: never free them.
///
/// # Safety
/// `response` must be NULL or a live handle; `body_out` and `len_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_endpoint_response_body(
    response: *const tessera_endpoint_response,
    body_out: *mut *const c_char,
    len_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, body, len) = unsafe {
            (
                arg_endpoint(response)?,
                Out::new(body_out, "body_out")?,
                Out::new(len_out, "len_out")?,
            )
        };
        body.write(r.body.as_ptr());
        len.write(r.body.as_bytes().len());
        Ok(tessera_status::Ok)
    })
}

/// Release an endpoint response (its `Set-Cookie` values are zeroed). NULL is ignored; freeing
/// it twice is harmless, even from two threads at once: one call releases it, the others change
/// nothing and set `tessera_last_error`.
///
/// # Safety
/// `response` must be NULL or a pointer an endpoint returned; no other call may be using it
/// except another free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_endpoint_response_free(response: *mut tessera_endpoint_response) {
    ffi_void!({
        if response.is_null() {
            return;
        }
        match ENDPOINT_RESPONSES.remove(response) {
            // SAFETY: the registry held this address, so it came from `Box::into_raw` in an
            // endpoint; removing it succeeds once, so it is released once.
            Ok(()) => drop(unsafe { Box::from_raw(response) }),
            Err(failure) => {
                failure.report();
            }
        }
    })
}

/// End the device binding of session `id` (64 hex digits, as `tessera_manager_list_user` gives
/// it; an app's "forget this device"): the session lives on, unbound, and its browser's next
/// refresh is told `continue: false`. `*unbound_out` (may be NULL) says whether a binding (or a
/// pending offer) was there to end. Event `unbound` (detail `app`).
///
/// Errors: `INVALID_ARGUMENT` for an id that is not 64 hex digits; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `id` NULL or NUL-terminated; `unbound_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_unbind(
    manager: *const tessera_manager,
    id: *const c_char,
    unbound_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, id, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(id, "id")?,
                crate::boundary::OptOut::new(unbound_out),
            )
        };
        let id = tessera_core::SessionId::parse_hex(id)?;
        out.write(m.core.unbind(&id)?);
        Ok(tessera_status::Ok)
    })
}

/// How a request proved its session's device (`tessera_request_binding`). Values are fixed
/// forever.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_binding {
    /// The session is not bound to a device (or the request has no session: see
    /// `tessera_request_reason`, `TESSERA_REASON_BINDING_MISSING` for a bound session the
    /// request did not prove).
    Unbound = 0,
    /// Bound moments ago (`dbsc_enforce_grace_ms`); the browser may not hold its bound cookie
    /// yet.
    Pending = 1,
    /// Bound, and the request carries a current bound cookie.
    Fresh = 2,
}

/// The stable string of a `tessera_binding` value: `"unbound"`, `"pending"` or `"fresh"`, the
/// same in every binding; NULL for a number that is not one. Static: never free it.
///
/// Thread safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_binding_str(binding: c_int) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        match binding {
            0 => c"unbound".as_ptr(),
            1 => c"pending".as_ptr(),
            2 => c"fresh".as_ptr(),
            _ => std::ptr::null(),
        }
    })
}

/// Set `*binding_out` to how the request proved its session's device. A route that needs a
/// device-bound session refuses anything but `TESSERA_BINDING_FRESH` (and `PENDING`, moments
/// after registration) — `UNBOUND` included — the way it refuses an anonymous request.
///
/// # Safety
/// `request` must be NULL or a live handle; `binding_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_binding(
    request: *const tessera_request,
    binding_out: *mut tessera_binding,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_request(request)?, Out::new(binding_out, "binding_out")?) };
        out.write(match r.inner().proof() {
            Some(Proof::Pending) => tessera_binding::Pending,
            Some(Proof::Fresh) => tessera_binding::Fresh,
            Some(Proof::Unbound) | None => tessera_binding::Unbound,
        });
        Ok(tessera_status::Ok)
    })
}

/// Offer the request's signed-in session a device binding on this response (sign-ins offer one
/// by themselves when `dbsc` is on): `tessera_request_finish` then adds the
/// `Secure-Session-Registration` header. `*offered_out` (may be NULL) says whether an offer was
/// made: `dbsc` on, HTTPS, a signed-in session not bound yet.
///
/// Errors: `STORE_UNAVAILABLE`.
///
/// # Safety
/// `request` must be NULL or a live handle; `manager` NULL or the live handle that began it;
/// `offered_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_request_offer_binding(
    request: *mut tessera_request,
    manager: *const tessera_manager,
    offered_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, m, out) = unsafe {
            (
                arg_request_mut(request)?,
                arg_ref(manager, "manager")?,
                crate::boundary::OptOut::new(offered_out),
            )
        };
        // A step that may end the session (it was revoked meanwhile), so the user is re-read.
        out.write(r.step(|inner| inner.offer_binding(&m.core))?);
        Ok(tessera_status::Ok)
    })
}
