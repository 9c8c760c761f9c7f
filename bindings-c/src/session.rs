//! The session handle `validate`, `rotate`, `create` and `login` return, and what C can read
//! from it.

use std::cell::{Cell, OnceCell};
use std::ffi::{CString, c_char};
use std::mem::MaybeUninit;

use tessera_core::Session;
use zeroize::Zeroizing;

use crate::boundary::{Out, OutBuf, arg_ref, arg_str};
use crate::status::{Failure, tessera_status};
use crate::strings::{
    TESSERA_ID_BUFFER_LEN, TESSERA_TOKEN_BUFFER_LEN, alloc_string, write_id, write_token,
};

/// A live session as one call saw it: its id, user, data, times and — when the call issued
/// one — the new token the response must send in `Set-Cookie`.
///
/// It is a snapshot: later changes to the session (data writes, logout) do not show in it.
/// Release it with `tessera_session_free`.
///
/// Thread safety: a session handle may be moved to another thread, but must not be used from
/// two threads at once.
pub struct tessera_session {
    pub(crate) session: Session,
    /// The user as a C string, made on first request (`Err` if it holds a NUL byte).
    user: OnceCell<Option<Result<CString, ()>>>,
}

thread_local! {
    /// The allocation of the last session handle freed on this thread, its contents already
    /// dropped (and its token zeroed), reused by the next handle made on this thread: a request
    /// that validates and frees its session then costs no `malloc`/`free` pair.
    static SPARE: Cell<Option<Box<MaybeUninit<tessera_session>>>> = const { Cell::new(None) };
}

/// This thread's spare allocation, or a new one.
#[inline(always)]
fn allocation() -> Box<MaybeUninit<tessera_session>> {
    SPARE
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(Box::new_uninit)
}

/// Box a core session for C, in this thread's spare allocation if it has one. The session is
/// copied once, into the handle (the core returns it by value; copying it is most of what the C
/// ABI adds to a validate).
#[inline(always)]
pub(crate) fn into_handle(session: Session) -> *mut tessera_session {
    let mut slot = allocation();
    slot.write(tessera_session {
        session,
        user: OnceCell::new(),
    });
    Box::into_raw(slot).cast::<tessera_session>()
}

/// Drop the handle's contents now, and keep its allocation as this thread's spare.
///
/// # Safety
/// `session` must be a live handle from [`into_handle`], not used again.
#[inline(always)]
unsafe fn release(session: *mut tessera_session) {
    // SAFETY: a live handle (this function's contract): drop its contents in place, exactly once.
    unsafe { std::ptr::drop_in_place(session) };
    // SAFETY: the allocation was made for a `tessera_session` by a `Box` (in `allocation`);
    // `MaybeUninit<tessera_session>` has the same layout, and its contents are now dropped.
    let spare = unsafe { Box::from_raw(session.cast::<MaybeUninit<tessera_session>>()) };
    // The previous spare, if any, is released here; if the thread-local is already gone (thread
    // exit), the closure is dropped uncalled, which releases `spare`.
    let _ = SPARE.try_with(move |slot| drop(slot.replace(Some(spare))));
}

/// Write the session's public id (64 lowercase hex digits and a NUL) into `id_out`, which holds
/// `id_out_len` bytes — at least `TESSERA_ID_BUFFER_LEN`. The id is safe to log and to show; give
/// it to `tessera_manager_revoke` or the `tessera_manager_data_*` functions.
///
/// # Safety
/// `session` must be NULL or a live handle; `id_out` NULL or writable for `id_out_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_id(
    session: *const tessera_session,
    id_out: *mut c_char,
    id_out_len: usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                OutBuf::new(id_out, id_out_len, TESSERA_ID_BUFFER_LEN, "id_out")?,
            )
        };
        write_id(out, s.session.id())?;
        Ok(tessera_status::Ok)
    })
}

/// Set `*user_out` to the session's user, or to NULL for an anonymous session. The string
/// belongs to the session handle: it stays valid until `tessera_session_free` and must not be
/// freed by the caller.
///
/// Fails with `TESSERA_STATUS_INTERNAL` for a user id containing a NUL byte (which only another
/// language's binding could have stored).
///
/// # Safety
/// `session` must be NULL or a live handle; `user_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_user(
    session: *const tessera_session,
    user_out: *mut *const c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                Out::new(user_out, "user_out")?,
            )
        };
        let user = s
            .user
            .get_or_init(|| s.session.user().map(|u| CString::new(u).map_err(drop)));
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

/// Set `*issued_out` to whether this call gave the session a new token (creation, login,
/// rotation, or the upgrade of an HTTP session to HTTPS). If it did, the response must send it:
/// `tessera_manager_set_cookie_for_session` builds the `Set-Cookie` value.
///
/// # Safety
/// `session` must be NULL or a live handle; `issued_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_has_new_token(
    session: *const tessera_session,
    issued_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                Out::new(issued_out, "issued_out")?,
            )
        };
        out.write(s.session.new_token().is_some());
        Ok(tessera_status::Ok)
    })
}

/// Copy the new token (43 characters and a NUL) into `token_out`, which holds `token_out_len`
/// bytes — at least `TESSERA_TOKEN_BUFFER_LEN`. Fails with `TESSERA_STATUS_INVALID_ARGUMENT` if
/// the call issued no new token (see `tessera_session_has_new_token`).
///
/// The token is the session's bearer secret: send it only in `Set-Cookie`, never log it, and
/// overwrite the buffer when done.
///
/// # Safety
/// `session` must be NULL or a live handle; `token_out` NULL or writable for `token_out_len`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_new_token(
    session: *const tessera_session,
    token_out: *mut c_char,
    token_out_len: usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                OutBuf::new(
                    token_out,
                    token_out_len,
                    TESSERA_TOKEN_BUFFER_LEN,
                    "token_out",
                )?,
            )
        };
        let token = s
            .session
            .new_token()
            .ok_or_else(|| Failure::invalid_argument("this session carries no new token"))?;
        write_token(out, token)?;
        Ok(tessera_status::Ok)
    })
}

/// Write a timestamp of the session (milliseconds since the Unix epoch) to `at_out`.
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` NULL or writable.
unsafe fn time_of(
    session: *const tessera_session,
    at_out: *mut u64,
    read: fn(&Session) -> u64,
) -> crate::status::Outcome {
    // SAFETY: forwarded from this function's contract.
    let (s, out) = unsafe { (arg_ref(session, "session")?, Out::new(at_out, "at_out")?) };
    out.write(read(&s.session));
    Ok(tessera_status::Ok)
}

/// Set `*at_out` to when the session ends if unused: `last_seen + idle_timeout`, or the absolute
/// deadline if sooner (milliseconds since the Unix epoch).
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_expires_at(
    session: *const tessera_session,
    at_out: *mut u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { time_of(session, at_out, Session::expires_at) }
    })
}

/// Set `*at_out` to the session's absolute deadline (milliseconds since the Unix epoch), after
/// which no activity keeps it alive.
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_absolute_deadline(
    session: *const tessera_session,
    at_out: *mut u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { time_of(session, at_out, Session::absolute_deadline) }
    })
}

/// Set `*at_out` to when the session was created or last logged in (ms since the Unix epoch).
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_created_at(
    session: *const tessera_session,
    at_out: *mut u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { time_of(session, at_out, Session::created_at) }
    })
}

/// Set `*at_out` to when the session was last seen (ms since the Unix epoch; now, for a session
/// just validated).
///
/// # Safety
/// `session` must be NULL or a live handle; `at_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_last_seen(
    session: *const tessera_session,
    at_out: *mut u64,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: forwarded from this function's contract.
        unsafe { time_of(session, at_out, Session::last_seen) }
    })
}

/// Set `*secure_out` to whether the session's token has only ever travelled over HTTPS.
///
/// # Safety
/// `session` must be NULL or a live handle; `secure_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_secure(
    session: *const tessera_session,
    secure_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                Out::new(secure_out, "secure_out")?,
            )
        };
        out.write(s.session.secure());
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the session's whole data as compact JSON object text (`{}` when empty).
/// Release it with `tessera_string_free`.
///
/// # Safety
/// `session` must be NULL or a live handle; `json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_data(
    session: *const tessera_session,
    json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                Out::new(json_out, "json_out")?,
            )
        };
        let text = Zeroizing::new(to_json(s.session.data())?);
        out.write(alloc_string(&text)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the JSON text of one data value, or to NULL if `key` is absent. Release a
/// non-NULL result with `tessera_string_free`.
///
/// # Safety
/// `session` must be NULL or a live handle; `key` NULL or a NUL-terminated string; `json_out`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_get(
    session: *const tessera_session,
    key: *const c_char,
    json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, key, out) = unsafe {
            (
                arg_ref(session, "session")?,
                arg_str(key, "key")?,
                Out::new(json_out, "json_out")?,
            )
        };
        match s.session.get(key) {
            None => out.write(std::ptr::null_mut()),
            Some(value) => {
                let text = Zeroizing::new(to_json(value)?);
                out.write(alloc_string(&text)?);
            }
        }
        Ok(tessera_status::Ok)
    })
}

/// Set `*csrf_out` to a fresh masked CSRF token for this session (86 characters, different on
/// every call), to embed in a form or send in a header. Release it with `tessera_string_free`.
///
/// # Safety
/// `session` must be NULL or a live handle; `csrf_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_csrf_token(
    session: *const tessera_session,
    csrf_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, out) = unsafe {
            (
                arg_ref(session, "session")?,
                Out::new(csrf_out, "csrf_out")?,
            )
        };
        let csrf = Zeroizing::new(s.session.csrf_token()?);
        out.write(alloc_string(&csrf)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*valid_out` to whether `candidate` is a CSRF token of this session (constant-time
/// comparison). A wrong or malformed candidate gives false, not an error.
///
/// # Safety
/// `session` must be NULL or a live handle; `candidate` NULL or a NUL-terminated string;
/// `valid_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_verify_csrf(
    session: *const tessera_session,
    candidate: *const c_char,
    valid_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (s, candidate, out) = unsafe {
            (
                arg_ref(session, "session")?,
                arg_str(candidate, "candidate")?,
                Out::new(valid_out, "valid_out")?,
            )
        };
        out.write(s.session.verify_csrf(candidate));
        Ok(tessera_status::Ok)
    })
}

/// Release a session handle (its new token, if any, is zeroed). NULL is ignored.
///
/// Any thread may release a handle; its memory may be reused for the next session handed out on
/// the releasing thread.
///
/// # Safety
/// `session` must be NULL or a handle Tessera returned and not yet freed; no other call may be
/// using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_free(session: *mut tessera_session) {
    ffi_void!({
        if !session.is_null() {
            // SAFETY: a live handle from `into_handle`, freed once (this function's contract).
            unsafe { release(session) };
        }
    })
}

/// Serialize a JSON value (serializing `serde_json` values cannot fail, but is not unwrapped).
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|_| Failure::internal("cannot serialize JSON"))
}
