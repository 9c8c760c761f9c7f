//! What `tessera_request_finish` says the HTTP response must carry, and what became of the
//! session.

use std::ffi::{CString, c_char};

use tessera_core::SessionId;
use tessera_core::http::Response;
use zeroize::Zeroize;

use crate::boundary::{Out, OutBuf};
use crate::handles::RESPONSES;
use crate::status::{Failure, tessera_status};
use crate::strings::{TESSERA_ID_BUFFER_LEN, write_id};

/// The headers a finished request's response must carry: at most one `Set-Cookie` for the
/// session cookie and, whenever it sets or clears it, `Cache-Control: no-store`
/// (`TESSERA_CACHE_CONTROL_NAME` / `_VALUE`). Add them to the response as they are, then
/// release the handle with `tessera_response_free` (which zeroes the `Set-Cookie` value: it
/// holds the token).
///
/// Thread safety: a response handle may be moved to another thread; its accessors only read it,
/// so several threads may call them at once, but none may run during `tessera_response_free`.
pub struct tessera_response {
    /// Every header to add, in order (`Set-Cookie` lines, then `Cache-Control`), NUL-terminated;
    /// the values are zeroed on drop.
    headers: Vec<(CString, CString)>,
    /// Index into `headers` of the session cookie's `Set-Cookie` line.
    set_cookie: Option<usize>,
    no_store: bool,
    session_id: Option<SessionId>,
    /// `Err` for a user id holding a NUL byte (only another language could have stored it).
    user: Option<Result<CString, ()>>,
    ended: bool,
}

impl tessera_response {
    pub(crate) fn from_core(response: Response) -> Self {
        // Header names and values built by the core hold no NUL byte; one that did could not
        // reach C and is left out rather than cut short.
        let headers: Vec<(CString, CString)> = response
            .headers()
            .into_iter()
            .filter_map(|(name, value)| Some((CString::new(name).ok()?, CString::new(value).ok()?)))
            .collect();
        let set_cookie = response.set_cookie.as_deref().and_then(|line| {
            headers
                .iter()
                .position(|(_, value)| value.as_bytes() == line.as_bytes())
        });
        tessera_response {
            headers,
            set_cookie,
            no_store: response.no_store,
            session_id: response.session_id,
            user: response.user.map(|u| CString::new(u).map_err(drop)),
            ended: response.ended,
        }
    }
}

impl Drop for tessera_response {
    fn drop(&mut self) {
        for (_, value) in self.headers.drain(..) {
            value.into_bytes_with_nul().zeroize();
        }
    }
}

/// Borrow a live response handle argument.
///
/// # Safety
/// `response` must be NULL or a pointer `tessera_request_finish` returned, not being freed.
unsafe fn arg_response<'a>(
    response: *const tessera_response,
) -> Result<&'a tessera_response, Failure> {
    if response.is_null() {
        return Err(Failure::null("response"));
    }
    RESPONSES.check_live(response)?;
    // SAFETY: live (the registry holds it until its free), and not freed concurrently.
    Ok(unsafe { &*response })
}

/// Set `*set_cookie_out` to the `Set-Cookie` value the response must carry for the session
/// cookie (a new token, or the clearing of a dead, tossed or logged-out one), or to NULL when it
/// must not touch the cookie. The string belongs to the response (valid until
/// `tessera_response_free`, which zeroes it); never free it, never log it.
///
/// # Safety
/// `response` must be NULL or a live handle; `set_cookie_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_set_cookie(
    response: *const tessera_response,
    set_cookie_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe {
            (
                arg_response(response)?,
                Out::new(set_cookie_out, "set_cookie_out")?,
            )
        };
        let line = r.set_cookie.and_then(|i| r.headers.get(i));
        out.write(line.map_or(std::ptr::null(), |(_, value)| value.as_ptr()));
        Ok(tessera_status::Ok)
    })
}

/// Set `*count_out` to the number of headers the response must carry; read each with
/// `tessera_response_header`. Adding them all, as they are, is the whole job of a server's
/// glue: today at most the session cookie's `Set-Cookie`, a visitor CSRF cookie's
/// `Set-Cookie`, and `Cache-Control: no-store`.
///
/// # Safety
/// `response` must be NULL or a live handle; `count_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_header_count(
    response: *const tessera_response,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_response(response)?, Out::new(count_out, "count_out")?) };
        out.write(r.headers.len());
        Ok(tessera_status::Ok)
    })
}

/// Set `*name_out` and `*value_out` to header `index` (from 0, below
/// `tessera_response_header_count`) of the response, e.g. `"Set-Cookie"` and
/// `"__Host-session=...; Path=/; Secure; HttpOnly; SameSite=Lax"`. The strings belong to the
/// response (valid until `tessera_response_free`, which zeroes the values); never free them,
/// never log a `Set-Cookie` value. `INVALID_ARGUMENT` for an index out of range.
///
/// # Safety
/// `response` must be NULL or a live handle; `name_out` and `value_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_header(
    response: *const tessera_response,
    index: usize,
    name_out: *mut *const c_char,
    value_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, name, value) = unsafe {
            (
                arg_response(response)?,
                Out::new(name_out, "name_out")?,
                Out::new(value_out, "value_out")?,
            )
        };
        header_at(&r.headers, index, name, value)
    })
}

/// Header `index` of `headers` into the two out-parameters (the strings stay owned by the
/// response); `INVALID_ARGUMENT` past the end. Shared by both kinds of response handle.
pub(crate) fn header_at(
    headers: &[(CString, CString)],
    index: usize,
    name: Out<*const c_char>,
    value: Out<*const c_char>,
) -> Result<tessera_status, Failure> {
    let (n, v) = headers.get(index).ok_or_else(|| {
        Failure::invalid_argument(format!(
            "index {index} is out of range: the response has {} header(s)",
            headers.len()
        ))
    })?;
    name.write(n.as_ptr());
    value.write(v.as_ptr());
    Ok(tessera_status::Ok)
}

/// Set `*no_store_out` to whether the response must carry `Cache-Control: no-store` (it sets or
/// clears the session cookie, so no shared cache may keep it).
///
/// # Safety
/// `response` must be NULL or a live handle; `no_store_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_no_store(
    response: *const tessera_response,
    no_store_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe {
            (
                arg_response(response)?,
                Out::new(no_store_out, "no_store_out")?,
            )
        };
        out.write(r.no_store);
        Ok(tessera_status::Ok)
    })
}

/// Set `*user_out` to the user of the session the client holds after this response, or NULL.
/// The string belongs to the response: never free it.
///
/// # Safety
/// `response` must be NULL or a live handle; `user_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_user(
    response: *const tessera_response,
    user_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_response(response)?, Out::new(user_out, "user_out")?) };
        match &r.user {
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

/// Write the public id of the session the client holds after this response (64 hex digits and
/// a NUL) into `id_out` (`id_out_len` bytes, at least `TESSERA_ID_BUFFER_LEN`) and set
/// `*present_out` to true; without one, write the empty string and set it to false.
///
/// # Safety
/// `response` must be NULL or a live handle; `id_out` NULL or writable for `id_out_len` bytes;
/// `present_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_session_id(
    response: *const tessera_response,
    id_out: *mut c_char,
    id_out_len: usize,
    present_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, buf, present) = unsafe {
            (
                arg_response(response)?,
                OutBuf::new(id_out, id_out_len, TESSERA_ID_BUFFER_LEN, "id_out")?,
                Out::new(present_out, "present_out")?,
            )
        };
        match &r.session_id {
            Some(id) => write_id(buf, id)?,
            None => buf.write_c_str(b"")?,
        }
        present.write(r.session_id.is_some());
        Ok(tessera_status::Ok)
    })
}

/// Set `*ended_out` to whether the session ended under this request (logged out, revoked or
/// expired elsewhere while it ran): the request's writes were dropped.
///
/// # Safety
/// `response` must be NULL or a live handle; `ended_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_ended(
    response: *const tessera_response,
    ended_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (r, out) = unsafe { (arg_response(response)?, Out::new(ended_out, "ended_out")?) };
        out.write(r.ended);
        Ok(tessera_status::Ok)
    })
}

/// Release a response (its `Set-Cookie` value is zeroed). NULL is ignored; freeing it twice is
/// harmless, even from two threads at once: one call releases it, the others change nothing and
/// set `tessera_last_error`.
///
/// # Safety
/// `response` must be NULL or a pointer `tessera_request_finish` returned; no other call may be
/// using it except another free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_response_free(response: *mut tessera_response) {
    ffi_void!({
        if response.is_null() {
            return;
        }
        match RESPONSES.remove(response) {
            // SAFETY: the registry held this address, so it came from `Box::into_raw` in
            // `tessera_request_finish`; removing it succeeds once, so it is released once.
            Ok(()) => drop(unsafe { Box::from_raw(response) }),
            Err(failure) => {
                failure.report();
            }
        }
    })
}
