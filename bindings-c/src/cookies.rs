//! The session cookie: `Set-Cookie` values built by the core with the configured attributes,
//! and the token found in a `Cookie` request header.

use std::ffi::c_char;

use tessera_core::{CookieToken, Token};
use zeroize::Zeroizing;

use crate::boundary::{Out, OutBuf, arg_ref, arg_str, opt_header};
use crate::manager::tessera_manager;
use crate::session::tessera_session;
use crate::status::{Failure, tessera_status};
use crate::strings::alloc_string;

// The header's TESSERA_CACHE_CONTROL_NAME / _VALUE macros come from build.rs (cbindgen cannot
// export string constants); `tests::cache_control_macros_match_the_core` keeps them in sync.

/// What a `Cookie` request header holds for the session cookie.
///
/// Thread safety: a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tessera_cookie {
    /// No cookie of the session's name: the request is anonymous.
    Absent = 0,
    /// Exactly one; its value was copied out (validate it).
    One = 1,
    /// Two or more cookies of the session's name ("cookie tossing"): no session at all — treat
    /// the request as anonymous (reason `malformed`) and clear the cookie.
    Ambiguous = 2,
}

/// Set `*header_out` to the `Set-Cookie` value that hands `token` to the browser, with the
/// configured attributes (by default `__Host-session=<token>; Path=/; Secure; HttpOnly;
/// SameSite=Lax`). Send it with `Cache-Control: no-store`. Release it with
/// `tessera_string_free` (which zeroes it: it contains the token).
///
/// `INVALID_ARGUMENT` if `token` is not a well-formed token.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `header_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_set_cookie(
    manager: *const tessera_manager,
    token: *const c_char,
    header_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                Out::new(header_out, "header_out")?,
            )
        };
        let token = Token::parse(token)
            .map_err(|_| Failure::invalid_argument("token is not a well-formed session token"))?;
        let header = Zeroizing::new(m.core.set_cookie(&token));
        out.write(alloc_string(&header)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*header_out` to the `Set-Cookie` value for the new token `session` carries (after
/// create, login, or a validate that rotated). The token never passes through your code. Release
/// it with `tessera_string_free`.
///
/// `INVALID_ARGUMENT` if the session carries no new token (`tessera_session_has_new_token`).
///
/// # Safety
/// `manager` and `session` must be NULL or live handles; `header_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_set_cookie_for_session(
    manager: *const tessera_manager,
    session: *const tessera_session,
    header_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, s, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                crate::session::arg_session(session)?,
                Out::new(header_out, "header_out")?,
            )
        };
        let token = s
            .session
            .new_token()
            .ok_or_else(|| Failure::invalid_argument("this session carries no new token"))?;
        let header = Zeroizing::new(m.core.set_cookie(token));
        out.write(alloc_string(&header)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*header_out` to the `Set-Cookie` value that removes the session cookie (`Max-Age=0`),
/// for sign-out and for requests whose cookie was rejected. Send it with
/// `Cache-Control: no-store`. Release it with `tessera_string_free`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `header_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_clear_cookie(
    manager: *const tessera_manager,
    header_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                Out::new(header_out, "header_out")?,
            )
        };
        out.write(alloc_string(&m.core.clear_cookie())?);
        Ok(tessera_status::Ok)
    })
}

/// Find the session cookie in a `Cookie` request header (pass the whole header value; join
/// several `Cookie` headers with `"; "`). Invalid UTF-8 in the header (in some other cookie) is
/// replaced by U+FFFD rather than refused. `*found_out` says what it holds:
///
/// - `TESSERA_COOKIE_ONE`: the value is copied with a NUL into `token_out` (`token_out_len`
///   bytes, at least `TESSERA_TOKEN_BUFFER_LEN`); pass it to `tessera_manager_validate`. A value
///   too long for the buffer cannot be a token: the empty string is written instead, which
///   validate rejects as `malformed`.
/// - `TESSERA_COOKIE_ABSENT` and `TESSERA_COOKIE_AMBIGUOUS`: `token_out` is set to the empty
///   string. Treat an ambiguous header as anonymous and clear the cookie: either value might be
///   one an attacker planted.
///
/// # Safety
/// `manager` must be NULL or a live handle; `cookie_header` NULL or NUL-terminated; `token_out`
/// NULL or writable for `token_out_len` bytes; `found_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_cookie_token(
    manager: *const tessera_manager,
    cookie_header: *const c_char,
    token_out: *mut c_char,
    token_out_len: usize,
    found_out: *mut tessera_cookie,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, header, buf, found) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_header(cookie_header).ok_or_else(|| Failure::null("cookie_header"))?,
                OutBuf::new(
                    token_out,
                    token_out_len,
                    crate::strings::TESSERA_TOKEN_BUFFER_LEN,
                    "token_out",
                )?,
                Out::new(found_out, "found_out")?,
            )
        };
        let (kind, value) = match m.core.token_from_cookie_header(&header) {
            CookieToken::Absent => (tessera_cookie::Absent, ""),
            CookieToken::Ambiguous => (tessera_cookie::Ambiguous, ""),
            CookieToken::One(v) if v.len() < token_out_len => (tessera_cookie::One, v),
            CookieToken::One(_) => (tessera_cookie::One, ""),
        };
        buf.write_c_str(value.as_bytes())?;
        found.write(kind);
        Ok(tessera_status::Ok)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_control_macros_match_the_core() {
        let header = include_str!(concat!(env!("OUT_DIR"), "/tessera.h"));
        let (name, value) = tessera_core::cookie::CACHE_CONTROL;
        assert!(header.contains(&format!("#define TESSERA_CACHE_CONTROL_NAME \"{name}\"\n")));
        assert!(header.contains(&format!(
            "#define TESSERA_CACHE_CONTROL_VALUE \"{value}\"\n"
        )));
    }
}
