//! The C ABI's exported functions, driven as a C program would: through `extern "C"`
//! declarations written from bindings-c/include/tessera.h (statuses and enums as plain `int`s,
//! `bool` out-parameters as bytes), so that every value the library writes is checked as C
//! would see it.
//!
//! The input is a small program of NUL-separated fields (C strings cannot hold a NUL, so every
//! field is a possible argument, UTF-8 or not):
//!
//! ```text
//! options_json  NUL  clock_start_ms  NUL  op  NUL  arg  NUL  arg ...  op  NUL ...
//! ```
//!
//! - `options_json` goes to `tessera_manager_new`; the one-byte field `\xff` means NULL. Options
//!   naming a store other than `memory://` are skipped, so a run never reaches a real Redis.
//! - `clock_start_ms`: decimal milliseconds for a manual clock; anything else means no clock
//!   (NULL: the system clock).
//! - `op`: one letter, optionally followed by flags: `z` passes a NULL manager or session handle,
//!   `n` passes NULL for the call's out-parameters. The letters and their argument fields are
//!   listed in [`run`].
//! - In string arguments `$D` becomes the `D`-th most recent token the run was issued (`D` a
//!   digit, taken modulo the number issued), `#D` a session id and `%D` a CSRF token likewise;
//!   `\xff` alone is NULL.
//!
//! Checks, after every call: the status is one of the six a caller may see (never
//! `TESSERA_STATUS_INTERNAL`, which means a bug); NULL handles, NULL required strings or
//! out-parameters, non-UTF-8 strings (except the raw client headers `user_agent` and
//! `cookie_header`, whose invalid bytes read as U+FFFD) and short buffers give
//! `TESSERA_STATUS_INVALID_ARGUMENT`;
//! out-parameters are written only on `OK` (`reason_out` only on `REJECTED`, with a valid reason);
//! returned strings are NUL-terminated UTF-8 of the promised shape (JSON, 64 hex digits, 43
//! base64url characters, ...); `tessera_last_error` is a non-empty message that never contains
//! a token the run was issued; events carry valid kinds, ids and reasons. Every handle and string
//! is released at the end, so AddressSanitizer's leak check covers the library's allocations.

#![no_main]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
// Links the C ABI's rlib, which defines the symbols declared below.
use tessera_c as _;

#[repr(C)]
struct Manager {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Session {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Clock {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Event {
    _opaque: [u8; 0],
}

type Listener = Option<unsafe extern "C" fn(*mut c_void, *const Event)>;

// From include/tessera.h. Enums are `int`; `bool *` is a byte pointer so that any byte the
// library writes can be inspected.
unsafe extern "C" {
    fn tessera_version() -> *const c_char;
    fn tessera_clock_new(start_ms: u64, clock_out: *mut *mut Clock) -> c_int;
    fn tessera_clock_advance(clock: *const Clock, ms: u64) -> c_int;
    fn tessera_clock_set(clock: *const Clock, now_ms: u64) -> c_int;
    fn tessera_clock_now(clock: *const Clock, now_out: *mut u64) -> c_int;
    fn tessera_clock_free(clock: *mut Clock);
    fn tessera_manager_new(
        options_json: *const c_char,
        clock: *const Clock,
        manager_out: *mut *mut Manager,
    ) -> c_int;
    fn tessera_manager_free(manager: *mut Manager);
    fn tessera_manager_create(
        m: *const Manager,
        user: *const c_char,
        data_json: *const c_char,
        https: bool,
        user_agent: *const c_char,
        session_out: *mut *mut Session,
    ) -> c_int;
    fn tessera_manager_validate(
        m: *const Manager,
        token: *const c_char,
        https: bool,
        user_agent: *const c_char,
        session_out: *mut *mut Session,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_validate_in(
        m: *const Manager,
        token: *const c_char,
        https: bool,
        fields: u32,
        storage: *mut Storage,
        session_out: *mut *mut Session,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_rotate(
        m: *const Manager,
        token: *const c_char,
        https: bool,
        user_agent: *const c_char,
        session_out: *mut *mut Session,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_login(
        m: *const Manager,
        token: *const c_char,
        user: *const c_char,
        https: bool,
        user_agent: *const c_char,
        session_out: *mut *mut Session,
    ) -> c_int;
    fn tessera_manager_logout(m: *const Manager, token: *const c_char, ended_out: *mut u8)
    -> c_int;
    fn tessera_manager_revoke(m: *const Manager, id: *const c_char, ended_out: *mut u8) -> c_int;
    fn tessera_manager_unbind(m: *const Manager, id: *const c_char, unbound_out: *mut u8) -> c_int;
    fn tessera_manager_require_recent(
        m: *const Manager,
        token: *const c_char,
        bound_cookie: *const c_char,
        https: bool,
        max_age_ms: u64,
        min_level: c_int,
        freshness_out: *mut c_int,
    ) -> c_int;
    fn tessera_freshness_str(freshness: c_int) -> *const c_char;
    fn tessera_binding_str(binding: c_int) -> *const c_char;
    fn tessera_manager_revoke_user(
        m: *const Manager,
        user: *const c_char,
        count_out: *mut usize,
    ) -> c_int;
    fn tessera_manager_revoke_user_except(
        m: *const Manager,
        user: *const c_char,
        token: *const c_char,
        count_out: *mut usize,
    ) -> c_int;
    fn tessera_manager_revoke_all(m: *const Manager, count_out: *mut usize) -> c_int;
    fn tessera_manager_list_user(
        m: *const Manager,
        user: *const c_char,
        json_out: *mut *mut c_char,
    ) -> c_int;
    fn tessera_manager_csrf_token(
        m: *const Manager,
        token: *const c_char,
        csrf_out: *mut *mut c_char,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_verify_csrf(
        m: *const Manager,
        token: *const c_char,
        candidate: *const c_char,
        valid_out: *mut u8,
    ) -> c_int;
    fn tessera_manager_sweep(m: *const Manager, count_out: *mut usize) -> c_int;
    fn tessera_manager_store_len(m: *const Manager, count_out: *mut usize) -> c_int;
    fn tessera_manager_id_of(
        m: *const Manager,
        token: *const c_char,
        id_out: *mut c_char,
        id_out_len: usize,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_set_cookie(
        m: *const Manager,
        token: *const c_char,
        header_out: *mut *mut c_char,
    ) -> c_int;
    fn tessera_manager_set_cookie_for_session(
        m: *const Manager,
        session: *const Session,
        header_out: *mut *mut c_char,
    ) -> c_int;
    fn tessera_manager_clear_cookie(m: *const Manager, header_out: *mut *mut c_char) -> c_int;
    fn tessera_manager_cookie_token(
        m: *const Manager,
        cookie_header: *const c_char,
        token_out: *mut c_char,
        token_out_len: usize,
        found_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_data_set(
        m: *const Manager,
        id: *const c_char,
        key: *const c_char,
        value_json: *const c_char,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_data_remove(
        m: *const Manager,
        id: *const c_char,
        key: *const c_char,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_data_replace(
        m: *const Manager,
        id: *const c_char,
        data_json: *const c_char,
        reason_out: *mut c_int,
    ) -> c_int;
    fn tessera_manager_add_listener(
        m: *const Manager,
        listener: Listener,
        user_data: *mut c_void,
    ) -> c_int;
    fn tessera_event_kind(event: *const Event) -> *const c_char;
    fn tessera_event_id(event: *const Event) -> *const c_char;
    fn tessera_event_previous_id(event: *const Event) -> *const c_char;
    fn tessera_event_user(event: *const Event) -> *const c_char;
    fn tessera_event_reason(event: *const Event) -> *const c_char;
    fn tessera_event_at(event: *const Event) -> u64;
    fn tessera_event_detail(event: *const Event) -> *const c_char;
    fn tessera_session_id(s: *const Session, id_out: *mut c_char, id_out_len: usize) -> c_int;
    fn tessera_session_user(s: *const Session, user_out: *mut *const c_char) -> c_int;
    fn tessera_session_has_new_token(s: *const Session, issued_out: *mut u8) -> c_int;
    fn tessera_session_new_token(
        s: *const Session,
        token_out: *mut c_char,
        token_out_len: usize,
    ) -> c_int;
    fn tessera_session_expires_at(s: *const Session, at_out: *mut u64) -> c_int;
    fn tessera_session_absolute_deadline(s: *const Session, at_out: *mut u64) -> c_int;
    fn tessera_session_created_at(s: *const Session, at_out: *mut u64) -> c_int;
    fn tessera_session_last_seen(s: *const Session, at_out: *mut u64) -> c_int;
    fn tessera_session_secure(s: *const Session, secure_out: *mut u8) -> c_int;
    fn tessera_session_data(s: *const Session, json_out: *mut *mut c_char) -> c_int;
    fn tessera_session_get(
        s: *const Session,
        key: *const c_char,
        json_out: *mut *mut c_char,
    ) -> c_int;
    fn tessera_session_csrf_token(s: *const Session, csrf_out: *mut *mut c_char) -> c_int;
    fn tessera_session_verify_csrf(
        s: *const Session,
        candidate: *const c_char,
        valid_out: *mut u8,
    ) -> c_int;
    fn tessera_session_free(s: *mut Session);
    fn tessera_status_str(status: c_int) -> *const c_char;
    fn tessera_reason_str(reason: c_int) -> *const c_char;
    fn tessera_last_error() -> *const c_char;
    fn tessera_string_free(string: *mut c_char);
}

const OK: c_int = 0;
const REJECTED: c_int = 1;
const INVALID_ARGUMENT: c_int = 3;
const TOKEN_BUFFER_LEN: usize = 44;
const ID_BUFFER_LEN: usize = 65;
/// Written into `int` out-parameters before a call, to see whether the library wrote them.
const UNSET: c_int = -0x5a5a;
/// The same for `bool` and `size_t` out-parameters.
const UNSET_BYTE: u8 = 0xa5;
const UNSET_COUNT: usize = 0xa5a5_a5a5;
const MAX_OPS: usize = 64;
const MAX_SESSIONS: usize = 16;
const MAX_BUFFER: usize = 256;

static EVENTS: AtomicUsize = AtomicUsize::new(0);

fuzz_target!(|data: &[u8]| run(data));

/// One argument field: a C string or NULL, and whether it is UTF-8.
struct Arg {
    text: Option<CString>,
}

impl Arg {
    fn ptr(&self) -> *const c_char {
        self.text.as_ref().map_or(ptr::null(), |t| t.as_ptr())
    }
    fn is_null(&self) -> bool {
        self.text.is_none()
    }
    /// Not NULL and not UTF-8: any call must refuse it with `INVALID_ARGUMENT`.
    fn bad_utf8(&self) -> bool {
        self.text
            .as_ref()
            .is_some_and(|t| std::str::from_utf8(t.as_bytes()).is_err())
    }
    fn bytes(&self) -> &[u8] {
        self.text.as_ref().map_or(&[], |t| t.as_bytes())
    }
}

/// `tessera_session_storage`: 64 words a session is built in (`TESSERA_SESSION_STORAGE_WORDS`).
#[repr(C)]
struct Storage([u64; 64]);

/// `TESSERA_FIELDS_ALL`, `TESSERA_FIELD_DATA`, `TESSERA_FIELD_CSRF`.
const FIELDS_ALL: u32 = 7;
const FIELD_DATA: u32 = 1;
const FIELD_CSRF: u32 = 2;

struct State {
    manager: *mut Manager,
    clock: *mut Clock,
    /// The clock's time as the calls so far should have set it.
    now: u64,
    sessions: Vec<*mut Session>,
    tokens: Vec<String>,
    ids: Vec<String>,
    csrf: Vec<String>,
    /// Caller storage of the sessions `w` built: freed only after every session (`run`'s end).
    storages: Vec<Box<Storage>>,
}

fn run(data: &[u8]) {
    let mut fields = data.split(|b| *b == 0);
    let options = fields.next().unwrap_or_default();
    if names_another_store(options) {
        return;
    }
    let mut st = State {
        manager: ptr::null_mut(),
        clock: ptr::null_mut(),
        now: 0,
        sessions: Vec::new(),
        tokens: Vec::new(),
        ids: Vec::new(),
        csrf: Vec::new(),
        storages: Vec::new(),
    };

    // SAFETY (for every call in this file): the pointers passed are NULL, handles the library
    // returned and that are still live, C strings owned by `Arg`s that outlive the call, or
    // out-parameters and buffers on this stack frame of at least the length passed.
    unsafe {
        let version = CStr::from_ptr(tessera_version());
        assert_eq!(version.to_str(), Ok(tessera::VERSION));

        if let Some(start) = fields.next().and_then(decimal) {
            let mut clock = ptr::null_mut();
            check(tessera_clock_new(start, &mut clock), &st);
            assert!(!clock.is_null());
            st.clock = clock;
            st.now = start;
        }

        let options = st.arg(options);
        let mut manager = ptr::null_mut();
        let status = tessera_manager_new(options.ptr(), st.clock, &mut manager);
        check(status, &st);
        if options.bad_utf8() {
            assert_eq!(status, INVALID_ARGUMENT);
        }
        assert_eq!(status == OK, !manager.is_null());
        assert!(
            status == OK || status == 2 || status == INVALID_ARGUMENT,
            "{status}"
        );
        st.manager = manager;

        for _ in 0..MAX_OPS {
            let Some(op) = fields.next() else { break };
            if !st.step(op, &mut fields) {
                break;
            }
        }

        for s in st.sessions.drain(..) {
            tessera_session_free(s);
        }
        // Only now: a session built in caller storage lives in it until freed.
        st.storages.clear();
        tessera_manager_free(st.manager);
        tessera_clock_free(st.clock);
        tessera_session_free(ptr::null_mut());
        tessera_manager_free(ptr::null_mut());
        tessera_clock_free(ptr::null_mut());
        tessera_string_free(ptr::null_mut());
    }
}

/// Options that name a store other than `memory://` (a Redis URL would connect to whatever
/// listens on the machine, and the program could revoke its sessions).
fn names_another_store(options: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(options) else {
        return false;
    };
    match map.get("store").and_then(|v| v.as_str()) {
        Some(url) => url.split_once("://").unwrap_or((url, "")).0 != "memory",
        None => false,
    }
}

fn decimal<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn flag(field: Option<&[u8]>) -> bool {
    field.is_some_and(|f| f.first() == Some(&b'1'))
}

/// Check what every call must satisfy: a status a caller can see, never `INTERNAL`, and on
/// failure a message that names the problem and holds no token.
unsafe fn check(status: c_int, st: &State) {
    // 7 is store_full: a manager the input gave a small max_sessions may be full.
    assert!(
        (0..=5).contains(&status) || status == 7,
        "status {status} (6 = internal: a bug)"
    );
    // SAFETY: static strings, or the thread's last-error message, valid until the next call.
    unsafe {
        let code = tessera_status_str(status);
        assert!(!code.is_null());
        if status != OK {
            let message = CStr::from_ptr(tessera_last_error())
                .to_str()
                .expect("last_error is UTF-8");
            assert!(!message.is_empty(), "status {status} without a message");
            for token in &st.tokens {
                assert!(!message.contains(token.as_str()), "a token in {message:?}");
            }
        }
    }
}

/// A NUL-terminated string the library returned through a `char **`: check it, copy it, free it.
unsafe fn take_string(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: a string the library returned and has not been freed.
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .expect("returned strings are UTF-8")
        .to_owned();
    // SAFETY: released exactly once.
    unsafe { tessera_string_free(ptr) };
    text
}

fn is_hex_id(text: &[u8]) -> bool {
    text.len() == 64 && text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What an id argument may be: 64 hex digits of either case.
fn is_id_arg(text: &[u8]) -> bool {
    text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit)
}

fn is_token(text: &[u8]) -> bool {
    text.len() == 43
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// The NUL-terminated text in `buf`, which must end within it.
fn c_text(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|b| *b == 0).expect("NUL-terminated");
    &buf[..end]
}

/// `reason_out` after a call: written (with a valid reason) exactly when it was `REJECTED`.
fn check_reason(status: c_int, reason: c_int, asked: bool) {
    if status == REJECTED && asked {
        assert!((1..=5).contains(&reason), "reason {reason}");
        // SAFETY: any int may be passed.
        assert!(!unsafe { tessera_reason_str(reason) }.is_null());
    } else {
        assert_eq!(reason, UNSET, "reason_out written with status {status}");
    }
}

/// The listener: checks each event's fields as C would read them.
unsafe extern "C" fn on_event(_user_data: *mut c_void, event: *const Event) {
    // SAFETY: the library calls with a valid event, valid during this call.
    unsafe {
        let kind = CStr::from_ptr(tessera_event_kind(event)).to_bytes();
        assert!(
            [
                &b"created"[..],
                b"rotated",
                b"login",
                b"logout",
                b"revoked",
                b"expired",
                b"rejected",
                b"evicted",
                b"registered",
                b"refreshed",
                b"proof_failed",
                b"binding_missing",
                b"unbound",
                b"reauthenticated"
            ]
            .contains(&kind),
            "kind {kind:?}"
        );
        for id in [tessera_event_id(event), tessera_event_previous_id(event)] {
            assert!(id.is_null() || is_hex_id(CStr::from_ptr(id).to_bytes()));
        }
        let reason = tessera_event_reason(event);
        if !reason.is_null() {
            let reason = CStr::from_ptr(reason).to_bytes();
            assert!(
                [
                    &b"malformed"[..],
                    b"unknown",
                    b"expired_idle",
                    b"expired_absolute",
                    b"binding_missing"
                ]
                .contains(&reason)
            );
        }
        // A detail is a short stable code (an algorithm, a refusal's cause), never a secret.
        let detail = tessera_event_detail(event);
        if !detail.is_null() {
            let detail = CStr::from_ptr(detail).to_bytes();
            assert!(
                !detail.is_empty()
                    && detail.len() <= 32
                    && detail
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'_'),
                "detail {detail:?}"
            );
        }
        let user = tessera_event_user(event);
        if !user.is_null() {
            assert!(CStr::from_ptr(user).to_str().is_ok());
        }
        let _ = tessera_event_at(event);
        assert!(tessera_event_kind(ptr::null()).is_null());
        assert_eq!(tessera_event_at(ptr::null()), 0);
        assert!(tessera_event_detail(ptr::null()).is_null());
    }
    EVENTS.fetch_add(1, Ordering::Relaxed);
}

impl State {
    /// A string argument from a field, with `$D`, `#D` and `%D` substituted.
    fn arg(&self, field: &[u8]) -> Arg {
        if field == b"\xff" {
            return Arg { text: None };
        }
        let mut out = Vec::with_capacity(field.len());
        let mut i = 0;
        while i < field.len() {
            let pool = match field[i] {
                b'$' => Some(&self.tokens),
                b'#' => Some(&self.ids),
                b'%' => Some(&self.csrf),
                _ => None,
            };
            match (pool, field.get(i + 1)) {
                (Some(pool), Some(d @ b'0'..=b'9')) if !pool.is_empty() => {
                    let back = usize::from(d - b'0') % pool.len();
                    out.extend_from_slice(pool[pool.len() - 1 - back].as_bytes());
                    i += 2;
                }
                _ => {
                    out.push(field[i]);
                    i += 1;
                }
            }
        }
        Arg {
            text: Some(CString::new(out).expect("fields hold no NUL")),
        }
    }

    fn manager(&self, null: bool) -> *const Manager {
        if null { ptr::null() } else { self.manager }
    }

    fn session(&self, field: Option<&[u8]>, null: bool) -> *mut Session {
        match (null, field.and_then(decimal::<usize>)) {
            (false, Some(i)) if !self.sessions.is_empty() => self.sessions[i % self.sessions.len()],
            (false, None) if !self.sessions.is_empty() => self.sessions[self.sessions.len() - 1],
            _ => ptr::null_mut(),
        }
    }

    fn remember<T>(pool: &mut Vec<T>, value: T) {
        if pool.len() == MAX_SESSIONS {
            pool.remove(0);
        }
        pool.push(value);
    }

    /// Keep a session a call returned, with its id and new token for later arguments.
    unsafe fn keep(&mut self, session: *mut Session) {
        assert!(!session.is_null());
        // SAFETY: a live handle; buffers of the lengths passed.
        unsafe {
            let mut id = [UNSET_BYTE; ID_BUFFER_LEN];
            assert_eq!(
                tessera_session_id(session, id.as_mut_ptr().cast(), id.len()),
                OK
            );
            let id = c_text(&id);
            assert!(is_hex_id(id));
            Self::remember(&mut self.ids, String::from_utf8(id.to_vec()).unwrap());
            let mut issued = UNSET_BYTE;
            check(tessera_session_has_new_token(session, &mut issued), self);
            assert!(issued <= 1);
            let mut token = [UNSET_BYTE; TOKEN_BUFFER_LEN];
            let status = tessera_session_new_token(session, token.as_mut_ptr().cast(), token.len());
            check(status, self);
            assert_eq!(status == OK, issued == 1);
            if issued == 1 {
                let token = c_text(&token);
                assert!(is_token(token));
                Self::remember(&mut self.tokens, String::from_utf8(token.to_vec()).unwrap());
            }
        }
        if self.sessions.len() == MAX_SESSIONS {
            // SAFETY: the oldest handle, live and dropped from the list.
            unsafe { tessera_session_free(self.sessions.remove(0)) };
        }
        self.sessions.push(session);
    }

    /// Run one operation; false at the end of the input.
    unsafe fn step<'a>(&mut self, op: &[u8], fields: &mut impl Iterator<Item = &'a [u8]>) -> bool {
        let Some((&letter, flags)) = op.split_first() else {
            return true;
        };
        let null_handle = flags.contains(&b'z');
        let null_out = flags.contains(&b'n');
        let m = self.manager(null_handle);
        let no_manager = m.is_null();
        // SAFETY: see `run`.
        unsafe {
            match letter {
                // create: user, data_json, https, user_agent
                b'c' => {
                    let (Some(user), Some(data), https, Some(ua)) =
                        (fields.next(), fields.next(), fields.next(), fields.next())
                    else {
                        return false;
                    };
                    let (user, data, ua) = (self.arg(user), self.arg(data), self.arg(ua));
                    let mut out = ptr::null_mut();
                    let out_ptr = if null_out { ptr::null_mut() } else { &mut out };
                    let status = tessera_manager_create(
                        m,
                        user.ptr(),
                        data.ptr(),
                        flag(https),
                        ua.ptr(),
                        out_ptr,
                    );
                    self.session_result(
                        status,
                        out,
                        // A user agent is a raw header: invalid UTF-8 reads as U+FFFD.
                        no_manager || null_out || [&user, &data].iter().any(|a| a.bad_utf8()),
                    );
                }
                // validate into caller storage: token, https, fields (decimal bits); flag `b`
                // passes NULL storage
                b'w' => {
                    let (Some(token), https, Some(bits)) =
                        (fields.next(), fields.next(), fields.next())
                    else {
                        return false;
                    };
                    let token = self.arg(token);
                    let bits = decimal::<u32>(bits).unwrap_or(u32::MAX);
                    let mut storage = Box::new(Storage([0x5a5a_5a5a_5a5a_5a5a; 64]));
                    let place: *mut Storage = if flags.contains(&b'b') {
                        ptr::null_mut()
                    } else {
                        &mut *storage
                    };
                    let mut out = ptr::null_mut();
                    let mut reason = UNSET;
                    let (out_ptr, reason_ptr) = session_outs(null_out, &mut out, &mut reason);
                    let status = tessera_manager_validate_in(
                        m,
                        token.ptr(),
                        flag(https),
                        bits,
                        place,
                        out_ptr,
                        reason_ptr,
                    );
                    check_reason(status, reason, !null_out);
                    let must_refuse = no_manager
                        || null_out
                        || place.is_null()
                        || bits & !FIELDS_ALL != 0
                        || token.is_null()
                        || token.bad_utf8();
                    self.session_result(status, out, must_refuse);
                    if status == OK {
                        let start = place as usize;
                        assert!(
                            (start..start + std::mem::size_of::<Storage>())
                                .contains(&(out as usize)),
                            "the session is not in the caller's storage"
                        );
                        // A part not asked for is refused, never answered as if empty.
                        let mut text = ptr::null_mut();
                        let data = tessera_session_data(out, &mut text);
                        assert_eq!(data == OK, bits & FIELD_DATA != 0, "data status {data}");
                        tessera_string_free(text);
                        let mut text = ptr::null_mut();
                        let csrf = tessera_session_csrf_token(out, &mut text);
                        assert_eq!(csrf == OK, bits & FIELD_CSRF != 0, "csrf status {csrf}");
                        tessera_string_free(text);
                        self.storages.push(storage);
                    }
                }
                // validate / rotate: token, https, user_agent
                b'v' | b'r' => {
                    let (Some(token), https, Some(ua)) =
                        (fields.next(), fields.next(), fields.next())
                    else {
                        return false;
                    };
                    let (token, ua) = (self.arg(token), self.arg(ua));
                    let mut out = ptr::null_mut();
                    let mut reason = UNSET;
                    let (out_ptr, reason_ptr) = session_outs(null_out, &mut out, &mut reason);
                    let call = if letter == b'v' {
                        tessera_manager_validate
                    } else {
                        tessera_manager_rotate
                    };
                    let status = call(m, token.ptr(), flag(https), ua.ptr(), out_ptr, reason_ptr);
                    check_reason(status, reason, !null_out);
                    let must_refuse = no_manager || null_out || token.is_null() || token.bad_utf8();
                    self.session_result(status, out, must_refuse);
                }
                // login: token (may be NULL), user, https, user_agent
                b'l' => {
                    let (Some(token), Some(user), https, Some(ua)) =
                        (fields.next(), fields.next(), fields.next(), fields.next())
                    else {
                        return false;
                    };
                    let (token, user, ua) = (self.arg(token), self.arg(user), self.arg(ua));
                    let mut out = ptr::null_mut();
                    let out_ptr = if null_out { ptr::null_mut() } else { &mut out };
                    let status = tessera_manager_login(
                        m,
                        token.ptr(),
                        user.ptr(),
                        flag(https),
                        ua.ptr(),
                        out_ptr,
                    );
                    let must_refuse = no_manager
                        || null_out
                        || user.is_null()
                        || [&token, &user].iter().any(|a| a.bad_utf8());
                    self.session_result(status, out, must_refuse);
                }
                // logout: token / revoke: id
                b'o' | b'k' => {
                    let Some(arg) = fields.next() else {
                        return false;
                    };
                    let arg = self.arg(arg);
                    let mut ended = UNSET_BYTE;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut ended
                    };
                    let status = if letter == b'o' {
                        tessera_manager_logout(m, arg.ptr(), out)
                    } else {
                        tessera_manager_revoke(m, arg.ptr(), out)
                    };
                    self.plain(status, no_manager || arg.is_null() || arg.bad_utf8());
                    if letter == b'k' && !arg.is_null() && !arg.bad_utf8() && !no_manager {
                        assert_eq!(status == OK, is_id_arg(arg.bytes()), "revoke {status}");
                    }
                    check_byte(status, ended, null_out);
                }
                // revoke_user: user / revoke_user_except: user, token / revoke_all
                b'u' | b'e' | b'a' => {
                    let user = match letter {
                        b'a' => None,
                        _ => match fields.next() {
                            Some(f) => Some(self.arg(f)),
                            None => return false,
                        },
                    };
                    let token = match letter {
                        b'e' => match fields.next() {
                            Some(f) => Some(self.arg(f)),
                            None => return false,
                        },
                        _ => None,
                    };
                    let mut count = UNSET_COUNT;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut count
                    };
                    let status = match (&user, &token) {
                        (Some(u), Some(t)) => {
                            tessera_manager_revoke_user_except(m, u.ptr(), t.ptr(), out)
                        }
                        (Some(u), None) => tessera_manager_revoke_user(m, u.ptr(), out),
                        _ => tessera_manager_revoke_all(m, out),
                    };
                    let bad =
                        |a: &Option<Arg>| a.as_ref().is_some_and(|a| a.is_null() || a.bad_utf8());
                    self.plain(status, no_manager || bad(&user) || bad(&token));
                    if status != OK || null_out {
                        assert_eq!(count, UNSET_COUNT);
                    }
                }
                // list_user: user
                b'L' => {
                    let Some(user) = fields.next() else {
                        return false;
                    };
                    let user = self.arg(user);
                    let mut json = ptr::null_mut();
                    let out = if null_out { ptr::null_mut() } else { &mut json };
                    let status = tessera_manager_list_user(m, user.ptr(), out);
                    self.plain(
                        status,
                        no_manager || null_out || user.is_null() || user.bad_utf8(),
                    );
                    if status == OK {
                        let text = take_string(json);
                        let list: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                        let list = list.as_array().expect("an array");
                        for info in list {
                            let id = info["id"].as_str().expect("an id");
                            assert!(is_hex_id(id.as_bytes()));
                            assert!(
                                info["expires_at"].as_u64() <= info["absolute_deadline"].as_u64()
                            );
                        }
                    } else {
                        assert!(json.is_null());
                    }
                }
                // csrf_token: token
                b'C' => {
                    let Some(token) = fields.next() else {
                        return false;
                    };
                    let token = self.arg(token);
                    let mut csrf = ptr::null_mut();
                    let mut reason = UNSET;
                    let out = if null_out { ptr::null_mut() } else { &mut csrf };
                    let status = tessera_manager_csrf_token(m, token.ptr(), out, &mut reason);
                    check_reason(status, reason, true);
                    self.plain(
                        status,
                        no_manager || null_out || token.is_null() || token.bad_utf8(),
                    );
                    if status == OK {
                        let csrf = take_string(csrf);
                        assert_eq!(csrf.len(), 86, "{csrf:?}");
                        let mut valid = UNSET_BYTE;
                        let again = tessera_manager_verify_csrf(
                            m,
                            token.ptr(),
                            c(&csrf).as_ptr(),
                            &mut valid,
                        );
                        check(again, self);
                        assert!(
                            again == OK && valid == 1,
                            "a fresh CSRF token did not verify"
                        );
                        Self::remember(&mut self.csrf, csrf);
                    } else {
                        assert!(csrf.is_null());
                    }
                }
                // verify_csrf: token, candidate
                b'V' => {
                    let (Some(token), Some(candidate)) = (fields.next(), fields.next()) else {
                        return false;
                    };
                    let (token, candidate) = (self.arg(token), self.arg(candidate));
                    let mut valid = UNSET_BYTE;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut valid
                    };
                    let status = tessera_manager_verify_csrf(m, token.ptr(), candidate.ptr(), out);
                    let must_refuse = no_manager
                        || null_out
                        || [&token, &candidate]
                            .iter()
                            .any(|a| a.is_null() || a.bad_utf8());
                    self.plain(status, must_refuse);
                    check_byte(status, valid, null_out);
                }
                // sweep / store_len
                b's' | b'n' => {
                    let mut count = UNSET_COUNT;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut count
                    };
                    let status = if letter == b's' {
                        tessera_manager_sweep(m, out)
                    } else {
                        tessera_manager_store_len(m, out)
                    };
                    self.plain(status, no_manager || (letter == b'n' && null_out));
                    if status != OK || null_out {
                        assert_eq!(count, UNSET_COUNT);
                    }
                }
                // id_of: token, buffer length
                b'i' => {
                    let (Some(token), len) = (fields.next(), fields.next()) else {
                        return false;
                    };
                    let token = self.arg(token);
                    let len = len
                        .and_then(decimal)
                        .unwrap_or(ID_BUFFER_LEN)
                        .min(MAX_BUFFER);
                    let mut buf = vec![UNSET_BYTE; len];
                    let mut reason = UNSET;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr().cast()
                    };
                    let status = tessera_manager_id_of(m, token.ptr(), out, len, &mut reason);
                    check_reason(status, reason, true);
                    let must_refuse = no_manager
                        || null_out
                        || token.is_null()
                        || token.bad_utf8()
                        || len < ID_BUFFER_LEN;
                    self.plain(status, must_refuse);
                    if status == OK {
                        assert!(is_hex_id(c_text(&buf)));
                        assert!(is_token(token.bytes()));
                    } else {
                        assert!(
                            buf.iter().all(|b| *b == UNSET_BYTE),
                            "id_out written on failure"
                        );
                    }
                    if !must_refuse {
                        assert_eq!(
                            status == OK,
                            tessera::Token::parse_bytes(token.bytes()).is_ok()
                        );
                    }
                }
                // set_cookie: token
                b'S' => {
                    let Some(token) = fields.next() else {
                        return false;
                    };
                    let token = self.arg(token);
                    let mut header = ptr::null_mut();
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut header
                    };
                    let status = tessera_manager_set_cookie(m, token.ptr(), out);
                    let malformed = tessera::Token::parse_bytes(token.bytes()).is_err();
                    self.plain(
                        status,
                        no_manager || null_out || token.is_null() || token.bad_utf8() || malformed,
                    );
                    if status == OK {
                        let header = take_string(header);
                        let token = std::str::from_utf8(token.bytes()).unwrap();
                        assert!(
                            header.contains(&format!("={token}")),
                            "Set-Cookie without its token"
                        );
                    } else {
                        assert!(header.is_null());
                    }
                }
                // set_cookie_for_session: session index / clear_cookie
                b'F' | b'x' => {
                    let mut header = ptr::null_mut();
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut header
                    };
                    let (status, must_refuse) = if letter == b'F' {
                        let s = self.session(fields.next(), null_handle);
                        let status = tessera_manager_set_cookie_for_session(self.manager, s, out);
                        (status, s.is_null() || self.manager.is_null() || null_out)
                    } else {
                        (tessera_manager_clear_cookie(m, out), no_manager || null_out)
                    };
                    self.plain(status, must_refuse);
                    if status == OK {
                        let header = take_string(header);
                        assert!(
                            header.contains('=') && header.contains("; Path="),
                            "{header:?}"
                        );
                        if letter == b'x' {
                            assert!(header.contains("=; Max-Age=0"), "{header:?}");
                        }
                    } else {
                        assert!(header.is_null());
                    }
                }
                // cookie_token: header, buffer length
                b'h' => {
                    let (Some(header), len) = (fields.next(), fields.next()) else {
                        return false;
                    };
                    let header = self.arg(header);
                    let len = len
                        .and_then(decimal)
                        .unwrap_or(TOKEN_BUFFER_LEN)
                        .min(MAX_BUFFER);
                    let mut buf = vec![UNSET_BYTE; len];
                    let mut found = UNSET;
                    let (buf_ptr, found_ptr) = if null_out {
                        (ptr::null_mut(), ptr::null_mut())
                    } else {
                        (buf.as_mut_ptr().cast(), &mut found as *mut c_int)
                    };
                    let status =
                        tessera_manager_cookie_token(m, header.ptr(), buf_ptr, len, found_ptr);
                    let must_refuse =
                        no_manager || null_out || header.is_null() || len < TOKEN_BUFFER_LEN;
                    self.plain(status, must_refuse);
                    if status == OK {
                        assert!((0..=2).contains(&found), "found {found}");
                        let value = c_text(&buf);
                        if found == 1 {
                            // A raw header: invalid UTF-8 in it reads as U+FFFD.
                            let lossy = String::from_utf8_lossy(header.bytes());
                            assert!(
                                std::str::from_utf8(value).is_ok_and(|v| lossy.contains(v)),
                                "the value is not in the header"
                            );
                        } else {
                            assert!(value.is_empty());
                        }
                    } else {
                        assert_eq!(found, UNSET);
                        assert!(
                            buf.iter().all(|b| *b == UNSET_BYTE),
                            "token_out written on failure"
                        );
                    }
                }
                // data_set: id, key, value_json / data_remove: id, key / data_replace: id, json
                b'd' | b'D' | b'R' => {
                    let wanted = if letter == b'd' { 3 } else { 2 };
                    let args: Vec<Arg> =
                        fields.by_ref().take(wanted).map(|f| self.arg(f)).collect();
                    if args.len() < wanted {
                        return false;
                    }
                    let mut reason = UNSET;
                    let reason_ptr = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut reason
                    };
                    let status = match letter {
                        b'd' => tessera_manager_data_set(
                            m,
                            args[0].ptr(),
                            args[1].ptr(),
                            args[2].ptr(),
                            reason_ptr,
                        ),
                        b'D' => {
                            tessera_manager_data_remove(m, args[0].ptr(), args[1].ptr(), reason_ptr)
                        }
                        _ => tessera_manager_data_replace(
                            m,
                            args[0].ptr(),
                            args[1].ptr(),
                            reason_ptr,
                        ),
                    };
                    check_reason(status, reason, !null_out);
                    let must_refuse =
                        no_manager || args.iter().any(|a| a.is_null() || a.bad_utf8());
                    self.plain(status, must_refuse);
                    if !must_refuse && !is_id_arg(args[0].bytes()) {
                        assert_eq!(status, INVALID_ARGUMENT, "a malformed id was accepted");
                    }
                }
                // clock advance / set: milliseconds
                b'+' | b'=' => {
                    let ms = fields.next().and_then(decimal::<u64>).unwrap_or(0);
                    let clock = if null_handle { ptr::null() } else { self.clock };
                    let status = if letter == b'+' {
                        tessera_clock_advance(clock, ms)
                    } else {
                        tessera_clock_set(clock, ms)
                    };
                    self.plain(status, clock.is_null());
                    if status == OK {
                        self.now = if letter == b'+' {
                            self.now.saturating_add(ms)
                        } else {
                            ms
                        };
                        let mut now = 0;
                        assert_eq!(tessera_clock_now(clock, &mut now), OK);
                        assert_eq!(now, self.now);
                    }
                }
                // every getter of a session: index, key, candidate, buffer length
                b'q' => {
                    let s = self.session(fields.next(), null_handle);
                    let key = fields.next().map(|f| self.arg(f));
                    let candidate = fields.next().map(|f| self.arg(f));
                    let len = fields
                        .next()
                        .and_then(decimal)
                        .unwrap_or(ID_BUFFER_LEN)
                        .min(MAX_BUFFER);
                    self.query(s, key, candidate, len, null_out);
                }
                // free a session: index
                b'f' => {
                    let i = fields.next().and_then(decimal::<usize>).unwrap_or(0);
                    if !self.sessions.is_empty() {
                        let s = self.sessions.remove(i % self.sessions.len());
                        tessera_session_free(s);
                    }
                }
                // the code strings of any number
                b'm' => {
                    let n = fields.next().and_then(decimal::<c_int>).unwrap_or(-1);
                    let status = tessera_status_str(n);
                    assert_eq!(status.is_null(), !(0..=7).contains(&n));
                    let reason = tessera_reason_str(n);
                    assert_eq!(reason.is_null(), !(1..=5).contains(&n));
                    assert_eq!(tessera_freshness_str(n).is_null(), !(0..=3).contains(&n));
                    assert_eq!(tessera_binding_str(n).is_null(), !(0..=2).contains(&n));
                }
                // unbind (device-bound sessions): id
                b'y' => {
                    let Some(arg) = fields.next() else {
                        return false;
                    };
                    let arg = self.arg(arg);
                    let mut unbound = UNSET_BYTE;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut unbound
                    };
                    let status = tessera_manager_unbind(m, arg.ptr(), out);
                    self.plain(status, no_manager || arg.is_null() || arg.bad_utf8());
                    if !arg.is_null() && !arg.bad_utf8() && !no_manager {
                        assert_eq!(status == OK, is_id_arg(arg.bytes()), "unbind {status}");
                    }
                    check_byte(status, unbound, null_out);
                }
                // require_recent (step-up) for a token: token, bound cookie, https, max age ms,
                // min level
                b'Q' => {
                    let (Some(token), Some(bound), https) =
                        (fields.next(), fields.next(), fields.next())
                    else {
                        return false;
                    };
                    let (token, bound) = (self.arg(token), self.arg(bound));
                    let max_age = fields.next().and_then(decimal::<u64>).unwrap_or(60_000);
                    let level = fields.next().and_then(decimal::<c_int>).unwrap_or(1);
                    let mut verdict = UNSET;
                    let out = if null_out {
                        ptr::null_mut()
                    } else {
                        &mut verdict
                    };
                    let status = tessera_manager_require_recent(
                        m,
                        token.ptr(),
                        bound.ptr(),
                        flag(https),
                        max_age,
                        level,
                        out,
                    );
                    // The bound cookie is a raw header value: invalid UTF-8 reads as U+FFFD.
                    let must_refuse = no_manager || null_out || token.is_null() || token.bad_utf8();
                    self.plain(status, must_refuse || !(0..=255).contains(&level));
                    if status == OK {
                        assert!((0..=3).contains(&verdict), "freshness {verdict}");
                    } else {
                        assert_eq!(verdict, UNSET, "freshness_out written with status {status}");
                    }
                }
                // add the checking listener (NULL listener with `n`)
                b'A' => {
                    let listener: Listener = if null_out { None } else { Some(on_event) };
                    let status = tessera_manager_add_listener(m, listener, ptr::null_mut());
                    self.plain(status, no_manager || null_out);
                }
                _ => {}
            }
        }
        true
    }

    /// A call that returns a status and nothing else to keep.
    unsafe fn plain(&self, status: c_int, must_refuse: bool) {
        // SAFETY: forwarded.
        unsafe { check(status, self) };
        if must_refuse {
            assert_eq!(
                status, INVALID_ARGUMENT,
                "a NULL, non-UTF-8 or short argument was not refused"
            );
        }
    }

    /// A call that returns a session through `session_out`.
    unsafe fn session_result(&mut self, status: c_int, out: *mut Session, must_refuse: bool) {
        // SAFETY: forwarded.
        unsafe {
            self.plain(status, must_refuse);
            if status == OK {
                self.keep(out);
            } else {
                assert!(out.is_null(), "session_out written with status {status}");
            }
        }
    }

    unsafe fn query(
        &mut self,
        s: *mut Session,
        key: Option<Arg>,
        candidate: Option<Arg>,
        len: usize,
        null_out: bool,
    ) {
        let none = s.is_null();
        // SAFETY: `s` is NULL or live; buffers are as long as the lengths passed.
        unsafe {
            let mut buf = vec![UNSET_BYTE; len];
            let out = if null_out {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            };
            let status = tessera_session_id(s, out, len);
            self.plain(status, none || null_out || len < ID_BUFFER_LEN);
            if status == OK {
                assert!(is_hex_id(c_text(&buf)));
            }

            let mut buf = vec![UNSET_BYTE; len];
            let out = if null_out {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            };
            let status = tessera_session_new_token(s, out, len);
            check(status, self);
            if status == OK {
                assert!(is_token(c_text(&buf)));
            } else {
                assert_eq!(status, INVALID_ARGUMENT);
                assert!(buf.iter().all(|b| *b == UNSET_BYTE));
            }

            let mut user = ptr::dangling::<c_char>();
            let out = if null_out { ptr::null_mut() } else { &mut user };
            let status = tessera_session_user(s, out);
            self.plain(status, none || null_out);
            if status == OK && !user.is_null() {
                assert!(CStr::from_ptr(user).to_str().is_ok());
            }

            for call in [tessera_session_has_new_token, tessera_session_secure] {
                let mut byte = UNSET_BYTE;
                let out = if null_out {
                    ptr::null_mut()
                } else {
                    &mut byte as *mut u8
                };
                let status = call(s, out);
                self.plain(status, none || null_out);
                check_byte(status, byte, null_out);
            }

            let mut times = [0u64; 4];
            let calls = [
                tessera_session_expires_at,
                tessera_session_absolute_deadline,
                tessera_session_created_at,
                tessera_session_last_seen,
            ];
            for (call, at) in calls.into_iter().zip(times.iter_mut()) {
                let out = if null_out {
                    ptr::null_mut()
                } else {
                    at as *mut u64
                };
                let status = call(s, out);
                self.plain(status, none || null_out);
            }
            if !none && !null_out {
                assert!(
                    times[0] <= times[1],
                    "expires_at after the absolute deadline"
                );
            }

            let mut json = ptr::null_mut();
            let out = if null_out { ptr::null_mut() } else { &mut json };
            let status = tessera_session_data(s, out);
            self.plain(status, none || null_out);
            if status == OK {
                let data: serde_json::Value =
                    serde_json::from_str(&take_string(json)).expect("JSON");
                assert!(data.is_object());
            } else {
                assert!(json.is_null());
            }

            if let Some(key) = key {
                let mut json = ptr::null_mut();
                let out = if null_out { ptr::null_mut() } else { &mut json };
                let status = tessera_session_get(s, key.ptr(), out);
                self.plain(status, none || null_out || key.is_null() || key.bad_utf8());
                if status == OK && !json.is_null() {
                    let _: serde_json::Value =
                        serde_json::from_str(&take_string(json)).expect("JSON");
                } else {
                    assert!(json.is_null());
                }
            }

            let mut csrf = ptr::null_mut();
            let out = if null_out { ptr::null_mut() } else { &mut csrf };
            let status = tessera_session_csrf_token(s, out);
            self.plain(status, none || null_out);
            if status == OK {
                let csrf = take_string(csrf);
                assert_eq!(csrf.len(), 86);
                let mut valid = UNSET_BYTE;
                assert_eq!(
                    tessera_session_verify_csrf(s, c(&csrf).as_ptr(), &mut valid),
                    OK
                );
                assert_eq!(valid, 1, "a fresh CSRF token did not verify");
                Self::remember(&mut self.csrf, csrf);
            }

            if let Some(candidate) = candidate {
                let mut valid = UNSET_BYTE;
                let out = if null_out {
                    ptr::null_mut()
                } else {
                    &mut valid
                };
                let status = tessera_session_verify_csrf(s, candidate.ptr(), out);
                self.plain(
                    status,
                    none || null_out || candidate.is_null() || candidate.bad_utf8(),
                );
                check_byte(status, valid, null_out);
            }
        }
    }
}

/// The `session_out` and `reason_out` of a call that answers a session or a reason: NULL with
/// the `n` flag.
fn session_outs(
    null_out: bool,
    out: &mut *mut Session,
    reason: &mut c_int,
) -> (*mut *mut Session, *mut c_int) {
    if null_out {
        (ptr::null_mut(), ptr::null_mut())
    } else {
        (out, reason)
    }
}

/// A `bool` out-parameter: 0 or 1 when written (on `OK`, if asked for), untouched otherwise.
fn check_byte(status: c_int, byte: u8, null_out: bool) {
    if status == OK && !null_out {
        assert!(byte <= 1, "bool written as {byte}");
    } else {
        assert_eq!(
            byte, UNSET_BYTE,
            "bool out-parameter written with status {status}"
        );
    }
}

fn c(text: &str) -> CString {
    CString::new(text).expect("no NUL")
}
