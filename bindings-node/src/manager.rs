//! `SessionManager`, the JavaScript class over the core's manager.
//!
//! Every operation that may reach the store comes twice: `name(...)` returns a Promise (the work
//! runs on the libuv thread pool, so a networked store never blocks the event loop) and
//! `nameSync(...)` runs it now, which is allowed only while the store is in-process
//! (`memory://`): an in-process call costs less than a thread hop.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{FromNapiValue, Function, Unknown};
use napi::threadsafe_function::UnknownReturnValue;
use napi_derive::napi;

use crate::Core;
use crate::args::{self, MAX_SHORT};
use crate::clock::millis_to_js;
use crate::dbsc::{DbscResponse, Endpoint};
use crate::errors::{Fail, Outcome, run};
use crate::events::{self, SessionEvent};
use crate::lifecycle as ops;
use crate::options;
use crate::session::{CookieLookup, Data, SessionListing, SessionResult};
use crate::task::{self, Work};

/// Options of `new SessionManager(options)`. Every field is optional; the defaults are the
/// secure ones (idle 30 min, absolute 12 h, rotation 15 min with 30 s grace, cookie
/// `__Host-session`, `Secure`, `HttpOnly`, `SameSite=Lax`).
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct SessionManagerOptions {
    /// Idle timeout (ms). Default 1 800 000 (30 min).
    pub idle_timeout_ms: Option<f64>,
    /// Absolute lifetime (ms). Default 43 200 000 (12 h).
    pub absolute_timeout_ms: Option<f64>,
    /// Rotation interval (ms), `null` for no periodic rotation. Default 900 000 (15 min).
    #[napi(ts_type = "number | null")]
    pub rotation_interval_ms: Option<f64>,
    /// How long the previous token stays valid after a rotation (ms). Default 30 000.
    pub rotation_grace_ms: Option<f64>,
    /// Most sessions one user may have (the least recently seen are ended); `null` = no limit.
    #[napi(ts_type = "number | null")]
    pub max_sessions_per_user: Option<f64>,
    /// Cap on the store's live sessions: at the cap the least recently seen anonymous ones are
    /// evicted, and a new anonymous one that finds none is refused (`StoreFullError`, 503);
    /// signed-in sessions never are. `null` = no cap. Default 1 048 576.
    #[napi(ts_type = "number | null")]
    pub max_sessions: Option<f64>,
    /// Cap on the serialized data (bytes). Default 65 536.
    pub max_data_bytes: Option<f64>,
    /// Whether login keeps the data of an anonymous (or same-user) session. Default `true`.
    pub login_keeps_data: Option<bool>,
    /// Secret mixed into session ids (at least 16 bytes), or `null`.
    #[napi(ts_type = "string | null")]
    pub pepper: Option<String>,
    /// Cookie name. Default `__Host-session` (requires `cookieSecure`).
    pub cookie_name: Option<String>,
    /// `Secure` attribute. Default `true`.
    pub cookie_secure: Option<bool>,
    /// `HttpOnly` attribute. Default `true`.
    pub cookie_http_only: Option<bool>,
    /// `SameSite`: `"strict"`, `"lax"` (default) or `"none"` (requires `cookieSecure`).
    #[napi(ts_type = "'strict' | 'lax' | 'none'")]
    pub cookie_same_site: Option<String>,
    /// `Path` attribute. Default `/`.
    pub cookie_path: Option<String>,
    /// `Domain` attribute, or `null` (default: host-only).
    #[napi(ts_type = "string | null")]
    pub cookie_domain: Option<String>,
    /// `Max-Age` in ms (whole seconds are sent), or `null` (default: a browser-session cookie).
    #[napi(ts_type = "number | null")]
    pub cookie_max_age_ms: Option<f64>,
    /// How often a background thread removes expired sessions (ms); `null` for never (call
    /// `sweep()` yourself). Default 60 000.
    #[napi(ts_type = "number | null")]
    pub sweep_interval_ms: Option<f64>,
    /// Where sessions live: `memory://` (default; `memory://?shards=N`).
    pub store: Option<String>,
    /// Read time from this clock instead of the system clock (tests).
    #[napi(ts_type = "ManualClock")]
    pub clock: Option<bool>,
    /// Device-bound sessions (DBSC, `docs/dbsc.md`): sign-ins over HTTPS offer the browser a
    /// binding, and a bound session is served only to requests carrying a current bound cookie.
    /// Needs a `Secure` cookie. Default `false`.
    pub dbsc: Option<bool>,
    /// The algorithms offered, in order of preference. Default `['ES256', 'RS256']`.
    #[napi(ts_type = "Array<'ES256' | 'RS256'>")]
    pub dbsc_algorithms: Option<Vec<String>>,
    /// Lifetime of a bound cookie (ms). Default 600 000 (10 min), at least 300 000.
    pub dbsc_cookie_ttl_ms: Option<f64>,
    /// How long a refresh challenge may be answered (ms). Default 60 000.
    pub dbsc_challenge_ttl_ms: Option<f64>,
    /// How long a registration offer may be taken up (ms). Default 120 000.
    pub dbsc_registration_ttl_ms: Option<f64>,
    /// After registration, how long requests without a bound cookie still pass (ms): the
    /// browser may not hold it yet. Default 10 000.
    pub dbsc_enforce_grace_ms: Option<f64>,
    /// Where the two endpoints live: `<prefix>/register`, `<prefix>/refresh`. Default
    /// `/_tessera/dbsc`.
    pub dbsc_path_prefix: Option<String>,
    /// `https://host[:port]` for the session config's scope; `null` (default) takes the
    /// request's own (Express's `req.protocol` and `req.host`): set it behind proxies.
    #[napi(ts_type = "string | null")]
    pub dbsc_origin: Option<String>,
    /// Whether a binding covers the whole site rather than the origin. Default `false`.
    pub dbsc_include_site: Option<bool>,
    /// Whether a refresh proof that fails verification also revokes the session (by default
    /// only the browser's DBSC session ends). Default `false`.
    pub dbsc_revoke_on_bad_proof: Option<bool>,
}

/// Per-request context: `https` (was the request made over HTTPS?), `userAgent` (recorded at
/// creation and login to label devices).
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct RequestContext {
    /// Whether the request arrived over HTTPS. Default `false`.
    pub https: Option<bool>,
    /// The request's `User-Agent`.
    pub user_agent: Option<String>,
    /// The value of the request's bound cookie (`<cookieName>-bound`), device-bound sessions:
    /// a bound session is found only with a current one.
    pub bound_cookie: Option<String>,
}

/// How strongly a user authenticated, as the app states it at sign-in or re-authentication
/// (step-up): `level` on the app's scale (default 1; suggested 1 one factor, 2 several), `amr`
/// the methods (RFC 8176 names such as `pwd`, `otp`, `hwk`; at most 8).
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct Authn {
    /// 1 to 255. Default 1.
    pub level: Option<u32>,
    /// At most 8 values of `[A-Za-z0-9_.-]`, 1 to 32 characters each.
    pub amr: Option<Vec<String>>,
}

/// Creates, validates, rotates and ends sessions. Share one per process.
#[napi]
pub struct SessionManager {
    core: Core,
    listeners: Vec<u64>,
}

impl Drop for SessionManager {
    fn drop(&mut self) {
        events::unregister(&self.listeners);
    }
}

impl SessionManager {
    /// Synchronous calls would block the event loop on a networked store: refuse them there.
    fn in_process(&self, env: &Env) -> napi::Result<()> {
        if self.core.store_is_networked() {
            return Err(Fail::Core(tessera::Error::invalid_argument(
                "synchronous calls need an in-process store (memory://); this store may wait on \
                 the network, so use the Promise form (without `Sync`)",
            ))
            .into_napi(env));
        }
        Ok(())
    }

    fn sync<T>(&self, env: &Env, prepare: impl FnOnce() -> Outcome<Work<T>>) -> napi::Result<T> {
        self.in_process(env)?;
        task::now(env, prepare)
    }
}

#[napi]
impl SessionManager {
    /// A manager with `options` (see `SessionManagerOptions`).
    ///
    /// Throws `InvalidConfigError` (`code: 'invalid_config'`) naming the option for an unknown
    /// option, a value of the wrong type or an unsafe combination.
    #[napi(constructor, ts_args_type = "options?: SessionManagerOptions")]
    pub fn new(env: Env, options: Option<Unknown>) -> napi::Result<Self> {
        run(&env, || {
            let parsed = options::parse(options)?;
            let mut builder = tessera::SessionManager::builder(tessera::Config::default())
                .options(&parsed.named)
                .map_err(options::in_js_terms)?;
            if let Some(clock) = parsed.clock {
                builder = builder.clock(clock);
            }
            let core = builder.build().map_err(options::in_js_terms)?;
            Ok(SessionManager {
                core: Arc::new(core),
                listeners: Vec::new(),
            })
        })
        .and_then(|manager| {
            crate::warnings::issue(&env, manager.core.store_warnings())?;
            Ok(manager)
        })
    }

    /// What about the store's configuration an operator should hear of (a Redis URL without a
    /// `prefix`, which other apps on that Redis may share), as sentences naming the fix. Each is
    /// also issued once per process as a `TesseraDeploymentWarning` when a manager is built.
    #[napi(getter)]
    pub fn store_warnings(&self) -> Vec<String> {
        self.core.store_warnings()
    }

    /// An opaque handle of this manager for the per-request free functions (`lib/request.js`):
    /// they skip the cost of a class method call on every request.
    #[napi(js_name = "__handle", ts_return_type = "ExternalObject<unknown>")]
    pub fn handle(&self) -> crate::request::Handle {
        crate::request::handle(&self.core)
    }

    /// Whether the store may wait on the network; if so, only the Promise forms may be used.
    #[napi(getter)]
    pub fn is_networked(&self) -> bool {
        self.core.store_is_networked()
    }

    /// Whether other processes see this manager's sessions: false for the memory store, which
    /// an app served by several processes (`cluster`, pm2 cluster mode) must not use.
    #[napi(getter)]
    pub fn store_is_shared(&self) -> bool {
        self.core.store_is_shared()
    }

    /// Whether this manager is used in a process other than the one that built it (a `fork()`
    /// without `exec`; Node's own `cluster` starts fresh processes, so only native code forks).
    #[napi(getter)]
    pub fn forked(&self) -> bool {
        self.core.forked()
    }

    /// Now, by the manager's clock (ms since the epoch).
    #[napi]
    pub fn now(&self) -> f64 {
        millis_to_js(self.core.now())
    }

    /// The name of the session cookie.
    #[napi(getter)]
    pub fn cookie_name(&self) -> String {
        self.core.config().cookie_name.clone()
    }

    /// Where the DBSC endpoints live (`<prefix>/register`, `<prefix>/refresh`), or `null` when
    /// device-bound sessions are off.
    #[napi(getter)]
    pub fn dbsc_path_prefix(&self) -> Option<String> {
        self.core
            .config()
            .dbsc
            .as_ref()
            .map(|d| d.path_prefix.clone())
    }

    /// Call `listener(event)` for every lifecycle transition (created, rotated, login, logout,
    /// revoked, expired, rejected). Events carry ids and users, never tokens. A listener that
    /// throws is reported with `process.emitWarning`; the exception never reaches a request.
    #[napi(ts_args_type = "listener: (event: SessionEvent) => void")]
    pub fn on_event(&mut self, env: Env, listener: Unknown) -> napi::Result<()> {
        let id = run(&env, || {
            if listener.get_type().ok() != Some(napi::ValueType::Function) {
                return Err(Fail::Type(format!(
                    "listener must be a function, got {}",
                    args::describe(&listener)
                )));
            }
            let func = Function::<SessionEvent, UnknownReturnValue>::from_unknown(listener)
                .map_err(|e| Fail::Type(e.reason.clone()))?;
            events::register(&self.core, func).map_err(|e| Fail::Type(e.reason.clone()))
        })?;
        self.listeners.push(id);
        Ok(())
    }

    /// The public id a token stands for (whether or not it is live), or `null` if malformed.
    #[napi(ts_args_type = "token: string")]
    pub fn id_of(&self, env: Env, token: Option<Unknown>) -> napi::Result<Option<String>> {
        run(&env, || {
            let token = args::string(token, "token", MAX_SHORT)?;
            Ok(self
                .core
                .id_of(&token)
                .ok()
                .as_ref()
                .map(crate::compact::id_hex))
        })
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    #[napi(ts_args_type = "token: string")]
    pub fn set_cookie(&self, env: Env, token: Option<Unknown>) -> napi::Result<String> {
        run(&env, || {
            let text = args::string(token, "token", MAX_SHORT)?;
            let token = tessera::Token::parse(&text)
                .map_err(|_| tessera::Error::invalid_argument("token is not a Tessera token"))?;
            Ok(self.core.set_cookie(&token))
        })
    }

    /// The `Set-Cookie` value that removes the session cookie.
    #[napi]
    pub fn clear_cookie(&self) -> String {
        self.core.clear_cookie()
    }

    /// Find the session cookie in a `Cookie` request header.
    #[napi(ts_args_type = "cookieHeader: string | undefined")]
    pub fn read_cookie(&self, env: Env, header: Option<Unknown>) -> napi::Result<CookieLookup> {
        run(&env, || {
            let header = args::opt_string(header, "cookieHeader", MAX_SHORT)?;
            let found = header.as_deref().map_or(tessera::CookieToken::Absent, |h| {
                self.core.token_from_cookie_header(h)
            });
            Ok(match found {
                tessera::CookieToken::Absent => CookieLookup {
                    state: "absent".into(),
                    token: None,
                },
                tessera::CookieToken::One(t) => CookieLookup {
                    state: "one".into(),
                    token: Some(t.to_owned()),
                },
                tessera::CookieToken::Ambiguous => CookieLookup {
                    state: "ambiguous".into(),
                    token: None,
                },
            })
        })
    }

    /// Start a new session, optionally for `user` and with initial `data`. The result's
    /// `newToken` is the cookie value to send (`setCookie` is the whole header).
    #[napi(
        ts_args_type = "user?: string | null, data?: Record<string, unknown> | null, context?: RequestContext",
        ts_return_type = "Promise<SessionResult>"
    )]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        user: Option<Unknown>,
        data: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, SessionResult>> {
        task::spawn(env, &self.core, || {
            ops::create(&self.core, user, data, context)
        })
    }

    /// `create`, now (in-process stores only).
    #[napi(
        ts_args_type = "user?: string | null, data?: Record<string, unknown> | null, context?: RequestContext"
    )]
    pub fn create_sync(
        &self,
        env: Env,
        user: Option<Unknown>,
        data: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<SessionResult> {
        self.sync(&env, || ops::create(&self.core, user, data, context))
    }

    /// Check a token: `{ valid: true, id, user, data, newToken?, setCookie?, expiresAt, … }`
    /// or `{ valid: false, reason }`. If `newToken` is set the session was rotated: send
    /// `setCookie`. Rejects only if the store fails (`store_unavailable`): fail closed.
    #[napi(
        ts_args_type = "token: string, context?: RequestContext",
        ts_return_type = "Promise<SessionResult>"
    )]
    pub fn validate<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, SessionResult>> {
        if !self.core.store_is_networked() {
            return task::spawn(env, &self.core, || {
                ops::validate(&self.core, token, context)
            });
        }
        // Arguments are checked first: a wrong one throws, and no Promise is made.
        let args = run(env, || ops::validate_args(token, context))?;
        let (settler, promise) = task::promise(env)?;
        ops::validate_then(&self.core, args, settler);
        Ok(promise)
    }

    /// `validate`, now (in-process stores only).
    #[napi(ts_args_type = "token: string, context?: RequestContext")]
    pub fn validate_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<SessionResult> {
        self.sync(&env, || ops::validate(&self.core, token, context))
    }

    /// Give the session a new token now; the old one stays valid for `rotationGraceMs`.
    #[napi(
        ts_args_type = "token: string, context?: RequestContext",
        ts_return_type = "Promise<SessionResult>"
    )]
    pub fn rotate<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, SessionResult>> {
        task::spawn(env, &self.core, || ops::rotate(&self.core, token, context))
    }

    /// `rotate`, now (in-process stores only).
    #[napi(ts_args_type = "token: string, context?: RequestContext")]
    pub fn rotate_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<SessionResult> {
        self.sync(&env, || ops::rotate(&self.core, token, context))
    }

    /// Log `user` in (a privilege change): the session of `token`, if live, gets a new token at
    /// once — the old one dies immediately — and a new CSRF secret; otherwise a new session.
    /// `authn` says how strongly the user authenticated (default: one factor), for step-up
    /// (`requireRecent`). With `dbsc` on and `context.https`, `registration` is the
    /// `Secure-Session-Registration` value the response must carry.
    #[napi(
        ts_args_type = "token: string | null | undefined, user: string, context?: RequestContext, authn?: Authn",
        ts_return_type = "Promise<SessionResult>"
    )]
    pub fn login<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        user: Option<Unknown>,
        context: Option<Unknown>,
        authn: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, SessionResult>> {
        task::spawn(env, &self.core, || {
            ops::login(&self.core, token, user, context, authn)
        })
    }

    /// `login`, now (in-process stores only).
    #[napi(
        ts_args_type = "token: string | null | undefined, user: string, context?: RequestContext, authn?: Authn"
    )]
    pub fn login_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        user: Option<Unknown>,
        context: Option<Unknown>,
        authn: Option<Unknown>,
    ) -> napi::Result<SessionResult> {
        self.sync(&env, || ops::login(&self.core, token, user, context, authn))
    }

    /// The signed-in user of the session of `token` proved who they are again (step-up): a new
    /// token with no grace (the old one dies at once), a new CSRF secret, `authn` recorded as of
    /// now; user, data and device binding kept. `{ valid: false, reason }` for a dead token;
    /// rejects with `InvalidArgumentError` for an anonymous session.
    #[napi(
        ts_args_type = "token: string, authn?: Authn, context?: RequestContext",
        ts_return_type = "Promise<SessionResult>"
    )]
    pub fn reauthenticate<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        authn: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, SessionResult>> {
        task::spawn(env, &self.core, || {
            ops::reauthenticate(&self.core, token, authn, context)
        })
    }

    /// `reauthenticate`, now (in-process stores only).
    #[napi(ts_args_type = "token: string, authn?: Authn, context?: RequestContext")]
    pub fn reauthenticate_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        authn: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<SessionResult> {
        self.sync(&env, || {
            ops::reauthenticate(&self.core, token, authn, context)
        })
    }

    /// Whether the session of `token` may do something sensitive now: `'allowed'` (its user
    /// authenticated less than `maxAgeMs` ago with at least `minLevel`, default 1), `'stale'` or
    /// `'level'` (re-authenticate), `'anonymous'` (sign in first: no user, a dead token, or a
    /// bound session without `context.boundCookie`). A pure read.
    #[napi(
        ts_args_type = "token: string, maxAgeMs: number, minLevel?: number, context?: RequestContext",
        ts_return_type = "Promise<'allowed' | 'anonymous' | 'stale' | 'level'>"
    )]
    pub fn require_recent<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        max_age_ms: Option<Unknown>,
        min_level: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, String>> {
        task::spawn(env, &self.core, || {
            ops::require_recent(&self.core, token, max_age_ms, min_level, context)
        })
    }

    /// `requireRecent`, now (in-process stores only).
    #[napi(
        ts_args_type = "token: string, maxAgeMs: number, minLevel?: number, context?: RequestContext",
        ts_return_type = "'allowed' | 'anonymous' | 'stale' | 'level'"
    )]
    pub fn require_recent_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        max_age_ms: Option<Unknown>,
        min_level: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<String> {
        self.sync(&env, || {
            ops::require_recent(&self.core, token, max_age_ms, min_level, context)
        })
    }

    /// Offer the signed-in, unbound session of `token` a device binding now (sign-ins over
    /// HTTPS offer one by themselves): resolves the `Secure-Session-Registration` value for the
    /// response, or `null` when there is nothing to offer (`dbsc` off, not HTTPS, anonymous,
    /// already bound).
    #[napi(
        ts_args_type = "token: string, context?: RequestContext",
        ts_return_type = "Promise<string | null>"
    )]
    pub fn offer_binding<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, Option<String>>> {
        task::spawn(env, &self.core, || {
            ops::offer_binding(&self.core, token, context)
        })
    }

    /// `offerBinding`, now (in-process stores only).
    #[napi(ts_args_type = "token: string, context?: RequestContext")]
    pub fn offer_binding_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        context: Option<Unknown>,
    ) -> napi::Result<Option<String>> {
        self.sync(&env, || ops::offer_binding(&self.core, token, context))
    }

    /// End the device binding of session `id` ("forget this device"); the session lives on
    /// and the browser's DBSC session ends at its next refresh. Resolves whether there was one.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<boolean>")]
    pub fn unbind<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, bool>> {
        task::spawn(env, &self.core, || ops::unbind(&self.core, id))
    }

    /// `unbind`, now (in-process stores only).
    #[napi(ts_args_type = "id: string")]
    pub fn unbind_sync(&self, env: Env, id: Option<Unknown>) -> napi::Result<bool> {
        self.sync(&env, || ops::unbind(&self.core, id))
    }

    /// The DBSC registration endpoint (`POST <dbscPathPrefix>/register`): the request's headers
    /// in, the whole response out, to send as it is. `expressSession()` routes it; other
    /// frameworks call this. Rejects with `InvalidConfigError` when `dbsc` is off and
    /// `StoreUnavailableError` (answer 503) when the store fails.
    #[napi(
        ts_args_type = "request: DbscRequest",
        ts_return_type = "Promise<DbscResponse>"
    )]
    pub fn dbsc_register<'env>(
        &self,
        env: &'env Env,
        request: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, DbscResponse>> {
        task::spawn(env, &self.core, || {
            ops::dbsc_endpoint(&self.core, Endpoint::Register, request)
        })
    }

    /// `dbscRegister`, now (in-process stores only).
    #[napi(ts_args_type = "request: DbscRequest")]
    pub fn dbsc_register_sync(
        &self,
        env: Env,
        request: Option<Unknown>,
    ) -> napi::Result<DbscResponse> {
        self.sync(&env, || {
            ops::dbsc_endpoint(&self.core, Endpoint::Register, request)
        })
    }

    /// The DBSC refresh endpoint (`POST <dbscPathPrefix>/refresh`), as `dbscRegister`.
    #[napi(
        ts_args_type = "request: DbscRequest",
        ts_return_type = "Promise<DbscResponse>"
    )]
    pub fn dbsc_refresh<'env>(
        &self,
        env: &'env Env,
        request: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, DbscResponse>> {
        task::spawn(env, &self.core, || {
            ops::dbsc_endpoint(&self.core, Endpoint::Refresh, request)
        })
    }

    /// `dbscRefresh`, now (in-process stores only).
    #[napi(ts_args_type = "request: DbscRequest")]
    pub fn dbsc_refresh_sync(
        &self,
        env: Env,
        request: Option<Unknown>,
    ) -> napi::Result<DbscResponse> {
        self.sync(&env, || {
            ops::dbsc_endpoint(&self.core, Endpoint::Refresh, request)
        })
    }

    /// End the session of `token` and its alias; resolves whether one was ended.
    #[napi(ts_args_type = "token: string", ts_return_type = "Promise<boolean>")]
    pub fn logout<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, bool>> {
        task::spawn(env, &self.core, || ops::logout(&self.core, token))
    }

    /// `logout`, now (in-process stores only).
    #[napi(ts_args_type = "token: string")]
    pub fn logout_sync(&self, env: Env, token: Option<Unknown>) -> napi::Result<bool> {
        self.sync(&env, || ops::logout(&self.core, token))
    }

    /// End the session with public id `id` (administrator action).
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<boolean>")]
    pub fn revoke<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, bool>> {
        task::spawn(env, &self.core, || ops::revoke(&self.core, id))
    }

    /// `revoke`, now (in-process stores only).
    #[napi(ts_args_type = "id: string")]
    pub fn revoke_sync(&self, env: Env, id: Option<Unknown>) -> napi::Result<bool> {
        self.sync(&env, || ops::revoke(&self.core, id))
    }

    /// End every session of `user` (account disabled, password changed); resolves how many.
    #[napi(ts_args_type = "user: string", ts_return_type = "Promise<number>")]
    pub fn revoke_user<'env>(
        &self,
        env: &'env Env,
        user: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, u32>> {
        task::spawn(env, &self.core, || ops::revoke_user(&self.core, user))
    }

    /// `revokeUser`, now (in-process stores only).
    #[napi(ts_args_type = "user: string")]
    pub fn revoke_user_sync(&self, env: Env, user: Option<Unknown>) -> napi::Result<u32> {
        self.sync(&env, || ops::revoke_user(&self.core, user))
    }

    /// End every session of `user` except the one of `token` ("sign out my other devices").
    /// If `token` is not a live session of `user`, all of them end.
    #[napi(
        ts_args_type = "user: string, token: string",
        ts_return_type = "Promise<number>"
    )]
    pub fn revoke_user_except<'env>(
        &self,
        env: &'env Env,
        user: Option<Unknown>,
        token: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, u32>> {
        task::spawn(env, &self.core, || {
            ops::revoke_user_except(&self.core, user, token)
        })
    }

    /// `revokeUserExcept`, now (in-process stores only).
    #[napi(ts_args_type = "user: string, token: string")]
    pub fn revoke_user_except_sync(
        &self,
        env: Env,
        user: Option<Unknown>,
        token: Option<Unknown>,
    ) -> napi::Result<u32> {
        self.sync(&env, || ops::revoke_user_except(&self.core, user, token))
    }

    /// End every session; resolves how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn revoke_all<'env>(&self, env: &'env Env) -> napi::Result<task::Pending<'env, u32>> {
        task::spawn(env, &self.core, || ops::revoke_all(&self.core))
    }

    /// `revokeAll`, now (in-process stores only).
    #[napi]
    pub fn revoke_all_sync(&self, env: Env) -> napi::Result<u32> {
        self.sync(&env, || ops::revoke_all(&self.core))
    }

    /// The live sessions of `user`, most recently seen first. Never tokens.
    #[napi(
        ts_args_type = "user: string",
        ts_return_type = "Promise<SessionListing[]>"
    )]
    pub fn list_user<'env>(
        &self,
        env: &'env Env,
        user: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, Vec<SessionListing>>> {
        task::spawn(env, &self.core, || ops::list_user(&self.core, user))
    }

    /// `listUser`, now (in-process stores only).
    #[napi(ts_args_type = "user: string")]
    pub fn list_user_sync(
        &self,
        env: Env,
        user: Option<Unknown>,
    ) -> napi::Result<Vec<SessionListing>> {
        self.sync(&env, || ops::list_user(&self.core, user))
    }

    /// Set one data key of session `id`. Rejects with a `SessionEndedError` (code `unknown`,
    /// `expired_idle`, `expired_absolute`) if the session ended: it is never re-created.
    #[napi(
        ts_args_type = "id: string, key: string, value: unknown",
        ts_return_type = "Promise<void>"
    )]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
        key: Option<Unknown>,
        value: Unknown,
    ) -> napi::Result<task::Pending<'env, ()>> {
        task::spawn(env, &self.core, || ops::set(&self.core, id, key, value))
    }

    /// `set`, now (in-process stores only).
    #[napi(ts_args_type = "id: string, key: string, value: unknown")]
    pub fn set_sync(
        &self,
        env: Env,
        id: Option<Unknown>,
        key: Option<Unknown>,
        value: Unknown,
    ) -> napi::Result<()> {
        self.sync(&env, || ops::set(&self.core, id, key, value))
    }

    /// Remove one data key of session `id`.
    #[napi(
        ts_args_type = "id: string, key: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn remove_key<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
        key: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, ()>> {
        task::spawn(env, &self.core, || ops::remove_key(&self.core, id, key))
    }

    /// `removeKey`, now (in-process stores only).
    #[napi(ts_args_type = "id: string, key: string")]
    pub fn remove_key_sync(
        &self,
        env: Env,
        id: Option<Unknown>,
        key: Option<Unknown>,
    ) -> napi::Result<()> {
        self.sync(&env, || ops::remove_key(&self.core, id, key))
    }

    /// Replace all data of session `id`.
    #[napi(
        ts_args_type = "id: string, data: Record<string, unknown>",
        ts_return_type = "Promise<void>"
    )]
    pub fn replace_data<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
        data: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, ()>> {
        task::spawn(env, &self.core, || ops::replace_data(&self.core, id, data))
    }

    /// `replaceData`, now (in-process stores only).
    #[napi(ts_args_type = "id: string, data: Record<string, unknown>")]
    pub fn replace_data_sync(
        &self,
        env: Env,
        id: Option<Unknown>,
        data: Option<Unknown>,
    ) -> napi::Result<()> {
        self.sync(&env, || ops::replace_data(&self.core, id, data))
    }

    /// Several per-key changes in one store call, atomically (all or none): remove the keys in
    /// `remove`, then set the keys of `set` (a key in both ends up set). Keys not named are left
    /// as they are, so concurrent requests changing other keys are not overwritten. Resolves the
    /// data after the change.
    #[napi(
        ts_args_type = "id: string, set?: Record<string, unknown> | null, remove?: string[] | null",
        ts_return_type = "Promise<Record<string, unknown>>"
    )]
    pub fn update_data<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
        set: Option<Unknown>,
        remove: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, Data>> {
        task::spawn(env, &self.core, || {
            ops::update_data(&self.core, id, set, remove)
        })
    }

    /// `updateData`, now (in-process stores only).
    #[napi(
        ts_args_type = "id: string, set?: Record<string, unknown> | null, remove?: string[] | null",
        ts_return_type = "Record<string, unknown>"
    )]
    pub fn update_data_sync(
        &self,
        env: Env,
        id: Option<Unknown>,
        set: Option<Unknown>,
        remove: Option<Unknown>,
    ) -> napi::Result<Data> {
        self.sync(&env, || ops::update_data(&self.core, id, set, remove))
    }

    /// A fresh masked CSRF token for the session of `token` (different on every call).
    #[napi(ts_args_type = "token: string", ts_return_type = "Promise<string>")]
    pub fn csrf_token<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, String>> {
        task::spawn(env, &self.core, || ops::csrf_token(&self.core, token))
    }

    /// `csrfToken`, now (in-process stores only).
    #[napi(ts_args_type = "token: string")]
    pub fn csrf_token_sync(&self, env: Env, token: Option<Unknown>) -> napi::Result<String> {
        self.sync(&env, || ops::csrf_token(&self.core, token))
    }

    /// Whether `candidate` is a CSRF token of the live session of `token` (constant time).
    #[napi(
        ts_args_type = "token: string, candidate: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn verify_csrf<'env>(
        &self,
        env: &'env Env,
        token: Option<Unknown>,
        candidate: Option<Unknown>,
    ) -> napi::Result<task::Pending<'env, bool>> {
        task::spawn(env, &self.core, || {
            ops::verify_csrf(&self.core, token, candidate)
        })
    }

    /// `verifyCsrf`, now (in-process stores only).
    #[napi(ts_args_type = "token: string, candidate: string")]
    pub fn verify_csrf_sync(
        &self,
        env: Env,
        token: Option<Unknown>,
        candidate: Option<Unknown>,
    ) -> napi::Result<bool> {
        self.sync(&env, || ops::verify_csrf(&self.core, token, candidate))
    }

    /// Remove expired sessions now; resolves how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn sweep<'env>(&self, env: &'env Env) -> napi::Result<task::Pending<'env, u32>> {
        task::spawn(env, &self.core, || ops::sweep(&self.core))
    }

    /// `sweep`, now (in-process stores only).
    #[napi]
    pub fn sweep_sync(&self, env: Env) -> napi::Result<u32> {
        self.sync(&env, || ops::sweep(&self.core))
    }

    /// Number of sessions in the store (expired ones not yet swept included).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn store_len<'env>(&self, env: &'env Env) -> napi::Result<task::Pending<'env, u32>> {
        task::spawn(env, &self.core, || ops::store_len(&self.core))
    }

    /// `storeLen`, now (in-process stores only).
    #[napi]
    pub fn store_len_sync(&self, env: Env) -> napi::Result<u32> {
        self.sync(&env, || ops::store_len(&self.core))
    }
}
