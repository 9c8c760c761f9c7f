//! The session handle `validate`, `rotate`, `create` and `login` return, and what C can read
//! from it.

use std::cell::{Cell, OnceCell};
use std::ffi::{CString, c_char};
use std::mem::MaybeUninit;
use std::ptr::{NonNull, addr_of_mut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tessera_core::{Context, Fields, Reason, Session, SessionManager};
use zeroize::Zeroizing;

use crate::boundary::{Out, OutBuf, arg_str};
use crate::handles::not_live;
use crate::status::{Failure, tessera_status};
use crate::strings::{
    TESSERA_ID_BUFFER_LEN, TESSERA_TOKEN_BUFFER_LEN, alloc_string, write_id, write_token,
};

/// A live session as one call saw it: its id, user, data, times and — when the call issued
/// one — the new token the response must send in `Set-Cookie`.
///
/// It is a snapshot: later changes to the session (data writes, logout) do not show in it.
/// Release it with `tessera_session_free`, whether Tessera made it or
/// `tessera_manager_validate_in` built it in a `tessera_session_storage` of yours.
///
/// Thread safety: a session handle may be moved to another thread, but must not be used from
/// two threads at once.
pub struct tessera_session {
    /// [`LIVE`] (a handle Tessera made) or [`IN_STORAGE`] (built in caller storage) from the
    /// moment the session is handed out until the one `tessera_session_free` that wins the swap
    /// to [`FREE`]. Handle memory is never returned to the allocator (freed handles are kept for
    /// the next ones, see [`take_slot`]), and caller storage stays the caller's, so this word
    /// stays readable after a free: a second free — from this thread or another, at the same
    /// time — finds `FREE` and does nothing.
    state: AtomicU64,
    /// Initialised exactly while `state` is `LIVE` or `IN_STORAGE`.
    contents: MaybeUninit<Contents>,
}

/// The size in bytes of a `tessera_session_storage`: room for a session built in your own
/// memory by `tessera_manager_validate_in` (328 bytes in 0.1), with headroom. The size is part
/// of the ABI: a session that outgrew it would fail to compile this library, never overflow
/// your storage.
pub const TESSERA_SESSION_STORAGE_SIZE: usize = 512;

/// The number of 64-bit words in a `tessera_session_storage`
/// (`TESSERA_SESSION_STORAGE_SIZE / 8`).
pub const TESSERA_SESSION_STORAGE_WORDS: usize = 64;

/// Memory of your own for one session: put it on the stack, or in a per-connection struct, and
/// pass it to `tessera_manager_validate_in`, which builds the session in it instead of taking a
/// handle from the library. Its contents are private: never read or write them. The session it
/// holds is released with `tessera_session_free`; then the storage may be reused at once.
///
/// Thread safety: as for the session it holds; the storage must stay in place (not be copied,
/// moved or reused) until that session is freed.
#[repr(C)]
pub struct tessera_session_storage {
    /// Opaque: sized and aligned for a session handle (checked when this library is compiled).
    _private: [u64; TESSERA_SESSION_STORAGE_WORDS],
}

const _: () = {
    assert!(TESSERA_SESSION_STORAGE_WORDS * 8 == TESSERA_SESSION_STORAGE_SIZE);
    assert!(std::mem::size_of::<tessera_session_storage>() == TESSERA_SESSION_STORAGE_SIZE);
    // A session handle fits in the storage, and the storage's alignment is enough for it.
    assert!(std::mem::size_of::<tessera_session>() <= TESSERA_SESSION_STORAGE_SIZE);
    assert!(
        std::mem::align_of::<tessera_session>() <= std::mem::align_of::<tessera_session_storage>()
    );
};

/// What a live session handle holds.
pub(crate) struct Contents {
    pub(crate) session: Session,
    /// The user as a C string, made on first request (`Err` if it holds a NUL byte).
    user: OnceCell<Option<Result<CString, ()>>>,
}

/// `tessera_session::state` of a handle that is out ("tesslive"); any other value means freed.
const LIVE: u64 = u64::from_be_bytes(*b"tesslive");
/// `tessera_session::state` of a session built in caller storage ("tesscall"): its memory is the
/// caller's, so its free drops the contents and keeps nothing.
const IN_STORAGE: u64 = u64::from_be_bytes(*b"tesscall");
/// `tessera_session::state` of a freed session: a handle kept for reuse, or caller storage that
/// is the caller's again ("tessfree").
const FREE: u64 = u64::from_be_bytes(*b"tessfree");

/// Freed handles each thread keeps for its next sessions: a request that validates and frees
/// its session costs no `malloc`/`free` pair and no lock.
const CACHED: usize = 8;

/// A freed handle's memory, owned by a cache or the pool.
struct Slot(NonNull<tessera_session>);

// SAFETY: a `Slot` is the only owner of a freed handle's memory (no contents, state `FREE`); any
// thread may reuse it.
unsafe impl Send for Slot {}

/// Freed handles beyond what the threads cache, and those of threads that exited. It only grows
/// to the most session handles a program ever held at once.
static POOL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

/// One thread's freed handles, most recent last: a small stack of `Cell`s (no borrow flag, no
/// allocation), since a free and the next validate's handle go through it on every request.
struct Cache {
    len: Cell<usize>,
    slots: [Cell<*mut tessera_session>; CACHED],
}

impl Cache {
    const fn new() -> Self {
        Cache {
            len: Cell::new(0),
            slots: [const { Cell::new(std::ptr::null_mut()) }; CACHED],
        }
    }

    #[inline(always)]
    fn pop(&self) -> Option<NonNull<tessera_session>> {
        let top = self.len.get().checked_sub(1)?;
        let slot = NonNull::new(self.slots.get(top)?.get())?;
        self.len.set(top);
        Some(slot)
    }

    /// Keep `slot` if there is room (never takes the pool's lock).
    #[inline(always)]
    fn try_push(&self, slot: NonNull<tessera_session>) -> bool {
        let len = self.len.get();
        match self.slots.get(len) {
            Some(cell) => {
                cell.set(slot.as_ptr());
                self.len.set(len + 1);
                true
            }
            None => false,
        }
    }

    /// Keep `slot`; when the stack is full, the older half goes to the pool first.
    #[inline(always)]
    fn push(&self, slot: NonNull<tessera_session>) {
        if !self.try_push(slot) {
            self.spill();
            if !self.try_push(slot) {
                lock_pool().push(Slot(slot));
            }
        }
    }

    #[cold]
    fn spill(&self) {
        let len = self.len.get().min(CACHED);
        let half = len / 2;
        let mut pool = lock_pool();
        pool.extend(
            self.slots[..half]
                .iter()
                .filter_map(|c| NonNull::new(c.replace(std::ptr::null_mut())))
                .map(Slot),
        );
        for i in half..len {
            self.slots[i - half].set(self.slots[i].replace(std::ptr::null_mut()));
        }
        self.len.set(len - half);
    }
}

impl Drop for Cache {
    /// A thread that exits leaves its freed handles to the pool: they are never deallocated.
    fn drop(&mut self) {
        let len = self.len.replace(0).min(CACHED);
        lock_pool().extend(
            self.slots[..len]
                .iter()
                .filter_map(|c| NonNull::new(c.get()))
                .map(Slot),
        );
    }
}

thread_local! {
    static CACHE: Cache = const { Cache::new() };
}

fn lock_pool() -> std::sync::MutexGuard<'static, Vec<Slot>> {
    // Nothing panics while the pool is locked but an allocation failure; the Vec stays valid.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Memory for a new handle: this thread's most recently freed one, else some from the pool,
/// else a new allocation (never released: see [`tessera_session::state`]).
#[inline(always)]
pub(crate) fn take_slot() -> NonNull<tessera_session> {
    match CACHE.try_with(Cache::pop) {
        Ok(Some(slot)) => slot,
        _ => refill(),
    }
}

#[cold]
fn refill() -> NonNull<tessera_session> {
    {
        let mut pool = lock_pool();
        if let Some(slot) = pool.pop() {
            // Take a few more for the next sessions of this thread, in the same lock.
            let _ = CACHE.try_with(|cache| {
                for _ in 0..CACHED / 2 {
                    let Some(more) = pool.pop() else { break };
                    if !cache.try_push(more.0) {
                        pool.push(more);
                        break;
                    }
                }
            });
            return slot.0;
        }
    }
    NonNull::from(Box::leak(Box::new(tessera_session {
        state: AtomicU64::new(FREE),
        contents: MaybeUninit::uninit(),
    })))
}

/// Keep a freed handle's memory (or one [`take_slot`] gave that no session was built in) for
/// the next session: in this thread's cache, or the pool.
#[inline(always)]
pub(crate) fn keep_slot(slot: NonNull<tessera_session>) {
    if CACHE.try_with(|cache| cache.push(slot)).is_err() {
        // The cache is gone (a free during thread exit): the pool keeps it.
        lock_pool().push(Slot(slot));
    }
}

/// Box a core session for C: create, login, rotate and the step-up calls, which the core answers
/// with a session by value, copied once into the handle. Validate builds its session in place
/// instead ([`validate_into_handle`]): it runs on every request.
#[inline(always)]
pub(crate) fn into_handle(session: Session) -> *mut tessera_session {
    let slot = take_slot().as_ptr();
    // SAFETY: `slot` points to a `tessera_session` that nothing else owns (fresh, or freed and
    // taken from a cache or the pool), so its contents are uninitialised and ours to write. A
    // late second free on another thread may be reading `state`, a separate field; it sees
    // `LIVE` only after the contents are written (release store below).
    unsafe {
        (*slot).contents.write(Contents {
            session,
            user: OnceCell::new(),
        });
        (*slot).state.store(LIVE, Ordering::Release);
    }
    slot
}

/// Where a session is built: in a handle of the library's (taken from the per-thread cache or
/// the pool), or in a `tessera_session_storage` of the caller's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Home {
    /// A handle of the library's: its free keeps the memory for the next session.
    Pool,
    /// The caller's storage: its free only drops the contents.
    Caller,
}

/// Validate `token` and build its session in place in `handle` (no copy of the session): on
/// `Ok(Ok(()))` the handle is live (state `LIVE` or `IN_STORAGE`, per `home`); otherwise nothing
/// of it was written.
///
/// # Safety
/// `handle` must be valid for writes of a `tessera_session` whose contents are not live (a slot
/// from [`take_slot`], or caller storage holding no live session), and no other call may use it
/// meanwhile (a late second free of a pooled slot may read its state word, which stays `FREE`
/// until the end).
#[inline(always)]
pub(crate) unsafe fn validate_into_handle(
    handle: NonNull<tessera_session>,
    core: &SessionManager,
    token: &str,
    ctx: &Context<'_>,
    home: Home,
) -> tessera_core::Result<Result<(), Reason>> {
    let handle = handle.as_ptr();
    // SAFETY: `handle` is valid for writes (this function's contract): the field pointers are in
    // bounds. `MaybeUninit<Session>` has the layout of `Session` (repr(transparent)), and the
    // contents are not live, so the session field is ours to write; nothing else borrows it.
    let place = unsafe {
        let contents = addr_of_mut!((*handle).contents).cast::<Contents>();
        &mut *addr_of_mut!((*contents).session).cast::<MaybeUninit<Session>>()
    };
    if let Err(reason) = core.validate_into(token, ctx, place)? {
        return Ok(Err(reason));
    }
    // SAFETY: as above; the session is written, the user cell is written next, and only then is
    // the state set (release), so whoever sees `LIVE`/`IN_STORAGE` sees whole contents. The
    // state word of caller storage may be uninitialised: it is written, never read, here, and
    // an atomic store does not read the old value (`from_ptr`: aligned, valid, and accessed
    // only atomically while this call runs).
    unsafe {
        let contents = addr_of_mut!((*handle).contents).cast::<Contents>();
        addr_of_mut!((*contents).user).write(OnceCell::new());
        let state = AtomicU64::from_ptr(addr_of_mut!((*handle).state).cast::<u64>());
        state.store(
            match home {
                Home::Pool => LIVE,
                Home::Caller => IN_STORAGE,
            },
            Ordering::Release,
        );
    }
    Ok(Ok(()))
}

/// Free a session: drop its contents (zeroing its token) and, for a handle of the library's,
/// keep its memory for the next one. Exactly one call per session handed out succeeds; the
/// others — a second free, even racing on another thread — fail without touching anything but
/// the state word.
///
/// # Safety
/// `session` must be a pointer `into_handle` returned (live or freed since), or caller storage a
/// session was built in (live or freed since, and still the caller's), and no call but another
/// free may be using it.
#[inline(always)]
unsafe fn release(session: *mut tessera_session) -> Result<(), Failure> {
    // SAFETY: handle memory is never deallocated and caller storage outlives its session, so
    // `state` is readable even if the session was freed; only this field is borrowed.
    let state = unsafe { &(*session).state };
    let was = state.load(Ordering::Relaxed);
    if (was != LIVE && was != IN_STORAGE)
        || state
            .compare_exchange(was, FREE, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
    {
        // Freed already, or a racing free just won the swap.
        return Err(not_live("session"));
    }
    // SAFETY: this call won the swap, so it alone owns the contents, which were initialised
    // while the state was `LIVE` or `IN_STORAGE`; they are dropped exactly once.
    unsafe { (*session).contents.assume_init_drop() };
    if was == LIVE {
        // SAFETY: not NULL (checked by the caller, and dereferenced above).
        keep_slot(unsafe { NonNull::new_unchecked(session) });
    }
    Ok(())
}

/// Borrow the contents of a session handle argument: `INVALID_ARGUMENT` for NULL, and for a
/// handle already freed (as long as its memory was not handed out again for a new session:
/// this is a courtesy, not a guarantee — never use a freed handle).
///
/// # Safety
/// `session` must be NULL or a pointer `into_handle` returned, or caller storage a session was
/// built in, not being freed concurrently.
#[inline(always)]
pub(crate) unsafe fn arg_session<'a>(
    session: *const tessera_session,
) -> Result<&'a Contents, Failure> {
    // SAFETY: NULL or a handle's memory, which is never deallocated (this function's contract).
    let handle = unsafe { session.as_ref() }.ok_or_else(|| Failure::null("session"))?;
    let state = handle.state.load(Ordering::Relaxed);
    if state != LIVE && state != IN_STORAGE {
        return Err(not_live("session"));
    }
    // SAFETY: `LIVE` or `IN_STORAGE`, so the contents are initialised, and they stay so until a
    // free, which the caller may not run concurrently.
    Ok(unsafe { handle.contents.assume_init_ref() })
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
                arg_session(session)?,
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
        let (s, out) = unsafe { (arg_session(session)?, Out::new(user_out, "user_out")?) };
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
        let (s, out) = unsafe { (arg_session(session)?, Out::new(issued_out, "issued_out")?) };
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
                arg_session(session)?,
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
    let (s, out) = unsafe { (arg_session(session)?, Out::new(at_out, "at_out")?) };
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
        let (s, out) = unsafe { (arg_session(session)?, Out::new(secure_out, "secure_out")?) };
        out.write(s.session.secure());
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the session's whole data as compact JSON object text (`{}` when empty).
/// Release it with `tessera_string_free`.
///
/// Fails with `TESSERA_STATUS_INVALID_ARGUMENT` ("... read without its data ...
/// TESSERA_FIELD_DATA") for a session `tessera_manager_validate_in` read without
/// `TESSERA_FIELD_DATA`: its data was not copied out, and is not empty.
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
        let (s, out) = unsafe { (arg_session(session)?, Out::new(json_out, "json_out")?) };
        require(s, Fields::DATA)?;
        let text = Zeroizing::new(to_json(s.session.data())?);
        out.write(alloc_string(&text)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*json_out` to the JSON text of one data value, or to NULL if `key` is absent. Release a
/// non-NULL result with `tessera_string_free`.
///
/// Fails with `TESSERA_STATUS_INVALID_ARGUMENT` for a session read without `TESSERA_FIELD_DATA`
/// (as `tessera_session_data`).
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
                arg_session(session)?,
                arg_str(key, "key")?,
                Out::new(json_out, "json_out")?,
            )
        };
        require(s, Fields::DATA)?;
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
/// Fails with `TESSERA_STATUS_INVALID_ARGUMENT` ("... read without its CSRF secret ...
/// TESSERA_FIELD_CSRF") for a session `tessera_manager_validate_in` read without
/// `TESSERA_FIELD_CSRF`.
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
        let (s, out) = unsafe { (arg_session(session)?, Out::new(csrf_out, "csrf_out")?) };
        require(s, Fields::CSRF)?;
        let csrf = Zeroizing::new(s.session.csrf_token()?);
        out.write(alloc_string(&csrf)?);
        Ok(tessera_status::Ok)
    })
}

/// Set `*valid_out` to whether `candidate` is a CSRF token of this session (constant-time
/// comparison). A wrong or malformed candidate gives false, not an error.
///
/// A session `tessera_manager_validate_in` read without `TESSERA_FIELD_CSRF` verifies nothing:
/// the call fails with `TESSERA_STATUS_INVALID_ARGUMENT` (naming `TESSERA_FIELD_CSRF`) and
/// leaves `*valid_out` as it was — treat any status but OK as "not valid".
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
                arg_session(session)?,
                arg_str(candidate, "candidate")?,
                Out::new(valid_out, "valid_out")?,
            )
        };
        require(s, Fields::CSRF)?;
        out.write(s.session.verify_csrf(candidate));
        Ok(tessera_status::Ok)
    })
}

/// Release a session handle (its new token, if any, is zeroed). NULL is ignored.
///
/// Any thread may release a handle; its memory is kept for the next session handles (on the
/// releasing thread first), never returned to the system allocator. Freeing a handle twice is
/// harmless, even from two threads at once: one call releases it, the others change nothing and
/// set `tessera_last_error` (`invalid_argument: session is not a live handle ...`) — as long as
/// no new session handle was handed out at the same address in between.
///
/// A session `tessera_manager_validate_in` built in a `tessera_session_storage` is released the
/// same way: its contents are dropped and the storage is yours again (reuse it for the next
/// validate, or let it go out of scope); Tessera never keeps it. A second free of it is harmless
/// too, as long as the storage has not been reused or released meanwhile.
///
/// # Safety
/// `session` must be NULL, a handle Tessera returned (live, or freed since), or the
/// `*session_out` of a `tessera_manager_validate_in` whose storage is still in place (live, or
/// freed since); no other call may be using it except another `tessera_session_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tessera_session_free(session: *mut tessera_session) {
    ffi_void!({
        if session.is_null() {
            return;
        }
        // SAFETY: a pointer `into_handle` returned, used by no other call but a free (this
        // function's contract).
        if let Err(failure) = unsafe { release(session) } {
            failure.report();
        }
    })
}

/// Fail unless the read that made the session copied out `part` (`tessera_manager_validate_in`'s
/// `fields`; every other call reads every part), naming the flag that would have.
#[inline(always)]
fn require(s: &Contents, part: Fields) -> Result<(), Failure> {
    if s.session.fields().contains(part) {
        return Ok(());
    }
    Err(Failure::invalid_argument(if part == Fields::CSRF {
        "this session was read without its CSRF secret: validate with TESSERA_FIELD_CSRF to mint \
         or verify CSRF tokens"
    } else {
        "this session was read without its data: validate with TESSERA_FIELD_DATA to read it"
    }))
}

/// Serialize a JSON value (serializing `serde_json` values cannot fail, but is not unwrapped).
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|_| Failure::internal("cannot serialize JSON"))
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::manager::{tessera_manager, tessera_manager_create, tessera_manager_free};

    struct Manager(*mut tessera_manager);
    // SAFETY: a manager handle is safe to use from many threads at once.
    unsafe impl Send for Manager {}
    // SAFETY: as for `Send`.
    unsafe impl Sync for Manager {}

    fn create(m: &Manager) -> *mut tessera_session {
        let mut s = ptr::null_mut();
        // SAFETY: a live manager and a writable out-pointer.
        let st = unsafe {
            tessera_manager_create(m.0, c"u".as_ptr(), ptr::null(), true, ptr::null(), &mut s)
        };
        assert_eq!(st, tessera_status::Ok);
        s
    }

    fn live(s: *mut tessera_session) -> bool {
        let mut id = [0 as c_char; TESSERA_ID_BUFFER_LEN];
        // SAFETY: a pointer `into_handle` returned, not being freed; a writable buffer.
        unsafe { tessera_session_id(s, id.as_mut_ptr(), id.len()) == tessera_status::Ok }
    }

    /// Many handles at once, freed on other threads than made them: the caches spill to the
    /// pool and refill from it, no handle is handed out twice, and a second free always fails.
    #[test]
    fn handles_move_through_caches_and_pool() {
        let mut m = ptr::null_mut();
        // SAFETY: a writable out-pointer.
        let st = unsafe {
            crate::manager::tessera_manager_new(
                c"{\"sweep_interval_ms\": null}".as_ptr(),
                ptr::null(),
                &mut m,
            )
        };
        assert_eq!(st, tessera_status::Ok);
        let m = Manager(m);
        for _ in 0..5 {
            let made: Vec<usize> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| (0..50).map(|_| create(&m) as usize).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect()
            });
            let mut distinct = made.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), made.len(), "a handle was handed out twice");
            assert!(made.iter().all(|&s| live(s as *mut tessera_session)));
            // Freed in other groupings, on other threads.
            std::thread::scope(|scope| {
                for chunk in made.chunks(37) {
                    scope.spawn(move || {
                        for &s in chunk {
                            let s = s as *mut tessera_session;
                            // SAFETY: a live handle, freed once here...
                            assert!(unsafe { release(s) }.is_ok());
                            // ...and a second time, which must fail and change nothing.
                            // SAFETY: a pointer `into_handle` returned, freed since.
                            assert!(unsafe { release(s) }.is_err());
                            assert!(!live(s));
                        }
                    });
                }
            });
        }
        // SAFETY: a live manager, freed once.
        unsafe { tessera_manager_free(m.0) };
    }
}
