//! The session lifecycle: every rule of DESIGN.md's lifecycle table, composed from the store's
//! atomic primitives.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde_json::Value;

use crate::authn::{Authn, Freshness};
use crate::binding::{BindingState, Gate, Proof, Slot, Swapped, challenge_digest};
use crate::clock::{Clock, SystemClock, UnixMillis, millis};
use crate::config::Config;
use crate::cookie::{self, CookieToken};
use crate::csrf::CsrfSecret;
use crate::data::{Data, DataOp};
use crate::error::{Error, Reason, Result};
use crate::events::{Event, EventKind, Listener, Listeners};
use crate::fields::Fields;
use crate::http::visitor_csrf::VisitorCsrf;
use crate::id::{IdDeriver, SessionId};
use crate::record::{BindingChange, Load, LoginChange, Record, Rekey};
use crate::session::{Context, Prevalidated, Session, SessionInfo, Validation};
use crate::store::{MemoryStore, Store};
use crate::token::Token;

/// Longest user id accepted (bytes).
pub const MAX_USER_LEN: usize = 1024;
/// Longest user agent recorded (bytes); longer ones are cut at a character boundary.
pub const MAX_USER_AGENT_LEN: usize = 256;
/// How often a rekey is retried when a concurrent rotation moved the session first.
const REKEY_ATTEMPTS: usize = 4;

/// Creates, validates, rotates and ends sessions.
///
/// Thread-safe: share one manager (behind an `Arc` if needed) across all request handlers.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera::{Config, Context, ManualClock, Reason, SessionManager, Validation};
///
/// let clock = ManualClock::default();
/// let manager = SessionManager::builder(Config::default()).clock(clock.clone()).build()?;
///
/// // An anonymous visitor gets a session; signing in replaces its token.
/// let visitor = manager.create(None, None, &Context::HTTPS)?;
/// let old = visitor.new_token().unwrap().expose();
/// let signed_in = manager.login(Some(&old), "alice", &Context::HTTPS)?;
/// let token = signed_in.new_token().unwrap().expose();
/// assert_eq!(manager.validate(&old, &Context::HTTPS)?.reason(), Some(Reason::Unknown));
///
/// // Idle for 31 minutes: the session is gone.
/// clock.advance(Duration::from_secs(31 * 60));
/// assert!(matches!(manager.validate(&token, &Context::HTTPS)?, Validation::Rejected(Reason::ExpiredIdle)));
/// # Ok::<(), tessera::Error>(())
/// ```
pub struct SessionManager {
    inner: Arc<Inner>,
    _sweeper: Option<Sweeper>,
}

struct Inner {
    config: Config,
    store: Box<dyn Store>,
    clock: Box<dyn Clock>,
    ids: IdDeriver,
    idle_ms: u64,
    absolute_ms: u64,
    rotation_ms: Option<u64>,
    grace_ms: u64,
    /// Device-bound sessions' timings in ms, when they are on.
    dbsc: Option<DbscMillis>,
    /// The bound cookie's name (`<cookie_name>-bound`), made once: every request looks for it.
    bound_cookie: String,
    listeners: Listeners,
    visitor_csrf: VisitorCsrf,
    /// The process that built the manager.
    pid: u32,
}

/// [`crate::config::Dbsc`]'s durations, in the store's unit.
#[derive(Clone, Copy)]
pub(crate) struct DbscMillis {
    pub(crate) cookie_ttl: u64,
    pub(crate) challenge_ttl: u64,
    pub(crate) registration_ttl: u64,
    pub(crate) enforce_grace: u64,
}

/// Builds a [`SessionManager`]; see [`SessionManager::builder`].
pub struct Builder {
    config: Config,
    store: Option<Box<dyn Store>>,
    clock: Option<Box<dyn Clock>>,
    listeners: Vec<Listener>,
    sweep_interval: Option<Duration>,
}

impl Builder {
    /// Use `store` instead of a new [`MemoryStore`].
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Read time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Register an event listener.
    pub fn listener(mut self, listener: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// How often a background thread sweeps expired sessions; `None` for never (call
    /// [`SessionManager::sweep`] yourself). Default: every 60 seconds. The thread ends when the
    /// manager is dropped.
    pub fn sweep_interval(mut self, every: Option<Duration>) -> Self {
        self.sweep_interval = every;
        self
    }

    /// Apply named options (see [`options`](crate::options)): config fields, `store` and
    /// `sweep_interval_ms`.
    ///
    /// ```
    /// use tessera::{Config, SessionManager};
    /// let opts = serde_json::json!({"idle_timeout_ms": 60000, "store": "memory://", "sweep_interval_ms": null});
    /// let manager = SessionManager::builder(Config::default()).options(opts.as_object().unwrap())?.build()?;
    /// assert_eq!(manager.config().idle_timeout.as_secs(), 60);
    /// # Ok::<(), tessera::Error>(())
    /// ```
    ///
    /// # Errors
    /// `invalid_config` for an unknown option, a value of the wrong type or an unusable store URL.
    pub fn options(mut self, options: &serde_json::Map<String, Value>) -> Result<Self> {
        let manager = crate::options::apply(&mut self.config, options)?;
        if let Some(every) = manager.sweep_interval {
            self.sweep_interval = every;
        }
        if let Some(url) = manager.store {
            self.store = Some(crate::store::open(&url)?);
        }
        Ok(self)
    }

    /// Check the configuration and build the manager.
    ///
    /// # Errors
    /// `invalid_config` naming the offending field; `invalid_config` for a zero sweep interval.
    pub fn build(self) -> Result<SessionManager> {
        self.config.validate()?;
        if self.sweep_interval.is_some_and(|d| d.is_zero()) {
            return Err(Error::invalid_config(
                "sweep_interval must be greater than zero",
            ));
        }
        let config = self.config;
        let listeners = Listeners::default();
        for l in self.listeners {
            listeners.add(l);
        }
        let inner = Arc::new(Inner {
            ids: IdDeriver::new(config.pepper.as_ref().map(|p| p.as_bytes())),
            visitor_csrf: VisitorCsrf::new(&config)?,
            pid: std::process::id(),
            idle_ms: millis(config.idle_timeout),
            absolute_ms: millis(config.absolute_timeout),
            rotation_ms: config.rotation_interval.map(millis),
            grace_ms: millis(config.rotation_grace),
            dbsc: config.dbsc.as_ref().map(|d| DbscMillis {
                cookie_ttl: millis(d.cookie_ttl),
                challenge_ttl: millis(d.challenge_ttl),
                registration_ttl: millis(d.registration_ttl),
                enforce_grace: millis(d.enforce_grace),
            }),
            bound_cookie: crate::cookie::bound_cookie_name(&config),
            store: self.store.unwrap_or_else(|| Box::new(MemoryStore::new())),
            clock: self.clock.unwrap_or_else(|| Box::new(SystemClock)),
            listeners,
            config,
        });
        let sweeper = self
            .sweep_interval
            .map(|every| Sweeper::start(Arc::downgrade(&inner), every));
        Ok(SessionManager {
            inner,
            _sweeper: sweeper,
        })
    }
}

impl SessionManager {
    /// A manager on a fresh memory store and the system clock.
    ///
    /// # Errors
    /// `invalid_config` if `config` is not valid.
    pub fn new(config: Config) -> Result<Self> {
        Self::builder(config).build()
    }

    /// Start building a manager for `config`.
    pub fn builder(config: Config) -> Builder {
        Builder {
            config,
            store: None,
            clock: None,
            listeners: Vec::new(),
            sweep_interval: Some(Duration::from_secs(60)),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Now, by the manager's clock.
    pub fn now(&self) -> UnixMillis {
        self.inner.clock.now()
    }

    /// Register an event listener (in addition to those given to the builder).
    pub fn add_listener(&self, listener: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.listeners.add(Arc::new(listener));
    }

    /// The public id a token stands for (not checking that it is live).
    ///
    /// # Errors
    /// [`Reason::Malformed`] for a malformed token.
    pub fn id_of(&self, token: &str) -> Result<SessionId, Reason> {
        Token::parse(token).map(|t| self.inner.ids.derive(&t))
    }

    /// Start a new session, optionally for `user` and with initial `data`.
    ///
    /// The returned session's [`new_token`](Session::new_token) is the cookie value to send.
    ///
    /// # Errors
    /// `invalid_argument` for an empty or over-long user; `data_too_large`; `store_unavailable`.
    pub fn create(
        &self,
        user: Option<&str>,
        data: Option<Data>,
        ctx: &Context<'_>,
    ) -> Result<Session> {
        let user = user.map(check_user).transpose()?;
        let inner = &*self.inner;
        // The same checks (keys, size) as any later write of the whole object.
        let data = match data {
            Some(d) => crate::data::apply(None, &DataOp::Replace(d), inner.config.max_data_bytes)?,
            None => None,
        };
        let (minted, csrf) = inner.mint_with_csrf()?;
        let session = inner.insert_minted(user.clone(), data, ctx, minted, Some(csrf))?;
        inner.emit(EventKind::Created, &session.record, None, None);
        if let (Some(user), Some(max)) = (user, inner.config.max_sessions_per_user) {
            inner.evict_beyond(&user, max, session.id())?;
        }
        Ok(session)
    }

    /// Check a token and return its session — the call every request makes.
    ///
    /// Malformed input is refused without touching the store. A live session is touched
    /// (`last_seen = now`); if its rotation interval has passed, or it was created over HTTP and
    /// this request is HTTPS, it gets a new token, returned in the session.
    ///
    /// # Errors
    /// Only `store_unavailable` / `internal`: a bad token is `Ok(Validation::Rejected(_))`.
    /// Callers must treat an error as "not authenticated" (fail closed).
    pub fn validate(&self, token: &str, ctx: &Context<'_>) -> Result<Validation> {
        self.validate_then_place(token, ctx, Validation::Valid, Validation::Rejected)
    }

    /// [`validate`](Self::validate), writing the session into storage the caller owns instead
    /// of returning it: for a binding that keeps sessions in memory of its own (the C ABI's
    /// handles and caller storage), which then saves a copy of it per request. `Ok(Ok(session))`
    /// means `out` now holds the session (dropping it is the caller's job: a session left in a
    /// `MaybeUninit` is leaked); `Ok(Err(reason))` means the token was refused and `out` was not
    /// written.
    ///
    /// ```
    /// # use std::mem::MaybeUninit;
    /// # use tessera::{Config, Context, SessionManager};
    /// let manager = SessionManager::new(Config::default())?;
    /// let mut place = MaybeUninit::uninit();
    /// let refused = manager.validate_into("not-a-token", &Context::HTTPS, &mut place)?;
    /// assert_eq!(refused.err(), Some(tessera::Reason::Malformed));
    /// # Ok::<(), tessera::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn validate_into<'s>(
        &self,
        token: &str,
        ctx: &Context<'_>,
        out: &'s mut std::mem::MaybeUninit<Session>,
    ) -> Result<std::result::Result<&'s mut Session, Reason>> {
        self.validate_then_place(token, ctx, move |session| Ok(out.write(session)), Err)
    }

    /// The body of `validate`: `place` gets the session, `refuse` the reason, each inlined so
    /// that the session is built where `place` puts it (no copy through a wrapper type).
    #[inline(always)]
    fn validate_then_place<T>(
        &self,
        token: &str,
        ctx: &Context<'_>,
        place: impl FnOnce(Session) -> T,
        refuse: impl FnOnce(Reason) -> T,
    ) -> Result<T> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let gate = Gate {
            fields: ctx.fields,
            ..inner.gate(ctx, true)
        };
        // A continuation rather than a returned record: the record is built once, in the
        // store's answer, and moved into the session without passing through wrapper types.
        inner.load_live_then(token, now, &gate, refuse, |mut record, via_alias| {
            let proof = gate.proof_of_admitted(record.binding.as_deref(), now);
            // `writes_nothing` (the event loop's quick path) must agree with every write below.
            if !ctx.https && record.secure {
                // The token just travelled in clear: the next HTTPS request must rotate it with no
                // grace, as if the session had been made over HTTP.
                inner.store.mark_insecure(&record.id, now, inner.idle_ms)?;
                record.secure = false;
            }
            let upgrade = ctx.https && !record.secure;
            let due = inner
                .rotation_ms
                .is_some_and(|every| now.saturating_sub(record.rotated_at) >= every);
            // An alias never rotates: the request that rotated it already handed out the successor.
            if !via_alias && (upgrade || due) {
                // After an HTTP→HTTPS upgrade the old token may have been seen in clear: no grace.
                let grace = if upgrade { 0 } else { inner.grace_ms };
                if let Some(mut session) = inner.rotate_record(&record, grace, ctx.https, now)? {
                    session.proof = proof;
                    // The rekey read every part; the caller still sees only what it asked for, so a
                    // rotation never changes what a session answers.
                    session.record.keep_only(ctx.fields);
                    session.fields = ctx.fields;
                    return Ok(place(session));
                }
            }
            // A store that reads whole records (SQLite, Redis) answers as the memory store does.
            record.keep_only(ctx.fields);
            Ok(place(Session {
                record,
                new_token: None,
                idle_ms: inner.idle_ms,
                proof,
                offer: None,
                fields: ctx.fields,
            }))
        })
    }

    /// Start validating `token` without waiting, for a caller that must not block (an event
    /// loop): `done` gets the session when one read of the store settles it — the session is
    /// live, primary, and [`validate`](Self::validate) would write nothing for it (no touch due,
    /// no rotation due, the transport it last travelled on unchanged) — and `None` otherwise.
    /// On `None`, make the blocking `validate` (off the event loop): it decides every other
    /// case, and emits the events, as ever. A store without an I/O thread of its own (memory,
    /// SQLite) answers `None` at once, on the calling thread.
    ///
    /// `done` runs on the store's I/O thread: it must not block, nor call the manager.
    ///
    /// ```
    /// # use tessera::{Config, SessionManager};
    /// let manager = SessionManager::new(Config::default()).unwrap();
    /// manager.validate_then("not-a-token", true, |quick| assert!(quick.is_none()));
    /// ```
    pub fn validate_then(
        &self,
        token: &str,
        https: bool,
        done: impl FnOnce(Option<Prevalidated>) + Send + 'static,
    ) {
        let Ok(parsed) = Token::parse(token) else {
            return done(None);
        };
        let inner = Arc::clone(&self.inner);
        let id = inner.ids.derive(&parsed);
        let now = inner.clock.now();
        let token = token.to_owned();
        let idle_ms = inner.idle_ms;
        let read = Arc::clone(&inner).store.read_live_then(
            &id,
            now,
            idle_ms,
            Box::new(move |record| {
                // A bound session is judged against the request's bound cookie: the blocking
                // path does that.
                let quick = record
                    .filter(|r| r.binding.as_deref().and_then(BindingState::bound).is_none())
                    .filter(|r| inner.writes_nothing(r, https, now))
                    .map(|r| Prevalidated::new(token, inner.session(r, None)));
                done(quick);
            }),
        );
        if let Err(done) = read {
            done(None);
        }
    }

    /// Give the session a new token now; the old one stays an alias for `rotation_grace`.
    ///
    /// # Errors
    /// `store_unavailable` / `internal`; a bad token is `Ok(Validation::Rejected(_))`.
    pub fn rotate(&self, token: &str, ctx: &Context<'_>) -> Result<Validation> {
        self.rekey_token(token, ctx, false, self.inner.mint()?)
    }

    /// Give the session a new token now and end the old one at once (no grace): what a
    /// framework's "cycle the key" asks for (Django `cycle_key()`, express-session's
    /// `regenerate()` keeping the data). User, data, CSRF secret and deadlines are kept; unlike
    /// [`login`](Self::login) this is not a privilege change.
    ///
    /// # Errors
    /// `store_unavailable` / `internal`; a bad token is `Ok(Validation::Rejected(_))`.
    pub fn regenerate(&self, token: &str, ctx: &Context<'_>) -> Result<Validation> {
        self.rekey_token(token, ctx, true, self.inner.mint()?)
    }

    /// A new token for the session of `token` (pre-minted, so a caller may hand it out first);
    /// the old one lives on for the grace window unless `no_grace`.
    pub(crate) fn rekey_token(
        &self,
        token: &str,
        ctx: &Context<'_>,
        no_grace: bool,
        minted: (Token, SessionId),
    ) -> Result<Validation> {
        let inner = &*self.inner;
        for _ in 0..REKEY_ATTEMPTS {
            let now = inner.clock.now();
            let gate = inner.gate(ctx, true);
            let record = match inner.load_live(token, now, &gate)? {
                Ok((record, _)) => record,
                Err(reason) => return Ok(Validation::Rejected(reason)),
            };
            // As in validate: a token that travelled over HTTP gets no grace once HTTPS is used.
            let grace = if no_grace || (ctx.https && !record.secure) {
                0
            } else {
                inner.grace_ms
            };
            let attempt = (minted.0.clone(), minted.1);
            if let Some(mut session) =
                inner.rotate_minted(&record, grace, ctx.https, now, attempt)?
            {
                session.proof = gate.proof_of_admitted(record.binding.as_deref(), now);
                return Ok(Validation::Valid(session));
            }
        }
        Err(Error::internal(
            "the session kept changing while being rotated",
        ))
    }

    /// Whether signing `user` in on a session of `current` carries its data over: only with
    /// `login_keeps_data`, and only from an anonymous session or one of the same user (carrying
    /// Bob's cart into Alice's session on a shared browser would leak it).
    pub fn login_keeps_data(&self, current: Option<&str>, user: &str) -> bool {
        self.inner.config.login_keeps_data && current.is_none_or(|u| u == user)
    }

    /// The key and cookie name of CSRF tokens for visitors without a session.
    pub(crate) fn visitor_csrf(&self) -> &VisitorCsrf {
        &self.inner.visitor_csrf
    }

    /// Device-bound sessions' timings, when they are on.
    pub(crate) fn dbsc_millis(&self) -> Option<DbscMillis> {
        self.inner.dbsc
    }

    /// The name of the bound cookie of device-bound sessions (`<cookie_name>-bound`).
    pub fn bound_cookie_name(&self) -> &str {
        &self.inner.bound_cookie
    }

    /// The live session of `token` as stored, without touching it and whatever its binding
    /// says (the DBSC endpoints judge the binding themselves, and a refresh is the browser's
    /// activity, not the user's). Follows an in-grace alias.
    pub(crate) fn peek(&self, token: &str) -> Result<Result<Record, Reason>> {
        let inner = &*self.inner;
        let gate = Gate {
            touch: false,
            ..Gate::JUDGED
        };
        Ok(inner
            .load_live(token, inner.clock.now(), &gate)?
            .map(|(record, _)| record))
    }

    /// [`Store::swap_binding`] on the manager's store, clock and policy.
    pub(crate) fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<BindingState>>,
        new: Option<Arc<BindingState>>,
    ) -> Result<Swapped> {
        let inner = &*self.inner;
        inner
            .store
            .swap_binding(id, expected, new, inner.clock.now(), inner.idle_ms)
    }

    /// Emit `kind` for `record` with `detail`.
    pub(crate) fn emit_detail(&self, kind: EventKind, record: &Record, detail: &'static str) {
        self.inner.emit_detail(kind, record, detail);
    }

    /// A new token, its id and a CSRF secret (one OS draw), not yet stored anywhere.
    pub(crate) fn mint_with_csrf(&self) -> Result<((Token, SessionId), CsrfSecret)> {
        self.inner.mint_with_csrf()
    }

    /// [`create`](Self::create) with the token and CSRF secret already minted (the request
    /// protocol hands them out before the first write).
    pub(crate) fn create_minted(
        &self,
        data: Option<Data>,
        ctx: &Context<'_>,
        minted: (Token, SessionId),
        csrf: CsrfSecret,
    ) -> Result<Session> {
        let inner = &*self.inner;
        let data = match data {
            Some(d) => crate::data::apply(None, &DataOp::Replace(d), inner.config.max_data_bytes)?,
            None => None,
        };
        let session = inner.insert_minted(None, data, ctx, minted, Some(csrf))?;
        inner.emit(EventKind::Created, &session.record, None, None);
        Ok(session)
    }

    /// Log `user` in: a privilege change. The session of `token` (if it is live) gets a new token
    /// at once — the old one dies immediately, closing session fixation — a new CSRF secret and a
    /// fresh absolute deadline, and keeps its data if `login_keeps_data` (and it was anonymous or
    /// already this user's). Without a live session, a new one is created. The user's least
    /// recently seen sessions beyond `max_sessions_per_user` are ended.
    ///
    /// # Errors
    /// `invalid_argument` for an empty or over-long user; `store_unavailable`; `internal`.
    pub fn login(&self, token: Option<&str>, user: &str, ctx: &Context<'_>) -> Result<Session> {
        self.login_with(token, user, &Authn::default(), ctx)
    }

    /// [`login`](Self::login), saying how strongly the user authenticated (step-up
    /// re-authentication judges it later, see [`Session::freshness`]).
    ///
    /// With device-bound sessions on and the request over HTTPS, the new session is offered a
    /// binding: [`Session::offered_challenge`] is the challenge the response's
    /// `Secure-Session-Registration` header carries. A sign-in ends any binding the session had.
    ///
    /// # Errors
    /// As [`login`](Self::login).
    pub fn login_with(
        &self,
        token: Option<&str>,
        user: &str,
        authn: &Authn,
        ctx: &Context<'_>,
    ) -> Result<Session> {
        let (minted, csrf) = self.inner.mint_with_csrf()?;
        self.login_minted(token, user, authn, ctx, minted, csrf)
    }

    /// [`login`](Self::login) with the new token already minted: the request protocol hands the
    /// cookie out before the store is written (headers sent early, ids asked for up front).
    pub(crate) fn login_minted(
        &self,
        token: Option<&str>,
        user: &str,
        authn: &Authn,
        ctx: &Context<'_>,
        (new_token, new_id): (Token, SessionId),
        csrf: CsrfSecret,
    ) -> Result<Session> {
        let user = check_user(user)?;
        let inner = &*self.inner;
        let offer = inner.new_offer(ctx.https, inner.clock.now())?;
        let mut session = None;
        if let Some(token) = token {
            for _ in 0..REKEY_ATTEMPTS {
                let now = inner.clock.now();
                // A request that did not prove a bound session's device does not sign in on
                // it: it gets a session of its own below, and the owner's stays untouched.
                let Ok((record, _)) = inner.load_live(token, now, &inner.gate(ctx, true))? else {
                    break;
                };
                let keep_data = self.login_keeps_data(record.user.as_deref(), &user);
                let login = LoginChange {
                    user: user.clone(),
                    expected_user: record.user.clone(),
                    csrf: csrf.clone(),
                    deadline: now.saturating_add(inner.absolute_ms),
                    keep_data,
                    user_agent: ctx.user_agent.map(clip_user_agent),
                    auth: authn.clone(),
                    binding: BindingChange::Replace(offer.as_ref().map(|(s, _)| s.clone())),
                };
                let change = Rekey {
                    new_id,
                    alias_until: None,
                    secure: ctx.https,
                    login: Some(login),
                };
                if let Some(rec) = inner.store.rekey(&record.id, &change, now, inner.idle_ms)? {
                    if record
                        .binding
                        .as_deref()
                        .and_then(BindingState::bound)
                        .is_some()
                    {
                        inner.emit_detail(EventKind::Unbound, &record, "login");
                    }
                    inner.emit(EventKind::Login, &rec, Some(record.id), None);
                    session = Some(inner.session(rec, Some(new_token.clone())));
                    break;
                }
            }
        }
        let mut session = match session {
            Some(s) => s,
            None => {
                let s = inner.insert_with(
                    Some(user.clone()),
                    None,
                    ctx,
                    (new_token, new_id),
                    Some(csrf),
                    |record| {
                        record.auth = Some(authn.clone());
                        record.binding = offer.as_ref().map(|(s, _)| s.clone());
                    },
                )?;
                inner.emit(EventKind::Login, &s.record, None, None);
                s
            }
        };
        session.offer = offer.map(|(_, challenge)| challenge);
        if let Some(max) = inner.config.max_sessions_per_user {
            inner.evict_beyond(&user, max, session.id())?;
        }
        Ok(session)
    }

    /// The signed-in user of the session of `token` proved who they are again (step-up):
    /// the session gets a new token with no grace (the old one dies at once), a new CSRF
    /// secret, a fresh absolute deadline, and `authn` as its authentication, timed now. User,
    /// data and device binding are kept.
    ///
    /// # Errors
    /// `invalid_argument` if the session is anonymous (sign the user in instead);
    /// `store_unavailable`; a dead token is `Ok(Validation::Rejected(_))`.
    pub fn reauthenticate(
        &self,
        token: &str,
        authn: &Authn,
        ctx: &Context<'_>,
    ) -> Result<Validation> {
        let (minted, csrf) = self.inner.mint_with_csrf()?;
        self.reauthenticate_minted(token, authn, ctx, minted, csrf)
    }

    pub(crate) fn reauthenticate_minted(
        &self,
        token: &str,
        authn: &Authn,
        ctx: &Context<'_>,
        (new_token, new_id): (Token, SessionId),
        csrf: CsrfSecret,
    ) -> Result<Validation> {
        let inner = &*self.inner;
        for _ in 0..REKEY_ATTEMPTS {
            let now = inner.clock.now();
            let gate = inner.gate(ctx, true);
            let record = match inner.load_live(token, now, &gate)? {
                Ok((record, _)) => record,
                Err(reason) => return Ok(Validation::Rejected(reason)),
            };
            let Some(user) = record.user.clone() else {
                return Err(Error::invalid_argument(
                    "re-authentication needs a signed-in session (sign the user in instead)",
                ));
            };
            let change = Rekey {
                new_id,
                alias_until: None,
                secure: ctx.https,
                login: Some(LoginChange {
                    user: user.clone(),
                    expected_user: Some(user),
                    csrf: csrf.clone(),
                    deadline: now.saturating_add(inner.absolute_ms),
                    keep_data: true,
                    user_agent: ctx.user_agent.map(clip_user_agent),
                    auth: authn.clone(),
                    binding: BindingChange::Keep,
                }),
            };
            if let Some(rec) = inner.store.rekey(&record.id, &change, now, inner.idle_ms)? {
                inner.emit(EventKind::Reauthenticated, &rec, Some(record.id), None);
                let mut session = inner.session(rec, Some(new_token));
                session.proof = gate.proof_of_admitted(session.record.binding.as_deref(), now);
                return Ok(Validation::Valid(session));
            }
        }
        Err(Error::internal(
            "the session kept changing while being re-authenticated",
        ))
    }

    /// Whether the session of `token` may do something sensitive now: its user authenticated
    /// less than `max_age_ms` ago, with at least `min_level` (step-up; see [`Freshness`]). A
    /// pure read: the session is not touched. A dead token, or a bound session this request
    /// did not prove, is `Anonymous` (sign in first).
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn require_recent(
        &self,
        token: &str,
        max_age_ms: u64,
        min_level: u8,
        ctx: &Context<'_>,
    ) -> Result<Freshness> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        Ok(
            match inner.load_live(token, now, &inner.gate(ctx, false))? {
                Ok((record, _)) => match record.authenticated() {
                    Some(a) => a.freshness(now, max_age_ms, min_level),
                    None => Freshness::Anonymous,
                },
                Err(_) => Freshness::Anonymous,
            },
        )
    }

    /// Offer the signed-in, unbound session of `token` a device binding now (sign-ins offer one
    /// by themselves): the returned challenge goes into the response's
    /// `Secure-Session-Registration` header. `None` when there is nothing to offer: device-bound
    /// sessions are off, the request is not HTTPS, the session is anonymous or already bound.
    ///
    /// # Errors
    /// `store_unavailable`; a rejection if the token has no live session.
    pub fn offer_binding(&self, token: &str, ctx: &Context<'_>) -> Result<Option<String>> {
        let inner = &*self.inner;
        for _ in 0..REKEY_ATTEMPTS {
            let now = inner.clock.now();
            let record = match inner.load_live(token, now, &inner.gate(ctx, false))? {
                Ok((record, _)) => record,
                Err(reason) => return Err(Error::rejected(reason)),
            };
            let bound = record.binding.as_deref().and_then(BindingState::bound);
            if record.user.is_none() || bound.is_some() {
                return Ok(None);
            }
            let Some((state, challenge)) = inner.new_offer(ctx.https, now)? else {
                return Ok(None);
            };
            let swapped = inner.store.swap_binding(
                &record.id,
                record.binding.as_ref(),
                Some(state),
                now,
                inner.idle_ms,
            )?;
            match swapped {
                Swapped::Done => return Ok(Some(challenge)),
                Swapped::Gone => return Err(Error::rejected(Reason::Unknown)),
                Swapped::Changed => {}
            }
        }
        Err(Error::internal(
            "the session kept changing while a binding was offered",
        ))
    }

    /// End the device binding of session `id` (an app's "forget this device"); the session
    /// itself lives on, and the browser's DBSC session ends at its next refresh. Returns whether
    /// there was a binding (or an offer) to end.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn unbind(&self, id: &SessionId) -> Result<bool> {
        let inner = &*self.inner;
        for _ in 0..REKEY_ATTEMPTS {
            let now = inner.clock.now();
            let record = match inner
                .store
                .load_gated(id, now, inner.idle_ms, &Gate::JUDGED)?
            {
                Load::Live { record, .. } => record,
                _ => return Ok(false),
            };
            let Some(state) = record.binding.as_ref() else {
                return Ok(false);
            };
            let was_bound = state.bound().is_some();
            match inner
                .store
                .swap_binding(&record.id, Some(state), None, now, inner.idle_ms)?
            {
                Swapped::Done => {
                    if was_bound {
                        inner.emit_detail(EventKind::Unbound, &record, "app");
                    }
                    return Ok(true);
                }
                Swapped::Gone => return Ok(false),
                Swapped::Changed => {}
            }
        }
        Err(Error::internal(
            "the session kept changing while its binding was ended",
        ))
    }

    /// End the session of `token` (and its alias). Returns whether a session was ended.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn logout(&self, token: &str) -> Result<bool> {
        let inner = &*self.inner;
        let Ok(id) = self.id_of(token) else {
            return Ok(false);
        };
        let removed = inner.store.remove(&id, inner.clock.now(), inner.idle_ms)?;
        Ok(inner.ended(removed, EventKind::Logout))
    }

    /// End the session with public id `id` (administrator action). Returns whether one was ended.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn revoke(&self, id: &SessionId) -> Result<bool> {
        let inner = &*self.inner;
        let removed = inner.store.remove(id, inner.clock.now(), inner.idle_ms)?;
        Ok(inner.ended(removed, EventKind::Revoked))
    }

    /// End every session of `user` (account disabled, password changed). Returns how many.
    ///
    /// # Errors
    /// `invalid_argument` for an empty user; `store_unavailable`.
    pub fn revoke_user(&self, user: &str) -> Result<usize> {
        self.revoke_user_keeping(user, None)
    }

    /// End every session of `user` except the one of `token` ("log out my other devices").
    /// If `token` is not a live session of `user`, every session of `user` ends.
    ///
    /// # Errors
    /// `invalid_argument` for an empty user; `store_unavailable`.
    pub fn revoke_user_except(&self, user: &str, token: &str) -> Result<usize> {
        let keep = self.id_of(token).ok();
        self.revoke_user_keeping(user, keep.as_ref())
    }

    fn revoke_user_keeping(&self, user: &str, keep: Option<&SessionId>) -> Result<usize> {
        let user = check_user(user)?;
        let inner = &*self.inner;
        let removed = inner
            .store
            .remove_user(&user, keep, inner.clock.now(), inner.idle_ms)?;
        Ok(removed
            .into_iter()
            .filter(|r| inner.ended(Some(r.clone()), EventKind::Revoked))
            .count())
    }

    /// End every session (e.g. after a suspected breach). Returns how many. Emits one `revoked`
    /// event with no id.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn revoke_all(&self) -> Result<usize> {
        let inner = &*self.inner;
        let count = inner.store.remove_all(inner.clock.now(), inner.idle_ms)?;
        inner
            .listeners
            .emit(|| Event::new(EventKind::Revoked, None, None, inner.clock.now()));
        Ok(count)
    }

    /// The live sessions of `user`, most recently seen first. Never tokens.
    ///
    /// # Errors
    /// `invalid_argument` for an empty user; `store_unavailable`.
    pub fn list_user(&self, user: &str) -> Result<Vec<SessionInfo>> {
        let user = check_user(user)?;
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut list: Vec<SessionInfo> = inner
            .store
            .list_user(&user)?
            .into_iter()
            .filter(|r| r.check_live(now, inner.idle_ms).is_ok())
            .map(|r| SessionInfo {
                id: r.id,
                created_at: r.created_at,
                last_seen: r.last_seen,
                expires_at: r.expires_at(inner.idle_ms),
                absolute_deadline: r.deadline,
                user_agent: r.user_agent.as_deref().map(str::to_owned),
                secure: r.secure,
                authenticated: r.authenticated(),
                bound_at: r
                    .binding
                    .as_deref()
                    .and_then(BindingState::bound)
                    .map(|b| b.bound_at),
                key_thumbprint: r
                    .binding
                    .as_deref()
                    .and_then(BindingState::bound)
                    .map(|b| b.jkt_text()),
            })
            .collect();
        list.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Set one data key of session `id` (or of the session its in-grace alias points to).
    ///
    /// # Errors
    /// A rejection (`unknown`, `expired_*`) if the session ended — it is never re-created —;
    /// `data_too_large`; `invalid_argument` for an empty key; `store_unavailable`.
    pub fn set(&self, id: &SessionId, key: &str, value: Value) -> Result<()> {
        self.update(id, DataOp::Set(key.to_owned(), value))
    }

    /// Remove one data key of session `id`.
    ///
    /// # Errors
    /// As [`SessionManager::set`].
    pub fn remove_key(&self, id: &SessionId, key: &str) -> Result<()> {
        self.update(id, DataOp::Remove(key.to_owned()))
    }

    /// Replace all data of session `id`.
    ///
    /// # Errors
    /// As [`SessionManager::set`].
    pub fn replace_data(&self, id: &SessionId, data: Data) -> Result<()> {
        self.update(id, DataOp::Replace(data))
    }

    /// Apply one data change to session `id`; returns the data after it.
    ///
    /// # Errors
    /// As [`SessionManager::set`].
    pub fn update_data(&self, id: &SessionId, op: DataOp) -> Result<Data> {
        let inner = &*self.inner;
        let data = inner.store.update_data(
            id,
            &op,
            inner.config.max_data_bytes,
            inner.clock.now(),
            inner.idle_ms,
        )?;
        Ok(data.map(|d| Data::clone(&d)).unwrap_or_default())
    }

    /// Shorten (or restore) the life of session `id` (or of the session its in-grace alias points
    /// to): `max_idle` its own idle timeout (capped at the configured one; None = the configured
    /// one), `end_at` an absolute end (capped at created_at + absolute_timeout; None = that).
    /// Never lengthens the policy.
    ///
    /// The framework equivalents: Django's `set_expiry(300)` is `(Some(5 min), None)`,
    /// `set_expiry(datetime)` is `(None, Some(t))`, `set_expiry(None)` is `(None, None)`. Both
    /// settings are replaced on each call, and a login keeps `max_idle` but restarts the deadline.
    /// The session is looked up as a validate does, so the call counts as a use of it.
    ///
    /// # Errors
    /// A rejection (`unknown`) if the session ended — it is never re-created or revived —;
    /// `invalid_argument` for a zero `max_idle`; `store_unavailable`.
    pub fn set_expiry(
        &self,
        id: &SessionId,
        max_idle: Option<Duration>,
        end_at: Option<UnixMillis>,
    ) -> Result<()> {
        let inner = &*self.inner;
        let max_idle_ms = match max_idle.map(millis) {
            Some(0) => {
                return Err(Error::invalid_argument(
                    "max_idle must be at least 1 ms (end the session with logout or revoke)",
                ));
            }
            // Not shorter than the policy: store nothing, so the session follows the configured
            // timeout even if it is shortened later.
            Some(ms) if ms >= inner.idle_ms => None,
            ms => ms,
        };
        for _ in 0..REKEY_ATTEMPTS {
            let now = inner.clock.now();
            // The deadline is capped by the policy's, which counts from created_at.
            let record = match inner
                .store
                .load_gated(id, now, inner.idle_ms, &Gate::JUDGED)?
            {
                Load::Live { record, .. } => record,
                Load::Expired(..) | Load::Unproven(..) | Load::Missing => {
                    return Err(Error::rejected(Reason::Unknown));
                }
            };
            let policy_end = record.created_at.saturating_add(inner.absolute_ms);
            let change = crate::record::ExpiryChange {
                max_idle_ms,
                deadline: end_at.map_or(policy_end, |end| end.min(policy_end)),
            };
            match inner.store.set_expiry(id, &change, now, inner.idle_ms)? {
                None => return Err(Error::rejected(Reason::Unknown)),
                Some(changed) if changed.created_at == record.created_at => return Ok(()),
                // A login restarted its life in between: the deadline set is earlier than the
                // new policy allows (created_at only moves forward), never later. Set it again.
                Some(_) => {}
            }
        }
        Err(Error::internal(
            "the session kept changing while its expiry was set",
        ))
    }

    fn update(&self, id: &SessionId, op: DataOp) -> Result<()> {
        let inner = &*self.inner;
        inner
            .store
            .update_data(
                id,
                &op,
                inner.config.max_data_bytes,
                inner.clock.now(),
                inner.idle_ms,
            )
            .map(drop)
    }

    /// A fresh masked CSRF token for the session of `token`.
    ///
    /// # Errors
    /// A rejection if the token has no live session; `store_unavailable`.
    pub fn csrf_token(&self, token: &str) -> Result<String> {
        let inner = &*self.inner;
        match inner.load_live(
            token,
            inner.clock.now(),
            &inner.gate(&Context::default(), true),
        )? {
            Ok((record, _)) => record.csrf.mint(),
            Err(reason) => Err(Error::rejected(reason)),
        }
    }

    /// Whether `candidate` is a CSRF token of the live session of `token` (constant time).
    ///
    /// # Errors
    /// `store_unavailable`; a dead session simply gives `false`.
    pub fn verify_csrf(&self, token: &str, candidate: &str) -> Result<bool> {
        let inner = &*self.inner;
        let gate = inner.gate(&Context::default(), true);
        Ok(match inner.load_live(token, inner.clock.now(), &gate)? {
            Ok((record, _)) => record.csrf.verify(candidate),
            Err(_) => false,
        })
    }

    /// Remove expired sessions now; returns how many. Costs what expired, not the store's size.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn sweep(&self) -> Result<usize> {
        self.inner.sweep()
    }

    /// Number of sessions in the store (expired ones not yet swept included).
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn store_len(&self) -> Result<usize> {
        self.inner.store.len()
    }

    /// Whether the store may wait on the network (see [`Store::is_networked`]).
    pub fn store_is_networked(&self) -> bool {
        self.inner.store.is_networked()
    }

    /// Whether other processes see this manager's sessions (see [`Store::is_shared`]): false
    /// for the memory store, which an app with several worker processes must not use.
    pub fn store_is_shared(&self) -> bool {
        self.inner.store.is_shared()
    }

    /// Run `job` on the store's own pool for calls that wait on the network (see
    /// [`Store::offload`]), or hand it back when the store has none (in-process stores).
    ///
    /// ```
    /// let manager = tessera::SessionManager::new(tessera::Config::default()).unwrap();
    /// assert!(manager.offload(Box::new(|| {})).is_err(), "the memory store keeps no pool");
    /// ```
    ///
    /// # Errors
    /// The job itself, unrun, when the store keeps no pool.
    pub fn offload(&self, job: crate::store::Job) -> std::result::Result<(), crate::store::Job> {
        self.inner.store.offload(job)
    }

    /// What about the store's configuration an operator should hear of (see
    /// [`Store::warnings`]): bindings issue each once per process, as warnings.
    ///
    /// ```
    /// let manager = tessera::SessionManager::new(tessera::Config::default()).unwrap();
    /// assert!(manager.store_warnings().is_empty());
    /// ```
    pub fn store_warnings(&self) -> Vec<String> {
        self.inner.store.warnings()
    }

    /// Whether this manager is being used in a process other than the one that made it (a
    /// `fork()` after creation: gunicorn `--preload`, a Node cluster primary that built it).
    /// With a store that is not shared, each worker then holds its own copy of the sessions
    /// made before the fork and none of the others': bindings warn, naming `sqlite://` or
    /// `redis://` as the fix.
    ///
    /// ```
    /// let manager = tessera::SessionManager::new(tessera::Config::default()).unwrap();
    /// assert!(!manager.forked());
    /// ```
    pub fn forked(&self) -> bool {
        self.inner.pid != std::process::id()
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    pub fn set_cookie(&self, token: &Token) -> String {
        cookie::set_cookie(&self.inner.config, token)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        cookie::clear_cookie(&self.inner.config)
    }

    /// The session token in a `Cookie` request header; see [`cookie`] for why two
    /// cookies of the session's name count as none.
    pub fn token_from_cookie_header<'h>(&self, header: &'h str) -> CookieToken<'h> {
        cookie::find_session_cookie(header, &self.inner.config.cookie_name)
    }
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn mint(&self) -> Result<(Token, SessionId)> {
        let token = Token::generate()?;
        let id = self.ids.derive(&token);
        Ok((token, id))
    }

    /// A new session's token, id and CSRF secret, from one OS draw.
    fn mint_with_csrf(&self) -> Result<((Token, SessionId), CsrfSecret)> {
        let (token, csrf) = crate::token::token_and_csrf()?;
        let id = self.ids.derive(&token);
        Ok(((token, id), csrf))
    }

    /// Whether [`SessionManager::validate`] of the live primary `record` writes nothing: no
    /// transport change to record (HTTPS→HTTP marks it insecure, HTTP→HTTPS rotates it) and no
    /// rotation due.
    fn writes_nothing(&self, record: &Record, https: bool, now: UnixMillis) -> bool {
        let due = self
            .rotation_ms
            .is_some_and(|every| now.saturating_sub(record.rotated_at) >= every);
        record.secure == https && !due
    }

    fn session(&self, record: Record, new_token: Option<Token>) -> Session {
        Session {
            record,
            new_token,
            idle_ms: self.idle_ms,
            proof: Proof::Unbound,
            offer: None,
            fields: Fields::ALL,
        }
    }

    /// How a request with `ctx` reads its session. With device-bound sessions off, bindings
    /// are not enforced (turning the feature off must not lock bound users out).
    fn gate(&self, ctx: &Context<'_>, touch: bool) -> Gate {
        match &self.dbsc {
            // Every part: the callers other than `validate` read the record to act on it.
            Some(d) => Gate {
                presented: ctx.bound,
                grace_ms: d.enforce_grace,
                touch,
                fields: Fields::ALL,
            },
            None => Gate {
                touch,
                ..Gate::JUDGED
            },
        }
    }

    /// A registration offer for a session signed in over HTTPS, and its challenge's text.
    fn new_offer(
        &self,
        https: bool,
        now: UnixMillis,
    ) -> Result<Option<(Arc<BindingState>, String)>> {
        let Some(d) = self.dbsc.filter(|_| https) else {
            return Ok(None);
        };
        let challenge = Token::generate()?.expose();
        let slot = Slot {
            hash: challenge_digest(&challenge),
            until: now.saturating_add(d.registration_ttl),
        };
        Ok(Some((Arc::new(BindingState::Offered(slot)), challenge)))
    }

    fn emit_detail(&self, kind: EventKind, record: &Record, detail: &'static str) {
        self.listeners.emit(|| {
            Event::new(kind, Some(record.id), record.user.clone(), self.clock.now())
                .with_detail(detail)
        });
    }

    fn emit(
        &self,
        kind: EventKind,
        record: &Record,
        previous: Option<SessionId>,
        reason: Option<Reason>,
    ) {
        self.listeners.emit(|| {
            let event = Event::new(kind, Some(record.id), record.user.clone(), self.clock.now())
                .with_reason(reason);
            match previous {
                Some(p) => event.with_previous(p),
                None => event,
            }
        });
    }

    fn insert_minted(
        &self,
        user: Option<Arc<str>>,
        data: Option<Arc<Data>>,
        ctx: &Context<'_>,
        minted: (Token, SessionId),
        csrf: Option<CsrfSecret>,
    ) -> Result<Session> {
        self.insert_with(user, data, ctx, minted, csrf, |_| {})
    }

    /// Store a new record, after `fill` has set what only some callers set.
    fn insert_with(
        &self,
        user: Option<Arc<str>>,
        data: Option<Arc<Data>>,
        ctx: &Context<'_>,
        (token, id): (Token, SessionId),
        csrf: Option<CsrfSecret>,
        fill: impl FnOnce(&mut Record),
    ) -> Result<Session> {
        let now = self.clock.now();
        let csrf = match csrf {
            Some(c) => c,
            None => CsrfSecret::generate()?,
        };
        let mut record = Record::new(id, user, now, self.absolute_ms, ctx.https, csrf);
        record.data = data;
        record.user_agent = ctx.user_agent.map(clip_user_agent);
        fill(&mut record);
        let made_room =
            self.store
                .insert_within(record.clone(), self.idle_ms, self.config.max_sessions)?;
        for removed in made_room {
            self.ended(Some(removed), EventKind::Evicted);
        }
        Ok(self.session(record, Some(token)))
    }

    /// Parse, look up and touch; on expiry remove the record and emit the events.
    /// The outer `Result` is the store's; the inner one the token's verdict.
    fn load_live(
        &self,
        token: &str,
        now: UnixMillis,
        gate: &Gate,
    ) -> Result<Result<(Record, bool), Reason>> {
        self.load_live_then(token, now, gate, Err, |record, via_alias| {
            Ok(Ok((record, via_alias)))
        })
    }

    /// [`load_live`](Self::load_live) handing a live record (and whether it was found through
    /// an alias) to `live`, a refusal's reason to `refuse`: inlined, so the record moves
    /// straight from the store's answer to where `live` puts it.
    #[inline(always)]
    fn load_live_then<T>(
        &self,
        token: &str,
        now: UnixMillis,
        gate: &Gate,
        refuse: impl FnOnce(Reason) -> T,
        live: impl FnOnce(Record, bool) -> Result<T>,
    ) -> Result<T> {
        let Ok(token) = Token::parse(token) else {
            self.listeners.emit(|| {
                Event::new(EventKind::Rejected, None, None, now)
                    .with_reason(Some(Reason::Malformed))
            });
            return Ok(refuse(Reason::Malformed));
        };
        let id = self.ids.derive(&token);
        match self.store.load_gated(&id, now, self.idle_ms, gate)? {
            Load::Live { record, via_alias } => live(record, via_alias),
            Load::Unproven(missing, record) => {
                // Not an ending: the owner's browser may still use the session.
                self.emit_detail(EventKind::BindingMissing, &record, missing.code());
                Ok(refuse(Reason::BindingMissing))
            }
            Load::Missing => {
                self.listeners.emit(|| {
                    Event::new(EventKind::Rejected, Some(id), None, now)
                        .with_reason(Some(Reason::Unknown))
                });
                Ok(refuse(Reason::Unknown))
            }
            Load::Expired(reason, record) => {
                // Expiry is final, so removing here cannot race with a revival.
                if self.store.remove(&record.id, now, self.idle_ms)?.is_some() {
                    self.emit(EventKind::Expired, &record, None, Some(reason));
                }
                self.listeners.emit(|| {
                    Event::new(EventKind::Rejected, Some(id), record.user.clone(), now)
                        .with_reason(Some(reason))
                });
                Ok(refuse(reason))
            }
        }
    }

    /// Rekey `record` to a new token with `grace_ms` of alias; `None` if it moved meanwhile.
    fn rotate_record(
        &self,
        record: &Record,
        grace_ms: u64,
        https: bool,
        now: UnixMillis,
    ) -> Result<Option<Session>> {
        self.rotate_minted(record, grace_ms, https, now, self.mint()?)
    }

    fn rotate_minted(
        &self,
        record: &Record,
        grace_ms: u64,
        https: bool,
        now: UnixMillis,
        (token, new_id): (Token, SessionId),
    ) -> Result<Option<Session>> {
        let change = Rekey {
            new_id,
            alias_until: (grace_ms > 0).then(|| now.saturating_add(grace_ms)),
            secure: https,
            login: None,
        };
        Ok(self
            .store
            .rekey(&record.id, &change, now, self.idle_ms)?
            .map(|rec| {
                self.emit(EventKind::Rotated, &rec, Some(record.id), None);
                self.session(rec, Some(token))
            }))
    }

    fn evict_beyond(&self, user: &str, max: usize, keep: &SessionId) -> Result<()> {
        let now = self.clock.now();
        let mut live: Vec<Record> = self
            .store
            .list_user(user)?
            .into_iter()
            .filter(|r| r.id != *keep && r.check_live(now, self.idle_ms).is_ok())
            .collect();
        // `max` includes the session just logged in.
        let excess = (live.len() + 1).saturating_sub(max);
        live.sort_by_key(|r| (r.last_seen, r.created_at));
        for r in live.into_iter().take(excess) {
            let removed = self.store.remove(&r.id, now, self.idle_ms)?;
            self.ended(removed, EventKind::Revoked);
        }
        Ok(())
    }

    /// Report a removal: a session that had already expired counts as expired (not as ended by
    /// this call) and returns false.
    fn ended(&self, removed: Option<crate::record::Removed>, kind: EventKind) -> bool {
        let Some(r) = removed else { return false };
        let now = self.clock.now();
        match r.expired {
            Some(reason) => {
                self.listeners.emit(|| {
                    Event::new(EventKind::Expired, Some(r.id), r.user.clone(), now)
                        .with_reason(Some(reason))
                });
                false
            }
            None => {
                self.listeners
                    .emit(|| Event::new(kind, Some(r.id), r.user.clone(), now));
                true
            }
        }
    }

    fn sweep(&self) -> Result<usize> {
        let now = self.clock.now();
        let removed = self.store.sweep(now, self.idle_ms)?;
        for r in &removed {
            self.listeners.emit(|| {
                Event::new(EventKind::Expired, Some(r.id), r.user.clone(), now)
                    .with_reason(r.expired)
            });
        }
        Ok(removed.len())
    }
}

fn check_user(user: &str) -> Result<Arc<str>> {
    if user.is_empty() {
        return Err(Error::invalid_argument("user id must not be empty"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(Error::invalid_argument(format!(
            "user id must be at most {MAX_USER_LEN} bytes"
        )));
    }
    // C strings end at NUL: a user id with one could not be read back through the C ABI.
    if user.contains('\0') {
        return Err(Error::invalid_argument("user id must not contain NUL"));
    }
    Ok(Arc::from(user))
}

fn clip_user_agent(ua: &str) -> Arc<str> {
    let mut end = ua.len().min(MAX_USER_AGENT_LEN);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(&ua[..end])
}

/// The background sweeper: wakes every interval, sweeps, and stops when the manager drops.
struct Sweeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    fn start(inner: Weak<Inner>, every: Duration) -> Sweeper {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tessera-sweeper".into())
            .spawn(move || {
                let (lock, cvar) = &*signal;
                let mut stopped = lock.lock();
                // Checked before each wait too: the manager may be dropped before this thread runs.
                while !*stopped {
                    let _ = cvar.wait_for(&mut stopped, every);
                    if *stopped {
                        return;
                    }
                    let Some(inner) = inner.upgrade() else { return };
                    // Errors (a store that is down) are retried at the next tick.
                    let _ = inner.sweep();
                }
            })
            .ok();
        Sweeper { stop, thread }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod set_expiry_tests {
    //! `SessionManager::set_expiry`: it shortens or restores, never lengthens.

    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::error::{ErrorKind, Reason};
    use crate::session::{Context, Session, Validation};

    use super::SessionManager;

    const MIN: u64 = 60_000;

    fn manager(clock: &ManualClock) -> SessionManager {
        SessionManager::builder(Config::default())
            .clock(clock.clone())
            .sweep_interval(None)
            .build()
            .expect("default config")
    }

    fn token(s: &Session) -> String {
        s.new_token().expect("new session").expose().to_string()
    }

    fn valid(m: &SessionManager, token: &str) -> Session {
        match m.validate(token, &Context::HTTPS).expect("store") {
            Validation::Valid(s) => s,
            Validation::Rejected(r) => panic!("rejected: {r:?}"),
        }
    }

    #[test]
    fn a_shorter_idle_is_kept_and_a_longer_one_is_the_configured_one() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(Some("ann"), None, &Context::HTTPS).unwrap();
        let (t, id, t0) = (token(&s), *s.id(), s.created_at());
        m.set_expiry(&id, Some(Duration::from_secs(300)), None)
            .unwrap();
        let seen = valid(&m, &t);
        assert_eq!(seen.record().max_idle_ms, Some(5 * MIN));
        assert_eq!(seen.expires_at(), t0 + 5 * MIN);
        assert_eq!(m.list_user("ann").unwrap()[0].expires_at, t0 + 5 * MIN);
        // Two hours "of inactivity" cannot outlast the configured 30 minutes.
        m.set_expiry(&id, Some(Duration::from_secs(7200)), None)
            .unwrap();
        let seen = valid(&m, &t);
        assert_eq!(seen.record().max_idle_ms, None);
        assert_eq!(seen.expires_at(), t0 + 30 * MIN);
        // Exactly the configured timeout is not a timeout of its own either.
        m.set_expiry(&id, Some(Duration::from_secs(1800)), None)
            .unwrap();
        assert_eq!(valid(&m, &t).record().max_idle_ms, None);
    }

    #[test]
    fn the_session_ends_after_its_own_idle_timeout() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(None, None, &Context::HTTPS).unwrap();
        let t = token(&s);
        m.set_expiry(s.id(), Some(Duration::from_secs(300)), None)
            .unwrap();
        clock.advance_millis(5 * MIN - 1);
        valid(&m, &t);
        clock.advance_millis(5 * MIN);
        assert_eq!(
            m.validate(&t, &Context::HTTPS).unwrap().reason(),
            Some(Reason::ExpiredIdle)
        );
    }

    #[test]
    fn end_at_is_capped_at_the_absolute_deadline_and_none_restores_it() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(None, None, &Context::HTTPS).unwrap();
        let (t, id) = (token(&s), *s.id());
        let policy_end = s.created_at() + 12 * 60 * MIN;
        assert_eq!(s.absolute_deadline(), policy_end);
        m.set_expiry(&id, None, Some(policy_end + 60 * MIN))
            .unwrap();
        assert_eq!(valid(&m, &t).absolute_deadline(), policy_end, "capped");
        m.set_expiry(&id, None, Some(s.created_at() + 10 * MIN))
            .unwrap();
        let seen = valid(&m, &t);
        assert_eq!(seen.absolute_deadline(), s.created_at() + 10 * MIN);
        assert_eq!(seen.expires_at(), s.created_at() + 10 * MIN);
        m.set_expiry(&id, None, None).unwrap();
        assert_eq!(valid(&m, &t).absolute_deadline(), policy_end, "restored");
        // An end already past ends the session now.
        m.set_expiry(&id, None, Some(m.now())).unwrap();
        assert_eq!(
            m.validate(&t, &Context::HTTPS).unwrap().reason(),
            Some(Reason::ExpiredAbsolute)
        );
    }

    #[test]
    fn login_keeps_the_own_idle_and_restarts_the_deadline() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(None, None, &Context::HTTPS).unwrap();
        m.set_expiry(
            s.id(),
            Some(Duration::from_secs(300)),
            Some(s.created_at() + MIN * 10),
        )
        .unwrap();
        clock.advance_millis(MIN);
        let signed_in = m.login(Some(&token(&s)), "bea", &Context::HTTPS).unwrap();
        assert_eq!(signed_in.record().max_idle_ms, Some(5 * MIN));
        assert_eq!(
            signed_in.absolute_deadline(),
            m.now() + 12 * 60 * MIN,
            "a login restarts the session's life under the policy"
        );
    }

    #[test]
    fn errors_for_a_zero_idle_and_for_sessions_that_are_gone() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(None, None, &Context::HTTPS).unwrap();
        let (t, id) = (token(&s), *s.id());
        for zero in [Duration::ZERO, Duration::from_micros(999)] {
            let err = m.set_expiry(&id, Some(zero), None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{zero:?}");
        }
        // Nothing changed by the refused calls.
        assert_eq!(valid(&m, &t).record().max_idle_ms, None);

        let other = m.create(None, None, &Context::HTTPS).unwrap();
        assert!(m.logout(&token(&other)).unwrap());
        let err = m.set_expiry(other.id(), None, None).unwrap_err();
        assert_eq!(err.reason(), Some(Reason::Unknown));
        assert_eq!(
            m.store_len().unwrap(),
            1,
            "a logged-out session is not re-created"
        );

        // Expired by its own idle timeout: restoring the configured one does not revive it.
        m.set_expiry(&id, Some(Duration::from_secs(60)), None)
            .unwrap();
        clock.advance_millis(2 * MIN);
        let err = m.set_expiry(&id, None, None).unwrap_err();
        assert_eq!(err.reason(), Some(Reason::Unknown));
        assert_eq!(
            m.validate(&t, &Context::HTTPS).unwrap().reason(),
            Some(Reason::ExpiredIdle)
        );
    }

    #[test]
    fn an_in_grace_alias_sets_the_successors_expiry() {
        let clock = ManualClock::default();
        let m = manager(&clock);
        let s = m.create(None, None, &Context::HTTPS).unwrap();
        let (old, old_id) = (token(&s), *s.id());
        let Validation::Valid(rotated) = m.rotate(&old, &Context::HTTPS).unwrap() else {
            panic!("rotates")
        };
        m.set_expiry(&old_id, Some(Duration::from_secs(300)), None)
            .unwrap();
        assert_eq!(
            valid(&m, &token(&rotated)).record().max_idle_ms,
            Some(5 * MIN)
        );
    }
}
