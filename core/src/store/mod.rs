//! Where session records live.
//!
//! A [`Store`] offers a handful of *atomic* primitives; the [`SessionManager`](crate::SessionManager)
//! composes them into the lifecycle. Each primitive is atomic on its own (a lock, on SQLite a
//! transaction, on Redis a script), which is what lets the lifecycle promise that no
//! interleaving of requests — or of processes sharing a store — resurrects an ended session or
//! keeps a revoked one alive.
//!
//! Every store enforces the idle timeout itself, because only the store can refuse to touch an
//! idle-expired record atomically (the memory store with a compare-and-swap on `last_seen`,
//! Redis with key TTLs). The rule it applies is [`check_live`](crate::record::check_live), shared.
//!
//! Two rules every implementation follows:
//! - An *alias* (an id rotated away within its grace window) resolves only to a record that is
//!   currently *primary* under its target id. A chain of two aliases resolves to nothing, so only
//!   the immediately preceding token ever works.
//! - A record that is expired stays expired: no primitive touches, rekeys or writes to it.
//! - A record's own idle timeout ([`Record::max_idle_ms`]) tightens the configured `idle_ms` in
//!   every liveness check, expiry index and TTL ([`Record::idle_ms`]).
//!
//! Implementations are checked by [`store_conformance_tests!`](crate::store_conformance_tests).

use std::sync::Arc;

use crate::binding::{BindingState, Gate, Missing, Swapped};
use crate::clock::UnixMillis;
use crate::data::{Data, DataOp};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::record::{ExpiryChange, Load, Record, Rekey, Removed};

pub mod conformance;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisOptions, RedisStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};

/// Work handed to [`Store::offload`].
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The `store_full` refusal of a new anonymous session at `max` (see [`Store::insert_within`]).
pub(crate) fn full(max: usize) -> Error {
    Error::store_full(format!(
        "the store holds max_sessions ({max}) sessions and none of them may make room \
         (signed-in sessions are never evicted): no anonymous session can be made until some end"
    ))
}

/// What [`Store::read_live_then`] calls with its answer, on the store's I/O thread.
pub type ReadDone = Box<dyn FnOnce(Option<Record>) + Send + 'static>;

/// How far a store that pays for writes lets the stored `last_seen` lag behind the last use:
/// 1/64 of the effective idle timeout, at most 60 s (28 s under the default 30 min idle).
///
/// Such a store writes `last_seen` on a lookup only once it has moved by more than this, so
/// validate is a read in the common case, and judges liveness on the stored value: a session
/// may expire up to this much *early*, never late.
///
/// ```
/// assert_eq!(tessera::store::touch_slack_ms(30 * 60_000), 28_125);
/// assert_eq!(tessera::store::touch_slack_ms(12 * 3_600_000), 60_000);
/// assert_eq!(tessera::store::touch_slack_ms(50), 0);
/// ```
pub fn touch_slack_ms(idle_ms: u64) -> u64 {
    (idle_ms / 64).min(60_000)
}

/// For a store that reads a live record before it decides whether to write: why `gate` does
/// not admit `record` (the request did not prove the session's device), in which case the store
/// answers [`Load::Unproven`] without touching it.
pub fn unproven(record: &Record, gate: &Gate, now: UnixMillis) -> Option<Missing> {
    gate.admit(record.binding.as_deref(), now).err()
}

/// Open the store a URL names: `memory://` (optionally `memory://?shards=N`),
/// `sqlite:///absolute/path.db` (see [`SqliteOptions`]), or `redis://…` / `rediss://…` /
/// `redis+cluster://h1:p1,h2:p2` (see [`RedisOptions`]).
///
/// ```
/// let store = tessera::store::open("memory://?shards=8").unwrap();
/// assert_eq!(store.len().unwrap(), 0);
/// assert_eq!(tessera::store::open("ftp://x").err().map(|e| e.code()), Some("invalid_config"));
/// ```
///
/// # Errors
/// `invalid_config` for a URL Tessera cannot use, naming what is accepted.
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    let (scheme, rest) = url.split_once("://").unwrap_or((url, ""));
    match scheme {
        "memory" => {
            let shards =
                match rest
                    .strip_prefix('?')
                    .or(if rest.is_empty() { Some("") } else { None })
                {
                    Some("") => None,
                    Some(query) => match query.strip_prefix("shards=").map(str::parse::<usize>) {
                        Some(Ok(n)) if n > 0 => Some(n),
                        _ => {
                            return Err(Error::invalid_config(
                                "store: memory:// accepts only ?shards=N with N ≥ 1",
                            ));
                        }
                    },
                    None => {
                        return Err(Error::invalid_config(
                            "store: memory:// takes no host or path (only ?shards=N)",
                        ));
                    }
                };
            Ok(Box::new(
                shards.map_or_else(MemoryStore::new, MemoryStore::with_shards),
            ))
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Box::new(SqliteStore::open(url)?)),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(Error::invalid_config(
            "store: this build of Tessera has no SQLite support (feature \"sqlite\")",
        )),
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => {
            Ok(Box::new(RedisStore::open(url)?))
        }
        #[cfg(not(feature = "redis"))]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Err(Error::invalid_config(
            "store: this build of Tessera has no Redis support (feature \"redis\")",
        )),
        _ => Err(Error::invalid_config(format!(
            "store: unsupported URL scheme {:?}; use memory://, sqlite:// or redis://",
            scheme
        ))),
    }
}

/// Storage for session records. Implementations are shared between threads (`Send + Sync`).
///
/// Times are passed in by the manager (from its [`Clock`](crate::Clock)) so a store never reads
/// the time itself, and `idle_ms` is the configured idle timeout.
pub trait Store: Send + Sync + 'static {
    /// Add a freshly created record under its id (ids are random: a clash is an `internal` error),
    /// keeping the store's live sessions within `max_sessions`.
    ///
    /// At the cap, the store first ends *anonymous* sessions until there is room: expired ones,
    /// then the least recently seen (the soonest to expire idle); it returns what it ended
    /// (`expired: None` for an eviction). Signed-in sessions are never ended for it. A new
    /// anonymous record that still finds no room is refused; a signed-in one (a sign-in) is
    /// added anyway. Atomic with respect to every other primitive on the store's own
    /// concurrency terms: concurrent inserts may overshoot the cap by at most their number.
    ///
    /// # Errors
    /// `store_full` for an anonymous record that finds no room; `store_unavailable` if the store
    /// cannot be reached.
    fn insert_within(
        &self,
        record: Record,
        idle_ms: u64,
        max_sessions: Option<usize>,
    ) -> Result<Vec<Removed>>;

    /// [`insert_within`](Self::insert_within) without a cap.
    ///
    /// # Errors
    /// As `insert_within`.
    fn insert(&self, record: Record, idle_ms: u64) -> Result<()> {
        self.insert_within(record, idle_ms, None).map(drop)
    }

    /// Look `id` up — following an alias inside its grace window — and, if the record is alive
    /// and `gate` admits it (see [`Gate::admit`]), move its `last_seen` to `now` (unless
    /// `gate.touch` is false). Never touches an expired record, nor a bound one the request
    /// did not prove ([`Load::Unproven`]). [`unproven`] applies the rule for stores that read
    /// before they write.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn load_gated(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        gate: &Gate,
    ) -> Result<Load>;

    /// [`load_gated`](Self::load_gated) for a request that carries no bound cookie.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn load(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Load> {
        self.load_gated(id, now, idle_ms, &Gate::NONE)
    }

    /// Replace the device binding state of the live session primary under `id`, if it is still
    /// `expected` (compared by value): the one write a registration, a refresh or an unbind
    /// makes. Atomic with every other primitive; never touches `last_seen`, the data or
    /// anything else, never follows an alias, never revives a session.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<BindingState>>,
        new: Option<Arc<BindingState>>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Swapped>;

    /// Move the live record that is primary under `id` to `change.new_id`, leaving `id` as an alias
    /// until `change.alias_until` (or nowhere), and apply the login change if any. Also ends the
    /// previous alias. Returns the record as changed, or `None` if `id` is not (or no longer) a
    /// live primary record — for a login, also if its user is not `expected_user`.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn rekey(
        &self,
        id: &SessionId,
        change: &Rekey,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>>;

    /// Change the data of the live session `id` (following an alias), returning the new data.
    ///
    /// # Errors
    /// `unknown` / `expired_*` rejections if the session is gone — never re-created —,
    /// `data_too_large`, `invalid_argument`, `store_unavailable`.
    fn update_data(
        &self,
        id: &SessionId,
        op: &DataOp,
        max_bytes: usize,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Arc<Data>>>;

    /// Record that the live session `id` names (directly or through an in-grace alias) was just
    /// used over plain HTTP: its token may have been seen in clear, so its `secure` flag becomes
    /// false and the next HTTPS request rotates it with no grace. Never touches, re-creates or
    /// revives anything else. Returns whether a live session was marked.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool>;

    /// Set the per-session expiry of the live session `id` (following an in-grace alias): its own
    /// idle timeout and its absolute deadline. Never touches, re-creates or revives an
    /// ended/expired record. Returns the record as changed, or None if gone.
    ///
    /// The change is applied as given (the manager makes sure it never lengthens the policy);
    /// `last_seen` is not moved. A deadline or idle timeout that is already past leaves the
    /// session expired, and a sweep at or after that time removes it.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn set_expiry(
        &self,
        id: &SessionId,
        change: &ExpiryChange,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>>;

    /// Remove the session `id` (or the session an in-grace alias `id` points to), whether or not it
    /// has expired; [`Removed::expired`] says whether it already had.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>>;

    /// Remove every session of `user` except the one `keep` names (directly or as an in-grace
    /// alias). Atomic with respect to rotations and logins of that user.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn remove_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Vec<Removed>>;

    /// Remove every session; returns how many were still alive.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize>;

    /// The records of `user`, expired ones included (the manager filters).
    ///
    /// # Errors
    /// `store_unavailable`.
    fn list_user(&self, user: &str) -> Result<Vec<Record>>;

    /// Remove expired records (and spent aliases). Cost is proportional to what came due, not
    /// to the number of records.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>>;

    /// Number of session records held (aliases not counted).
    ///
    /// # Errors
    /// `store_unavailable`.
    fn len(&self) -> Result<usize>;

    /// Whether the store is empty.
    ///
    /// # Errors
    /// `store_unavailable`.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Whether calls may wait on the network (Redis) rather than only on in-process locks.
    /// Bindings with an event loop (Node) offer synchronous forms only when this is false.
    fn is_networked(&self) -> bool {
        false
    }

    /// Whether other processes (workers of one app, other hosts) see the same sessions. A
    /// store that is not shared (the memory store) cannot serve an app with several worker
    /// processes: each would know only the sessions it made.
    fn is_shared(&self) -> bool {
        true
    }

    /// Run `job` on a pool of threads this store keeps for calls that wait on the network, if it
    /// has one; otherwise hand it back. Bindings with an event loop (Node) use it so that many
    /// calls wait at once without their own thread pool (libuv's has 4 threads), all sharing the
    /// store's one pipelined connection.
    fn offload(&self, job: Job) -> std::result::Result<(), Job> {
        Err(job)
    }

    /// Start reading `id` without waiting for it, and call `done` with the record when the read
    /// alone settles a [`load`](Self::load): the record is primary (not an alias), alive, and its
    /// `last_seen` need not be written. `done(None)` means anything else (missing, expired, an
    /// alias, a touch due, a failed read): the caller then makes the blocking `load`, which
    /// decides. A store that has no I/O thread of its own hands `done` back.
    ///
    /// `done` runs on the store's I/O thread, so it must not block, nor call the store. Bindings
    /// with an event loop (Node) use it so that the common request costs two thread hand-offs
    /// (to the I/O thread and back) instead of four (through a pool thread).
    fn read_live_then(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        done: ReadDone,
    ) -> std::result::Result<(), ReadDone> {
        let _ = (id, now, idle_ms);
        Err(done)
    }

    /// What about this store's configuration an operator should hear of, once, when the app
    /// starts (each a sentence that names the fix); nothing is wrong enough to refuse.
    /// Bindings issue them as their language's warnings.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Stores behind a `Box` or an `Arc` are stores too (for `store::open` and shared test stores).
macro_rules! forward_store {
    ($($wrapper:ident),*) => {$(
        impl<S: Store + ?Sized> Store for $wrapper<S> {
            fn is_networked(&self) -> bool {
                (**self).is_networked()
            }
            fn is_shared(&self) -> bool {
                (**self).is_shared()
            }
            fn warnings(&self) -> Vec<String> {
                (**self).warnings()
            }
            fn offload(&self, job: Job) -> std::result::Result<(), Job> {
                (**self).offload(job)
            }
            fn read_live_then(
                &self,
                id: &SessionId,
                now: UnixMillis,
                idle_ms: u64,
                done: ReadDone,
            ) -> std::result::Result<(), ReadDone> {
                (**self).read_live_then(id, now, idle_ms, done)
            }
            fn insert_within(
                &self,
                record: Record,
                idle_ms: u64,
                max_sessions: Option<usize>,
            ) -> Result<Vec<Removed>> {
                (**self).insert_within(record, idle_ms, max_sessions)
            }
            fn load_gated(
                &self,
                id: &SessionId,
                now: UnixMillis,
                idle_ms: u64,
                gate: &Gate,
            ) -> Result<Load> {
                (**self).load_gated(id, now, idle_ms, gate)
            }
            fn swap_binding(
                &self,
                id: &SessionId,
                expected: Option<&Arc<BindingState>>,
                new: Option<Arc<BindingState>>,
                now: UnixMillis,
                idle_ms: u64,
            ) -> Result<Swapped> {
                (**self).swap_binding(id, expected, new, now, idle_ms)
            }
            fn rekey(
                &self,
                id: &SessionId,
                change: &Rekey,
                now: UnixMillis,
                idle_ms: u64,
            ) -> Result<Option<Record>> {
                (**self).rekey(id, change, now, idle_ms)
            }
            fn update_data(
                &self,
                id: &SessionId,
                op: &DataOp,
                max_bytes: usize,
                now: UnixMillis,
                idle_ms: u64,
            ) -> Result<Option<Arc<Data>>> {
                (**self).update_data(id, op, max_bytes, now, idle_ms)
            }
            fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool> {
                (**self).mark_insecure(id, now, idle_ms)
            }
            fn set_expiry(
                &self,
                id: &SessionId,
                change: &ExpiryChange,
                now: UnixMillis,
                idle_ms: u64,
            ) -> Result<Option<Record>> {
                (**self).set_expiry(id, change, now, idle_ms)
            }
            fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>> {
                (**self).remove(id, now, idle_ms)
            }
            fn remove_user(
                &self,
                user: &str,
                keep: Option<&SessionId>,
                now: UnixMillis,
                idle_ms: u64,
            ) -> Result<Vec<Removed>> {
                (**self).remove_user(user, keep, now, idle_ms)
            }
            fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize> {
                (**self).remove_all(now, idle_ms)
            }
            fn list_user(&self, user: &str) -> Result<Vec<Record>> {
                (**self).list_user(user)
            }
            fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
                (**self).sweep(now, idle_ms)
            }
            fn len(&self) -> Result<usize> {
                (**self).len()
            }
        }
    )*};
}

forward_store!(Box, Arc);
