//! A process's connection to Redis: one multiplexed connection that every call in flight shares
//! (their commands are pipelined on one socket), driven by a small runtime the store owns.
//!
//! Callers block on their own call only: the blocking store API waits for its reply while the
//! runtime's one thread reads and writes the socket for everyone. A connection that breaks is
//! replaced by the next call; when Redis refuses the new one, a circuit breaker opens, so that
//! every call fails at once (`store_unavailable`) instead of each paying a connect attempt,
//! while a probe on the runtime reconnects in the background and closes it again.
//!
//! A link belongs to the process that made it: its runtime thread does not exist in a child of
//! `fork()`, and its socket is the parent's. `RedisStore` makes a new link in a child.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use tokio::runtime::Runtime;

use super::url::{RedisOptions, describe};
use crate::error::{Error, Result};

/// How often the probe tries to reconnect while the breaker is open: calls succeed again
/// within this much (plus a connect) of Redis coming back.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Run by every I/O thread the Redis store starts, first (see [`set_io_thread_start`]).
static IO_THREAD_START: once_cell::sync::OnceCell<fn()> = once_cell::sync::OnceCell::new();

/// Have every I/O thread the Redis store starts from now on run `hook` first; the first call
/// wins. For hosts whose threads need a setting that only native code can make: a C program
/// does not ignore `SIGPIPE` as Rust, Python and Node programs do, and a write to a connection
/// Redis has closed would then kill the process, so the C binding blocks `SIGPIPE` in these
/// threads (the write fails with `EPIPE` instead, and the call with `store_unavailable`).
///
/// ```
/// fn note() {}
/// tessera::store::redis::set_io_thread_start(note);
/// ```
pub fn set_io_thread_start(hook: fn()) {
    let _ = IO_THREAD_START.set(hook);
}

/// The connection of one process, and what it takes to replace it.
pub(super) struct Link {
    pid: u32,
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    shared: Arc<Shared>,
    /// Held by the one caller that connects; the others wait for its connection.
    connecting: Mutex<()>,
}

/// What the probe on the runtime shares with callers.
struct Shared {
    target: Target,
    allow_eviction: bool,
    current: Mutex<Option<Current>>,
    generation: AtomicU64,
    breaker: Breaker,
    /// What the first connection found about the server's configuration that an operator
    /// should hear of (see `Store::warnings`).
    notes: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub(super) struct Current {
    generation: u64,
    conn: Conn,
}

/// Where a link connects: one Redis, or a cluster (whose client follows slots as they move).
/// Made when the store opens (checking the URL), cloned into each process's link.
#[derive(Clone)]
pub(super) enum Target {
    Single(redis::Client, AsyncConnectionConfig),
    Cluster(ClusterClient),
}

/// A connection to either: both multiplex every call in flight.
#[derive(Clone)]
pub(super) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Open while Redis cannot be reached: calls fail at once with the reason the last attempt gave.
#[derive(Default)]
struct Breaker {
    open: AtomicBool,
    probing: AtomicBool,
    reason: Mutex<String>,
}

impl Link {
    /// A link for process `pid`. Nothing connects until the first call.
    pub(super) fn new(pid: u32, target: Target, options: &RedisOptions) -> Result<Link> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tessera-redis")
            .on_thread_start(|| {
                if let Some(hook) = IO_THREAD_START.get() {
                    hook();
                }
            })
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::internal(format!("redis: cannot start its I/O thread: {e}")))?;
        Ok(Link {
            pid,
            runtime: Some(runtime),
            shared: Arc::new(Shared {
                target,
                allow_eviction: options.allow_eviction,
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                breaker: Breaker::default(),
                notes: Mutex::new(Vec::new()),
            }),
            connecting: Mutex::new(()),
        })
    }

    /// What the connections made so far found about the server's configuration.
    pub(super) fn notes(&self) -> Vec<String> {
        self.shared.notes.lock().clone()
    }

    /// The process this link belongs to.
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// Run `f` on the shared connection and wait for its result. Any failure is
    /// `store_unavailable`; a failure that leaves the connection unusable also drops it.
    pub(super) fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let current = self.connection()?;
        match self.block_on(f(current.conn))? {
            Ok(v) => Ok(v),
            Err(e) => {
                if breaks_connection(&e) {
                    self.shared.forget(current.generation);
                }
                Err(Error::store_unavailable(format!("redis: {}", describe(&e))))
            }
        }
    }

    /// The connection in use, if there is one to use now (none made yet, or the breaker open:
    /// `None`, and a caller that cannot wait takes the blocking way, which connects or fails as
    /// every call does).
    pub(super) fn ready(&self) -> Option<Current> {
        if self.shared.breaker.refusal().is_some() {
            return None;
        }
        self.shared.current.lock().clone()
    }

    /// Start `f` on `current` (from [`ready`](Self::ready)) and hand its result to `done` on the
    /// I/O thread, without waiting.
    pub(super) fn start<T, F, Fut>(
        &self,
        current: Current,
        f: F,
        done: impl FnOnce(Result<T>) + Send + 'static,
    ) where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(current.conn);
        let shared = Arc::clone(&self.shared);
        self.runtime().spawn(async move {
            let out = fut.await.map_err(|e| {
                if breaks_connection(&e) {
                    shared.forget(current.generation);
                }
                Error::store_unavailable(format!("redis: {}", describe(&e)))
            });
            done(out);
        });
    }

    /// The connection in use, or a new one. Fails at once while the breaker is open.
    fn connection(&self) -> Result<Current> {
        if let Some(reason) = self.shared.breaker.refusal() {
            return Err(Error::store_unavailable(reason));
        }
        if let Some(current) = self.shared.current.lock().clone() {
            return Ok(current);
        }
        let _turn = self.connecting.lock();
        // Whoever held the turn before may have connected, or found Redis down.
        if let Some(reason) = self.shared.breaker.refusal() {
            return Err(Error::store_unavailable(reason));
        }
        if let Some(current) = self.shared.current.lock().clone() {
            return Ok(current);
        }
        let shared = Arc::clone(&self.shared);
        match self.block_on(async move { shared.connect().await })? {
            Ok(conn) => Ok(self.shared.install(conn)),
            Err(reason) => {
                self.trip(reason.clone());
                Err(Error::store_unavailable(reason))
            }
        }
    }

    /// Open the breaker and start the probe that will close it.
    fn trip(&self, reason: String) {
        let breaker = &self.shared.breaker;
        *breaker.reason.lock() = reason;
        breaker.open.store(true, Ordering::Release);
        if breaker.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        self.runtime().spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                match shared.connect().await {
                    Ok(conn) => {
                        shared.install(conn);
                        // Probing ends before the breaker closes: a failure right after the
                        // close then starts a probe of its own.
                        shared.breaker.probing.store(false, Ordering::Release);
                        shared.breaker.open.store(false, Ordering::Release);
                        return;
                    }
                    Err(reason) => *shared.breaker.reason.lock() = reason,
                }
            }
        });
    }

    /// Run `job` on the runtime's pool of blocking threads (grown on demand, idle ones retired):
    /// it may make blocking store calls, whose I/O the runtime's own thread drives meanwhile.
    pub(super) fn spawn_blocking(&self, job: crate::store::Job) {
        drop(self.runtime().spawn_blocking(job));
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the link")
    }

    /// Run `fut` on the link's runtime and wait for its output on the calling thread. Waiting on
    /// a plain channel works from any thread, inside another runtime too (an async app, or a
    /// binding's own runtime, using the blocking API), where entering this runtime would panic.
    fn block_on<F>(&self, fut: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // A slot and a condition variable rather than a std channel: a std channel's receiver
        // records the calling thread's std handle in a thread-local, which the main thread of
        // a C program never frees (valgrind: "possibly lost").
        let reply = Arc::new(Reply::default());
        let sender = Arc::clone(&reply);
        self.runtime().spawn(async move {
            // Dropped without a value if the task panics (a bug in the client) or the runtime
            // shuts down (only dropping the link does that, after every caller has returned).
            let guard = SendOnDrop::new(sender);
            let out = fut.await;
            guard.send(out);
        });
        reply
            .wait()
            .ok_or_else(|| Error::internal("redis: the I/O thread dropped a call"))
    }
}

/// One call's answer, handed from the runtime to the waiting caller.
struct Reply<T> {
    slot: Mutex<Option<Option<T>>>,
    ready: parking_lot::Condvar,
}

impl<T> Default for Reply<T> {
    fn default() -> Self {
        Reply {
            slot: Mutex::new(None),
            ready: parking_lot::Condvar::new(),
        }
    }
}

impl<T> Reply<T> {
    /// The answer; `None` if the task ended without one.
    fn wait(&self) -> Option<T> {
        let mut slot = self.slot.lock();
        while slot.is_none() {
            self.ready.wait(&mut slot);
        }
        slot.take().flatten()
    }
}

/// Sends `None` if dropped before `send`: the caller must never wait forever.
struct SendOnDrop<T> {
    reply: Arc<Reply<T>>,
    sent: bool,
}

impl<T> SendOnDrop<T> {
    fn new(reply: Arc<Reply<T>>) -> Self {
        SendOnDrop { reply, sent: false }
    }

    fn send(mut self, value: T) {
        self.put(Some(value));
    }

    fn put(&mut self, value: Option<T>) {
        *self.reply.slot.lock() = Some(value);
        self.reply.ready.notify_one();
        self.sent = true;
    }
}

impl<T> Drop for SendOnDrop<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.put(None);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Joining threads is refused inside a runtime; they end on their own.
                runtime.shutdown_background();
            } else {
                // Joins the I/O thread, so a program that frees its manager leaves no thread.
                drop(runtime);
            }
        }
    }
}

impl Target {
    /// The target a store URL names. Connects to nothing.
    pub(super) fn new(options: &RedisOptions) -> Result<Target> {
        let invalid =
            |e: redis::RedisError| Error::invalid_config(format!("store: {}", describe(&e)));
        if options.cluster {
            // Redirections (MOVED, ASK) are followed at once; a refusal while a slot moves
            // (TRYAGAIN) is retried briefly, then the call fails as unavailable rather than
            // holding its caller for the whole move.
            let client = ClusterClient::builder(options.cluster_nodes.iter().map(String::as_str))
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.command_timeout)
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()
                .map_err(invalid)?;
            Ok(Target::Cluster(client))
        } else {
            let client = redis::Client::open(options.redis_url.as_str()).map_err(invalid)?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(options.connect_timeout))
                .set_response_timeout(Some(options.command_timeout));
            Ok(Target::Single(client, config))
        }
    }
}

impl Shared {
    /// A new connection, checked before use.
    async fn connect(&self) -> std::result::Result<Conn, String> {
        let cannot = |e: redis::RedisError| format!("redis: cannot connect: {}", describe(&e));
        let mut conn = match &self.target {
            Target::Single(client, config) => Conn::Single(
                client
                    .get_multiplexed_async_connection_with_config(config)
                    .await
                    .map_err(cannot)?,
            ),
            Target::Cluster(client) => {
                Conn::Cluster(client.get_async_connection().await.map_err(cannot)?)
            }
        };
        // A cluster answers for each node (a map of replies): every node must be safe.
        let info: Value = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("redis: {}", describe(&e)))?;
        let infos = texts(&info);
        if infos.iter().any(|t| max_memory(t) == Some(0)) {
            self.note(
                "redis: the server sets no maxmemory, so nothing bounds what it keeps but the \
                 host: Tessera's max_sessions caps the sessions, and Redis then needs about \
                 max_sessions × (1 KiB + the data a session holds); set maxmemory for that, with \
                 a noeviction or volatile-* policy (docs/redis-schema.md)",
            );
        }
        if !self.allow_eviction {
            let policies = infos;
            if let Some(policy) = policies
                .iter()
                .filter_map(|t| eviction_policy(t))
                .find(|p| p.starts_with("allkeys-"))
            {
                return Err(format!(
                    "redis: maxmemory-policy is {policy}: Redis may evict any key, a user's index \
                     among them, and revoke_user would then miss live sessions; use a volatile-* \
                     or noeviction policy, or add allow_eviction=true to the store URL"
                ));
            }
        }
        Ok(conn)
    }

    fn note(&self, text: &str) {
        let mut notes = self.notes.lock();
        if !notes.iter().any(|n| n == text) {
            notes.push(text.to_owned());
        }
    }

    fn install(&self, conn: Conn) -> Current {
        let current = Current {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            conn,
        };
        *self.current.lock() = Some(current.clone());
        current
    }

    /// Drop connection `generation` if it is still the one in use (another caller may have
    /// replaced it already).
    fn forget(&self, generation: u64) {
        let mut slot = self.current.lock();
        if slot.as_ref().is_some_and(|c| c.generation == generation) {
            *slot = None;
        }
    }
}

impl Breaker {
    /// Why calls fail at once, while the breaker is open.
    fn refusal(&self) -> Option<String> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        Some(format!(
            "{} (reconnecting in the background)",
            self.reason.lock()
        ))
    }
}

/// Whether `e` leaves the connection unusable (a timeout does not: the late reply is skipped).
fn breaks_connection(e: &redis::RedisError) -> bool {
    !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
}

/// Every text in a reply (one node's `INFO`, or a cluster's map of them).
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => vec![s.clone()],
        Value::Array(items) | Value::Set(items) => items.iter().flat_map(texts).collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(_, v)| texts(v)).collect(),
        _ => Vec::new(),
    }
}

/// `maxmemory` (bytes; 0 for none) from the reply of `INFO memory`.
fn max_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `maxmemory_policy` from the reply of `INFO memory`.
fn eviction_policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info =
            "# Memory\r\nused_memory:1\r\nmaxmemory:1\r\nmaxmemory_policy:allkeys-lru\r\nx:y\r\n";
        assert_eq!(eviction_policy(info), Some("allkeys-lru"));
        assert_eq!(max_memory(info), Some(1));
        assert_eq!(max_memory("maxmemory:0\r\n"), Some(0));
        assert_eq!(eviction_policy("# Memory\r\n"), None);
    }

    #[test]
    fn a_refused_connection_opens_the_breaker_and_later_calls_fail_at_once() {
        // Nothing listens on port 1 of loopback: refused at once.
        let options = RedisOptions::parse("redis://127.0.0.1:1/0?prefix=t").unwrap();
        let link = Link::new(1, Target::new(&options).unwrap(), &options).unwrap();
        let first = link
            .call(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .unwrap_err();
        assert_eq!(first.code(), "store_unavailable");
        assert!(link.shared.breaker.open.load(Ordering::Acquire));
        let again = link
            .call(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .unwrap_err();
        assert!(
            again.to_string().contains("reconnecting in the background"),
            "{again}"
        );
    }

    #[test]
    fn the_blocking_api_answers_inside_another_runtime() {
        // An async app (or a binding's own runtime) calling the blocking API must get an
        // answer, not tokio's "cannot start a runtime from within a runtime" panic.
        let options = RedisOptions::parse("redis://127.0.0.1:1/0?prefix=t").unwrap();
        let link = Link::new(1, Target::new(&options).unwrap(), &options).unwrap();
        let app = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = app.block_on(async {
            link.call(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
        });
        assert_eq!(err.unwrap_err().code(), "store_unavailable");
    }

    #[test]
    fn a_call_whose_task_dies_is_an_error_not_a_wait_forever() {
        let options = RedisOptions::parse("redis://127.0.0.1:1/0?prefix=t").unwrap();
        let link = Link::new(1, Target::new(&options).unwrap(), &options).unwrap();
        let answer: Result<()> = link.block_on(async { panic!("a bug in the client") });
        assert_eq!(answer.unwrap_err().code(), "internal");
    }
}
