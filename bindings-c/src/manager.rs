//! The manager handle and the session lifecycle: create, validate, rotate, login, logout,
//! administrator revocation, listing, CSRF and sweeping.

use std::ffi::c_char;

use serde_json::{Map, Value, json};
use tessera_core::{Config, Context, Fields, SessionId, SessionManager, Validation};
use zeroize::Zeroizing;

use crate::boundary::{OptOut, Out, OutBuf, arg_ref, arg_str, opt_header, opt_str};
use crate::clock::tessera_clock;
use crate::handles::MANAGERS;
use crate::session::{
    Home, into_handle, keep_slot, take_slot, tessera_session, tessera_session_storage, to_json,
    validate_into_handle,
};
use crate::status::{Failure, Outcome, tessera_reason, tessera_status};
use crate::strings::{TESSERA_ID_BUFFER_LEN, alloc_string, write_id};

/// A session manager: creates, validates, rotates and ends sessions on one store.
///
/// Thread safety: a manager handle is safe to use from many threads at once — share one per
/// process. Only `tessera_manager_free` needs every other call on the handle to have returned.
pub struct tessera_manager {
    pub(crate) core: SessionManager,
}

impl tessera_manager {
    /// The core manager behind the handle, for Rust code that links this crate (the benches
    /// compare a validate through the C ABI with the same call on it).
    #[doc(hidden)]
    pub fn core(&self) -> &SessionManager {
        &self.core
    }
}

/// Create a manager from options given as JSON object text, and optionally a manual clock.
///
/// `options_json` may be NULL (every default: DESIGN.md's OWASP/NIST values, a memory store, a
/// background sweeper every 60 s). Its names are those of every Tessera binding:
/// `idle_timeout_ms`, `absolute_timeout_ms`, `rotation_interval_ms` (`null`: off),
/// `rotation_grace_ms`, `max_sessions_per_user` (`null`: no limit), `max_data_bytes`,
/// `login_keeps_data`, `pepper`, `cookie_name`, `cookie_secure`, `cookie_http_only`,
/// `cookie_same_site` (`"strict"`, `"lax"`, `"none"`), `cookie_path`, `cookie_domain`,
/// `cookie_max_age_ms`, `sweep_interval_ms` (`null`: no background sweeper) and `store`
/// (`"memory://"`, one process's own; `"sqlite:///abs/path/sessions.db"`, one file shared by the
/// processes of a host, docs/sqlite-schema.md; or a Redis URL shared by every process and
/// language:
/// `"redis://[user:password@]host:port/db?prefix=P&connect_timeout_ms=N&command_timeout_ms=N"`,
/// `rediss://` for TLS; the layout is in docs/redis-schema.md). Several processes sharing one
/// store must also share one `pepper`. Example:
/// `{"idle_timeout_ms": 600000, "store": "sqlite:///var/lib/app/sessions.db"}`.
///
/// On Redis every call that touches the store blocks the calling thread for one round trip, and
/// for at most the configured timeouts when Redis does not answer; it then fails with
/// `TESSERA_STATUS_STORE_UNAVAILABLE` (not authenticated), and the same manager works again once
/// Redis is back. Creating the manager does not connect.
///
/// `clock` may be NULL (the system clock). Release the manager with `tessera_manager_free`.
///
/// Fails with `TESSERA_STATUS_INVALID_CONFIG` (the message names the option) for text that is
/// not a JSON object, an unknown option, a value of the wrong type, or a combination that is not
/// allowed (e.g. a `__Host-` cookie name without `cookie_secure`).
///
/// # Safety
/// `options_json` must be NULL or a NUL-terminated string; `clock` NULL or a live clock handle;
/// `manager_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_new(
    options_json: *const c_char,
    clock: *const tessera_clock,
    manager_out: *mut *mut tessera_manager,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (options, clock, out) = unsafe {
            (
                opt_str(options_json, "options_json")?,
                clock.as_ref(),
                Out::new(manager_out, "manager_out")?,
            )
        };
        let options = match options {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(Failure::invalid_config("options must be a JSON object")),
                Err(e) => {
                    return Err(Failure::invalid_config(format!(
                        "options are not valid JSON: {e}"
                    )));
                }
            },
        };
        crate::signals::shield_io_threads();
        let mut builder = SessionManager::builder(Config::default()).options(&options)?;
        if let Some(clock) = clock {
            builder = builder.clock(clock.clock.clone());
        }
        let core = builder.build()?;
        let handle = Box::into_raw(Box::new(tessera_manager { core }));
        MANAGERS.insert(handle);
        out.write(handle);
        Ok(tessera_status::Ok)
    })
}

/// Release a manager: stops its background sweeper and frees its memory store. NULL is ignored.
///
/// Freeing a manager twice is harmless, even from two threads at once: one call releases it, the
/// others change nothing and set `tessera_last_error` (`invalid_argument: manager is not a live
/// handle ...`); so does a pointer `tessera_manager_new` never returned.
///
/// # Safety
/// `manager` must be NULL or a handle from `tessera_manager_new`, and no other call may be using
/// it (on any thread) except another `tessera_manager_free`. Session handles it returned stay
/// valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_free(manager: *mut tessera_manager) {
    ffi_void!({
        if manager.is_null() {
            return;
        }
        match MANAGERS.remove(manager) {
            // SAFETY: the registry held this address, so it came from `Box::into_raw` in
            // `tessera_manager_new`; removing it succeeds once, so it is released once.
            Ok(()) => drop(unsafe { Box::from_raw(manager) }),
            Err(failure) => {
                failure.report();
            }
        }
    })
}

/// Start a new session, optionally for `user` (NULL: anonymous) with initial data
/// (`data_json`: JSON object text, or NULL). `https` says whether the request came over HTTPS;
/// `user_agent` (the request's `User-Agent`, may be NULL; invalid UTF-8 is replaced by U+FFFD)
/// is recorded as a device label for `tessera_manager_list_user`.
///
/// On success `*session_out` holds the session; its new token is the cookie to send.
///
/// Errors: `INVALID_ARGUMENT` for an empty or over-long user or data that is not a JSON object;
/// `DATA_TOO_LARGE`; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `session_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_create(
    manager: *const tessera_manager,
    user: *const c_char,
    data_json: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, user, data, user_agent, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_str(user, "user")?,
                opt_str(data_json, "data_json")?,
                opt_header(user_agent),
                Out::new(session_out, "session_out")?,
            )
        };
        let data = data.map(tessera_core::data::parse_object).transpose()?;
        let ctx = Context {
            https,
            user_agent: user_agent.as_deref(),
            ..Context::default()
        };
        let session = m.core.create(user, data, &ctx)?;
        out.write(into_handle(session));
        Ok(tessera_status::Ok)
    })
}

/// Check a token and return its session — the call every request makes. Read the token from
/// the `Cookie` header only (`tessera_manager_cookie_token`), never from a URL or form field.
///
/// - `TESSERA_STATUS_OK`: `*session_out` holds the session. If it carries a new token
///   (`tessera_session_has_new_token`: periodic rotation, or an HTTP session first seen over
///   HTTPS) the response must send it with `tessera_manager_set_cookie_for_session`.
/// - `TESSERA_STATUS_REJECTED`: the request is anonymous; `*reason_out` (if not NULL) says why.
/// - Any other status (`STORE_UNAVAILABLE`, `INTERNAL`, `INVALID_ARGUMENT`): the request is NOT
///   authenticated either — Tessera fails closed.
///
/// `user_agent` is not used (kept for compatibility; it may be anything, NULL included): a
/// validate records nothing about the client. The user agent is recorded only when a session
/// is created or logged in. `tessera_manager_validate_in` is the same call without it, building
/// the session in storage of yours and copying out only the parts you ask for.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `user_agent` is
/// never read; `session_out` and `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_validate(
    manager: *const tessera_manager,
    token: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        let _ = user_agent; // never read (see above)
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                Out::new(session_out, "session_out")?,
                OptOut::new(reason_out),
            )
        };
        let ctx = Context {
            https,
            ..Context::default()
        };
        // The session is built in place in its handle (no copy), and a rejection is not copied
        // at all. This is every request's path.
        let slot = take_slot();
        // SAFETY: a slot from `take_slot` holds no live session and nothing else uses it.
        match unsafe { validate_into_handle(slot, &m.core, token, &ctx, Home::Pool) } {
            Ok(Ok(())) => {
                out.write(slot.as_ptr());
                Ok(tessera_status::Ok)
            }
            Ok(Err(r)) => {
                keep_slot(slot);
                reason.write(r.into());
                Err(Failure::rejected(r))
            }
            Err(e) => {
                keep_slot(slot);
                Err(e.into())
            }
        }
    })
}

/// `fields` bit of `tessera_manager_validate_in`: copy out the session's data
/// (`tessera_session_data`, `tessera_session_get`).
pub const TESSERA_FIELD_DATA: u32 = 1;
/// `fields` bit of `tessera_manager_validate_in`: copy out the session's CSRF secret
/// (`tessera_session_csrf_token`, `tessera_session_verify_csrf`).
pub const TESSERA_FIELD_CSRF: u32 = 2;
/// `fields` bit of `tessera_manager_validate_in`: copy out the user agent recorded at sign-in
/// (no accessor reads it today; listings show it).
pub const TESSERA_FIELD_USER_AGENT: u32 = 4;
/// Every part: `TESSERA_FIELD_DATA | TESSERA_FIELD_CSRF | TESSERA_FIELD_USER_AGENT`, what
/// `tessera_manager_validate` reads.
pub const TESSERA_FIELDS_ALL: u32 = 7;

const _: () = {
    assert!(TESSERA_FIELD_DATA == Fields::DATA.bits());
    assert!(TESSERA_FIELD_CSRF == Fields::CSRF.bits());
    assert!(TESSERA_FIELD_USER_AGENT == Fields::USER_AGENT.bits());
    assert!(TESSERA_FIELDS_ALL == Fields::ALL.bits());
};

/// `tessera_manager_validate`, building the session in `storage` — memory of yours, on the
/// stack or in a per-connection struct — and copying out only the parts `fields` names: no
/// handle is taken from the library, and what a request does not read is not copied.
///
/// `fields` is `TESSERA_FIELDS_ALL`, or any `|` of `TESSERA_FIELD_DATA`, `TESSERA_FIELD_CSRF` and
/// `TESSERA_FIELD_USER_AGENT` (0: the id, user, times and authentication only — a gateway that
/// only asks who is calling). A session read without `TESSERA_FIELD_DATA` fails
/// `tessera_session_data` and `tessera_session_get`, and one read without `TESSERA_FIELD_CSRF`
/// fails `tessera_session_csrf_token` and `tessera_session_verify_csrf`, with
/// `TESSERA_STATUS_INVALID_ARGUMENT` and a message naming the flag. Everything else — validity,
/// rotation and its new token, expiry, the events — is exactly `tessera_manager_validate`'s.
///
/// - `TESSERA_STATUS_OK`: `*session_out` points into `storage`, and every `tessera_session_*`
///   call works on it. Release it with `tessera_session_free` (it drops what the session holds
///   and zeroes its new token; the storage stays yours, and may be reused at once).
/// - `TESSERA_STATUS_REJECTED`: anonymous; `*reason_out` (if not NULL) says why; `storage` and
///   `*session_out` are untouched.
/// - Any other status: NOT authenticated (fail closed). `INVALID_ARGUMENT` for a NULL `storage`
///   or `session_out`, or a bit of `fields` that names no part; nothing is written then.
///
/// `storage` must not hold a live session (free it first: one overwritten is leaked, its token
/// not zeroed), and must stay in place, unread and unwritten by you, until the session in it is
/// freed.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `storage` NULL or
/// valid for writes of a `tessera_session_storage` that no other call is using and that holds
/// no live session; `session_out` and `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_validate_in(
    manager: *const tessera_manager,
    token: *const c_char,
    https: bool,
    fields: u32,
    storage: *mut tessera_session_storage,
    session_out: *mut *mut tessera_session,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                Out::new(session_out, "session_out")?,
                OptOut::new(reason_out),
            )
        };
        let home = std::ptr::NonNull::new(storage.cast::<tessera_session>())
            .ok_or_else(|| Failure::null("storage"))?;
        let fields = Fields::from_bits(fields).ok_or_else(|| unknown_fields(fields))?;
        let ctx = Context {
            https,
            fields,
            ..Context::default()
        };
        // SAFETY: `storage` is valid for writes of a `tessera_session_storage`, which is large
        // and aligned enough for a `tessera_session` (asserted at compile time in session.rs),
        // holds no live session and is used by no other call (this function's contract).
        match unsafe { validate_into_handle(home, &m.core, token, &ctx, Home::Caller) } {
            Ok(Ok(())) => {
                out.write(home.as_ptr());
                Ok(tessera_status::Ok)
            }
            Ok(Err(r)) => {
                reason.write(r.into());
                Err(Failure::rejected(r))
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// The failure of a `fields` argument with bits that name no part.
#[cold]
fn unknown_fields(fields: u32) -> Failure {
    Failure::invalid_argument(format!(
        "fields has bits that name no part ({:#x}): use TESSERA_FIELDS_ALL or TESSERA_FIELD_DATA, \
         TESSERA_FIELD_CSRF and TESSERA_FIELD_USER_AGENT",
        fields & !TESSERA_FIELDS_ALL
    ))
}

/// Give the session of `token` a new token now (e.g. after a sensitive change); the old token
/// stays valid for `rotation_grace_ms` so requests already in flight are not logged out.
/// Outcomes as for `tessera_manager_validate`; on success the session carries the new token.
///
/// # Safety
/// As `tessera_manager_validate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_rotate(
    manager: *const tessera_manager,
    token: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, user_agent, out, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                opt_header(user_agent),
                Out::new(session_out, "session_out")?,
                OptOut::new(reason_out),
            )
        };
        let ctx = Context {
            https,
            user_agent: user_agent.as_deref(),
            ..Context::default()
        };
        session_or_reason(m.core.rotate(token, &ctx)?, out, reason)
    })
}

pub(crate) fn session_or_reason(
    validation: Validation,
    out: Out<*mut tessera_session>,
    reason_out: OptOut<tessera_reason>,
) -> Outcome {
    match validation {
        Validation::Valid(session) => {
            out.write(into_handle(session));
            Ok(tessera_status::Ok)
        }
        Validation::Rejected(reason) => {
            reason_out.write(reason.into());
            Err(Failure::rejected(reason))
        }
    }
}

/// Log `user` in — a privilege change. The visitor's session (`token`, may be NULL) gets a new
/// token at once and the old one dies immediately (no session fixation), a new CSRF secret and
/// a fresh absolute deadline; its data is kept if `login_keeps_data` and it was anonymous or
/// already this user's. Without a live session a new one is created. The user's least recently
/// seen sessions beyond `max_sessions_per_user` are ended.
///
/// On success `*session_out` holds the session with its new token: send it in `Set-Cookie`.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `session_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_login(
    manager: *const tessera_manager,
    token: *const c_char,
    user: *const c_char,
    https: bool,
    user_agent: *const c_char,
    session_out: *mut *mut tessera_session,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, user, user_agent, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                opt_str(token, "token")?,
                arg_str(user, "user")?,
                opt_header(user_agent),
                Out::new(session_out, "session_out")?,
            )
        };
        let ctx = Context {
            https,
            user_agent: user_agent.as_deref(),
            ..Context::default()
        };
        let session = m.core.login(token, user, &ctx)?;
        out.write(into_handle(session));
        Ok(tessera_status::Ok)
    })
}

/// End the session of `token` and its alias (sign-out). `*ended_out` (may be NULL) says whether
/// a session was ended; a malformed or unknown token simply ends nothing. Clear the cookie in
/// the response either way (`tessera_manager_clear_cookie`).
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `ended_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_logout(
    manager: *const tessera_manager,
    token: *const c_char,
    ended_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                OptOut::new(ended_out),
            )
        };
        out.write(m.core.logout(token)?);
        Ok(tessera_status::Ok)
    })
}

/// End the session whose public id is `id` (64 hex digits), e.g. "sign out this device" on an
/// admin or account page. `*ended_out` (may be NULL) says whether one was ended.
///
/// Errors: `INVALID_ARGUMENT` if `id` is not 64 hex digits; `STORE_UNAVAILABLE`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `id` NULL or NUL-terminated; `ended_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_revoke(
    manager: *const tessera_manager,
    id: *const c_char,
    ended_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, id, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(id, "id")?,
                OptOut::new(ended_out),
            )
        };
        let id = SessionId::parse_hex(id)?;
        out.write(m.core.revoke(&id)?);
        Ok(tessera_status::Ok)
    })
}

/// End every session of `user` (account disabled, password changed). `*count_out` (may be NULL)
/// receives how many.
///
/// # Safety
/// `manager` must be NULL or a live handle; `user` NULL or NUL-terminated; `count_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_revoke_user(
    manager: *const tessera_manager,
    user: *const c_char,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, user, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(user, "user")?,
                OptOut::new(count_out),
            )
        };
        out.write(m.core.revoke_user(user)?);
        Ok(tessera_status::Ok)
    })
}

/// End every session of `user` except the one of `token` ("sign out my other devices"). If
/// `token` is not a live session of `user`, every session of `user` ends. `*count_out` (may be
/// NULL) receives how many.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `count_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_revoke_user_except(
    manager: *const tessera_manager,
    user: *const c_char,
    token: *const c_char,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, user, token, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(user, "user")?,
                arg_str(token, "token")?,
                OptOut::new(count_out),
            )
        };
        out.write(m.core.revoke_user_except(user, token)?);
        Ok(tessera_status::Ok)
    })
}

/// End every session (e.g. after a suspected breach). `*count_out` (may be NULL) receives how
/// many.
///
/// # Safety
/// `manager` must be NULL or a live handle; `count_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_revoke_all(
    manager: *const tessera_manager,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe { (arg_ref(manager, "manager")?, OptOut::new(count_out)) };
        out.write(m.core.revoke_all()?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the live sessions of `user`, most recently seen first, as JSON array text:
/// `[{"id": "<64 hex>", "created_at": ms, "last_seen": ms, "expires_at": ms,
/// "absolute_deadline": ms, "user_agent": "..." or null, "secure": bool, "authenticated":
/// {"at": ms, "level": n, "amr": [...]} or null, "bound": bool, "bound_at": ms or null,
/// "key_thumbprint": "<RFC 7638 thumbprint, base64url>" or null}, ...]` (`bound` and the
/// thumbprint show a device-bound session, docs/dbsc.md). Never tokens.
/// Release it with `tessera_string_free`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `user` NULL or NUL-terminated; `json_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_list_user(
    manager: *const tessera_manager,
    user: *const c_char,
    json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, user, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(user, "user")?,
                Out::new(json_out, "json_out")?,
            )
        };
        let list: Vec<Value> = m
            .core
            .list_user(user)?
            .into_iter()
            .map(|info| {
                json!({
                    "id": info.id.to_string(),
                    "created_at": info.created_at,
                    "last_seen": info.last_seen,
                    "expires_at": info.expires_at,
                    "absolute_deadline": info.absolute_deadline,
                    "user_agent": info.user_agent,
                    "secure": info.secure,
                    "authenticated": info.authenticated.as_ref().map(|a| json!({
                        "at": a.at,
                        "level": a.level,
                        "amr": a.amr,
                    })),
                    "bound": info.bound_at.is_some(),
                    "bound_at": info.bound_at,
                    "key_thumbprint": info.key_thumbprint,
                })
            })
            .collect();
        out.write(alloc_string(&to_json(&list)?)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*csrf_out` to a fresh masked CSRF token for the session of `token` (86 characters,
/// different on every call). Release it with `tessera_string_free`. `REJECTED` (reason in
/// `*reason_out`, may be NULL) if the token has no live session.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `csrf_out` and
/// `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_csrf_token(
    manager: *const tessera_manager,
    token: *const c_char,
    csrf_out: *mut *mut c_char,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out, reason) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                Out::new(csrf_out, "csrf_out")?,
                OptOut::new(reason_out),
            )
        };
        match m.core.csrf_token(token) {
            Ok(csrf) => {
                let csrf = Zeroizing::new(csrf);
                out.write(alloc_string(&csrf)?);
                Ok(tessera_status::Ok)
            }
            Err(e) => Err(reject_into(e, reason)),
        }
    })
}

/// Set `*valid_out` to whether `candidate` is a CSRF token of the live session of `token`
/// (constant-time). A dead session or a wrong candidate gives false, not an error.
///
/// # Safety
/// `manager` must be NULL or a live handle; strings NULL or NUL-terminated; `valid_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_verify_csrf(
    manager: *const tessera_manager,
    token: *const c_char,
    candidate: *const c_char,
    valid_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, candidate, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                arg_str(candidate, "candidate")?,
                Out::new(valid_out, "valid_out")?,
            )
        };
        out.write(m.core.verify_csrf(token, candidate)?);
        Ok(tessera_status::Ok)
    })
}

/// Remove expired sessions now; `*count_out` (may be NULL) receives how many. The cost follows
/// what expired, not the store's size. Managers sweep in the background every 60 s unless
/// `sweep_interval_ms` says otherwise.
///
/// # Safety
/// `manager` must be NULL or a live handle; `count_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_sweep(
    manager: *const tessera_manager,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe { (arg_ref(manager, "manager")?, OptOut::new(count_out)) };
        out.write(m.core.sweep()?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*count_out` to the number of sessions in the store (expired ones not yet swept
/// included).
///
/// # Safety
/// `manager` must be NULL or a live handle; `count_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_store_len(
    manager: *const tessera_manager,
    count_out: *mut usize,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                Out::new(count_out, "count_out")?,
            )
        };
        out.write(m.core.store_len()?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*shared_out` to whether the manager's store is shared by every process that opens it
/// (`sqlite://`, `redis://`): true, or the per-process `memory://` store: false.
///
/// A server that runs several worker processes (a pre-fork server, a supervisor starting N
/// copies) must use a shared store: on `memory://` each process knows only the sessions it made,
/// so a request that reaches another worker is signed out. Check this at startup and warn,
/// naming the fix (`"store": "sqlite:///path/sessions.db"` or a `redis://` URL).
///
/// # Safety
/// `manager` must be NULL or a live handle; `shared_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_store_is_shared(
    manager: *const tessera_manager,
    shared_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                Out::new(shared_out, "shared_out")?,
            )
        };
        out.write(m.core.store_is_shared());
        Ok(tessera_status::Ok)
    })
}

/// Set `*forked_out` to whether the manager is being used in a process other than the one that
/// made it: the program called `fork()` after `tessera_manager_new` (a pre-fork server that
/// builds the manager before starting its workers).
///
/// On a store that is not shared (`tessera_manager_store_is_shared`) each child then holds its
/// own copy of the sessions made before the fork and none of the others': warn once, naming
/// `sqlite://` or `redis://` as the fix. The SQLite and Redis stores are safe across a fork:
/// a child opens its own connections. Cheap (a process-id comparison): call it on the first
/// request of each process.
///
/// # Safety
/// `manager` must be NULL or a live handle; `forked_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_forked(
    manager: *const tessera_manager,
    forked_out: *mut bool,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                Out::new(forked_out, "forked_out")?,
            )
        };
        out.write(m.core.forked());
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to what about the store's configuration an operator should hear of, as a
/// JSON array of sentences (`[]` when nothing), each naming its fix: for example a Redis URL
/// that names no `prefix`, which every app on that Redis without one then shares. Log each
/// once when the service starts. Release it with `tessera_string_free`.
///
/// # Safety
/// `manager` must be NULL or a live handle; `json_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_store_warnings(
    manager: *const tessera_manager,
    json_out: *mut *mut c_char,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                Out::new(json_out, "json_out")?,
            )
        };
        out.write(alloc_string(&to_json(&m.core.store_warnings())?)?);
        Ok(tessera_status::Ok)
    })
}

/// Write the public id that `token` stands for (64 hex digits and a NUL) into `id_out`, which
/// holds `id_out_len` bytes — at least `TESSERA_ID_BUFFER_LEN`. Does not check that the session
/// is live. `REJECTED` with reason `malformed` (in `*reason_out`, may be NULL) for a malformed
/// token.
///
/// # Safety
/// `manager` must be NULL or a live handle; `token` NULL or NUL-terminated; `id_out` NULL or
/// writable for `id_out_len` bytes; `reason_out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_manager_id_of(
    manager: *const tessera_manager,
    token: *const c_char,
    id_out: *mut c_char,
    id_out_len: usize,
    reason_out: *mut tessera_reason,
) -> tessera_status {
    ffi_boundary!({
        // SAFETY: the pointers are NULL or valid (this function's contract).
        let (m, token, out, reason_out) = unsafe {
            (
                arg_ref(manager, "manager")?,
                arg_str(token, "token")?,
                OutBuf::new(id_out, id_out_len, TESSERA_ID_BUFFER_LEN, "id_out")?,
                OptOut::new(reason_out),
            )
        };
        match m.core.id_of(token) {
            Ok(id) => {
                write_id(out, &id)?;
                Ok(tessera_status::Ok)
            }
            Err(reason) => {
                reason_out.write(reason.into());
                Err(Failure::rejected(reason))
            }
        }
    })
}

/// Turn a core error into a failure, writing the reason out first when it is a rejection.
pub(crate) fn reject_into(
    error: tessera_core::Error,
    reason_out: OptOut<tessera_reason>,
) -> Failure {
    if let Some(reason) = error.reason() {
        reason_out.write(reason.into());
    }
    Failure::from(error)
}
