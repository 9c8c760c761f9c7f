//! Manager behaviour the JSON conformance corpus cannot express: redaction, listeners,
//! failing stores, the background sweeper, cookies end to end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tessera::data::{Data, DataOp};
use tessera::record::{Load, Record, Rekey, Removed};
use tessera::{
    Config, Context, CookieToken, Error, ErrorKind, Event, EventKind, ManualClock, MemoryStore,
    Pepper, Reason, SessionId, SessionManager, Store, UnixMillis, Validation,
};

fn manager_with(config: Config, clock: &ManualClock) -> SessionManager {
    SessionManager::builder(config)
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap()
}

fn manager(clock: &ManualClock) -> SessionManager {
    manager_with(Config::default(), clock)
}

fn token_of(s: &tessera::Session) -> String {
    s.new_token().expect("a new token").expose()
}

#[test]
fn nothing_the_manager_prints_contains_a_token() {
    let clock = ManualClock::default();
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = Arc::clone(&events);
    let m = SessionManager::builder(Config::default())
        .clock(clock.clone())
        .sweep_interval(None)
        .listener(move |e| sink.lock().push(e.clone()))
        .build()
        .unwrap();
    let s = m.create(Some("alice"), None, &Context::default()).unwrap();
    let t1 = token_of(&s);
    clock.advance(Duration::from_secs(16 * 60));
    let Validation::Valid(rotated) = m.validate(&t1, &Context::default()).unwrap() else {
        panic!("valid")
    };
    let t2 = token_of(&rotated);
    let s3 = m.login(Some(&t2), "alice", &Context::HTTPS).unwrap();
    let t3 = token_of(&s3);
    m.validate(&t1, &Context::default()).unwrap();
    m.logout(&t3).unwrap();
    let err = m.set(s3.id(), "k", json!(1)).unwrap_err();

    let mut printed = format!("{s:?} {rotated:?} {s3:?} {err} {err:?} {m:?}");
    for e in events.lock().iter() {
        printed.push_str(&format!("{e:?}"));
    }
    for t in [&t1, &t2, &t3] {
        assert!(
            !printed.contains(t.as_str()),
            "a token leaked into {printed}"
        );
    }
    let kinds: Vec<EventKind> = events.lock().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Rotated,
            EventKind::Login,
            EventKind::Rejected,
            EventKind::Logout
        ]
    );
}

#[test]
fn a_panicking_listener_does_not_break_the_request() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    m.add_listener(|_| panic!("listener bug"));
    m.add_listener(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let s = m.create(None, None, &Context::default()).unwrap();
    assert!(matches!(
        m.validate(&token_of(&s), &Context::default()).unwrap(),
        Validation::Valid(_)
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "later listeners still run");
}

#[test]
fn pepper_changes_ids_and_tokens_do_not_cross_managers() {
    let clock = ManualClock::default();
    let plain = manager(&clock);
    let peppered = manager_with(
        Config {
            pepper: Some(Pepper::new(b"0123456789abcdef-pepper".to_vec())),
            ..Config::default()
        },
        &clock,
    );
    let s = plain.create(None, None, &Context::default()).unwrap();
    let t = token_of(&s);
    assert_eq!(plain.id_of(&t).unwrap(), *s.id());
    assert_ne!(peppered.id_of(&t).unwrap(), *s.id());
    assert_eq!(plain.id_of("nope"), Err(Reason::Malformed));
}

#[test]
fn cookies_round_trip_through_the_manager() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let set = m.set_cookie(s.new_token().unwrap());
    let pair = set.split(';').next().unwrap();
    let header = format!("theme=dark; {pair}");
    let token = m.token_from_cookie_header(&header).value().unwrap();
    assert!(matches!(
        m.validate(token, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
    let tossed = format!("{header}; {pair}");
    assert_eq!(m.token_from_cookie_header(&tossed), CookieToken::Ambiguous);
    assert!(m.clear_cookie().starts_with("__Host-session=; Max-Age=0"));
}

#[test]
fn csrf_tokens_belong_to_one_session_and_die_with_it() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let a = m.create(None, None, &Context::default()).unwrap();
    let b = m.create(None, None, &Context::default()).unwrap();
    let (ta, tb) = (token_of(&a), token_of(&b));
    let csrf = m.csrf_token(&ta).unwrap();
    assert!(a.verify_csrf(&csrf));
    assert!(m.verify_csrf(&ta, &csrf).unwrap());
    assert!(!m.verify_csrf(&tb, &csrf).unwrap());
    m.logout(&ta).unwrap();
    assert!(!m.verify_csrf(&ta, &csrf).unwrap());
    assert_eq!(
        m.csrf_token(&ta).unwrap_err().reason(),
        Some(Reason::Unknown)
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let long = "u".repeat(2000);
    for user in ["", long.as_str()] {
        assert_eq!(
            m.login(None, user, &Context::default()).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            m.create(Some(user), None, &Context::default())
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            m.revoke_user(user).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let mut big = Data::new();
    big.insert("k".into(), json!("x".repeat(70_000)));
    assert_eq!(
        m.create(None, Some(big), &Context::default())
            .unwrap_err()
            .kind(),
        ErrorKind::DataTooLarge
    );
    assert_eq!(m.store_len().unwrap(), 0, "a refused create stores nothing");
    let mut empty_key = Data::new();
    empty_key.insert(String::new(), json!(1));
    assert_eq!(
        m.create(None, Some(empty_key), &Context::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "create checks keys as every other write does"
    );
    assert_eq!(
        m.login(None, "a\0b", &Context::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument,
        "a NUL could not cross the C ABI"
    );
    assert!(!m.logout("").unwrap());
    assert!(SessionId::parse_hex("xyz").is_err());
}

#[test]
fn the_user_agent_is_recorded_clipped_and_listed() {
    let clock = ManualClock::default();
    let m = manager(&clock);
    let ua = "é".repeat(200); // 400 bytes: clipped at a character boundary
    let ctx = Context {
        https: true,
        user_agent: Some(&ua),
        ..Context::default()
    };
    let s = m.login(None, "zoe", &ctx).unwrap();
    let listed = m.list_user("zoe").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, *s.id());
    let recorded = listed[0].user_agent.as_deref().unwrap();
    assert!(recorded.len() <= 256 && ua.starts_with(recorded));
}

/// A memory store whose every call first passes through `hook(operation name)`: it can count
/// calls or fail them, as a Redis that goes down would.
struct Hooked<F> {
    inner: MemoryStore,
    hook: F,
}

impl<F: Fn(&str) -> tessera::Result<()> + Send + Sync + 'static> Store for Hooked<F> {
    fn insert_within(
        &self,
        record: Record,
        idle_ms: u64,
        max_sessions: Option<usize>,
    ) -> tessera::Result<Vec<tessera::record::Removed>> {
        (self.hook)("insert")?;
        self.inner.insert_within(record, idle_ms, max_sessions)
    }
    fn load_gated(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
        gate: &tessera::binding::Gate,
    ) -> tessera::Result<Load> {
        (self.hook)("load")?;
        self.inner.load_gated(id, now, idle_ms, gate)
    }
    fn swap_binding(
        &self,
        id: &SessionId,
        expected: Option<&Arc<tessera::binding::BindingState>>,
        new: Option<Arc<tessera::binding::BindingState>>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<tessera::binding::Swapped> {
        (self.hook)("swap_binding")?;
        self.inner.swap_binding(id, expected, new, now, idle_ms)
    }
    fn rekey(
        &self,
        id: &SessionId,
        change: &Rekey,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<Option<Record>> {
        (self.hook)("rekey")?;
        self.inner.rekey(id, change, now, idle_ms)
    }
    fn update_data(
        &self,
        id: &SessionId,
        op: &DataOp,
        max_bytes: usize,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<Option<Arc<Data>>> {
        (self.hook)("update_data")?;
        self.inner.update_data(id, op, max_bytes, now, idle_ms)
    }
    fn mark_insecure(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<bool> {
        (self.hook)("mark_insecure")?;
        self.inner.mark_insecure(id, now, idle_ms)
    }
    fn set_expiry(
        &self,
        id: &SessionId,
        change: &tessera::record::ExpiryChange,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<Option<Record>> {
        (self.hook)("set_expiry")?;
        self.inner.set_expiry(id, change, now, idle_ms)
    }
    fn remove(
        &self,
        id: &SessionId,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<Option<Removed>> {
        (self.hook)("remove")?;
        self.inner.remove(id, now, idle_ms)
    }
    fn remove_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
        now: UnixMillis,
        idle_ms: u64,
    ) -> tessera::Result<Vec<Removed>> {
        (self.hook)("remove_user")?;
        self.inner.remove_user(user, keep, now, idle_ms)
    }
    fn remove_all(&self, now: UnixMillis, idle_ms: u64) -> tessera::Result<usize> {
        (self.hook)("remove_all")?;
        self.inner.remove_all(now, idle_ms)
    }
    fn list_user(&self, user: &str) -> tessera::Result<Vec<Record>> {
        (self.hook)("list_user")?;
        self.inner.list_user(user)
    }
    fn sweep(&self, now: UnixMillis, idle_ms: u64) -> tessera::Result<Vec<Removed>> {
        (self.hook)("sweep")?;
        self.inner.sweep(now, idle_ms)
    }
    fn len(&self) -> tessera::Result<usize> {
        (self.hook)("len")?;
        self.inner.len()
    }
}

#[test]
fn a_store_that_is_down_fails_closed_and_recovers() {
    let clock = ManualClock::default();
    let down = Arc::new(AtomicBool::new(false));
    let switch = Arc::clone(&down);
    let m = SessionManager::builder(Config::default())
        .store(Hooked {
            inner: MemoryStore::with_shards(4),
            hook: move |_: &str| {
                if switch.load(Ordering::SeqCst) {
                    Err(Error::store_unavailable("connection refused"))
                } else {
                    Ok(())
                }
            },
        })
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap();
    let s = m.create(Some("amy"), None, &Context::default()).unwrap();
    let t = token_of(&s);
    down.store(true, Ordering::SeqCst);
    let err = m.validate(&t, &Context::default()).unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
    assert_eq!(
        m.login(Some(&t), "amy", &Context::default())
            .unwrap_err()
            .code(),
        "store_unavailable"
    );
    assert_eq!(m.logout(&t).unwrap_err().code(), "store_unavailable");
    assert!(m.verify_csrf(&t, "x").is_err());
    // Malformed input is refused without asking the store at all.
    assert_eq!(
        m.validate("short", &Context::default()).unwrap().reason(),
        Some(Reason::Malformed)
    );
    down.store(false, Ordering::SeqCst);
    assert!(matches!(
        m.validate(&t, &Context::default()).unwrap(),
        Validation::Valid(_)
    ));
}

#[test]
fn the_background_sweeper_removes_expired_sessions_and_stops_with_the_manager() {
    let clock = ManualClock::default();
    let sweeps = Arc::new(AtomicUsize::new(0));
    let m = SessionManager::builder(Config::default())
        .store(Hooked {
            inner: MemoryStore::with_shards(2),
            hook: {
                let sweeps = Arc::clone(&sweeps);
                move |op: &str| {
                    if op == "sweep" {
                        sweeps.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(())
                }
            },
        })
        .clock(clock.clone())
        .sweep_interval(Some(Duration::from_millis(5)))
        .build()
        .unwrap();
    m.create(None, None, &Context::default()).unwrap();
    clock.advance(Duration::from_secs(3600));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while m.store_len().unwrap() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        m.store_len().unwrap(),
        0,
        "the sweeper removed the expired session"
    );
    drop(m);
    let after_drop = sweeps.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        sweeps.load(Ordering::SeqCst),
        after_drop,
        "no sweep after the manager is gone"
    );
    assert!(
        SessionManager::builder(Config::default())
            .sweep_interval(Some(Duration::ZERO))
            .build()
            .is_err()
    );
}

#[test]
fn sweep_cost_follows_what_expired_not_the_store_size() {
    // 100 sessions that expire among 20 000 that stay alive: the sweep examines only the
    // wheel entries that came due, which the store reports.
    let clock = ManualClock::default();
    let store = Arc::new(MemoryStore::with_shards(8));
    let m = SessionManager::builder(Config {
        idle_timeout: Duration::from_secs(60),
        ..Config::default()
    })
    .store(Arc::clone(&store))
    .clock(clock.clone())
    .sweep_interval(None)
    .build()
    .unwrap();
    for _ in 0..100 {
        m.create(None, None, &Context::default()).unwrap();
    }
    clock.advance(Duration::from_secs(30));
    let mut live = Vec::new();
    for _ in 0..20_000 {
        live.push(token_of(
            &m.create(None, None, &Context::default()).unwrap(),
        ));
    }
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        store.due_at(m.now()),
        100,
        "only the expired sessions are due"
    );
    assert_eq!(m.sweep().unwrap(), 100);
    assert_eq!(store.due_at(m.now()), 0);
    assert_eq!(m.store_len().unwrap(), 20_000);
    for t in live.iter().step_by(97) {
        assert!(matches!(
            m.validate(t, &Context::default()).unwrap(),
            Validation::Valid(_)
        ));
    }
    // Touched sessions are re-filed, not lost: once they idle out, all of them are swept.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(m.sweep().unwrap(), 20_000);
    assert_eq!(m.store_len().unwrap(), 0);
}

#[test]
fn the_session_cap_evicts_anonymous_sessions_with_an_event_and_refuses_when_all_are_signed_in() {
    let clock = ManualClock::default();
    let config = Config {
        max_sessions: Some(2),
        ..Config::default()
    };
    let m = SessionManager::builder(config)
        .store(MemoryStore::with_shards(1))
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    m.add_listener(move |e| log.lock().push((e.kind, e.id)));
    let first = m.create(None, None, &Context::HTTPS).unwrap();
    clock.advance(Duration::from_secs(1));
    let second = m.create(None, None, &Context::HTTPS).unwrap();
    clock.advance(Duration::from_secs(1));
    m.create(None, None, &Context::HTTPS).unwrap();
    assert!(
        seen.lock()
            .contains(&(EventKind::Evicted, Some(*first.id()))),
        "{:?}",
        seen.lock()
    );
    assert!(matches!(
        m.validate(&token_of(&first), &Context::HTTPS).unwrap(),
        Validation::Rejected(Reason::Unknown)
    ));
    // Two sign-ins fill the store; then an anonymous visitor is refused, a sign-in is not.
    m.login(Some(&token_of(&second)), "alice", &Context::HTTPS)
        .unwrap();
    m.create(Some("bob"), None, &Context::HTTPS).unwrap();
    let full = m.create(None, None, &Context::HTTPS).unwrap_err();
    assert_eq!(full.code(), "store_full");
    m.create(Some("carol"), None, &Context::HTTPS).unwrap();
    assert_eq!(m.store_len().unwrap(), 3);
}
