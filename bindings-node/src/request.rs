//! The per-request protocol of the core (`tessera::http`) for `expressSession()` and
//! `TesseraStore`: begin, the steps an app may take at once, prepare and finish.
//!
//! Every rule (which cookie to send, `no-store`, which methods need CSRF, what changed in the
//! data, when a user change is a login) is the core's; this module converts arguments and
//! results. The request's state (`tessera::http::Request`) stays in Rust behind an `External`
//! that the JavaScript per-request state owns; a request crosses the boundary once on the way in
//! ([`begin`]) and once on the way out ([`finish`], or [`prepare`] then [`finish_async`] when
//! the headers leave before the writes can be made).
//!
//! Making an `External` costs more than the rest of a request's crossing (a weak handle and a
//! finalizer in V8: ~2 µs here, against ~0.3 µs for a call that uses one), so handles are made
//! by [`new_request`] and reused: `lib/request.js` keeps the ones whose request finished and
//! hands them to the next [`begin`]. A handle that is never given back is collected with its
//! request.
//!
//! These are free functions over opaque handles, not class methods: a class method pays ~200 ns
//! for unwrapping `this`. The synchronous ones are N-API callbacks written by hand
//! (`crate::callback`), handed to JavaScript together by [`request_calls`]: napi-rs's per-call
//! machinery would cost more than an anonymous request's whole work. Results are compact
//! strings (`crate::compact`), taken apart by `lib/request.js`.
//!
//! # Compact session state (from `begin` and the steps that change the session)
//!
//! One character for the CSRF verdict of `begin` (`-` not needed, `0` invalid, `1` valid), then
//! `A` (no session: then, to the end, why its cookie gave none — a reason code such as `unknown`
//! or `binding_missing` — or nothing) or `V` (a session) followed by one character for how the
//! request proved its device (`u` unbound, `p` pending, `f` fresh), then newline-terminated
//! fields — `expiresAt` (ms),
//! the public id (always 64 hex digits), the session's own idle limit in ms (empty for the policy's), the user's length
//! in UTF-16 code units (`-` for none) — then the user itself and, to the end, the data as JSON
//! (empty for `{}`). Only the user can contain a newline, hence its length prefix.
//!
//! # Compact response (from `prepare` and `finish`)
//!
//! Empty when the response carries no session header; otherwise `1` (`Cache-Control: no-store`)
//! or `0`, followed by the session cookie's `Set-Cookie` value (empty for none), then for each
//! other header a newline, a tag and the value: `c` the `Set-Cookie` of a visitor's CSRF token,
//! `b` the `Set-Cookie` deleting a bound cookie, `r` a `Secure-Session-Registration` offer.
//! A `finish` that could not carry out everything (`data_too_large`, `store_unavailable`) still
//! has headers the error response must carry (a token rotated by begin, a cleared cookie): it
//! answers `!`, the error's code, a newline, its message (never a token), a newline, then the
//! response as above.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use napi::bindgen_prelude::{External, Object, Unknown};
use napi::{Env, sys};
use napi_derive::napi;
use serde_json::Value;
use tessera::http::{self, Auth, CsrfCheck, Expiry, Outcome as HttpOutcome, RequestHead};

use crate::Core;
use crate::args::{self, MAX_SHORT};
use crate::callback;
use crate::compact::{Compact, push_decimal, push_hex, utf16_len};
use crate::errors::{Fail, Outcome, guard};
use crate::events;
use crate::handles;
use crate::task::{self, Work};

/// The manager as the per-request functions address it.
pub type Handle = External<Core>;

/// The handle of a manager, for the free functions below.
pub fn handle(core: &Core) -> Handle {
    External::new(Arc::clone(core))
}

/// One request's state: the core's `Request` (taken by `finish`) and its manager.
pub struct Live {
    manager: Core,
    request: Mutex<Option<http::Request>>,
}

fn in_process(manager: &tessera::SessionManager) -> Outcome<()> {
    if manager.store_is_networked() {
        return Err(Fail::Core(tessera::Error::invalid_argument(
            "synchronous calls need an in-process store (memory://)",
        )));
    }
    Ok(())
}

impl Live {
    /// Run `f` on the request now, on the JavaScript thread. A step still running on the thread
    /// pool holds the lock: wait for no network round trip here, say so instead.
    fn with<T>(&self, f: impl FnOnce(&mut http::Request) -> Outcome<T>) -> Outcome<T> {
        let mut guard = match self.request.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => {
                return Err(Fail::Core(tessera::Error::internal(
                    "a step of this request is still running (await it first)",
                )));
            }
            Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
        };
        match guard.as_mut() {
            Some(r) => f(r),
            None => Err(finished()),
        }
    }

    /// Run `f` on the request on a pool thread (it may wait on the store).
    fn with_blocking<T>(&self, f: impl FnOnce(&mut http::Request) -> Outcome<T>) -> Outcome<T> {
        let mut guard = self.request.lock().map_err(|_| poisoned())?;
        match guard.as_mut() {
            Some(r) => f(r),
            None => Err(finished()),
        }
    }

    /// Begin this handle's request with `begin` (a finished request's handle is reused) and
    /// describe its session. The core's request (~650 bytes) is made straight into the
    /// handle's slot: each move on the way would be one more copy of it.
    fn fill(&self, begin: impl FnOnce() -> tessera::Result<http::Request>) -> Outcome<Compact> {
        let mut slot = match self.request.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::WouldBlock) => {
                return Err(Fail::Core(tessera::Error::internal(
                    "this request handle is still in use",
                )));
            }
            Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
        };
        let request = slot.insert(begin()?);
        Ok(describe(request, request.csrf()))
    }

    fn take(&self) -> Outcome<http::Request> {
        let mut guard = self.request.lock().map_err(|_| poisoned())?;
        guard.take().ok_or_else(finished)
    }
}

fn finished() -> Fail {
    Fail::Core(tessera::Error::internal("this request is already finished"))
}

fn poisoned() -> Fail {
    Fail::Core(tessera::Error::internal("a step of this request panicked"))
}

// -- begin -------------------------------------------------------------------------------------

/// What the request brings, checked: borrowed from the stack on the synchronous path, owned
/// when it travels to the thread pool.
struct Head<'a> {
    cookie: Option<Cow<'a, str>>,
    https: bool,
    method: Cow<'a, str>,
    user_agent: Option<Cow<'a, str>>,
    csrf: Option<Cow<'a, str>>,
}

/// `given` of the `begin` callback: which of its optional strings the caller passed. One whose
/// bit is clear is absent and not read: telling `undefined` from a string would cost a type
/// query, a call into Node, per argument.
const GIVEN_COOKIE: u32 = 1;
const GIVEN_USER_AGENT: u32 = 2;
const GIVEN_CSRF: u32 = 4;
/// `method` is the number of a common method in [`METHODS`] (`1` for `GET`), not a string:
/// reading even a three-letter string out of V8 costs ~20 ns.
const GIVEN_METHOD_NUMBER: u32 = 8;

/// The methods `lib/request.js` passes by number (index + 1); any other is passed as a string.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// Where a synchronous begin reads its strings: a short one is not copied again.
#[derive(Default)]
struct HeadBuffers {
    cookie: StrBuf<{ args::SHORT }>,
    method: StrBuf<16>,
    user_agent: StrBuf<{ args::SHORT }>,
    csrf: StrBuf<128>,
}

/// A stack buffer for one string argument.
struct StrBuf<const N: usize>([u8; N]);

impl<const N: usize> Default for StrBuf<N> {
    fn default() -> Self {
        StrBuf([0; N])
    }
}

impl Head<'static> {
    /// The arguments of a `#[napi]` function, owned.
    fn parse(
        cookie: Option<Unknown>,
        https: Option<Unknown>,
        method: Option<Unknown>,
        user_agent: Option<Unknown>,
        csrf: Option<Unknown>,
    ) -> Outcome<Self> {
        Ok(Head {
            cookie: args::opt_string(cookie, "cookieHeader", MAX_SHORT)?.map(Cow::Owned),
            https: args::opt_bool(https, "https", false)?,
            method: Cow::Owned(args::string(method, "method", MAX_SHORT)?),
            user_agent: args::opt_string(user_agent, "userAgent", MAX_SHORT)?.map(Cow::Owned),
            csrf: args::opt_string(csrf, "csrf", MAX_SHORT)?.map(Cow::Owned),
        })
    }
}

impl<'a> Head<'a> {
    /// The arguments of the `begin` callback (see [`begin`]), read into `bufs` when they fit.
    fn read(a: &callback::Args<7>, bufs: &'a mut HeadBuffers) -> Outcome<Self> {
        let given = a.u32(1, "given")?;
        let opt = |bit: u32, i: usize| (given & bit != 0).then(|| a.unknown(i));
        Ok(Head {
            cookie: opt(GIVEN_COOKIE, 2)
                .map(|v| args::str_in(v, "cookieHeader", MAX_SHORT, &mut bufs.cookie.0))
                .transpose()?,
            https: args::bool_or(a.unknown(3), "https", false)?,
            method: if given & GIVEN_METHOD_NUMBER != 0 {
                let n = a.u32(4, "method")?;
                let known = (n as usize).checked_sub(1).and_then(|i| METHODS.get(i));
                Cow::Borrowed(*known.ok_or_else(|| Fail::Range(format!("no method number {n}")))?)
            } else {
                args::str_in(a.unknown(4), "method", MAX_SHORT, &mut bufs.method.0)?
            },
            user_agent: opt(GIVEN_USER_AGENT, 5)
                .map(|v| args::str_in(v, "userAgent", MAX_SHORT, &mut bufs.user_agent.0))
                .transpose()?,
            csrf: opt(GIVEN_CSRF, 6)
                .map(|v| args::str_in(v, "csrf", MAX_SHORT, &mut bufs.csrf.0))
                .transpose()?,
        })
    }

    fn head(&self) -> RequestHead<'_> {
        RequestHead {
            cookie_header: self.cookie.as_deref(),
            https: self.https,
            method: &self.method,
            user_agent: self.user_agent.as_deref(),
            csrf_candidate: self.csrf.as_deref(),
        }
    }

    /// Begin the request into `live` and describe its session.
    fn begin(&self, live: &Live) -> Outcome<Compact> {
        live.fill(|| http::begin(&live.manager, &self.head()))
    }

    /// [`begin`](Self::begin) with the cookie's session found by `validate_then`: no store call.
    fn begin_prevalidated(&self, live: &Live, found: tessera::Prevalidated) -> Outcome<Compact> {
        live.fill(|| http::begin_prevalidated(&live.manager, &self.head(), found))
    }
}

/// The session state of `request` in the compact format (see the module docs).
fn describe(request: &http::Request, csrf: CsrfCheck) -> Compact {
    let mut out = Vec::with_capacity(160);
    out.push(match csrf {
        CsrfCheck::NotNeeded => b'-',
        CsrfCheck::Invalid => b'0',
        CsrfCheck::Valid => b'1',
    });
    let Some(s) = request.session() else {
        out.push(b'A');
        // Why the cookie gave no session: `unknown` under several workers on a memory store
        // means another worker's session, which the glue warns about.
        if let Some(reason) = request.reason() {
            out.extend_from_slice(reason.code().as_bytes());
        }
        return Compact(out);
    };
    out.push(b'V');
    out.push(match s.proof() {
        tessera::Proof::Unbound => b'u',
        tessera::Proof::Pending => b'p',
        tessera::Proof::Fresh => b'f',
    });
    push_decimal(&mut out, s.expires_at());
    out.push(b'\n');
    push_hex(&mut out, s.id().as_bytes());
    out.push(b'\n');
    if let Some(ms) = s.record().max_idle_ms {
        push_decimal(&mut out, ms);
    }
    out.push(b'\n');
    let user = s.user();
    match user {
        Some(u) => push_decimal(&mut out, utf16_len(u) as u64),
        None => out.push(b'-'),
    }
    out.push(b'\n');
    if let Some(u) = user {
        out.extend_from_slice(u.as_bytes());
    }
    if let Some(d) = s.data_shared() {
        // Serializing a JSON map into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &**d);
    }
    Compact(out)
}

/// A new request handle for `manager` (empty until [`begin`]); see the module docs and
/// `crate::handles`.
#[napi(
    js_name = "__newRequest",
    ts_args_type = "manager: ExternalObject<unknown>",
    ts_return_type = "ExternalObject<unknown>"
)]
pub fn new_request<'env>(env: &'env Env, handle: &Handle) -> napi::Result<Unknown<'env>> {
    handles::make(
        env,
        Arc::new(Live {
            manager: Arc::clone(handle),
            request: Mutex::new(None),
        }),
    )
}

/// Begin a request now (in-process stores, or any store without a cookie) into the handle
/// `request`: find and validate the session cookie in `cookieHeader` (rotating on the core's
/// schedule) and check `csrf` if `method` needs it. Returns the session state (module docs).
/// JavaScript: `begin(request, given, cookieHeader, https, method, userAgent, csrf)` of
/// [`__requestCalls`](request_calls), `given` the bits of the optional strings passed: `1`
/// cookieHeader, `2` userAgent, `4` csrf; and `8` when `method` is a number ([`METHODS`]).
unsafe extern "C" fn begin(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: N-API calls this callback with its own `env` and `info`.
    unsafe {
        callback::run::<7, _>(env, info, |a| {
            let env = a.env();
            let (result, captured) = events::capture(|| {
                guard(|| {
                    let live = handles::live(&a.unknown(0))?;
                    let mut bufs = HeadBuffers::default();
                    let head = Head::read(a, &mut bufs)?;
                    // Without a cookie there is nothing to look up: no store call, any store.
                    if head.cookie.is_some() {
                        in_process(&live.manager)?;
                    }
                    head.begin(live)
                })
            });
            events::deliver(&env, captured);
            result.map_err(|fail| fail.into_napi(&env))
        })
    }
}

/// `begin` (of `__requestCalls`) as a Promise whose work runs on the libuv pool (any store).
#[napi(
    js_name = "__beginAsync",
    ts_args_type = "request: ExternalObject<unknown>, cookieHeader: string | undefined, https: boolean, method: string, userAgent: string | undefined, csrf: string | undefined",
    ts_return_type = "Promise<string>"
)]
pub fn begin_async<'env>(
    env: &'env Env,
    live: Unknown,
    cookie: Option<Unknown>,
    https: Option<Unknown>,
    method: Option<Unknown>,
    user_agent: Option<Unknown>,
    csrf: Option<Unknown>,
) -> napi::Result<task::Pending<'env, Compact>> {
    let live = Arc::clone(handles::live(&live).map_err(|fail| fail.into_napi(env))?);
    let manager = Arc::clone(&live.manager);
    if !manager.store_is_networked() {
        return task::spawn(env, &manager, || {
            let head = Head::parse(cookie, https, method, user_agent, csrf)?;
            Ok(Box::new(move || head.begin(&live)) as Work<_>)
        });
    }
    // A networked store: the common request (a live session that needs no write) is settled by
    // one read on the store's I/O thread, which also settles the Promise — two thread hand-offs.
    // Anything else takes the blocking way on the store's pool.
    let head = guard(|| Head::parse(cookie, https, method, user_agent, csrf))
        .map_err(|fail| fail.into_napi(env))?;
    let (settler, promise) = task::promise(env)?;
    let token = http::session_token(&manager, &head.head()).map(str::to_owned);
    match token {
        Some(token) => {
            let pool = Arc::clone(&manager);
            manager.validate_then(&token, head.https, move |found| match found {
                Some(found) => settler.run(|| head.begin_prevalidated(&live, found)),
                None => task::offload(&pool, settler, Box::new(move || head.begin(&live))),
            });
        }
        // No session cookie to look up: no store call.
        None => settler.run(|| head.begin(&live)),
    }
    Ok(promise)
}

// -- steps -------------------------------------------------------------------------------------

/// The steps an app may take before the response (numbered for `step`).
#[derive(Clone, Copy)]
enum Step {
    /// The session's id, one reserved for a new session if need be (no store call).
    EnsureId = 0,
    /// A fresh masked CSRF token (no store call).
    CsrfToken = 1,
    /// Whether the argument is a CSRF token of the session (no store call).
    VerifyCsrf = 2,
    /// Sign the argument's user in now.
    Login = 3,
    /// End the session now.
    Logout = 4,
    /// A new token now, the old one dead at once.
    Regenerate = 5,
    /// The token a new session of this request will have, reserved now (no store call): the
    /// session id express-session keeps in its cookie (`TesseraStore.genid`).
    ReservedToken = 6,
    /// The id the session will have after a key cycle (`req.session.regenerate()`), reserved
    /// now (no store call); without a session, the id of the new one.
    NextId = 7,
    /// Offer the signed-in session a device binding on this response (`1` made, `0` nothing to
    /// offer).
    OfferBinding = 8,
    /// The signed-in user proved who they are again (the argument: `{ level, amr }` as JSON): a
    /// new token now, the old one dead at once.
    Reauthenticate = 9,
    /// Whether a sensitive operation may go ahead (the argument: `"<maxAgeMs> <minLevel>"`):
    /// `allowed`, `anonymous`, `stale` or `level` (no store call).
    RequireRecent = 10,
    /// When and how strongly the user last authenticated, as JSON `{"at","level","amr"}`, or
    /// empty (no store call).
    Authenticated = 11,
}

impl Step {
    fn parse(n: u32) -> Outcome<Step> {
        Ok(match n {
            0 => Step::EnsureId,
            1 => Step::CsrfToken,
            2 => Step::VerifyCsrf,
            3 => Step::Login,
            4 => Step::Logout,
            5 => Step::Regenerate,
            6 => Step::ReservedToken,
            7 => Step::NextId,
            8 => Step::OfferBinding,
            9 => Step::Reauthenticate,
            10 => Step::RequireRecent,
            11 => Step::Authenticated,
            _ => return Err(Fail::Range(format!("no request step {n}"))),
        })
    }

    /// Whether the step may wait on the store.
    fn touches_store(self) -> bool {
        matches!(
            self,
            Step::Login
                | Step::Logout
                | Step::Regenerate
                | Step::OfferBinding
                | Step::Reauthenticate
        )
    }

    fn run(
        self,
        manager: &tessera::SessionManager,
        r: &mut http::Request,
        arg: Option<&str>,
    ) -> Outcome<Compact> {
        let text = |s: String| Ok(Compact(s.into_bytes()));
        match self {
            Step::EnsureId => text(crate::compact::id_hex(&r.ensure_id(manager)?)),
            Step::CsrfToken => text(r.csrf_token(manager)?),
            Step::VerifyCsrf => {
                let ok = arg.is_some_and(|c| r.verify_csrf(c));
                text(if ok { "1" } else { "0" }.to_owned())
            }
            Step::Login => {
                let user = arg.ok_or_else(|| Fail::Type("user must be a string".to_owned()))?;
                r.login(manager, user)?;
                Ok(describe(r, CsrfCheck::NotNeeded))
            }
            Step::Logout => {
                r.logout(manager)?;
                Ok(describe(r, CsrfCheck::NotNeeded))
            }
            Step::Regenerate => {
                r.regenerate(manager)?;
                Ok(describe(r, CsrfCheck::NotNeeded))
            }
            Step::ReservedToken => {
                if r.session().is_some() {
                    return Err(Fail::Core(tessera::Error::invalid_argument(
                        "the request already has a session",
                    )));
                }
                text(r.next_token(manager)?.0.expose())
            }
            // Without a session the next new token is the new session's: the same id.
            Step::NextId => text(crate::compact::id_hex(&r.next_token(manager)?.1)),
            Step::OfferBinding => {
                let made = r.offer_binding(manager)?;
                text(if made { "1" } else { "0" }.to_owned())
            }
            Step::Reauthenticate => {
                let arg = arg.ok_or_else(|| Fail::Type("authn must be given".to_owned()))?;
                let authn = crate::dbsc::authn_text(arg, "authn")?;
                r.reauthenticate(manager, &authn)?;
                Ok(describe(r, CsrfCheck::NotNeeded))
            }
            Step::RequireRecent => {
                let (max_age, min_level) = arg
                    .and_then(|a| a.split_once(' '))
                    .and_then(|(a, l)| Some((a.parse::<u64>().ok()?, l.parse::<u8>().ok()?)))
                    .ok_or_else(|| {
                        Fail::Range(
                            "requireRecent needs a whole maxAgeMs and a minLevel from 0 to 255"
                                .to_owned(),
                        )
                    })?;
                text(
                    r.require_recent(manager, max_age, min_level)
                        .code()
                        .to_owned(),
                )
            }
            Step::Authenticated => text(
                r.session()
                    .and_then(tessera::Session::authenticated)
                    .map(|a| {
                        serde_json::json!({ "at": a.at, "level": a.level, "amr": a.amr })
                            .to_string()
                    })
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Take a step of the request now: `0` its id (reserving one for a new session), `1` a CSRF
/// token, `2` verify the CSRF token `arg` (`"1"`/`"0"`), `3` log user `arg` in, `4` log out,
/// `5` regenerate (the last three answer the session state; in-process stores only).
/// JavaScript: `step(request, step, arg)` of [`__requestCalls`](request_calls).
unsafe extern "C" fn step(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: N-API calls this callback with its own `env` and `info`.
    unsafe {
        callback::run::<3, _>(env, info, |a| {
            let env = a.env();
            let (result, captured) = events::capture(|| {
                guard(|| {
                    let live = handles::live(&a.unknown(0))?;
                    let step = Step::parse(a.u32(1, "step")?)?;
                    if step.touches_store() {
                        in_process(&live.manager)?;
                    }
                    let arg = args::opt_string(Some(a.unknown(2)), "arg", MAX_SHORT)?;
                    live.with(|r| step.run(&live.manager, r, arg.as_deref()))
                })
            });
            events::deliver(&env, captured);
            result.map_err(|fail| fail.into_napi(&env))
        })
    }
}

/// `step` (of `__requestCalls`) as a Promise whose work runs on the libuv pool (any store).
#[napi(
    js_name = "__stepAsync",
    ts_args_type = "request: ExternalObject<unknown>, step: number, arg?: string | null",
    ts_return_type = "Promise<string>"
)]
pub fn step_async<'env>(
    env: &'env Env,
    live: Unknown,
    step: u32,
    arg: Option<Unknown>,
) -> napi::Result<task::Pending<'env, Compact>> {
    let live = Arc::clone(handles::live(&live).map_err(|fail| fail.into_napi(env))?);
    let manager = Arc::clone(&live.manager);
    task::spawn(env, &manager, || {
        let step = Step::parse(step)?;
        let arg = args::opt_string(arg, "arg", MAX_SHORT)?;
        Ok(
            Box::new(move || live.with_blocking(|r| step.run(&live.manager, r, arg.as_deref())))
                as Work<_>,
        )
    })
}

// -- prepare and finish ------------------------------------------------------------------------

/// What the app did, as the middleware passes it: `data` the JSON text of the session's data
/// (`null`: the app cannot have changed it), `auth` `0` unchanged / `1` the framework's user is
/// `user` (null: nobody) / `2` `user` signed in / `3` signed out / `4` the user re-authenticated,
/// `authn` the JSON text of `{ level, amr }`: how strongly a login (or the re-authentication)
/// authenticated (`null`: one factor), `flags` `1` regenerate,
/// `2` expiry changed, `4` error response; `expiry` `0` not given / `1` policy /
/// `2` browser session / `3` idle for `ms` / `4` until `ms` / `5` persistent for `ms` (< 0: as
/// long as the session).
fn outcome(
    data: Option<&str>,
    auth: u32,
    user: Option<String>,
    flags: u32,
    ms: f64,
    authn: Option<&str>,
) -> Outcome<HttpOutcome> {
    let authn = authn
        .map(|text| crate::dbsc::authn_text(text, "authn"))
        .transpose()?;
    let data = match data {
        None => None,
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Some(map),
            _ => {
                return Err(Fail::Type(
                    "data must be the JSON text of an object".to_owned(),
                ));
            }
        },
    };
    let named =
        |user: Option<String>| user.ok_or_else(|| Fail::Type("user must be a string".to_owned()));
    let auth = match auth {
        0 => Auth::Unchanged,
        1 => Auth::User(user),
        2 => Auth::LoggedIn(named(user)?),
        3 => Auth::LoggedOut,
        4 => Auth::Reauthenticated(authn.clone().unwrap_or_default()),
        n => return Err(Fail::Range(format!("no auth kind {n}"))),
    };
    let whole = |what: &str| {
        args::whole(ms)
            .ok_or_else(|| Fail::Range(format!("{what} must be a whole number of ms ≥ 0")))
    };
    let expiry = match flags >> 4 {
        0 => None,
        1 => Some(Expiry::Policy),
        2 => Some(Expiry::BrowserSession),
        3 => Some(Expiry::Idle(Duration::from_millis(whole(
            "an idle expiry",
        )?))),
        4 => Some(Expiry::Until(whole("an expiry time")?)),
        5 if ms < 0.0 => Some(Expiry::Persistent(None)),
        5 => Some(Expiry::Persistent(Some(Duration::from_millis(whole(
            "a cookie lifetime",
        )?)))),
        n => return Err(Fail::Range(format!("no expiry kind {n}"))),
    };
    Ok(HttpOutcome {
        data,
        auth,
        regenerate: flags & 1 != 0,
        expiry,
        expiry_changed: flags & 2 != 0,
        error: flags & 4 != 0,
        authn,
    })
}

/// A finish in the compact format: the response, or the failure with its response.
fn finished_with(result: Result<http::Response, http::FinishError>) -> Compact {
    match result {
        Ok(response) => respond(&response),
        Err(failure) => {
            let (error, response) = failure.into_parts();
            let mut out = Vec::with_capacity(200);
            out.push(b'!');
            out.extend_from_slice(error.code().as_bytes());
            out.push(b'\n');
            out.extend(
                error
                    .message()
                    .bytes()
                    .map(|b| if b == b'\n' { b' ' } else { b }),
            );
            out.push(b'\n');
            out.extend_from_slice(&respond(&response).0);
            Compact(out)
        }
    }
}

/// A response in the compact format (see the module docs).
fn respond(response: &http::Response) -> Compact {
    let cookie = &response.set_cookie;
    let others = [
        (b'c', &response.csrf_cookie),
        (b'b', &response.bound_cookie),
        (b'r', &response.registration),
    ];
    if cookie.is_none() && others.iter().all(|(_, v)| v.is_none()) && !response.no_store {
        return Compact(Vec::new());
    }
    let mut out = Vec::with_capacity(160);
    out.push(if response.no_store { b'1' } else { b'0' });
    if let Some(c) = cookie {
        out.extend_from_slice(c.as_bytes());
    }
    for (tag, value) in others {
        if let Some(v) = value {
            out.push(b'\n');
            out.push(tag);
            out.extend_from_slice(v.as_bytes());
        }
    }
    Compact(out)
}

/// `given` of the `prepare` and `finish` callbacks: which of their optional strings the caller
/// passed (as for `begin`'s [`GIVEN_COOKIE`]: one whose bit is clear is absent and not read).
const GIVEN_DATA: u32 = 1;
const GIVEN_USER: u32 = 2;
const GIVEN_AUTHN: u32 = 4;

/// The outcome of a `prepare` or `finish` callback: `(request, given, data, auth, user, flags,
/// ms, authn)`, `given` the bits of the optional strings passed (`1` data, `2` user, `4` authn).
fn outcome_of(a: &callback::Args<8>) -> Outcome<HttpOutcome> {
    let given = a.u32(1, "given")?;
    let opt = |bit: u32, i: usize| (given & bit != 0).then(|| a.unknown(i));
    let mut data_buf = [0u8; args::SHORT];
    let data = opt(GIVEN_DATA, 2)
        .map(|v| args::str_in(v, "data", usize::MAX, &mut data_buf))
        .transpose()?;
    let mut user_buf = [0u8; 128];
    let user = opt(GIVEN_USER, 4)
        .map(|v| args::str_in(v, "user", MAX_SHORT, &mut user_buf))
        .transpose()?;
    let mut authn_buf = [0u8; 128];
    let authn = opt(GIVEN_AUTHN, 7)
        .map(|v| args::str_in(v, "authn", MAX_SHORT, &mut authn_buf))
        .transpose()?;
    outcome(
        data.as_deref(),
        a.u32(3, "auth")?,
        user.map(Cow::into_owned),
        a.u32(5, "flags")?,
        a.f64(6, "ms")?,
        authn.as_deref(),
    )
}

/// The outcome of a `#[napi]` function's arguments (all of them read).
fn outcome_owned(
    data: Option<Unknown>,
    auth: u32,
    user: Option<Unknown>,
    flags: u32,
    ms: f64,
    authn: Option<Unknown>,
) -> Outcome<HttpOutcome> {
    let data = args::opt_string(data, "data", usize::MAX)?;
    let user = args::opt_string(user, "user", MAX_SHORT)?;
    let authn = args::opt_string(authn, "authn", MAX_SHORT)?;
    outcome(data.as_deref(), auth, user, flags, ms, authn.as_deref())
}

/// The headers the response will carry once `__finishAsync` with the same outcome has made the
/// writes (tokens are minted now; no store call), for a response whose headers leave first.
/// JavaScript: `prepare(request, given, data, auth, user, flags, ms, authn)` of
/// [`__requestCalls`](request_calls) (see [`outcome_of`]).
unsafe extern "C" fn prepare(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: N-API calls this callback with its own `env` and `info`.
    unsafe {
        callback::run::<8, _>(env, info, |a| {
            crate::errors::run(&a.env(), || {
                let live = handles::live(&a.unknown(0))?;
                let outcome = outcome_of(a)?;
                live.with(|r| Ok(respond(&r.prepare(&live.manager, &outcome)?)))
            })
        })
    }
}

/// Finish the request now (in-process stores): make the store writes for what the app did and
/// return the headers its response must carry. Arguments as for `prepare`. JavaScript:
/// `finish(request, given, data, auth, user, flags, ms, authn)` of
/// [`__requestCalls`](request_calls).
unsafe extern "C" fn finish(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: N-API calls this callback with its own `env` and `info`.
    unsafe {
        callback::run::<8, _>(env, info, |a| {
            let env = a.env();
            let (result, captured) = events::capture(|| {
                guard(|| {
                    let live = handles::live(&a.unknown(0))?;
                    in_process(&live.manager)?;
                    let outcome = outcome_of(a)?;
                    let request = live.take()?;
                    Ok(finished_with(request.finish(&live.manager, outcome)))
                })
            });
            events::deliver(&env, captured);
            result.map_err(|fail| fail.into_napi(&env))
        })
    }
}

/// The synchronous per-request calls, `{ begin, step, prepare, finish }`, as N-API callbacks
/// written by hand (`crate::callback`: a `#[napi]` function's per-call machinery costs more
/// than an anonymous request's work). `lib/request.js` takes them once.
#[napi(
    js_name = "__requestCalls",
    ts_return_type = "{\n  begin(request: ExternalObject<unknown>, given: number, cookieHeader: string | undefined, https: boolean, method: string | number, userAgent: string | undefined, csrf: string | undefined): string\n  step(request: ExternalObject<unknown>, step: number, arg?: string | null): string\n  prepare(request: ExternalObject<unknown>, given: number, data: string | null, auth: number, user: string | null, flags: number, ms: number, authn: string | null): string\n  finish(request: ExternalObject<unknown>, given: number, data: string | null, auth: number, user: string | null, flags: number, ms: number, authn: string | null): string\n}"
)]
pub fn request_calls(env: &Env) -> napi::Result<Object<'_>> {
    callback::object(
        env,
        &[
            ("begin", begin as callback::Callback),
            ("step", step),
            ("prepare", prepare),
            ("finish", finish),
        ],
    )
}

/// `finish` (of `__requestCalls`) as a Promise whose work runs on the libuv pool (any store).
#[napi(
    js_name = "__finishAsync",
    ts_args_type = "request: ExternalObject<unknown>, data: string | null, auth: number, user: string | null, flags: number, ms: number, authn: string | null",
    ts_return_type = "Promise<string>"
)]
// Flat arguments: an options object would cost a property lookup per field on every request.
#[allow(clippy::too_many_arguments)]
pub fn finish_async<'env>(
    env: &'env Env,
    live: Unknown,
    data: Option<Unknown>,
    auth: u32,
    user: Option<Unknown>,
    flags: u32,
    ms: f64,
    authn: Option<Unknown>,
) -> napi::Result<task::Pending<'env, Compact>> {
    let live = Arc::clone(handles::live(&live).map_err(|fail| fail.into_napi(env))?);
    let manager = Arc::clone(&live.manager);
    task::spawn(env, &manager, || {
        let outcome = outcome_owned(data, auth, user, flags, ms, authn)?;
        Ok(Box::new(move || {
            let request = live.take()?;
            Ok(finished_with(request.finish(&live.manager, outcome)))
        }) as Work<_>)
    })
}
