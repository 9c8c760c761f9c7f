//! The Redis store against a real `redis-server` started for this test binary: the store
//! conformance cases, one round trip per validate, fail-closed behaviour and recovery, AUTH.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tessera::store::RedisStore;
use tessera::{Config, Context, ManualClock, SessionManager, Store, Validation};
use tessera_tests::redis_server::RedisServer;

fn server() -> Option<&'static RedisServer> {
    static SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start).as_ref()
}

fn fresh_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("t{}", N.fetch_add(1, Ordering::SeqCst))
}

/// A store with a prefix of its own on the shared server (skips when there is no redis-server).
fn store() -> Option<RedisStore> {
    server().map(|s| RedisStore::open(&s.url(&fresh_prefix())).expect("open"))
}

/// The conformance cases, each on a fresh prefix.
mod conformance {
    tessera::store_conformance_tests!(optional super::store());
}

fn manager(url: &str, clock: &ManualClock) -> SessionManager {
    SessionManager::builder(Config::default())
        .store(RedisStore::open(url).expect("open"))
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .expect("build")
}

/// The commands that mention `prefix` which clients sent while `f` ran, as MONITOR shows them
/// (commands that scripts run inside Redis are marked `lua`: they cost no round trip). Other
/// tests use the server at the same time, under other prefixes.
fn client_commands(server: &RedisServer, prefix: &str, f: impl FnOnce()) -> Vec<String> {
    let mut monitor = server.connection();
    monitor
        .send_packed_command(&redis::cmd("MONITOR").get_packed_command())
        .expect("monitor");
    let _ok: redis::Value = monitor.recv_response().expect("monitor ok");
    f();
    let mut marker = server.connection();
    let _: String = redis::cmd("ECHO")
        .arg("tessera-test-end")
        .query(&mut marker)
        .expect("echo");
    let mut seen = Vec::new();
    loop {
        let line: String =
            redis::from_redis_value(monitor.recv_response().expect("monitor line")).expect("text");
        if line.contains("tessera-test-end") {
            return seen;
        }
        if !line.contains(" lua]") && line.contains(prefix) {
            seen.push(line);
        }
    }
}

#[test]
fn a_validate_of_a_live_session_is_one_round_trip() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = format!("one-trip-{}", fresh_prefix());
    let m = manager(&server.url(&prefix), &clock);
    let s = m.create(Some("alice"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    m.validate(&token, &Context::HTTPS).unwrap(); // scripts loaded, connection open
    let mut verdict = None;
    let sent = client_commands(server, &format!("\"{prefix}\""), || {
        verdict = Some(m.validate(&token, &Context::HTTPS).unwrap())
    });
    assert!(matches!(verdict, Some(Validation::Valid(_))));
    assert_eq!(sent.len(), 1, "one command per validate, got {sent:?}");
    assert!(sent[0].contains("\"EVALSHA\""), "{sent:?}");
}

#[test]
fn sessions_are_shared_between_managers_and_hold_no_token() {
    let Some(server) = server() else { return };
    let url = server.url(&fresh_prefix());
    let clock = ManualClock::default();
    let (a, b) = (manager(&url, &clock), manager(&url, &clock));
    let s = a.login(None, "bob", &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let Validation::Valid(seen) = b.validate(&token, &Context::HTTPS).unwrap() else {
        panic!("another manager on the same Redis sees the session")
    };
    assert_eq!(seen.user(), Some("bob"));
    assert!(b.logout(&token).unwrap());
    assert!(matches!(
        a.validate(&token, &Context::HTTPS).unwrap(),
        Validation::Rejected(_)
    ));
    // Nothing in Redis contains the token.
    let s = a.create(Some("carol"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let mut conn = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    for key in keys {
        assert!(!key.contains(&token));
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).unwrap();
        let dump: Vec<String> = match kind.as_str() {
            "hash" => redis::cmd("HVALS").arg(&key).query(&mut conn).unwrap(),
            "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn).unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .unwrap(),
            _ => vec![redis::cmd("GET").arg(&key).query(&mut conn).unwrap()],
        };
        assert!(
            dump.iter().all(|v| !v.contains(&token)),
            "{key} holds the token"
        );
    }
}

#[test]
fn redis_down_fails_closed_within_the_timeout_and_recovers() {
    let Some(mut own) = RedisServer::start() else {
        return;
    };
    let url = own.url("down");
    let clock = ManualClock::default();
    let m = manager(&url, &clock);
    let s = m.create(Some("dan"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    own.kill();
    let started = Instant::now();
    let err = m.validate(&token, &Context::HTTPS).unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
    assert!(!err.to_string().contains(&token));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeouts"
    );
    assert_eq!(
        m.login(None, "dan", &Context::HTTPS).unwrap_err().code(),
        "store_unavailable"
    );
    own.restart();
    // The data died with the server (no persistence), but service resumes without a restart.
    assert!(matches!(
        m.validate(&token, &Context::HTTPS).unwrap(),
        Validation::Rejected(_)
    ));
    let again = m.login(None, "dan", &Context::HTTPS).unwrap();
    let t = again.new_token().unwrap().expose();
    assert!(matches!(
        m.validate(&t, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
}

#[test]
fn requirepass_is_honoured() {
    let Some(own) = RedisServer::start_with(Some("s3cret-pass")) else {
        return;
    };
    let clock = ManualClock::default();
    let m = manager(&own.url("auth"), &clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let t = s.new_token().unwrap().expose();
    assert!(matches!(
        m.validate(&t, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
    let wrong = own.url("auth").replace("s3cret-pass", "wrong");
    let m2 = manager(&wrong, &clock);
    let err = m2.validate(&t, &Context::HTTPS).unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
    assert!(
        !err.to_string().contains("wrong"),
        "no password in messages: {err}"
    );
}

#[test]
fn key_ttls_follow_the_sessions_own_expiry() {
    let Some(server) = server() else { return };
    let prefix = fresh_prefix();
    let clock = ManualClock::default();
    let m = manager(&server.url(&prefix), &clock);
    let s = m.create(Some("ttl"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let key = format!("{prefix}:s:{}", s.id());
    let mut conn = server.connection();
    let mut pttl = || -> i64 { redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap() };
    // TTL = remaining life + 1 s of slack; Redis drops the key itself once nobody touches it.
    assert!(pttl() > 30 * 60_000, "the configured 30 minutes");
    m.set_expiry(s.id(), Some(Duration::from_secs(5)), None)
        .unwrap();
    let shortened = pttl();
    assert!((1..=6_000).contains(&shortened), "{shortened}");
    // A validate refreshes the TTL by the session's own idle timeout, not the configured one.
    assert!(matches!(
        m.validate(&token, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
    let refreshed = pttl();
    assert!((1..=6_000).contains(&refreshed), "{refreshed}");
    m.set_expiry(s.id(), None, Some(m.now() + 2_000)).unwrap();
    let ending = pttl();
    assert!((1..=3_000).contains(&ending), "{ending}");
    m.set_expiry(s.id(), None, None).unwrap();
    assert!(pttl() > 30 * 60_000, "restored");
}

#[test]
fn store_reports_being_networked() {
    let store = RedisStore::open("redis://127.0.0.1:1/0").unwrap();
    assert!(store.is_networked());
}
