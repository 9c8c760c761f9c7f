//! The SQLite store as several processes use it: two stores on one file (each with its own
//! connections, as two worker processes have), the lazy `last_seen` write rule, the error cases
//! (corrupt, read-only, locked, newer schema), the file as an operator sees it, and the upgrade
//! of a version 1 file (issue 15's `auth` and `binding` columns).
//!
//! The store-conformance cases run in the module's own tests (`store::sqlite::tests`).

#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tessera::binding::{
    Binding, BindingState, Gate, Slot, Swapped, challenge_digest, cookie_digest,
};
use tessera::csrf::CsrfSecret;
use tessera::record::{ExpiryChange, Load, Rekey};
use tessera::store::{SqliteStore, touch_slack_ms};
use tessera::{Authn, DataOp};
use tessera::{
    Config, Context, ErrorKind, ManualClock, Reason, Record, SessionId, SessionManager, Store,
    Validation,
};

const T0: u64 = 1_700_000_000_000;
/// An idle timeout whose touch slack is a round 1 s.
const IDLE: u64 = 64_000;

/// A fresh database path under the temp dir; the file, its WAL files and any helper directory
/// are removed on drop.
struct TempDb {
    path: PathBuf,
    dir: Option<PathBuf>,
}

impl TempDb {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tessera-it-{}-{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        TempDb { path, dir: None }
    }

    /// A path inside a fresh directory of its own.
    fn in_dir() -> Self {
        let outer = TempDb::new();
        let dir = outer.path.with_extension("dir");
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDb {
            path: dir.join("sessions.db"),
            dir: Some(dir),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    fn url_with(&self, query: &str) -> String {
        format!("sqlite://{}?{query}", self.path.display())
    }

    fn raw(&self) -> Connection {
        Connection::open(&self.path).expect("open the file directly")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            make_writable(dir);
        }
        make_writable(&self.path);
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path.display()));
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn record(user: Option<&str>, now: u64) -> Record {
    // Ids are 32 random bytes; a fresh CSRF secret is exactly that.
    let id = SessionId::from_bytes(*CsrfSecret::generate().expect("randomness").as_bytes());
    Record::new(
        id,
        user.map(Arc::from),
        now,
        600_000,
        true,
        CsrfSecret::generate().expect("randomness"),
    )
}

fn new_id() -> SessionId {
    record(None, T0).id
}

fn live(store: &dyn Store, id: &SessionId, now: u64) -> Record {
    match store.load(id, now, IDLE).expect("store") {
        Load::Live { record, .. } => record,
        other => panic!("expected a live session, got {other:?}"),
    }
}

fn stored_last_seen(db: &TempDb, id: &SessionId) -> (u64, u64) {
    db.raw()
        .query_row(
            "SELECT last_seen, due FROM sessions WHERE id = ?1",
            [id.to_string()],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .expect("row")
}

fn manager(url: &str, clock: &ManualClock) -> SessionManager {
    SessionManager::builder(Config::default())
        .store(SqliteStore::open(url).expect("open"))
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .expect("build")
}

fn token_of(session: &tessera::Session) -> String {
    session
        .new_token()
        .expect("a new token")
        .expose()
        .to_string()
}

#[test]
fn two_stores_on_one_file_are_one_store() {
    let db = TempDb::new();
    let clock = ManualClock::new(T0);
    // Two managers, each with its own store and connections: two worker processes.
    let a = manager(&db.url(), &clock);
    let b = manager(&db.url(), &clock);

    let alice = a.login(None, "alice", &Context::HTTPS).unwrap();
    let old = token_of(&alice);
    let in_b = b
        .validate(&old, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(in_b.user(), Some("alice"));
    assert_eq!(in_b.id(), alice.id());

    // A rotation in one is seen by the other: the new token works there, and the old one
    // resolves to the same session for the grace window only.
    clock.advance_millis(1_000);
    let rotated = a.rotate(&old, &Context::HTTPS).unwrap().session().unwrap();
    let new = token_of(&rotated);
    let via_new = b
        .validate(&new, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(via_new.id(), rotated.id());
    let via_old = b
        .validate(&old, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(via_old.id(), rotated.id());
    clock.advance(Config::default().rotation_grace);
    assert_eq!(
        b.validate(&old, &Context::HTTPS).unwrap().reason(),
        Some(Reason::Unknown)
    );

    // Data written by one is read by the other.
    b.set(rotated.id(), "cart", serde_json::json!([1, 2]))
        .unwrap();
    let seen = a
        .validate(&new, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(seen.get("cart"), Some(&serde_json::json!([1, 2])));

    // revoke_user from one ends the sessions the other made.
    let second = b.login(None, "alice", &Context::HTTPS).unwrap();
    assert_eq!(a.list_user("alice").unwrap().len(), 2);
    assert_eq!(b.revoke_user("alice").unwrap(), 2);
    for token in [new, token_of(&second)] {
        assert_eq!(
            a.validate(&token, &Context::HTTPS).unwrap().reason(),
            Some(Reason::Unknown)
        );
    }
    assert!(a.list_user("alice").unwrap().is_empty());
    assert_eq!(a.store_len().unwrap(), 0);

    // A logout in one is final in the other.
    let s = a.create(None, None, &Context::HTTPS).unwrap();
    let t = token_of(&s);
    assert!(b.logout(&t).unwrap());
    assert_eq!(
        a.validate(&t, &Context::HTTPS).unwrap().reason(),
        Some(Reason::Unknown)
    );
}

#[test]
fn revoke_user_racing_rotations_from_another_store_leaves_nothing_alive() {
    let db = TempDb::new();
    let rotator = SqliteStore::open(&db.url()).unwrap();
    let revoker = SqliteStore::open(&db.url()).unwrap();
    for round in 0..20u64 {
        let now = T0 + round * 10;
        let r = record(Some("mallory"), now);
        rotator.insert(r.clone(), IDLE).unwrap();
        let last = std::thread::scope(|scope| {
            let spin = scope.spawn(|| {
                let mut id = r.id;
                for _ in 0..20 {
                    let change = Rekey {
                        new_id: new_id(),
                        alias_until: Some(now + 30_000),
                        secure: true,
                        login: None,
                    };
                    match rotator.rekey(&id, &change, now, IDLE).unwrap() {
                        Some(moved) => id = moved.id,
                        None => break,
                    }
                }
                id
            });
            revoker.remove_user("mallory", None, now, IDLE).unwrap();
            spin.join().expect("rotator thread")
        });
        // Whatever interleaving happened, a second revocation leaves nothing of the user.
        revoker.remove_user("mallory", None, now, IDLE).unwrap();
        assert!(matches!(
            rotator.load(&last, now, IDLE).unwrap(),
            Load::Missing
        ));
        assert!(rotator.list_user("mallory").unwrap().is_empty());
    }
    assert_eq!(rotator.len().unwrap(), 0);
}

#[test]
fn last_seen_is_written_only_when_it_moved_by_more_than_the_slack() {
    assert_eq!(touch_slack_ms(IDLE), 1_000);
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url()).unwrap();
    let r = record(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    assert_eq!(stored_last_seen(&db, &r.id), (T0, T0 + IDLE));

    // Within the slack: a pure read, though the record reports the touch.
    assert_eq!(live(&store, &r.id, T0 + 1_000).last_seen, T0 + 1_000);
    assert_eq!(stored_last_seen(&db, &r.id), (T0, T0 + IDLE));
    // Past it: written, and the due time follows.
    assert_eq!(live(&store, &r.id, T0 + 1_001).last_seen, T0 + 1_001);
    assert_eq!(
        stored_last_seen(&db, &r.id),
        (T0 + 1_001, T0 + 1_001 + IDLE)
    );
    // The slack follows the session's own idle timeout too (6 400 ms → 100 ms).
    let own = ExpiryChange {
        max_idle_ms: Some(6_400),
        deadline: r.deadline,
    };
    store.set_expiry(&r.id, &own, T0 + 1_001, IDLE).unwrap();
    live(&store, &r.id, T0 + 1_101);
    assert_eq!(stored_last_seen(&db, &r.id).0, T0 + 1_001);
    live(&store, &r.id, T0 + 1_102);
    assert_eq!(
        stored_last_seen(&db, &r.id),
        (T0 + 1_102, T0 + 1_102 + 6_400)
    );
}

#[test]
fn idle_expiry_is_early_by_at_most_the_slack_never_late() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url()).unwrap();
    let r = record(None, T0);
    store.insert(r.clone(), IDLE).unwrap();
    // Last used at T0 + 1 000, which was not written (within the slack of T0).
    live(&store, &r.id, T0 + 1_000);
    // So it expires IDLE after the stored T0: 1 000 ms (= the slack) before IDLE after its
    // last use, and not a moment before that.
    live(&store, &r.id, T0 + IDLE - 1);
    let s2 = record(None, T0);
    store.insert(s2.clone(), IDLE).unwrap();
    live(&store, &s2.id, T0 + 1_000);
    assert!(matches!(
        store.load(&s2.id, T0 + IDLE, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredIdle, _)
    ));
    // The sweep agrees with the lookup, to the millisecond.
    assert!(store.sweep(T0 + IDLE - 1, IDLE).unwrap().is_empty());
    let swept = store.sweep(T0 + IDLE, IDLE).unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].id, s2.id);
    // Never late: whatever was skipped, a session is dead IDLE after its last use.
    let s3 = record(None, T0);
    store.insert(s3.clone(), IDLE).unwrap();
    let mut t = T0;
    for step in [400, 300, 200, 99] {
        t += step;
        live(&store, &s3.id, t);
    }
    assert!(matches!(
        store.load(&s3.id, t + IDLE, IDLE).unwrap(),
        Load::Expired(Reason::ExpiredIdle, _)
    ));
}

#[test]
fn sweep_reads_only_what_came_due() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url()).unwrap();
    let mut short = Vec::new();
    for i in 0..300 {
        let r = record(if i % 3 == 0 { Some("u") } else { None }, T0);
        store.insert(r.clone(), IDLE).unwrap();
        if i % 30 == 0 {
            short.push(r.id);
            let change = ExpiryChange {
                max_idle_ms: Some(1_000),
                deadline: r.deadline,
            };
            store.set_expiry(&r.id, &change, T0, IDLE).unwrap();
        }
    }
    assert_eq!(store.due_at(T0 + 1_000).unwrap(), short.len());
    let mut swept: Vec<SessionId> = store
        .sweep(T0 + 1_000, IDLE)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    swept.sort();
    short.sort();
    assert_eq!(swept, short);
    assert_eq!(store.len().unwrap(), 290);
    assert_eq!(store.due_at(T0 + 1_000).unwrap(), 0);
}

#[test]
fn the_file_reads_plainly_in_the_sqlite3_shell() {
    let db = TempDb::new();
    let clock = ManualClock::new(T0);
    let m = manager(&db.url(), &clock);
    let s = m.login(None, "alice", &Context::HTTPS).unwrap();
    m.set(s.id(), "theme", serde_json::json!("dark")).unwrap();
    let raw = db.raw();
    let (id, user, data, types): (String, String, String, String) = raw
        .query_row(
            "SELECT id, user, data, typeof(created_at) || typeof(last_seen) || typeof(deadline) \
             FROM sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(id, s.id().to_string(), "ids are lowercase hex");
    assert_eq!(user, "alice");
    assert_eq!(data, r#"{"theme":"dark"}"#);
    assert_eq!(types, "integerintegerinteger");
    let version: String = raw
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, tessera::store::sqlite::SCHEMA_VERSION.to_string());
    let token = token_of(&s);
    let dump: String = raw
        .query_row(
            "SELECT group_concat(coalesce(data, '') || csrf || id) FROM sessions",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!dump.contains(&token), "no token is ever stored");
    drop(raw);
    if let Ok(out) = std::process::Command::new("sqlite3")
        .arg(&db.path)
        .arg("SELECT user FROM sessions")
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice");
    }
}

#[test]
fn the_file_is_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TempDb::new();
    SqliteStore::open(&db.url()).unwrap();
    let mode = std::fs::metadata(&db.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn urls_without_an_absolute_path_are_invalid_config() {
    for url in [
        "sqlite://",
        "sqlite:///",
        "sqlite://relative.db",
        "sqlite://?x=1",
    ] {
        let err = tessera::store::open(url).err().expect("refused");
        assert_eq!(err.code(), "invalid_config", "{url}");
    }
    let db = TempDb::new();
    let store = tessera::store::open(&db.url()).unwrap();
    assert!(!store.is_networked());
    assert_eq!(store.len().unwrap(), 0);
}

#[test]
fn a_newer_schema_is_refused_with_invalid_config() {
    let db = TempDb::new();
    drop(SqliteStore::open(&db.url()).unwrap());
    db.raw()
        .execute(
            "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
    let err = SqliteStore::open(&db.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("schema version 3"), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    let err = tessera::store::open(&db.url()).err().unwrap();
    assert_eq!(err.code(), "invalid_config");
}

#[test]
fn a_database_that_is_not_tesseras_is_refused() {
    let db = TempDb::new();
    db.raw()
        .execute_batch("CREATE TABLE django_session (session_key TEXT)")
        .unwrap();
    let err = SqliteStore::open(&db.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("not Tessera's"), "{err}");
}

#[test]
fn a_corrupt_file_is_store_unavailable() {
    let db = TempDb::new();
    std::fs::write(
        &db.path,
        b"this is not an SQLite database, just garbage bytes ".repeat(100),
    )
    .unwrap();
    let err = SqliteStore::open(&db.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    let err = tessera::store::open(&db.url()).err().unwrap();
    assert_eq!(err.code(), "store_unavailable");
}

#[test]
fn rows_malformed_by_hand_never_make_a_valid_session() {
    let db = TempDb::new();
    let clock = ManualClock::new(T0);
    let m = manager(&db.url(), &clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    db.raw()
        .execute("UPDATE sessions SET csrf = 'not hex', data = '[1'", [])
        .unwrap();
    let err = m.validate(&token_of(&s), &Context::HTTPS).unwrap_err();
    assert_eq!(err.code(), "internal");
}

/// Make `path` unwritable even for root (who ignores mode bits): chmod 0444 / 0555, then
/// `chattr +i` when the mode alone does not stop this process. `false` if neither works here.
fn make_read_only(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o555 } else { 0o444 };
    if std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).is_err() {
        return false;
    }
    if !writable(path) {
        return true;
    }
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    immutable && !writable(path)
}

fn writable(path: &Path) -> bool {
    if path.is_dir() {
        let probe = path.join(".probe");
        let ok = std::fs::write(&probe, b"x").is_ok();
        let _ = std::fs::remove_file(probe);
        ok
    } else {
        std::fs::OpenOptions::new().append(true).open(path).is_ok()
    }
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status();
        let mode = if path.is_dir() { 0o755 } else { 0o600 };
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}

#[test]
fn a_read_only_file_is_store_unavailable() {
    let db = TempDb::new();
    let clock = ManualClock::new(T0);
    let token = {
        let m = manager(&db.url(), &clock);
        token_of(&m.create(None, None, &Context::HTTPS).unwrap())
    };
    if !make_read_only(&db.path) {
        eprintln!("skipped: cannot make a file read-only for this process here");
        return;
    }
    let err = SqliteStore::open(&db.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    // The session in it is not valid anywhere meanwhile: no manager can be built on the file.
    let err = tessera::store::open(&db.url()).err().unwrap();
    assert_eq!(err.code(), "store_unavailable");
    make_writable(&db.path);
    let m = manager(&db.url(), &clock);
    assert!(matches!(
        m.validate(&token, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
}

#[test]
fn a_read_only_directory_is_store_unavailable() {
    let db = TempDb::in_dir();
    let dir = db.dir.clone().expect("a directory");
    if !make_read_only(&dir) {
        eprintln!("skipped: cannot make a directory read-only for this process here");
        return;
    }
    let err = SqliteStore::open(&db.url()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    let missing = format!("sqlite://{}/no/such/dir/s.db", dir.display());
    assert_eq!(
        SqliteStore::open(&missing).unwrap_err().kind(),
        ErrorKind::StoreUnavailable
    );
}

#[test]
fn a_database_locked_past_the_busy_timeout_is_store_unavailable() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url_with("busy_timeout_ms=50")).unwrap();
    let r = record(Some("alice"), T0);
    store.insert(r.clone(), IDLE).unwrap();

    // Another process holds the write lock and does not let go.
    let holder = db.raw();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let started = Instant::now();
    let err = store.insert(record(None, T0), IDLE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A validate that must write last_seen fails closed too, rather than waiting or guessing.
    let err = store.load(&r.id, T0 + 2_000, IDLE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
    for result in [
        store.remove(&r.id, T0, IDLE).map(|_| ()),
        store.remove_user("alice", None, T0, IDLE).map(|_| ()),
        store.sweep(T0, IDLE).map(|_| ()),
    ] {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::StoreUnavailable);
    }
    // WAL: readers are never blocked by the writer, so a validate inside the slack still works
    // from the last committed state.
    assert_eq!(live(&store, &r.id, T0 + 500).id, r.id);

    holder.execute_batch("ROLLBACK").unwrap();
    live(&store, &r.id, T0 + 2_000);
    assert_eq!(stored_last_seen(&db, &r.id).0, T0 + 2_000);
}

/// Workers of a new deployment open the same new file at the same moment (gunicorn, a Node
/// cluster): every one of them must get a working store. SQLite refuses the switch to WAL at
/// once, without its busy handler, while another connection holds the file; found by the
/// Node cluster test, which lost a worker at start now and then.
#[test]
fn stores_opened_on_one_new_file_at_the_same_moment_all_work() {
    const OPENERS: usize = 6;
    for _ in 0..50 {
        let db = TempDb::new();
        let url = db.url();
        let barrier = Arc::new(std::sync::Barrier::new(OPENERS));
        let threads: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (url, barrier) = (url.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let store = SqliteStore::open(&url)?;
                    store.insert(record(None, 1_000), 60_000)
                })
            })
            .collect();
        for t in threads {
            t.join()
                .expect("no panic")
                .expect("every opener gets a working store");
        }
    }
}

// ---- schema version 2: authentication and device binding (issue 15) ----

/// The schema a version 1 Tessera created (issue 13's, the last before the `auth` and
/// `binding` columns), verbatim: the file an upgraded deployment finds.
const V1_DDL: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sessions (
  id TEXT PRIMARY KEY, user TEXT, user_agent TEXT, created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL, deadline INTEGER NOT NULL, rotated_at INTEGER NOT NULL,
  secure INTEGER NOT NULL, csrf TEXT NOT NULL, data TEXT, predecessor TEXT,
  max_idle_ms INTEGER, due INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user) WHERE user IS NOT NULL;
CREATE INDEX sessions_by_due ON sessions (due);
CREATE TABLE aliases (id TEXT PRIMARY KEY, target TEXT NOT NULL, until INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE INDEX aliases_by_until ON aliases (until);
CREATE TABLE IF NOT EXISTS live (one INTEGER PRIMARY KEY CHECK (one = 1), sessions INTEGER NOT NULL);
INSERT OR IGNORE INTO live (one, sessions) SELECT 1, COUNT(*) FROM sessions;
CREATE TRIGGER IF NOT EXISTS live_insert AFTER INSERT ON sessions
  BEGIN UPDATE live SET sessions = sessions + 1; END;
CREATE TRIGGER IF NOT EXISTS live_delete AFTER DELETE ON sessions
  BEGIN UPDATE live SET sessions = sessions - 1; END;
CREATE INDEX IF NOT EXISTS sessions_anonymous_by_due ON sessions (due) WHERE user IS NULL;
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
";

/// Write a version 1 file holding `user`'s session `id` (with data), as a version 1 Tessera
/// wrote it: no `auth`, no `binding`.
fn version_1_file(db: &TempDb, id: &SessionId, user: &str) {
    let raw = db.raw();
    raw.execute_batch(V1_DDL).unwrap();
    raw.execute(
        "INSERT INTO sessions (id, user, user_agent, created_at, last_seen, deadline, \
         rotated_at, secure, csrf, data, predecessor, max_idle_ms, due) \
         VALUES (?1, ?2, NULL, ?3, ?3, ?4, ?3, 1, ?5, '{\"cart\":[1]}', NULL, NULL, ?6)",
        rusqlite::params![
            id.to_string(),
            user,
            T0 as i64,
            (T0 + 600_000) as i64,
            "ab".repeat(32),
            (T0 + IDLE) as i64,
        ],
    )
    .unwrap();
}

fn schema_version(db: &TempDb) -> String {
    db.raw()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn slot(value: &str, until: u64) -> Slot {
    Slot {
        hash: cookie_digest(value),
        until,
    }
}

/// A bound state with all four slots (two bound cookies, two challenges) filled.
fn fully_bound(round: u64) -> Arc<BindingState> {
    let mut b = Binding::new(
        [7; 16],
        Arc::from(r#"{"crv":"P-256","kty":"EC","x":"eA","y":"eQ"}"#),
        [8; 32],
        T0 + round,
        slot(&format!("cookie-{round}"), T0 + 600_000 + round),
    );
    b.refreshed_at = T0 + round + 1;
    b.prev_cookie = Some(slot(&format!("cookie-{round}-prev"), T0 + 300_000 + round));
    b.challenge = Some(Slot {
        hash: challenge_digest(&format!("challenge-{round}")),
        until: T0 + 900_000,
    });
    b.prev_challenge = Some(Slot {
        hash: challenge_digest(&format!("challenge-{round}-prev")),
        until: T0 + 800_000,
    });
    Arc::new(BindingState::Bound(b))
}

#[test]
fn a_version_1_file_is_upgraded_in_place_and_its_sessions_load_unbound() {
    let db = TempDb::new();
    let id = new_id();
    version_1_file(&db, &id, "alice");

    let store = SqliteStore::open(&db.url()).unwrap();
    assert_eq!(schema_version(&db), "2");
    let columns: Vec<String> = db
        .raw()
        .prepare("SELECT name FROM pragma_table_info('sessions') WHERE name IN ('auth', 'binding')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(columns, ["auth", "binding"]);

    // The old row reads as it was written: not recorded, unbound; its data intact.
    let old = live(&store, &id, T0 + 10);
    assert_eq!(old.user.as_deref(), Some("alice"));
    assert_eq!((old.auth.clone(), old.binding.clone()), (None, None));
    assert_eq!(
        old.data.as_ref().and_then(|d| d.get("cart")),
        Some(&serde_json::json!([1]))
    );
    assert_eq!(
        old.authenticated().map(|a| a.at),
        Some(T0),
        "legacy: at creation"
    );
    assert_eq!(store.list_user("alice").unwrap()[0].binding, None);

    // And it takes a binding like any session of the new version.
    let bound = fully_bound(1);
    assert_eq!(
        store
            .swap_binding(&id, None, Some(bound.clone()), T0 + 20, IDLE)
            .unwrap(),
        Swapped::Done
    );
    match store.load_gated(&id, T0 + 30, IDLE, &Gate::JUDGED).unwrap() {
        Load::Live { record, .. } => assert_eq!(record.binding, Some(bound)),
        other => panic!("{other:?}"),
    }
    // The live count survived the upgrade (the cap reads it).
    let live_count: i64 = db
        .raw()
        .query_row("SELECT sessions FROM live", [], |r| r.get(0))
        .unwrap();
    assert_eq!(live_count, 1);

    // A second open finds version 2 and changes nothing.
    drop(store);
    let again = SqliteStore::open(&db.url()).unwrap();
    assert_eq!(schema_version(&db), "2");
    // The binding is enforced: a request without its bound cookie does not get the session.
    assert!(matches!(
        again.load(&id, T0 + 40, IDLE).unwrap(),
        Load::Unproven(tessera::binding::Missing::Absent, _)
    ));
}

/// Workers of an upgraded deployment start together on the old file: one upgrades it, the
/// others find it upgraded (an `ALTER TABLE` run twice would fail with "duplicate column").
#[test]
fn stores_opening_one_version_1_file_at_the_same_moment_all_work() {
    const OPENERS: usize = 4;
    for _ in 0..20 {
        let db = TempDb::new();
        let id = new_id();
        version_1_file(&db, &id, "bob");
        let barrier = std::sync::Barrier::new(OPENERS);
        std::thread::scope(|scope| {
            for _ in 0..OPENERS {
                scope.spawn(|| {
                    barrier.wait();
                    let store = SqliteStore::open(&db.url()).expect("every opener gets a store");
                    assert_eq!(live(&store, &id, T0 + 1).user.as_deref(), Some("bob"));
                });
            }
        });
        assert_eq!(schema_version(&db), "2");
    }
}

#[test]
fn a_version_2_record_round_trips_auth_amr_and_a_bound_binding() {
    let db = TempDb::new();
    let writer = SqliteStore::open(&db.url()).unwrap();
    // Another process on the same file reads what the first wrote.
    let reader = SqliteStore::open(&db.url()).unwrap();
    let mut r = record(Some("carol"), T0);
    r.auth = Some(Authn::new(2, ["pwd", "otp"]).unwrap());
    r.binding = Some(fully_bound(3));
    writer.insert(r.clone(), IDLE).unwrap();

    let got = match reader.load_gated(&r.id, T0, IDLE, &Gate::JUDGED).unwrap() {
        Load::Live { record, .. } => record,
        other => panic!("{other:?}"),
    };
    assert_eq!(got, r);
    let auth = got.authenticated().unwrap();
    assert_eq!((auth.at, auth.level), (got.created_at, 2));
    assert_eq!(auth.amr, ["pwd", "otp"]);
    let b = got
        .binding
        .as_deref()
        .and_then(BindingState::bound)
        .unwrap();
    assert!(b.cookie.is_some() && b.prev_cookie.is_some());
    assert!(b.challenge.is_some() && b.prev_challenge.is_some());
    assert_eq!(reader.list_user("carol").unwrap(), vec![r.clone()]);

    // The columns hold the core's one text encoding, readable in the shell; no cookie or
    // challenge value, only digests.
    let (auth_text, binding_text): (String, String) = db
        .raw()
        .query_row("SELECT auth, binding FROM sessions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(auth_text, r.auth.as_ref().unwrap().to_stored());
    assert_eq!(binding_text, r.binding.as_deref().unwrap().to_stored());
    for secret in ["cookie-3", "challenge-3"] {
        assert!(!binding_text.contains(secret), "{binding_text}");
    }

    // A rotation carries both; the swept record answers with them gone with it.
    let moved = writer
        .rekey(
            &r.id,
            &Rekey {
                new_id: new_id(),
                alias_until: None,
                secure: true,
                login: None,
            },
            T0 + 1,
            IDLE,
        )
        .unwrap()
        .unwrap();
    let after = live(&reader, &moved.id, T0 + 2);
    assert_eq!(
        (after.auth, after.binding),
        (r.auth.clone(), r.binding.clone())
    );
}

#[test]
fn an_unreadable_binding_never_makes_a_valid_session() {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url()).unwrap();
    let r = record(Some("dave"), T0);
    store.insert(r.clone(), IDLE).unwrap();
    for (column, junk) in [
        ("binding", r#"{"bound":{"id":"short"}}"#),
        ("auth", "{\"at\":1}"),
    ] {
        let raw = db.raw();
        raw.execute("UPDATE sessions SET auth = NULL, binding = NULL", [])
            .unwrap();
        raw.execute(&format!("UPDATE sessions SET {column} = ?1"), [junk])
            .unwrap();
        // Fail closed: not a session without its binding, not "unbound".
        let err = store.load(&r.id, T0 + 1, IDLE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StoreUnavailable, "{column}: {err}");
        assert_eq!(
            store.list_user("dave").unwrap_err().kind(),
            ErrorKind::StoreUnavailable
        );
    }
    // swap_binding never overwrites a binding it cannot read.
    db.raw()
        .execute(
            "UPDATE sessions SET auth = NULL, binding = '{\"offer\":1}'",
            [],
        )
        .unwrap();
    let err = store
        .swap_binding(&r.id, None, Some(fully_bound(1)), T0 + 2, IDLE)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreUnavailable);
}

/// A data write and a binding change on one session, from two processes at the same moment,
/// many times: each is one write transaction on its own column, so both always survive.
#[test]
fn a_data_write_and_a_binding_swap_racing_both_survive() {
    const ROUNDS: u64 = 200;
    let db = TempDb::new();
    let writer = SqliteStore::open(&db.url()).unwrap();
    let binder = SqliteStore::open(&db.url()).unwrap();
    let r = record(Some("erin"), T0);
    writer.insert(r.clone(), IDLE).unwrap();
    let barrier = std::sync::Barrier::new(2);
    let mut seen: Option<Arc<BindingState>> = None;
    for round in 1..=ROUNDS {
        let next = fully_bound(round);
        let (written, swapped) = std::thread::scope(|scope| {
            let data = scope.spawn(|| {
                barrier.wait();
                writer.update_data(
                    &r.id,
                    &DataOp::Set(format!("k{round}"), serde_json::json!(round)),
                    1 << 20,
                    T0 + round,
                    IDLE,
                )
            });
            let swap = scope.spawn(|| {
                barrier.wait();
                binder.swap_binding(&r.id, seen.as_ref(), Some(next.clone()), T0 + round, IDLE)
            });
            (data.join().unwrap(), swap.join().unwrap())
        });
        written.expect("the data write");
        assert_eq!(swapped.expect("the swap"), Swapped::Done, "round {round}");
        let now = match writer
            .load_gated(&r.id, T0 + round, IDLE, &Gate::JUDGED)
            .unwrap()
        {
            Load::Live { record, .. } => record,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            now.binding.as_ref(),
            Some(&next),
            "round {round}: the binding survived"
        );
        let data = now.data.expect("data");
        assert_eq!(
            data.len() as u64,
            round,
            "round {round}: every data write survived"
        );
        assert_eq!(
            data.get(&format!("k{round}")),
            Some(&serde_json::json!(round))
        );
        seen = Some(next);
    }
}
