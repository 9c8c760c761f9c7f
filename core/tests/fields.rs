//! A read that asks for fewer of a session's larger parts (`Context::fields`) answers the same
//! on every store and fails closed where a missing part matters; a rotation during the read
//! changes nothing about what it answers.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tessera::store::SqliteStore;
use tessera::{Config, Context, Fields, ManualClock, MemoryStore, SessionManager, Store};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Tessera-fields-test";

/// Removes its SQLite file (and WAL files) on drop.
struct TempDb(std::path::PathBuf);

impl TempDb {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        TempDb(std::env::temp_dir().join(format!(
            "tessera-fields-{}-{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn manager(store: impl Store + 'static, clock: &ManualClock, config: Config) -> SessionManager {
    SessionManager::builder(config)
        .store(store)
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .unwrap()
}

fn ctx(fields: Fields) -> Context<'static> {
    Context {
        fields,
        ..Context::HTTPS
    }
}

/// Sign a session in with data and a user agent; its token and a CSRF token minted for it.
fn signed_in(m: &SessionManager) -> (String, String) {
    let with_ua = Context {
        user_agent: Some(UA),
        ..Context::HTTPS
    };
    let s = m.login(None, "alice", &with_ua).unwrap();
    let token = s.new_token().unwrap().expose();
    let mut cart = tessera::Data::new();
    cart.insert("cart".into(), json!(2));
    m.update_data(s.id(), tessera::DataOp::Replace(cart))
        .unwrap();
    (token, s.csrf_token().unwrap())
}

fn check_store(m: &SessionManager, clock: &ManualClock) {
    let (token, csrf) = signed_in(m);

    let all = m
        .validate(&token, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(all.fields(), Fields::ALL);
    assert_eq!(all.get("cart"), Some(&json!(2)));
    assert_eq!(all.user_agent(), Some(UA));
    assert!(all.verify_csrf(&csrf));

    let none = m
        .validate(&token, &ctx(Fields::NONE))
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(none.user(), Some("alice"), "the user always comes back");
    assert!(none.authenticated().is_some());
    assert_eq!(none.get("cart"), None);
    assert!(none.data_shared().is_none());
    assert_eq!(none.user_agent(), None);
    assert!(!none.verify_csrf(&csrf), "no secret read: nothing verifies");
    assert!(none.csrf_token().is_err());
    assert!(!none.record().csrf.verify(&csrf), "nor through the record");

    let data_only = m
        .validate(&token, &ctx(Fields::DATA))
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(data_only.get("cart"), Some(&json!(2)));
    assert!(!data_only.verify_csrf(&csrf));
    let csrf_only = m
        .validate(&token, &ctx(Fields::CSRF))
        .unwrap()
        .session()
        .unwrap();
    assert!(csrf_only.verify_csrf(&csrf));
    assert_eq!(csrf_only.get("cart"), None);
    assert_eq!(csrf_only.user_agent(), None);

    // The session itself is untouched by the narrow reads.
    let again = m
        .validate(&token, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert_eq!(again.get("cart"), Some(&json!(2)));
    assert!(again.verify_csrf(&csrf));

    // A read that rotates the token answers as narrowly as one that does not.
    clock.advance(std::time::Duration::from_secs(16 * 60));
    let rotated = m
        .validate(&token, &ctx(Fields::DATA))
        .unwrap()
        .session()
        .unwrap();
    assert!(
        rotated.new_token().is_some(),
        "the rotation interval passed"
    );
    assert_eq!(rotated.get("cart"), Some(&json!(2)));
    assert!(!rotated.verify_csrf(&csrf));
    assert_eq!(rotated.user_agent(), None);
    let next = rotated.new_token().unwrap().expose();
    let full = m
        .validate(&next, &Context::HTTPS)
        .unwrap()
        .session()
        .unwrap();
    assert!(full.verify_csrf(&csrf), "the secret survived the rotation");
    assert_eq!(full.user_agent(), Some(UA));
}

#[test]
fn narrow_reads_answer_alike_on_the_memory_store() {
    let clock = ManualClock::default();
    check_store(
        &manager(MemoryStore::new(), &clock, Config::default()),
        &clock,
    );
}

#[test]
fn narrow_reads_answer_alike_on_sqlite() {
    let db = TempDb::new();
    let clock = ManualClock::default();
    let store = SqliteStore::open(&format!("sqlite://{}", db.0.display())).unwrap();
    check_store(&manager(store, &clock, Config::default()), &clock);
}

#[test]
fn the_request_protocol_reads_data_and_csrf_but_not_the_user_agent() {
    let clock = ManualClock::default();
    let m = manager(MemoryStore::new(), &clock, Config::default());
    let (token, csrf) = signed_in(&m);
    let cookie = format!("{}={token}", m.config().cookie_name);
    let head = tessera::http::RequestHead {
        method: "POST",
        cookie_header: Some(&cookie),
        https: true,
        csrf_candidate: Some(&csrf),
        ..Default::default()
    };
    let request = tessera::http::begin(&m, &head).unwrap();
    assert_eq!(request.csrf(), tessera::http::CsrfCheck::Valid);
    assert_eq!(request.data().get("cart"), Some(&json!(2)));
    let session = request.session().unwrap();
    assert_eq!(session.fields(), Fields::DATA | Fields::CSRF);
    assert_eq!(session.user_agent(), None);
}

#[test]
fn validate_into_writes_the_session_it_would_return() {
    let clock = ManualClock::default();
    let m = manager(MemoryStore::new(), &clock, Config::default());
    let (token, csrf) = signed_in(&m);
    let mut place = std::mem::MaybeUninit::uninit();
    let session = m
        .validate_into(&token, &ctx(Fields::DATA), &mut place)
        .unwrap()
        .expect("a live token");
    assert_eq!(session.user(), Some("alice"));
    assert_eq!(session.get("cart"), Some(&json!(2)));
    assert!(!session.verify_csrf(&csrf));
    // Taken back out, so it is dropped like any session (the Arcs it holds are released).
    let owned = std::mem::replace(session, m.create(None, None, &Context::HTTPS).unwrap());
    assert_eq!(owned.fields(), Fields::DATA);
    let mut place = std::mem::MaybeUninit::uninit();
    let refused = m.validate_into("x", &Context::HTTPS, &mut place).unwrap();
    assert_eq!(refused.err(), Some(tessera::Reason::Malformed));
}
