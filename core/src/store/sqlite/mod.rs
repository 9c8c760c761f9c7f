//! The SQLite store: sessions shared by the worker processes of one host, with no server to run.
//!
//! One database file in WAL mode (readers never wait for the writer), opened by every process
//! that names it. Each [`Store`] primitive is one SQLite transaction — writes take the write
//! lock up front (`BEGIN IMMEDIATE`) — so the primitives are atomic across processes exactly as
//! the memory store's are across threads. The layout is documented in `docs/sqlite-schema.md`
//! and readable with the `sqlite3` shell; no token is ever stored.
//!
//! - **Validate is a read.** `load` is one `SELECT` by id (and, only for a rotated-away id, a
//!   second one of the alias joined to its target). `last_seen` is written only when it moved
//!   by more than [`touch_slack_ms`](crate::store::touch_slack_ms) of the effective idle
//!   timeout; liveness is always judged on the *stored* `last_seen`, so a session may expire up
//!   to that slack early, never late. The record returned still reports `last_seen = now`.
//! - **Sweeping costs what came due**: every row carries `due`, the earliest time it could expire
//!   (the absolute deadline, or the stored `last_seen` plus its effective idle timeout), indexed;
//!   a sweep reads only rows with `due ≤ now`.
//! - **The per-user index** is an index on `sessions.user`: it can never point at a session that
//!   is gone, and holds expired ones only until they are swept.
//! - **No connection crosses a `fork()`**: see the `pool` module.
//! - **Authentication and device binding** have columns of their own (`auth`, `binding`: the
//!   core's text encodings), never a place in `data`: a data write updates only `data`, and
//!   `swap_binding` only `binding`, so neither can undo the other. Schema version 2; a
//!   version 1 file is upgraded in place when a store opens it.
//!
//! Failures — a locked database past the busy timeout, a corrupt or read-only file, a full disk —
//! are `store_unavailable` (the request is not authenticated); a database written by a newer
//! Tessera is `invalid_config`.

mod options;
mod pool;
mod schema;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::binding::{BindingState, Gate, Swapped, same_state};
use crate::clock::UnixMillis;
use crate::data::{self, Data, DataOp};
use crate::error::{Error, Reason, Result};
use crate::id::SessionId;
use crate::record::{
    BindingChange, ExpiryChange, Load, Record, Rekey, Removed, check_live, effective_idle,
};
use crate::store::{Store, touch_slack_ms, unproven};

pub use options::{DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_POOL_SIZE, SqliteOptions};
pub use schema::SCHEMA_VERSION;

use pool::{Lease, Pool};
use schema::{columns, int, key};

/// How much of the database file a connection maps into memory (1 GiB: a million sessions take
/// about 600 MB).
const MMAP_BYTES: u64 = 1 << 30;

/// Rows a sweep examines per transaction, so it never holds the write lock for long.
const SWEEP_BATCH: usize = 500;

/// The record that is primary under the alias `?1` if the alias is still inside its grace window
/// at `?2`. (A `UNION ALL` with [`PRIMARY`] would answer both in one statement, but SQLite runs
/// it three to four times slower than the two.)
const THROUGH_ALIAS: &str = concat!(
    "SELECT ",
    columns!("s."),
    " FROM aliases a JOIN sessions s ON s.id = a.target WHERE a.id = ?1 AND a.until > ?2"
);

const PRIMARY: &str = concat!("SELECT ", columns!(""), " FROM sessions WHERE id = ?1");

/// The anonymous session the cap evicts first (the partial index `sessions_anonymous_by_due`).
const OLDEST_ANONYMOUS: &str = concat!(
    "SELECT ",
    columns!(""),
    " FROM sessions WHERE user IS NULL ORDER BY due LIMIT 1"
);

/// Session storage in an SQLite database file shared by the processes of one host.
///
/// ```
/// use tessera::{Config, SessionManager, store::SqliteStore};
/// let path = std::env::temp_dir().join(format!("tessera-doc-{}.db", std::process::id()));
/// let store = SqliteStore::open(&format!("sqlite://{}", path.display()))?;
/// let manager = SessionManager::builder(Config::default()).store(store).build()?;
/// assert_eq!(manager.store_len()?, 0);
/// # drop(manager);
/// # for ext in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
/// # }
/// # Ok::<(), tessera::Error>(())
/// ```
pub struct SqliteStore {
    pool: Pool,
    options: SqliteOptions,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A rusqlite error as a Tessera error. Everything that means "the file cannot serve us now" is
/// `store_unavailable`, so a request is never treated as authenticated on a broken store.
pub(crate) fn sql_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    let detail = e.to_string();
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => Error::store_unavailable(format!(
            "sqlite: the database stayed locked by another connection longer than the busy \
             timeout (busy_timeout_ms) ({detail})"
        )),
        Some(C::NotADatabase | C::DatabaseCorrupt) => Error::store_unavailable(format!(
            "sqlite: the database file is corrupt or not an SQLite database ({detail})"
        )),
        Some(C::ReadOnly) => Error::store_unavailable(format!(
            "sqlite: the database file or its directory is read-only ({detail})"
        )),
        Some(C::CannotOpen | C::PermissionDenied) => {
            Error::store_unavailable(format!("sqlite: cannot open the database file ({detail})"))
        }
        Some(C::ConstraintViolation) => Error::internal(format!("sqlite: {detail}")),
        _ => Error::store_unavailable(format!("sqlite: {detail}")),
    }
}

/// Open one connection and prepare it: busy timeout, WAL, synchronous, writability, schema.
fn connect(options: &SqliteOptions) -> Result<Connection> {
    // No SQLITE_OPEN_URI: the path is a path, whatever it looks like.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(&options.path, flags).map_err(sql_error)?;
    conn.busy_timeout(options.busy_timeout).map_err(sql_error)?;
    // SQLite opens a file it may not write read-only, silently; a store that cannot write could
    // not end sessions, so refuse it here with a clear message.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(sql_error)? {
        return Err(Error::store_unavailable(format!(
            "sqlite: {} is read-only for this process",
            options.path.display()
        )));
    }
    let mode = wal_mode(&conn, options.busy_timeout)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::store_unavailable(format!(
            "sqlite: {} cannot use WAL mode (journal_mode is {mode}); put it on a local filesystem",
            options.path.display()
        )));
    }
    // WAL + NORMAL: a commit is not flushed to disk until the next checkpoint. Durable against
    // a crash of any process; a power loss may undo the last commits (see the schema docs).
    let sync = if options.full_sync { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}"))
        .map_err(sql_error)?;
    // Reads through a memory map instead of a read() per page: a validate walks a few B-tree
    // pages, and the system calls were most of its cost on a file larger than SQLite's page
    // cache. The map is address space, not memory; SQLite falls back to reads where it cannot map.
    conn.execute_batch(&format!("PRAGMA mmap_size = {MMAP_BYTES}"))
        .map_err(sql_error)?;
    schema::ensure(&mut conn)?;
    Ok(conn)
}

/// Switch the file to WAL (a no-op once it is), waiting up to `budget` for other processes.
///
/// Changing the journal mode needs the file to itself, and SQLite answers `SQLITE_BUSY` at once
/// — without the busy handler — while another connection holds it: several workers opening a
/// new file together (gunicorn, a Node cluster) would otherwise fail at start. So the switch is
/// retried until the busy timeout has passed, as any other lock wait is.
fn wal_mode(conn: &Connection, budget: Duration) -> Result<String> {
    let started = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Err(e) if is_busy(&e) && started.elapsed() < budget => {
                std::thread::sleep(Duration::from_millis(2));
            }
            other => return other.map_err(sql_error),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Create the database file owner-only if it does not exist yet: it holds CSRF secrets and
/// session data, and SQLite gives its WAL and shared-memory files the database file's mode.
fn create_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::store_unavailable(format!(
            "sqlite: cannot create {}: {e}",
            path.display()
        ))),
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database a `sqlite:///absolute/path.db` URL names; see
    /// [`SqliteOptions`] for the query parameters.
    ///
    /// The schema is created or checked here, with one connection that is closed before this
    /// returns: a process that opens the store and then forks hands its children no connection.
    ///
    /// # Errors
    /// `invalid_config` for a URL that cannot be used, a database of a newer schema version or a
    /// file that is not Tessera's; `store_unavailable` for a file that cannot be created, read or
    /// written (corrupt, read-only, locked longer than the busy timeout).
    pub fn open(url: &str) -> Result<Self> {
        Self::with_options(SqliteOptions::parse(url)?)
    }

    /// Open the database `options` describe; see [`SqliteStore::open`].
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn with_options(options: SqliteOptions) -> Result<Self> {
        create_private(&options.path)?;
        drop(connect(&options)?);
        let opener = options.clone();
        Ok(SqliteStore {
            pool: Pool::new(options.pool_size, move || connect(&opener)),
            options,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    /// How many expired sessions a sweep at `now` would examine (a diagnostic: sweep cost
    /// follows what came due, not the number of sessions).
    ///
    /// # Errors
    /// `store_unavailable`.
    pub fn due_at(&self, now: UnixMillis) -> Result<usize> {
        self.run(|conn| {
            conn.query_row(
                "SELECT count(*) FROM sessions WHERE due <= ?1",
                [int(now)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(sql_error)
        })
    }

    /// Run `f` on a pooled connection; a connection whose call failed with a store error is
    /// closed rather than pooled.
    fn run<T>(&self, f: impl FnOnce(&mut Lease<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.get()?;
        let out = f(&mut conn);
        if out
            .as_ref()
            .is_err_and(|e| e.kind() == crate::ErrorKind::StoreUnavailable)
        {
            conn.discard();
        }
        out
    }

    /// Run `f` inside one write transaction (`BEGIN IMMEDIATE`: the write lock is taken first,
    /// so the reads `f` makes cannot go stale before it writes), committed if `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.run(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let out = f(&tx)?;
            tx.commit().map_err(sql_error)?;
            Ok(out)
        })
    }

    #[cfg(test)]
    fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// The record `id` names at `now` (itself, or through an in-grace alias), and whether through an
/// alias.
///
/// Outside a transaction these are two snapshots, and the answer is still the one of the second:
/// an id that is not primary in the first never becomes primary again (ids are never reused), and
/// the alias and its target are read by one statement.
fn lookup(conn: &Connection, id: &SessionId, now: UnixMillis) -> Result<Option<(bool, Record)>> {
    let row = key(id);
    if let Some(record) = read(conn, PRIMARY, params![row])? {
        return Ok(Some((false, record)));
    }
    Ok(read(conn, THROUGH_ALIAS, params![row, int(now)])?.map(|r| (true, r)))
}

/// The one record `sql` selects, if any.
fn read(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Option<Record>> {
    let raw = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row(args, |r| schema::raw(r, 0)).optional())
        .map_err(sql_error)?;
    raw.map(schema::decode).transpose()
}

/// The record primary under `id`, alias or not.
fn primary(conn: &Connection, id: &SessionId) -> Result<Option<Record>> {
    read(conn, PRIMARY, params![key(id)])
}

/// Whether `id` is taken, as a session or an alias.
fn taken(conn: &Connection, id: &SessionId) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1) \
         OR EXISTS (SELECT 1 FROM aliases WHERE id = ?1)",
    )
    .and_then(|mut s| s.query_row([key(id)], |r| r.get::<_, bool>(0)))
    .map_err(sql_error)
}

/// The live sessions, as the triggers count them.
fn live(conn: &Connection) -> Result<usize> {
    conn.prepare_cached("SELECT sessions FROM live")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(|n| usize::try_from(n).unwrap_or(0))
        .map_err(sql_error)
}

/// End anonymous sessions, the soonest to expire idle (the least recently seen) first, until
/// fewer than `max` live. Inside the insert's write transaction.
fn make_room(conn: &Connection, max: usize, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
    let mut made = Vec::new();
    let mut live = live(conn)?;
    while live >= max {
        let Some(record) = read(conn, OLDEST_ANONYMOUS, [])? else {
            break;
        };
        delete(conn, &record)?;
        made.push(Removed {
            id: record.id,
            user: None,
            expired: record.check_live(now, idle_ms).err(),
        });
        live -= 1;
    }
    Ok(made)
}

/// Delete session `record` and the alias that points at it.
fn delete(conn: &Connection, record: &Record) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE id = ?1")
        .and_then(|mut s| s.execute([key(&record.id)]))
        .map_err(sql_error)?;
    if let Some(pred) = record.predecessor {
        delete_alias(conn, &pred)?;
    }
    Ok(())
}

fn delete_alias(conn: &Connection, id: &SessionId) -> Result<()> {
    conn.prepare_cached("DELETE FROM aliases WHERE id = ?1")
        .and_then(|mut s| s.execute([key(id)]))
        .map_err(sql_error)?;
    Ok(())
}

/// Whether a load at `now` writes `last_seen`: only once it has moved by more than the slack of
/// the record's effective idle timeout.
fn needs_touch(record: &Record, now: UnixMillis, idle_ms: u64) -> bool {
    now.saturating_sub(record.last_seen) > touch_slack_ms(record.idle_ms(idle_ms))
}

/// A session `remove_user` deleted, as its row said.
struct Gone {
    id: String,
    deadline: i64,
    last_seen: i64,
    max_idle_ms: Option<i64>,
    predecessor: Option<String>,
}

/// Why the stored times say a session had ended at `now` (`None`: alive): the liveness rule
/// applied to columns, for statements that do not read whole records.
fn verdict(
    deadline: i64,
    last_seen: i64,
    max_idle_ms: Option<i64>,
    now: UnixMillis,
    idle_ms: u64,
) -> Option<Reason> {
    let idle = effective_idle(max_idle_ms.and_then(|v| u64::try_from(v).ok()), idle_ms);
    let (deadline, last_seen) = (
        u64::try_from(deadline).unwrap_or(0),
        u64::try_from(last_seen).unwrap_or(0),
    );
    check_live(deadline, last_seen, now, idle).err()
}

/// The answer to a load of a live record: as the caller sees it, touched at `now`.
fn touched(mut record: Record, now: UnixMillis, via_alias: bool) -> Load {
    record.last_seen = record.last_seen.max(now);
    Load::Live { record, via_alias }
}

impl Store for SqliteStore {
    fn insert_within(
        &self,
        record: Record,
        idle_ms: u64,
        max_sessions: Option<usize>,
    ) -> Result<Vec<Removed>> {
        self.write(|tx| {
            // Ids are 256-bit random: a clash means a broken RNG, which must not go unnoticed.
            if taken(tx, &record.id)? {
                return Err(Error::internal("session id collision"));
            }
            let made_room = match max_sessions {
                Some(max) => make_room(tx, max, record.last_seen, idle_ms)?,
                None => Vec::new(),
            };
            if let (Some(max), None) = (max_sessions, &record.user)
                && live(tx)? >= max
            {
                return Err(crate::store::full(max));
            }
            schema::insert(tx, &record, record.expires_at(idle_ms))?;
            Ok(made_room)
        })
    }

    fn load_gated(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        gate: &Gate,
    ) -> Result<Load> {
        self.run(|conn| {
            // The common case: one read, no write lock.
            let Some((via, record)) = lookup(conn, id, now)? else {
                return Ok(Load::Missing);
            };
            if let Err(reason) = record.check_live(now, idle_ms) {
                return Ok(Load::Expired(reason, record));
            }
            if let Some(missing) = unproven(&record, gate, now) {
                return Ok(Load::Unproven(missing, record));
            }
            if !gate.touch {
                return Ok(Load::Live {
                    record,
                    via_alias: via,
                });
            }
            if !needs_touch(&record, now, idle_ms) {
                return Ok(touched(record, now, via));
            }
            // last_seen must move: start over inside a write transaction, so the answer is the
            // one that transaction sees (the session may have been rotated or ended meanwhile).
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let Some((via, record)) = lookup(&tx, id, now)? else {
                return Ok(Load::Missing);
            };
            if let Err(reason) = record.check_live(now, idle_ms) {
                return Ok(Load::Expired(reason, record));
            }
            if let Some(missing) = unproven(&record, gate, now) {
                return Ok(Load::Unproven(missing, record));
            }
            if needs_touch(&record, now, idle_ms) {
                let due = record
                    .deadline
                    .min(now.saturating_add(record.idle_ms(idle_ms)));
                tx.prepare_cached("UPDATE sessions SET last_seen = ?2, due = ?3 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![key(&record.id), int(now), int(due)]))
                    .map_err(sql_error)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(touched(record, now, via))
        })
    }

    fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<BindingState>>,
        new: Option<Arc<BindingState>>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Swapped> {
        // Read, compare and write under the write lock: no other primitive of any process can
        // come between. The comparison is by value (decoded), so a caller that read the same
        // state in another process matches whatever the text looked like.
        self.write(|tx| {
            let row: Option<(i64, i64, Option<i64>, Option<String>)> = tx
                .prepare_cached(
                    "SELECT deadline, last_seen, max_idle_ms, binding FROM sessions WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([key(id)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .map_err(sql_error)?;
            // Only the live record primary under `id`: an alias or an expired row is gone.
            let Some((deadline, last_seen, max_idle_ms, stored)) = row else {
                return Ok(Swapped::Gone);
            };
            if verdict(deadline, last_seen, max_idle_ms, now, idle_ms).is_some() {
                return Ok(Swapped::Gone);
            }
            let current = stored
                .as_deref()
                .map(BindingState::from_stored)
                .transpose()?
                .map(Arc::new);
            if !same_state(current.as_ref(), expected) {
                return Ok(Swapped::Changed);
            }
            tx.prepare_cached("UPDATE sessions SET binding = ?2 WHERE id = ?1")
                .and_then(|mut s| {
                    s.execute(params![key(id), schema::stored_binding(new.as_deref())])
                })
                .map_err(sql_error)?;
            Ok(Swapped::Done)
        })
    }

    fn rekey(
        &self,
        id: &SessionId,
        change: &Rekey,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        self.write(|tx| {
            // Only a record primary under `id` rotates: an alias never does.
            let Some(old) = primary(tx, id)? else {
                return Ok(None);
            };
            if old.check_live(now, idle_ms).is_err() {
                return Ok(None);
            }
            if let Some(login) = &change.login
                && login.expected_user != old.user
            {
                return Ok(None);
            }
            if taken(tx, &change.new_id)? {
                return Err(Error::internal("session id collision"));
            }
            // Removing the old row also ends the alias before it: only the immediately
            // preceding token ever resolves.
            delete(tx, &old)?;
            let mut record = old;
            record.id = change.new_id;
            record.rotated_at = now;
            record.last_seen = now;
            // The flag follows the transport the token last travelled on.
            record.secure = change.secure;
            record.predecessor = change.alias_until.map(|_| *id);
            if let Some(login) = &change.login {
                record.user = Some(login.user.clone());
                record.csrf = login.csrf.clone();
                record.created_at = now;
                record.deadline = login.deadline;
                if !login.keep_data {
                    record.data = None;
                }
                if login.user_agent.is_some() {
                    record.user_agent = login.user_agent.clone();
                }
                record.auth = Some(login.auth.clone());
                if let BindingChange::Replace(binding) = &login.binding {
                    record.binding = binding.clone();
                }
            }
            // A rotation carries `auth` and `binding` over with the rest of the row.
            schema::insert(tx, &record, record.expires_at(idle_ms))?;
            if let Some(until) = change.alias_until {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO aliases (id, target, until) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![key(id), key(&change.new_id), int(until)]))
                .map_err(sql_error)?;
            }
            Ok(Some(record))
        })
    }

    fn update_data(
        &self,
        id: &SessionId,
        op: &DataOp,
        max_bytes: usize,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Arc<Data>>> {
        self.write(|tx| {
            // DESIGN.md: a write to a session that ended while the request was in flight fails
            // with `unknown`, whether it ended by logout or by expiry; it never re-creates it.
            let Some((_, record)) = lookup(tx, id, now)? else {
                return Err(Error::rejected(Reason::Unknown));
            };
            if record.check_live(now, idle_ms).is_err() {
                return Err(Error::rejected(Reason::Unknown));
            }
            let next = data::apply(record.data.as_ref(), op, max_bytes)?;
            let text = next.as_deref().map(schema::json).transpose()?;
            tx.prepare_cached("UPDATE sessions SET data = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![key(&record.id), text]))
                .map_err(sql_error)?;
            Ok(next)
        })
    }

    fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool> {
        self.write(|tx| {
            let Some((_, record)) = lookup(tx, id, now)? else {
                return Ok(false);
            };
            if record.check_live(now, idle_ms).is_err() {
                return Ok(false);
            }
            tx.prepare_cached("UPDATE sessions SET secure = 0 WHERE id = ?1")
                .and_then(|mut s| s.execute([key(&record.id)]))
                .map_err(sql_error)?;
            Ok(true)
        })
    }

    fn set_expiry(
        &self,
        id: &SessionId,
        change: &ExpiryChange,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Option<Record>> {
        self.write(|tx| {
            let Some((_, mut record)) = lookup(tx, id, now)? else {
                return Ok(None);
            };
            // An expired record stays expired: restoring a longer expiry must not revive it.
            if record.check_live(now, idle_ms).is_err() {
                return Ok(None);
            }
            record.max_idle_ms = change.max_idle_ms;
            record.deadline = change.deadline;
            // Re-filed at its new due time, earlier or later, so a sweep then finds it.
            tx.prepare_cached(
                "UPDATE sessions SET max_idle_ms = ?2, deadline = ?3, due = ?4 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    key(&record.id),
                    record.max_idle_ms.map(int),
                    int(record.deadline),
                    int(record.expires_at(idle_ms)),
                ])
            })
            .map_err(sql_error)?;
            Ok(Some(record))
        })
    }

    fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>> {
        self.write(|tx| {
            let Some((via, record)) = lookup(tx, id, now)? else {
                return Ok(None);
            };
            delete(tx, &record)?;
            if via {
                delete_alias(tx, id)?;
            }
            Ok(Some(Removed {
                id: record.id,
                user: record.user.clone(),
                expired: record.check_live(now, idle_ms).err(),
            }))
        })
    }

    fn remove_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> Result<Vec<Removed>> {
        // One write transaction: no rotation or login of this user can interleave.
        self.write(|tx| {
            let keep = match keep {
                Some(k) => lookup(tx, k, now)?.map(|(_, r)| key(&r.id)),
                None => None,
            };
            let gone: Vec<Gone> = tx
                .prepare_cached(
                    "DELETE FROM sessions WHERE user = ?1 AND id IS NOT ?2 \
                     RETURNING id, deadline, last_seen, max_idle_ms, predecessor",
                )
                .and_then(|mut s| {
                    s.query_map(params![user, keep], |r| {
                        Ok(Gone {
                            id: r.get(0)?,
                            deadline: r.get(1)?,
                            last_seen: r.get(2)?,
                            max_idle_ms: r.get(3)?,
                            predecessor: r.get(4)?,
                        })
                    })?
                    .collect()
                })
                .map_err(sql_error)?;
            let owner: Arc<str> = Arc::from(user);
            let mut removed = Vec::with_capacity(gone.len());
            for g in gone {
                if let Some(pred) = g.predecessor {
                    tx.prepare_cached("DELETE FROM aliases WHERE id = ?1")
                        .and_then(|mut s| s.execute([pred]))
                        .map_err(sql_error)?;
                }
                removed.push(Removed {
                    id: SessionId::parse_hex(&g.id)
                        .map_err(|_| Error::internal("sqlite: a stored session id is malformed"))?,
                    user: Some(Arc::clone(&owner)),
                    expired: verdict(g.deadline, g.last_seen, g.max_idle_ms, now, idle_ms),
                });
            }
            Ok(removed)
        })
    }

    fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize> {
        self.write(|tx| {
            let rows: Vec<(i64, i64, Option<i64>)> = tx
                .prepare("SELECT deadline, last_seen, max_idle_ms FROM sessions")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .map_err(sql_error)?;
            let alive = rows
                .into_iter()
                .filter(|&(deadline, last_seen, max_idle)| {
                    verdict(deadline, last_seen, max_idle, now, idle_ms).is_none()
                })
                .count();
            tx.execute_batch("DELETE FROM sessions; DELETE FROM aliases;")
                .map_err(sql_error)?;
            Ok(alive)
        })
    }

    fn list_user(&self, user: &str) -> Result<Vec<Record>> {
        self.run(|conn| {
            let raws: Vec<schema::Raw> = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    columns!(""),
                    " FROM sessions WHERE user = ?1"
                ))
                .and_then(|mut s| s.query_map([user], |r| schema::raw(r, 0))?.collect())
                .map_err(sql_error)?;
            raws.into_iter().map(schema::decode).collect()
        })
    }

    fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
        let mut removed = Vec::new();
        loop {
            let (examined, aliases) = self.write(|tx| {
                let raws: Vec<schema::Raw> = tx
                    .prepare_cached(concat!(
                        "SELECT ",
                        columns!(""),
                        " FROM sessions WHERE due <= ?1 ORDER BY due LIMIT ?2"
                    ))
                    .and_then(|mut s| {
                        s.query_map(params![int(now), SWEEP_BATCH as i64], |r| schema::raw(r, 0))?
                            .collect()
                    })
                    .map_err(sql_error)?;
                let examined = raws.len();
                for raw in raws {
                    let record = schema::decode(raw)?;
                    match record.check_live(now, idle_ms) {
                        Err(reason) => {
                            delete(tx, &record)?;
                            removed.push(Removed {
                                id: record.id,
                                user: record.user.clone(),
                                expired: Some(reason),
                            });
                        }
                        // Filed under another configured idle timeout: file it again.
                        Ok(()) => {
                            tx.prepare_cached("UPDATE sessions SET due = ?2 WHERE id = ?1")
                                .and_then(|mut s| {
                                    s.execute(params![
                                        key(&record.id),
                                        int(record.expires_at(idle_ms))
                                    ])
                                })
                                .map_err(sql_error)?;
                        }
                    }
                }
                let aliases = tx
                    .prepare_cached(
                        "DELETE FROM aliases WHERE id IN \
                         (SELECT id FROM aliases WHERE until <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![int(now), SWEEP_BATCH as i64]))
                    .map_err(sql_error)?;
                Ok((examined, aliases))
            })?;
            if examined < SWEEP_BATCH && aliases < SWEEP_BATCH {
                return Ok(removed);
            }
        }
    }

    fn len(&self) -> Result<usize> {
        self.run(|conn| {
            conn.prepare_cached("SELECT count(*) FROM sessions")
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|n| usize::try_from(n).unwrap_or(0))
                .map_err(sql_error)
        })
    }

    /// `false`: calls wait only on local file locks that other processes hold for microseconds
    /// (bounded by the busy timeout), so the Node binding may call it synchronously.
    fn is_networked(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database file under the temp dir, removed (with its WAL files) on drop.
    pub(super) struct TempDb(pub std::path::PathBuf);

    impl TempDb {
        pub(super) fn new() -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            TempDb(std::env::temp_dir().join(format!(
                "tessera-unit-{}-{}.db",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            )))
        }

        pub(super) fn url(&self) -> String {
            format!("sqlite://{}", self.0.display())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
            }
        }
    }

    /// A store that deletes its file when the test is done.
    pub(super) struct Temp {
        store: SqliteStore,
        _db: TempDb,
    }

    impl std::ops::Deref for Temp {
        type Target = SqliteStore;
        fn deref(&self) -> &SqliteStore {
            &self.store
        }
    }

    impl Store for Temp {
        fn insert_within(
            &self,
            record: Record,
            idle_ms: u64,
            max_sessions: Option<usize>,
        ) -> Result<Vec<Removed>> {
            self.store.insert_within(record, idle_ms, max_sessions)
        }
        fn load_gated(
            &self,
            id: &SessionId,
            now: UnixMillis,
            idle_ms: u64,
            gate: &Gate,
        ) -> Result<Load> {
            self.store.load_gated(id, now, idle_ms, gate)
        }
        fn swap_binding(
            &self,
            id: &SessionId,
            expected: Option<&Arc<BindingState>>,
            new: Option<Arc<BindingState>>,
            now: UnixMillis,
            idle_ms: u64,
        ) -> Result<Swapped> {
            self.store.swap_binding(id, expected, new, now, idle_ms)
        }
        fn rekey(
            &self,
            id: &SessionId,
            change: &Rekey,
            now: UnixMillis,
            idle_ms: u64,
        ) -> Result<Option<Record>> {
            self.store.rekey(id, change, now, idle_ms)
        }
        fn update_data(
            &self,
            id: &SessionId,
            op: &DataOp,
            max_bytes: usize,
            now: UnixMillis,
            idle_ms: u64,
        ) -> Result<Option<Arc<Data>>> {
            self.store.update_data(id, op, max_bytes, now, idle_ms)
        }
        fn mark_insecure(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<bool> {
            self.store.mark_insecure(id, now, idle_ms)
        }
        fn set_expiry(
            &self,
            id: &SessionId,
            change: &ExpiryChange,
            now: UnixMillis,
            idle_ms: u64,
        ) -> Result<Option<Record>> {
            self.store.set_expiry(id, change, now, idle_ms)
        }
        fn remove(&self, id: &SessionId, now: UnixMillis, idle_ms: u64) -> Result<Option<Removed>> {
            self.store.remove(id, now, idle_ms)
        }
        fn remove_user(
            &self,
            user: &str,
            keep: Option<&SessionId>,
            now: UnixMillis,
            idle_ms: u64,
        ) -> Result<Vec<Removed>> {
            self.store.remove_user(user, keep, now, idle_ms)
        }
        fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> Result<usize> {
            self.store.remove_all(now, idle_ms)
        }
        fn list_user(&self, user: &str) -> Result<Vec<Record>> {
            self.store.list_user(user)
        }
        fn sweep(&self, now: UnixMillis, idle_ms: u64) -> Result<Vec<Removed>> {
            self.store.sweep(now, idle_ms)
        }
        fn len(&self) -> Result<usize> {
            self.store.len()
        }
    }

    pub(super) fn temp() -> Temp {
        let db = TempDb::new();
        Temp {
            store: SqliteStore::open(&db.url()).expect("open a temporary SQLite store"),
            _db: db,
        }
    }

    mod conformance {
        crate::store_conformance_tests!(super::temp());
    }

    #[test]
    fn a_child_process_opens_its_own_connections() {
        let store = temp();
        store.len().unwrap();
        let (opened, _) = store.pool().counts();
        assert_eq!(store.pool().idle(), 1);
        // What a forked worker does on its first call: the pid differs.
        let lease = store
            .pool()
            .get_as(std::process::id().wrapping_add(1))
            .unwrap();
        assert_eq!(store.pool().counts(), (opened + 1, 1));
        drop(lease);
    }

    #[test]
    fn every_record_field_round_trips() {
        use crate::csrf::CsrfSecret;
        let store = temp();
        let mut r = Record::new(
            SessionId::from_bytes([7; 32]),
            Some(Arc::from("alice ünïcode")),
            1_700_000_000_123,
            600_000,
            true,
            CsrfSecret::generate().unwrap(),
        );
        r.user_agent = Some(Arc::from("agent/1 \"quoted\""));
        r.last_seen = 1_700_000_000_200;
        r.rotated_at = 1_700_000_000_150;
        r.predecessor = Some(SessionId::from_bytes([9; 32]));
        r.max_idle_ms = Some(30_000);
        r.auth = Some(crate::authn::Authn::new(2, ["pwd", "hwk"]).unwrap());
        let slot = |v: &str, until| crate::binding::Slot {
            hash: crate::binding::cookie_digest(v),
            until,
        };
        let mut bound = crate::binding::Binding::new(
            [5; 16],
            Arc::from(r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#),
            [6; 32],
            1_700_000_000_110,
            slot("c1", 1_700_000_600_000),
        );
        bound.prev_cookie = Some(slot("c0", 1_700_000_500_000));
        bound.challenge = Some(slot("ch1", 1_700_000_700_000));
        bound.prev_challenge = Some(slot("ch0", 1_700_000_400_000));
        r.binding = Some(Arc::new(BindingState::Bound(bound)));
        r.data = Some(Arc::new(
            crate::data::parse_object(
                r#"{"big": 18446744073709551615, "f": 0.1, "nested": {"a": [1, null, "x"]}}"#,
            )
            .unwrap(),
        ));
        store.insert(r.clone(), 60_000).unwrap();
        assert_eq!(store.list_user("alice ünïcode").unwrap(), vec![r.clone()]);
        let mut anon = Record::new(
            SessionId::from_bytes([8; 32]),
            None,
            1_700_000_000_000,
            600_000,
            false,
            CsrfSecret::generate().unwrap(),
        );
        anon.rotated_at = 1_700_000_000_001;
        store.insert(anon.clone(), 60_000).unwrap();
        match store.load(&anon.id, anon.last_seen, 60_000).unwrap() {
            Load::Live { record, .. } => assert_eq!(record, anon),
            other => panic!("{other:?}"),
        }
    }
}
