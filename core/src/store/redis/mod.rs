//! The Redis store: sessions shared by every process, host and language on one Redis.
//!
//! Every primitive is one Lua script (atomic on the server), so a validate of a live session is
//! one round trip, and rotations, logins, logouts and revocations cannot interleave badly between
//! processes. The layout is documented in `docs/redis-schema.md`; each session is a hash keyed by
//! its public id with a schema version field, so any binding — or an operator with
//! `redis-cli` — can read it. No token is ever stored.
//!
//! Time comes from the manager's clock (passed in) so the liveness rule is exactly the memory
//! store's; key TTLs (the remaining life plus a little slack) make Redis itself drop sessions
//! nobody touches again. Sweeping walks a sorted set of ids by the time they could first expire,
//! so it costs what came due.
//!
//! Each process keeps one multiplexed connection with bounded connect and command timeouts; any
//! failure is `store_unavailable` (the request is not authenticated), a broken connection is
//! replaced on the next call, and while Redis refuses connections a circuit breaker fails calls
//! at once and a background probe restores service when Redis is back (`link.rs`). On Redis
//! Cluster every key of a prefix shares the `{prefix}` hash tag's slot, so each script still
//! runs on one node.
//!
//! Device binding (`auth` and `bind` fields, schema version 2): a request's gate is judged in
//! Rust on what a read returned, before anything is written; the scripts that may move `seen`
//! hand bound records back untouched, and `touch.lua` writes only if the binding is still the
//! one judged. `swap_binding` is one compare-and-swap script on the `bind` field alone.

mod codec;
mod link;
mod seen;
mod url;

use std::sync::Arc;

use once_cell::sync::Lazy;
use redis::{Script, Value};

use crate::binding::{BindingState, Gate, Swapped, same_state};
use crate::clock::UnixMillis;
use crate::data::{self, Data, DataOp};
use crate::error::{Error, Reason, Result};
use crate::id::SessionId;
use crate::record::{BindingChange, ExpiryChange, Load, Record, Rekey, Removed};
use crate::store::{ReadDone, Store, touch_slack_ms, unproven};
use link::{Conn, Link, Target};

pub use link::set_io_thread_start;
pub use url::RedisOptions;

/// How long past its due time a key lives in Redis: a margin so Redis never drops a session
/// the manager's clock still considers alive.
const TTL_SLACK_MS: u64 = 1_000;
/// Entries examined per sweep or revoke-all script call, so no call blocks Redis for long.
const BATCH: usize = 500;
/// Optimistic data writes retry this often when another writer changed the session meanwhile.
const WRITE_ATTEMPTS: usize = 16;

macro_rules! script {
    ($file:literal) => {
        Lazy::new(|| {
            Script::new(&format!(
                "local SCHEMA = '{}'\n{}{}",
                codec::SCHEMA_VERSION,
                include_str!("lua/common.lua"),
                include_str!($file)
            ))
        })
    };
}

static LOAD: Lazy<Script> = script!("lua/load.lua");
static TOUCH: Lazy<Script> = script!("lua/touch.lua");
static SWAP_BINDING: Lazy<Script> = script!("lua/swap_binding.lua");
static INSERT: Lazy<Script> = script!("lua/insert.lua");
static REKEY: Lazy<Script> = script!("lua/rekey.lua");
static READ_DATA: Lazy<Script> = script!("lua/read_data.lua");
static WRITE_DATA: Lazy<Script> = script!("lua/write_data.lua");
static SET_EXPIRY: Lazy<Script> = script!("lua/set_expiry.lua");
static MARK_INSECURE: Lazy<Script> = script!("lua/mark_insecure.lua");
static REMOVE: Lazy<Script> = script!("lua/remove.lua");
static REMOVE_USER: Lazy<Script> = script!("lua/remove_user.lua");
static REMOVE_BATCH: Lazy<Script> = script!("lua/remove_batch.lua");
static LIST_USER: Lazy<Script> = script!("lua/list_user.lua");
static SWEEP: Lazy<Script> = script!("lua/sweep.lua");

/// Session storage on Redis. Cheap to share: every call in flight in a process shares one
/// multiplexed connection (see `link.rs`).
///
/// ```no_run
/// use tessera::{Config, SessionManager, store::RedisStore};
/// let store = RedisStore::open("redis://127.0.0.1:6379/0?prefix=myapp")?;
/// let manager = SessionManager::builder(Config::default()).store(store).build()?;
/// # Ok::<(), tessera::Error>(())
/// ```
pub struct RedisStore {
    /// The link of the process that uses the store, made at its first call: a child of `fork()`
    /// gets a link of its own (see [`RedisStore::link`]).
    link: parking_lot::RwLock<Option<Arc<Link>>>,
    target: Target,
    /// `{prefix}`: the start of every key, a hash tag, so that all of them share one cluster
    /// slot and every script runs on one node.
    tag: Arc<str>,
    options: RedisOptions,
    /// This store among the process's (see `seen`).
    number: u64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only what is safe.
        f.debug_struct("RedisStore")
            .field("prefix", &self.options.prefix)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connect lazily to the Redis a `redis://` or `rediss://` URL names; see [`RedisOptions`]
    /// for the query parameters Tessera reads (`prefix`, timeouts, `allow_eviction`).
    ///
    /// # Errors
    /// `invalid_config` for a URL that cannot be used. Reaching Redis is not attempted here, so
    /// an app can start while Redis is down and fail closed until it is back, and a server that
    /// opens its store before forking workers starts no thread and opens no socket.
    pub fn open(url: &str) -> Result<Self> {
        let options = RedisOptions::parse(url)?;
        if options.tls {
            // rustls needs one process-wide crypto provider; another library may have set it.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        Ok(RedisStore {
            link: parking_lot::RwLock::new(None),
            target: Target::new(&options)?,
            tag: Arc::from(format!("{{{}}}", options.prefix)),
            options,
            number: seen::store_number(),
        })
    }

    /// The link of process `pid` (the caller's). A link made before a `fork()` holds a socket
    /// the parent goes on using, and a runtime whose thread the child does not have: a child
    /// that used it would read replies meant for the parent, or wait forever. So the first call
    /// in a new process makes a link of its own and abandons the inherited one without closing
    /// or joining anything (closing could still write on the parent's socket: a TLS
    /// close_notify; joining would wait for a thread that is not there).
    fn link(&self, pid: u32) -> Result<Arc<Link>> {
        if let Some(link) = self.link.read().as_ref().filter(|l| l.pid() == pid) {
            return Ok(Arc::clone(link));
        }
        let mut slot = self.link.write();
        if let Some(link) = slot.as_ref().filter(|l| l.pid() == pid) {
            return Ok(Arc::clone(link));
        }
        let fresh = Arc::new(Link::new(pid, self.target.clone(), &self.options)?);
        if let Some(inherited) = slot.replace(Arc::clone(&fresh)) {
            std::mem::forget(inherited);
        }
        Ok(fresh)
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.link(std::process::id())?.call(f)
    }

    fn invoke(&self, script: &'static Script, args: &[&dyn ToArg]) -> Result<Value> {
        let mut call = script.prepare_invoke();
        // The declared keys route the script to the node that holds the tag's slot (the script
        // derives its other keys, all in that slot, from the tag). The second never exists:
        // while a cluster moves the slot, Redis refuses a script whose declared keys are partly
        // missing (TRYAGAIN), so no script runs half-way on a half-moved slot, where a write to
        // a key that has moved would fail after earlier writes took effect (scripts have no
        // rollback). Plain reads still answer during the move.
        call.key(format!("{}:due", self.tag));
        call.key(format!("{}:never", self.tag));
        call.arg(&*self.tag);
        for a in args {
            a.push(&mut call);
        }
        self.run(|mut conn| async move { call.invoke_async(&mut conn).await })
    }

    /// Move `seen` of the live session primary under `id` to `now` if its `bind` field is
    /// still `bind` (`""`: none) and `seen` still lags: whether it was written.
    fn touch(&self, id: &SessionId, bind: &str, now: UnixMillis, idle_ms: u64) -> Result<bool> {
        let bind = bind.to_owned();
        match self.invoke(&TOUCH, &[&hex(id), &now, &idle_ms, &TTL_SLACK_MS, &bind])? {
            Value::Int(n) => Ok(n == 1),
            other => Err(codec::unexpected("touch", &other)),
        }
    }

    /// Ping Redis: `store_unavailable` if it cannot be reached within the timeouts.
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn ping(&self) -> Result<()> {
        self.run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
    }
}

/// Script arguments of mixed types.
trait ToArg {
    fn push(&self, call: &mut redis::ScriptInvocation<'_>);
}

impl ToArg for str {
    fn push(&self, call: &mut redis::ScriptInvocation<'_>) {
        call.arg(self);
    }
}

impl ToArg for String {
    fn push(&self, call: &mut redis::ScriptInvocation<'_>) {
        call.arg(self.as_str());
    }
}

impl ToArg for u64 {
    fn push(&self, call: &mut redis::ScriptInvocation<'_>) {
        call.arg(*self);
    }
}

/// What one read of a session's hash decides, the gate judged before any write.
enum Read {
    /// Settled without a write.
    Settled(Load),
    /// Live and admitted, but its `seen` lags by more than the touch slack: a write is due.
    Touch { record: Record, via_alias: bool },
    /// No hash under this id (an alias, or no session): a script must look.
    Absent,
}

/// Judge a session's hash as a plain `HGETALL` read it (see [`judge`]).
fn judge_hash(
    hash: &Value,
    id: &SessionId,
    now: UnixMillis,
    idle_ms: u64,
    gate: &Gate,
) -> Result<Read> {
    if matches!(hash, Value::Array(fields) if fields.is_empty()) {
        return Ok(Read::Absent);
    }
    let mut record = codec::decode(Some(hash), "load")?;
    record.id = *id;
    Ok(judge(record, now, idle_ms, gate, false))
}

/// The rule of `Store::load_gated` for a record read without writing: liveness first, then the
/// gate (a bound record the request did not prove is answered untouched), then whether `seen`
/// must move — only for an admitted record, and only if `gate.touch`.
fn judge(mut record: Record, now: UnixMillis, idle_ms: u64, gate: &Gate, via_alias: bool) -> Read {
    if let Err(reason) = record.check_live(now, idle_ms) {
        return Read::Settled(Load::Expired(reason, record));
    }
    if let Some(missing) = unproven(&record, gate, now) {
        return Read::Settled(Load::Unproven(missing, record));
    }
    if !gate.touch {
        return Read::Settled(Load::Live { record, via_alias });
    }
    if now.saturating_sub(record.last_seen) <= touch_slack_ms(record.idle_ms(idle_ms)) {
        record.last_seen = record.last_seen.max(now);
        return Read::Settled(Load::Live { record, via_alias });
    }
    Read::Touch { record, via_alias }
}

/// The `bind` field of a hash as stored (`""` = none): what `touch.lua` compares.
fn bind_text(hash: &Value) -> String {
    codec::field(hash, "bind")
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn hex(id: &SessionId) -> String {
    id.to_string()
}

impl Store for RedisStore {
    fn insert_within(
        &self,
        record: Record,
        idle_ms: u64,
        max_sessions: Option<usize>,
    ) -> Result<Vec<Removed>> {
        let max = max_sessions.map_or(0, |m| m as u64);
        let anonymous = record.user.is_none();
        let mut args: Vec<Box<dyn ToArg>> = vec![
            Box::new(hex(&record.id)),
            Box::new(record.last_seen),
            Box::new(idle_ms),
            Box::new(TTL_SLACK_MS),
            Box::new(max),
        ];
        for (name, value) in codec::encode(&record) {
            args.push(Box::new(name.to_owned()));
            args.push(Box::new(value));
        }
        let refs: Vec<&dyn ToArg> = args.iter().map(|a| &**a).collect();
        let reply = self.invoke(&INSERT, &refs)?;
        let parts = codec::array(&reply, "insert")?;
        match codec::int(parts.first(), "insert")? {
            1 => parts[1..]
                .chunks(2)
                .map(|pair| {
                    Ok(Removed {
                        id: codec::id(pair.first())?,
                        user: None,
                        expired: codec::reason(pair.get(1))?,
                    })
                })
                .collect(),
            0 => Err(Error::internal("session id collision")),
            2 if anonymous => Err(crate::store::full(max_sessions.unwrap_or(0))),
            _ => Err(codec::unexpected("insert", &reply)),
        }
    }

    fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<BindingState>>,
        new: Option<Arc<BindingState>>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Swapped> {
        let mut expected_text = expected.map(|b| b.to_stored()).unwrap_or_default();
        let new_text = new
            .as_deref()
            .map(BindingState::to_stored)
            .unwrap_or_default();
        // The script compares texts; `to_stored` is deterministic, so equal states have equal
        // texts. A stored text that differs yet decodes to the expected state (written by
        // another encoder) is compared by value here, and the swap retried against it exactly.
        for _ in 0..2 {
            let reply = self.invoke(
                &SWAP_BINDING,
                &[&hex(id), &now, &idle_ms, &expected_text, &new_text],
            )?;
            let parts = codec::array(&reply, "swap_binding")?;
            match codec::int(parts.first(), "swap_binding")? {
                1 => return Ok(Swapped::Done),
                0 => return Ok(Swapped::Gone),
                2 => {
                    let stored = codec::text(parts.get(1), "swap_binding")?;
                    let state = match stored.as_str() {
                        "" => None,
                        text => Some(Arc::new(BindingState::from_stored(text)?)),
                    };
                    if stored == expected_text || !same_state(state.as_ref(), expected) {
                        return Ok(Swapped::Changed);
                    }
                    expected_text = stored;
                }
                _ => return Err(codec::unexpected("swap_binding", &reply)),
            }
        }
        Ok(Swapped::Changed)
    }

    fn load_gated(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        gate: &Gate,
    ) -> Result<Load> {
        // The common case, a live session whose `seen` need not move, is one HGETALL: no script
        // runs (a script costs Redis several times a plain read). The gate is judged here, in
        // Rust, before anything is written: a bound session reaches a touching script only
        // once the request proved its device, and `touch.lua` writes only if the binding is
        // still the one judged. The `load` script handles the rest: an alias, a missing
        // session, a `seen` that changed meanwhile.
        let key = format!("{}:s:{}", self.tag, hex(id));
        let hash = self.run(move |mut conn| async move {
            redis::cmd("HGETALL")
                .arg(key)
                .query_async::<Value>(&mut conn)
                .await
        })?;
        let hash = codec::flatten(hash);
        // A data write of this request starts from this read (see `seen`).
        let remember = |record: &Record| {
            let version = codec::field(&hash, "ver")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| "0".to_owned());
            seen::remember(self.number, *id, version, record.data.clone());
        };
        match judge_hash(&hash, id, now, idle_ms, gate)? {
            Read::Settled(load) => {
                if let Load::Live { record, .. } = &load {
                    remember(record);
                }
                return Ok(load);
            }
            Read::Touch { mut record, .. } => {
                if self.touch(id, &bind_text(&hash), now, idle_ms)? {
                    record.last_seen = now;
                    remember(&record);
                    return Ok(Load::Live {
                        record,
                        via_alias: false,
                    });
                }
                // Changed since the read (touched, rotated, rebound, ended): look again.
            }
            Read::Absent => {}
        }
        let touch = if gate.touch { "1" } else { "0" }.to_owned();
        let reply = self.invoke(&LOAD, &[&hex(id), &now, &idle_ms, &TTL_SLACK_MS, &touch])?;
        let parts = codec::array(&reply, "load")?;
        let status = codec::int(parts.first(), "load")?;
        let via_alias = codec::int(parts.get(1), "load")? == 1;
        match status {
            0 => Ok(Load::Missing),
            1 => {
                let mut record = codec::decode(parts.get(3), "load")?;
                record.id = codec::id(parts.get(4))?;
                record.last_seen = record.last_seen.max(now);
                Ok(Load::Live { record, via_alias })
            }
            2 => {
                let reason = codec::reason(parts.get(2))?.unwrap_or(Reason::Unknown);
                let mut record = codec::decode(parts.get(3), "load")?;
                record.id = codec::id(parts.get(4))?;
                Ok(Load::Expired(reason, record))
            }
            3 => {
                // Live and untouched: bound (or offered), or a read that must not touch.
                let mut record = codec::decode(parts.get(3), "load")?;
                record.id = codec::id(parts.get(4))?;
                match judge(record, now, idle_ms, gate, via_alias) {
                    Read::Settled(load) => Ok(load),
                    Read::Touch {
                        mut record,
                        via_alias,
                    } => {
                        let bind = parts.get(3).map(bind_text).unwrap_or_default();
                        // Not written: the binding changed between the two scripts; the
                        // request was admitted at the read, so it is answered as read.
                        if self.touch(&record.id, &bind, now, idle_ms)? {
                            record.last_seen = now;
                        }
                        Ok(Load::Live { record, via_alias })
                    }
                    Read::Absent => Err(codec::unexpected("load", &reply)),
                }
            }
            _ => Err(codec::unexpected("load", &reply)),
        }
    }

    fn read_live_then(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        done: ReadDone,
    ) -> std::result::Result<(), ReadDone> {
        let Ok(link) = self.link(std::process::id()) else {
            return Err(done);
        };
        let Some(current) = link.ready() else {
            return Err(done);
        };
        let key = format!("{}:s:{}", self.tag, hex(id));
        let id = *id;
        link.start(
            current,
            move |mut conn| async move {
                redis::cmd("HGETALL")
                    .arg(key)
                    .query_async::<Value>(&mut conn)
                    .await
            },
            move |hash: Result<Value>| {
                // A record with any binding state is left to the blocking `load`, which judges
                // the request's bound cookie.
                let live = hash
                    .and_then(|h| judge_hash(&codec::flatten(h), &id, now, idle_ms, &Gate::NONE))
                    .ok()
                    .and_then(|read| match read {
                        Read::Settled(Load::Live { record, .. }) => Some(record),
                        _ => None,
                    })
                    .filter(|record| record.binding.is_none());
                done(live);
            },
        );
        Ok(())
    }

    fn rekey(
        &self,
        id: &SessionId,
        change: &Rekey,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        let alias = change
            .alias_until
            .map(|u| u.to_string())
            .unwrap_or_default();
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let (login, user, expected, csrf, deadline, keep, ua) = match &change.login {
            Some(l) => (
                "1".to_owned(),
                l.user.to_string(),
                l.expected_user.as_deref().unwrap_or("").to_owned(),
                codec::hex_bytes(l.csrf.as_bytes()),
                l.deadline.to_string(),
                flag(l.keep_data),
                l.user_agent.as_deref().unwrap_or("").to_owned(),
            ),
            None => Default::default(),
        };
        // A rotation keeps both (RENAME carries them); a login sets the authentication and
        // does to the binding what it says.
        let (auth, binding, bind) = match &change.login {
            Some(l) => {
                let (what, text) = match &l.binding {
                    BindingChange::Keep => ("keep", String::new()),
                    BindingChange::Replace(None) => ("drop", String::new()),
                    BindingChange::Replace(Some(b)) => ("set", b.to_stored()),
                };
                (l.auth.to_stored(), what.to_owned(), text)
            }
            None => Default::default(),
        };
        let reply = self.invoke(
            &REKEY,
            &[
                &hex(id),
                &hex(&change.new_id),
                &now,
                &idle_ms,
                &TTL_SLACK_MS,
                &alias,
                &flag(change.secure),
                &login,
                &user,
                &expected,
                &csrf,
                &deadline,
                &keep,
                &ua,
                &auth,
                &binding,
                &bind,
            ],
        )?;
        match &reply {
            Value::Array(fields) if fields.is_empty() => Ok(None),
            _ => {
                let mut record = codec::decode(Some(&reply), "rekey")?;
                record.id = change.new_id;
                Ok(Some(record))
            }
        }
    }

    fn update_data(
        &self,
        id: &SessionId,
        op: &DataOp,
        max_bytes: usize,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Arc<Data>>> {
        // The first attempt may start from this thread's read of the session (its validate),
        // saving a round trip; a changed version sends it to the loop's fresh read.
        let mut seen = seen::take(self.number, id);
        for _ in 0..WRITE_ATTEMPTS {
            let (target, version, current) = match seen.take() {
                Some(s) => (hex(id), s.version, s.data),
                None => {
                    let reply = self.invoke(&READ_DATA, &[&hex(id), &now, &idle_ms])?;
                    let parts = codec::array(&reply, "read_data")?;
                    if codec::int(parts.first(), "read_data")? != 1 {
                        return Err(Error::rejected(Reason::Unknown));
                    }
                    (
                        codec::text(parts.get(1), "read_data")?,
                        codec::text(parts.get(2), "read_data")?,
                        codec::data(parts.get(3))?,
                    )
                }
            };
            let next = data::apply(current.as_ref(), op, max_bytes)?;
            let encoded = next
                .as_deref()
                .map(|d| serde_json::to_string(d).unwrap_or_default())
                .unwrap_or_default();
            let written =
                self.invoke(&WRITE_DATA, &[&target, &version, &encoded, &now, &idle_ms])?;
            match written {
                Value::Int(1) => return Ok(next),
                Value::Int(0) => return Err(Error::rejected(Reason::Unknown)),
                Value::Int(-1) => continue,
                other => return Err(codec::unexpected("write_data", &other)),
            }
        }
        Err(Error::store_unavailable(
            "redis: the session kept changing while its data was written",
        ))
    }

    fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool> {
        match self.invoke(&MARK_INSECURE, &[&hex(id), &now, &idle_ms])? {
            Value::Int(n) => Ok(n == 1),
            other => Err(codec::unexpected("mark_insecure", &other)),
        }
    }

    fn set_expiry(
        &self,
        id: &SessionId,
        change: &ExpiryChange,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        let max_idle = change
            .max_idle_ms
            .map(|ms| ms.to_string())
            .unwrap_or_default();
        let reply = self.invoke(
            &SET_EXPIRY,
            &[
                &hex(id),
                &now,
                &idle_ms,
                &TTL_SLACK_MS,
                &max_idle,
                &change.deadline,
            ],
        )?;
        let parts = codec::array(&reply, "set_expiry")?;
        if parts.is_empty() {
            return Ok(None);
        }
        let mut record = codec::decode(parts.get(1), "set_expiry")?;
        record.id = codec::id(parts.first())?;
        Ok(Some(record))
    }

    fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>> {
        let reply = self.invoke(&REMOVE, &[&hex(id), &now, &idle_ms])?;
        let parts = codec::array(&reply, "remove")?;
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Removed {
            id: codec::id(parts.first())?,
            user: codec::user(parts.get(1))?,
            expired: codec::reason(parts.get(2))?,
        }))
    }

    fn remove_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Vec<Removed>> {
        let keep = keep.map(hex).unwrap_or_default();
        let reply = self.invoke(&REMOVE_USER, &[&user.to_owned(), &keep, &now, &idle_ms])?;
        let parts = codec::array(&reply, "remove_user")?;
        let owner: Arc<str> = Arc::from(user);
        parts
            .chunks(2)
            .map(|pair| {
                Ok(Removed {
                    id: codec::id(pair.first())?,
                    user: Some(Arc::clone(&owner)),
                    expired: codec::reason(pair.get(1))?,
                })
            })
            .collect()
    }

    fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize> {
        let mut alive = 0;
        loop {
            let reply = self.invoke(&REMOVE_BATCH, &[&now, &idle_ms, &(BATCH as u64)])?;
            let parts = codec::array(&reply, "remove_batch")?;
            alive += usize::try_from(codec::int(parts.get(1), "remove_batch")?).unwrap_or(0);
            if codec::int(parts.first(), "remove_batch")? == 0 {
                return Ok(alive);
            }
        }
    }

    fn list_user(&self, user: &str) -> Result<Vec<Record>> {
        let reply = self.invoke(&LIST_USER, &[&user.to_owned()])?;
        let parts = codec::array(&reply, "list_user")?;
        parts
            .chunks(2)
            .map(|pair| {
                let mut record = codec::decode(pair.get(1), "list_user")?;
                record.id = codec::id(pair.first())?;
                Ok(record)
            })
            .collect()
    }

    fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
        let mut removed = Vec::new();
        loop {
            let reply = self.invoke(&SWEEP, &[&now, &idle_ms, &(BATCH as u64)])?;
            let parts = codec::array(&reply, "sweep")?;
            let Some((examined, triples)) = parts.split_last() else {
                return Err(codec::unexpected("sweep", &reply));
            };
            for t in triples.chunks(3) {
                removed.push(Removed {
                    id: codec::id(t.first())?,
                    user: codec::user(t.get(1))?,
                    expired: codec::reason(t.get(2))?,
                });
            }
            if codec::int(Some(examined), "sweep")? < BATCH as i64 {
                return Ok(removed);
            }
        }
    }

    fn len(&self) -> Result<usize> {
        let key = format!("{}:due", self.tag);
        self.run(|mut conn| async move {
            redis::cmd("ZCARD")
                .arg(&key)
                .query_async::<usize>(&mut conn)
                .await
        })
    }

    fn is_networked(&self) -> bool {
        true
    }

    fn offload(&self, job: crate::store::Job) -> std::result::Result<(), crate::store::Job> {
        match self.link(std::process::id()) {
            Ok(link) => {
                link.spawn_blocking(job);
                Ok(())
            }
            Err(_) => Err(job),
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.options.prefix_given {
            warnings.push(format!(
                "the Redis store URL names no prefix, so sessions are kept under the default \
                 `{}:`, which every app on this Redis that names none shares: each would accept \
                 the others' session cookies. Give each app its own: add ?prefix=<app> to the URL",
                self.tag
            ));
        }
        // What the server's configuration showed, once this process has connected (a store
        // connects at its first call, never at opening: see `RedisStore::open`).
        if let Some(link) = self
            .link
            .read()
            .as_ref()
            .filter(|l| l.pid() == std::process::id())
        {
            warnings.extend(link.notes());
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn opening_does_not_connect_and_calls_fail_closed_fast() {
        // Port 1 on loopback refuses at once; nothing listens there.
        let store = RedisStore::open("redis://127.0.0.1:1/0?connect_timeout_ms=200").unwrap();
        let started = std::time::Instant::now();
        let err = store.len().unwrap_err();
        assert_eq!(err.code(), "store_unavailable");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!format!("{store:?}").contains("redis://"));
    }

    #[test]
    fn a_url_without_a_prefix_earns_a_warning() {
        let bare = RedisStore::open("redis://127.0.0.1:1/0").unwrap();
        let warnings = bare.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("?prefix=<app>"), "{warnings:?}");
        let named = RedisStore::open("redis://127.0.0.1:1/0?prefix=shop").unwrap();
        assert!(named.warnings().is_empty());
    }

    #[test]
    fn a_child_of_fork_never_uses_the_parents_link() {
        // Nothing listens on port 1; links are lazy, so nothing connects either.
        let store = RedisStore::open("redis://127.0.0.1:1/0?prefix=t").unwrap();
        let parent = store.link(100).unwrap();
        assert!(Arc::ptr_eq(&parent, &store.link(100).unwrap()));
        let child = store.link(101).unwrap();
        assert_eq!(child.pid(), 101);
        assert!(!Arc::ptr_eq(&parent, &child));
        assert!(Arc::ptr_eq(&child, &store.link(101).unwrap()));
    }
}
