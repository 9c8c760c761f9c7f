//! The Redis store against a real `redis-server` started for this test binary: the store
//! conformance cases, one round trip per validate, fail-closed behaviour and recovery, AUTH.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use tessera::binding::{
    Binding, BindingState, Gate, Presented, Slot, Swapped, challenge_digest, cookie_digest,
};
use tessera::csrf::CsrfSecret;
use tessera::record::{BindingChange, Load, LoginChange, Rekey};
use tessera::store::RedisStore;
use tessera::{
    Authn, Config, Context, DataOp, ManualClock, Record, SessionId, SessionManager, Store,
    Validation,
};
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
    monitored(server, prefix, false, f)
}

/// Like `client_commands`, but also the commands scripts ran inside Redis (`lua`).
fn all_commands(server: &RedisServer, prefix: &str, f: impl FnOnce()) -> Vec<String> {
    monitored(server, prefix, true, f)
}

fn monitored(server: &RedisServer, prefix: &str, scripts: bool, f: impl FnOnce()) -> Vec<String> {
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
        if (scripts || !line.contains(" lua]")) && line.contains(prefix) {
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
    let sent = client_commands(server, &prefix, || {
        verdict = Some(m.validate(&token, &Context::HTTPS).unwrap())
    });
    assert!(matches!(verdict, Some(Validation::Valid(_))));
    assert_eq!(sent.len(), 1, "one command per validate, got {sent:?}");
    assert!(
        sent[0].contains("\"HGETALL\""),
        "a plain read, no script: {sent:?}"
    );
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
    // The refused reconnect opened the circuit breaker: calls now fail without trying to connect.
    let fast = m.validate(&token, &Context::HTTPS).unwrap_err();
    assert!(
        fast.to_string().contains("reconnecting in the background"),
        "{fast}"
    );
    own.restart();
    // The data died with the server (no persistence), but service resumes without a restart,
    // as soon as the breaker's background probe has reconnected.
    let back = Instant::now();
    let answer = loop {
        match m.validate(&token, &Context::HTTPS) {
            Err(e)
                if e.code() == "store_unavailable" && back.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::yield_now()
            }
            other => break other.unwrap(),
        }
    };
    assert!(matches!(answer, Validation::Rejected(_)));
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
    let key = format!("{{{prefix}}}:s:{}", s.id());
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

#[test]
fn a_validate_writes_only_once_seen_lags_by_the_touch_slack() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = format!("lazy-{}", fresh_prefix());
    let m = manager(&server.url(&prefix), &clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let validate = || {
        let mut verdict = None;
        let sent = all_commands(server, &prefix, || {
            verdict = Some(m.validate(&token, &Context::HTTPS).unwrap())
        });
        assert!(matches!(verdict, Some(Validation::Valid(_))));
        sent.iter()
            .any(|c| c.contains("\"HSET\"") || c.contains("\"PEXPIRE\""))
    };
    // 30 min idle: the slack is 28.125 s (store::touch_slack_ms).
    clock.advance(Duration::from_secs(28));
    assert!(!validate(), "a validate within the slack is a read");
    clock.advance(Duration::from_secs(1));
    assert!(validate(), "past the slack, seen and the TTL are written");
    assert!(!validate(), "and then it is a read again");
}

#[test]
fn an_index_never_keeps_sessions_redis_expired_past_one_sweep() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = fresh_prefix();
    let m = manager(&server.url(&prefix), &clock);
    let mut conn = server.connection();
    let ids: Vec<String> = (0..3)
        .map(|_| {
            m.login(None, "erin", &Context::HTTPS)
                .unwrap()
                .id()
                .to_string()
        })
        .collect();
    let kept = m.login(None, "erin", &Context::HTTPS).unwrap();
    let kept_token = kept.new_token().unwrap().expose();
    // Redis drops the hashes through their TTLs (done here at once, as it would ~1 s after they
    // are due) while the kept session stays in use.
    for id in &ids {
        let _: () = redis::cmd("DEL")
            .arg(format!("{{{prefix}}}:s:{id}"))
            .query(&mut conn)
            .unwrap();
    }
    clock.advance(Duration::from_secs(29 * 60));
    // (The validate may rotate the kept session to a new id: the policy's rotation interval.)
    let Validation::Valid(kept) = m.validate(&kept_token, &Context::HTTPS).unwrap() else {
        panic!("the kept session is in use")
    };
    clock.advance(Duration::from_secs(2 * 60));
    m.sweep().unwrap();
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{{{prefix}}}:u:erin"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(members, vec![kept.id().to_string()]);
}

#[test]
fn the_user_index_matches_the_live_sessions_after_every_sweep() {
    // A model check: random logins, logouts, rotations, time passing, Redis expiring keys
    // through their TTLs (emulated: the test deletes what Redis would have) and sweeps; after
    // each sweep every user's index holds exactly that user's sessions still in Redis.
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = fresh_prefix();
    let m = manager(&server.url(&prefix), &clock);
    let mut conn = server.connection();
    let users = ["u0", "u1", "u2"];
    let mut tokens: Vec<String> = Vec::new();
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for step in 0..400 {
        match next(6) {
            0 | 1 => {
                let user = users[next(3) as usize];
                let s = m.login(None, user, &Context::HTTPS).unwrap();
                tokens.push(s.new_token().unwrap().expose());
            }
            2 if !tokens.is_empty() => {
                let t = tokens.swap_remove(next(tokens.len() as u64) as usize);
                m.logout(&t).unwrap();
            }
            3 if !tokens.is_empty() => {
                let i = next(tokens.len() as u64) as usize;
                if let Validation::Valid(s) = m.rotate(&tokens[i], &Context::HTTPS).unwrap() {
                    tokens[i] = s.new_token().unwrap().expose();
                }
            }
            4 => clock.advance(Duration::from_secs(next(20 * 60))),
            _ => {
                // What Redis's TTLs would have removed by now (the store sets TTL = due + 1 s).
                let now = m.now();
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{{{prefix}}}:s:*"))
                    .query(&mut conn)
                    .unwrap();
                for key in keys {
                    let (seen, deadline): (u64, u64) = redis::cmd("HMGET")
                        .arg(&key)
                        .arg("seen")
                        .arg("deadline")
                        .query(&mut conn)
                        .unwrap();
                    if seen.saturating_add(30 * 60_000).min(deadline) + 1_000 <= now {
                        let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
                    }
                }
                m.sweep().unwrap();
                for user in users {
                    let mut index: Vec<String> = redis::cmd("SMEMBERS")
                        .arg(format!("{{{prefix}}}:u:{user}"))
                        .query(&mut conn)
                        .unwrap();
                    index.sort();
                    let mut live: Vec<String> = Vec::new();
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{{{prefix}}}:s:*"))
                        .query(&mut conn)
                        .unwrap();
                    for key in keys {
                        let owner: Option<String> = redis::cmd("HGET")
                            .arg(&key)
                            .arg("user")
                            .query(&mut conn)
                            .unwrap();
                        if owner.as_deref() == Some(user) {
                            live.push(key.rsplit(':').next().unwrap().to_owned());
                        }
                    }
                    live.sort();
                    assert_eq!(index, live, "step {step}, user {user}");
                }
            }
        }
    }
}

#[test]
fn scripts_refuse_a_session_of_another_schema_version_without_changing_it() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = fresh_prefix();
    let m = manager(&server.url(&prefix), &clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let key = format!("{{{prefix}}}:s:{}", s.id());
    let mut conn = server.connection();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("v")
        .arg("3")
        .query(&mut conn)
        .unwrap();
    let before: Vec<String> = redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap();
    let err = m.set(s.id(), "k", serde_json::json!("v")).unwrap_err();
    assert!(err.to_string().contains("schema version 3"), "{err}");
    clock.advance(Duration::from_secs(60));
    let err = m.validate(&token, &Context::HTTPS).unwrap_err();
    assert!(err.to_string().contains("schema version 3"), "{err}");
    assert!(m.logout(&token).is_err());
    let after: Vec<String> = redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap();
    assert_eq!(before, after, "nothing written");
}

#[test]
fn a_data_write_racing_a_rotation_follows_the_alias() {
    // The race, replayed step by step with the store's own scripts: a writer reads the
    // session (version, target id), a rotation moves it to a new id, then the write lands on
    // the old id. The memory store follows the alias; so must Redis.
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = fresh_prefix();
    let m = manager(&server.url(&prefix), &clock);
    let s = m.create(None, None, &Context::HTTPS).unwrap();
    let old_id = s.id().to_string();
    let token = s.new_token().unwrap().expose();
    let mut conn = server.connection();
    let version: Option<String> = redis::cmd("HGET")
        .arg(format!("{{{prefix}}}:s:{old_id}"))
        .arg("ver")
        .query(&mut conn)
        .unwrap();
    let Validation::Valid(rotated) = m.rotate(&token, &Context::HTTPS).unwrap() else {
        panic!("rotated")
    };
    let script = redis::Script::new(&format!(
        "local SCHEMA = '2'\n{}{}",
        include_str!("../../core/src/store/redis/lua/common.lua"),
        include_str!("../../core/src/store/redis/lua/write_data.lua")
    ));
    let written: i64 = script
        .arg(format!("{{{prefix}}}"))
        .arg(&old_id)
        .arg(version.unwrap_or_else(|| "0".into()))
        .arg(r#"{"cart":1}"#)
        .arg(m.now())
        .arg(30 * 60_000)
        .invoke(&mut conn)
        .unwrap();
    assert_eq!(written, 1, "written through the alias");
    let data: String = redis::cmd("HGET")
        .arg(format!("{{{prefix}}}:s:{}", rotated.id()))
        .arg("data")
        .query(&mut conn)
        .unwrap();
    assert_eq!(data, r#"{"cart":1}"#);
}

#[test]
fn an_evicting_redis_is_refused_unless_allowed() {
    let Some(own) = RedisServer::start() else {
        return;
    };
    let mut conn = own.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut conn)
        .unwrap();
    let clock = ManualClock::default();
    let refused = manager(&own.url("evict"), &clock);
    let err = refused.create(None, None, &Context::HTTPS).unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
    assert!(
        err.to_string().contains("maxmemory-policy is allkeys-lru"),
        "{err}"
    );
    let allowed = manager(&format!("{}&allow_eviction=true", own.url("evict")), &clock);
    allowed.create(None, None, &Context::HTTPS).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("volatile-lru")
        .query(&mut conn)
        .unwrap();
    let fine = manager(&own.url("evict2"), &clock);
    fine.create(None, None, &Context::HTTPS).unwrap();
}

/// `validate_then`'s answer, waited for (it comes from the store's I/O thread).
fn quick(m: &SessionManager, token: &str, https: bool) -> Option<tessera::Prevalidated> {
    let (tx, rx) = std::sync::mpsc::channel();
    m.validate_then(token, https, move |found| {
        tx.send(found).expect("the test waits")
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("validate_then always answers")
}

#[test]
fn validate_then_settles_by_one_read_only_what_validate_would_not_write() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = format!("quick-{}", fresh_prefix());
    let config = Config {
        rotation_interval: Some(Duration::from_secs(600)),
        ..Config::default()
    };
    let m = SessionManager::builder(config)
        .store(RedisStore::open(&server.url(&prefix)).expect("open"))
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .expect("build");
    let s = m.create(Some("alice"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();

    // Before the process's connection exists there is nothing to read on without waiting.
    let fresh = SessionManager::builder(Config::default())
        .store(RedisStore::open(&server.url(&prefix)).expect("open"))
        .build()
        .expect("build");
    assert!(quick(&fresh, &token, true).is_none());

    // A live session that needs no write: one HGETALL, and the same session validate gives.
    let mut found = None;
    let sent = all_commands(server, &prefix, || found = quick(&m, &token, true));
    let found = found.expect("settled by one read");
    assert_eq!(sent.len(), 1, "one read, no write: {sent:?}");
    assert!(sent[0].contains("\"HGETALL\""), "{sent:?}");
    assert_eq!(found.session().id(), s.id());
    assert_eq!(found.session().user(), Some("alice"));
    assert!(found.session().new_token().is_none());
    assert!(!format!("{found:?}").contains(&token), "no token in Debug");

    // Everything validate would write, or that one read cannot decide, is left to validate.
    assert!(
        quick(&m, &token, false).is_none(),
        "HTTPS→HTTP marks it insecure"
    );
    assert!(quick(&m, "not a token", true).is_none());
    let unknown = m.create(None, None, &Context::HTTPS).unwrap();
    let unknown_token = unknown.new_token().unwrap().expose();
    m.logout(&unknown_token).unwrap();
    assert!(quick(&m, &unknown_token, true).is_none(), "ended");
    clock.advance(Duration::from_secs(29));
    assert!(quick(&m, &token, true).is_none(), "a touch is due");
    assert!(matches!(
        m.validate(&token, &Context::HTTPS).unwrap(),
        Validation::Valid(_)
    ));
    assert!(quick(&m, &token, true).is_some(), "touched: a read again");
    clock.advance(Duration::from_secs(600));
    assert!(quick(&m, &token, true).is_none(), "a rotation is due");
    let rotated = match m.validate(&token, &Context::HTTPS).unwrap() {
        Validation::Valid(mut s) => s.take_new_token().expect("rotated").expose(),
        Validation::Rejected(r) => panic!("{r}"),
    };
    assert!(
        quick(&m, &token, true).is_none(),
        "an alias is the script's to follow"
    );
    let found = quick(&m, &rotated, true).expect("the successor is live");

    // A prevalidated session serves only the request whose cookie carried its token.
    let cookie = format!("__Host-session={token}");
    let head = tessera::http::RequestHead {
        cookie_header: Some(&cookie),
        method: "GET",
        https: true,
        ..Default::default()
    };
    let err = tessera::http::begin_prevalidated(&m, &head, found).unwrap_err();
    assert_eq!(err.code(), "internal");
    let cookie = format!("__Host-session={rotated}");
    let head = tessera::http::RequestHead {
        cookie_header: Some(&cookie),
        ..head
    };
    let found = quick(&m, &rotated, true).expect("live");
    let request = tessera::http::begin_prevalidated(&m, &head, found).unwrap();
    assert_eq!(request.user(), Some("alice"));
    // It reads the parts a request's own validate reads, no more.
    let fields = request.session().map(tessera::Session::fields);
    assert_eq!(fields, Some(tessera::Fields::DATA | tessera::Fields::CSRF));
}

#[test]
fn a_redis_without_maxmemory_is_reported_once_connected() {
    let Some(own) = RedisServer::start() else {
        return;
    };
    let clock = ManualClock::default();
    let unbounded = manager(&own.url("unbounded"), &clock);
    assert!(
        unbounded.store_warnings().is_empty(),
        "nothing is known before the first connection"
    );
    unbounded.create(None, None, &Context::HTTPS).unwrap();
    let warnings = unbounded.store_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("no maxmemory"), "{warnings:?}");

    let mut conn = own.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("256mb")
        .query(&mut conn)
        .unwrap();
    let bounded = manager(&own.url("bounded"), &clock);
    bounded.create(None, None, &Context::HTTPS).unwrap();
    assert!(bounded.store_warnings().is_empty());
}

#[test]
fn a_data_write_after_a_validate_on_the_same_thread_reads_nothing_again() {
    let Some(server) = server() else { return };
    let clock = ManualClock::default();
    let prefix = format!("seen-{}", fresh_prefix());
    let m = manager(&server.url(&prefix), &clock);
    let other = manager(&server.url(&prefix), &clock);
    let s = m.create(Some("alice"), None, &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let id = *s.id();
    // Connection open, scripts loaded (a first EVALSHA is refused with NOSCRIPT, then loaded).
    m.validate(&token, &Context::HTTPS).unwrap();
    m.set(&id, "warm", serde_json::json!(1)).unwrap();

    // validate, then the request's write: the write starts from the validate's read.
    let sent = client_commands(server, &prefix, || {
        m.validate(&token, &Context::HTTPS).unwrap();
        m.set(&id, "cart", serde_json::json!(["apples"])).unwrap();
    });
    assert_eq!(sent.len(), 2, "HGETALL, then the write alone: {sent:?}");
    assert!(sent[0].contains("\"HGETALL\""), "{sent:?}");

    // Another writer between the read and the write: the version check makes it read afresh,
    // and both keys are kept.
    m.validate(&token, &Context::HTTPS).unwrap();
    other.set(&id, "theme", serde_json::json!("dark")).unwrap();
    m.set(&id, "cart", serde_json::json!(["pears"])).unwrap();
    let Validation::Valid(now) = m.validate(&token, &Context::HTTPS).unwrap() else {
        panic!("live");
    };
    assert_eq!(now.data().get("cart"), Some(&serde_json::json!(["pears"])));
    assert_eq!(now.data().get("theme"), Some(&serde_json::json!("dark")));
}

// ---- device binding and step-up (issue 15): schema version 2 ----

const T: u64 = 1_700_000_000_000;
const IDLE: u64 = 60_000;

/// A bound binding with all four slots filled, `n` making it differ from its neighbours.
fn full_binding(n: u64) -> Arc<BindingState> {
    let slot = |digest: [u8; 32], until| Slot {
        hash: digest,
        until,
    };
    let mut b = Binding::new(
        [n as u8; 16],
        r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#.into(),
        [9; 32],
        T,
        slot(cookie_digest(&format!("cookie-{n}")), T + 600_000),
    );
    b.refreshed_at = T + n;
    b.prev_cookie = Some(slot(cookie_digest("cookie-before"), T + 300_000));
    b.challenge = Some(slot(
        challenge_digest(&format!("challenge-{n}")),
        T + 60_000,
    ));
    b.prev_challenge = Some(slot(challenge_digest("challenge-before"), T + 30_000));
    Arc::new(BindingState::Bound(b))
}

/// A read that neither judges the binding nor touches: the record as stored.
const AS_STORED: Gate = Gate {
    presented: Presented::Absent,
    grace_ms: u64::MAX,
    touch: false,
    fields: tessera::Fields::ALL,
};

fn stored(store: &RedisStore, id: &SessionId, now: u64) -> Record {
    match store.load_gated(id, now, IDLE, &AS_STORED).unwrap() {
        Load::Live { record, .. } => record,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_version_1_session_loads_without_authentication_or_binding() {
    let Some(server) = server() else { return };
    let prefix = fresh_prefix();
    let store = RedisStore::open(&server.url(&prefix)).unwrap();
    let id = SessionId::from_bytes([0x11; 32]);
    let key = format!("{{{prefix}}}:s:{id}");
    let mut conn = server.connection();
    // Exactly the fields a version-1 Tessera wrote for a signed-in session.
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(&[
            ("v", "1".to_owned()),
            ("created", T.to_string()),
            ("seen", T.to_string()),
            ("deadline", (T + 600_000).to_string()),
            ("rotated", T.to_string()),
            ("secure", "1".to_owned()),
            ("csrf", "ab".repeat(32)),
            ("ver", "0".to_owned()),
            ("user", "alice".to_owned()),
            ("data", r#"{"k":1}"#.to_owned()),
        ])
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg(format!("{{{prefix}}}:u:alice"))
        .arg(id.to_string())
        .query(&mut conn)
        .unwrap();
    let version = |conn: &mut redis::Connection, key: &str| -> String {
        redis::cmd("HGET").arg(key).arg("v").query(conn).unwrap()
    };

    let record = stored(&store, &id, T + 10);
    assert_eq!(
        (record.auth.as_ref(), record.binding.as_deref()),
        (None, None)
    );
    assert_eq!(record.user.as_deref(), Some("alice"));
    assert_eq!(
        record.data.as_deref().and_then(|d| d.get("k")),
        Some(&serde_json::json!(1))
    );
    assert_eq!(
        record.authenticated().map(|a| a.at),
        Some(T),
        "legacy: its creation"
    );
    // Read by the touching path, the scripts and a listing too.
    match store.load(&id, T + 5_000, IDLE).unwrap() {
        Load::Live { record, .. } => assert_eq!(record.last_seen, T + 5_000),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.list_user("alice").unwrap().len(), 1);
    // A data write keeps the hash as it is (nothing of version 2 is added) ...
    store
        .update_data(
            &id,
            &DataOp::Set("k".into(), serde_json::json!(2)),
            1024,
            T + 6_000,
            IDLE,
        )
        .unwrap();
    assert_eq!(version(&mut conn, &key), "1");
    // ... and a sign-in, which stores how the user authenticated, makes it version 2.
    let new_id = SessionId::from_bytes([0x12; 32]);
    let auth = Authn::new(1, ["pwd"]).unwrap();
    let change = Rekey {
        new_id,
        alias_until: None,
        secure: true,
        login: Some(LoginChange {
            user: Arc::from("alice"),
            expected_user: Some(Arc::from("alice")),
            csrf: CsrfSecret::generate().unwrap(),
            deadline: T + 607_000,
            keep_data: true,
            user_agent: None,
            auth: auth.clone(),
            binding: BindingChange::Keep,
        }),
    };
    let signed_in = store.rekey(&id, &change, T + 7_000, IDLE).unwrap().unwrap();
    assert_eq!(signed_in.auth, Some(auth.clone()));
    assert_eq!(signed_in.binding, None);
    let new_key = format!("{{{prefix}}}:s:{new_id}");
    assert_eq!(version(&mut conn, &new_key), "2");
    assert_eq!(stored(&store, &new_id, T + 7_001).auth, Some(auth));
}

#[test]
fn a_version_2_session_round_trips_authentication_and_a_full_binding() {
    let Some(server) = server() else { return };
    let prefix = fresh_prefix();
    let store = RedisStore::open(&server.url(&prefix)).unwrap();
    let mut r = Record::new(
        SessionId::from_bytes([0x21; 32]),
        Some(Arc::from("bob")),
        T,
        600_000,
        true,
        CsrfSecret::generate().unwrap(),
    );
    r.auth = Some(Authn::new(2, ["pwd", "otp"]).unwrap());
    r.binding = Some(full_binding(1));
    store.insert(r.clone(), IDLE).unwrap();

    assert_eq!(stored(&store, &r.id, T + 1), r);
    let listed = store.list_user("bob").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0].auth, &listed[0].binding), (&r.auth, &r.binding));
    // Served, and touched, with its bound cookie.
    let gate = Gate {
        presented: Presented::from_values(["cookie-1"].into_iter()),
        grace_ms: 0,
        touch: true,
        fields: tessera::Fields::ALL,
    };
    match store.load_gated(&r.id, T + 2_000, IDLE, &gate).unwrap() {
        Load::Live { record, .. } => {
            assert_eq!(record.last_seen, T + 2_000);
            assert_eq!(
                (record.auth, record.binding),
                (r.auth.clone(), r.binding.clone())
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        stored(&store, &r.id, T + 2_001).last_seen,
        T + 2_000,
        "written"
    );

    let mut conn = server.connection();
    let hash: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{{{prefix}}}:s:{}", r.id))
        .query(&mut conn)
        .unwrap();
    assert_eq!(hash["v"], "2");
    assert_eq!(hash["auth"], r.auth.as_ref().unwrap().to_stored());
    assert_eq!(hash["bind"], r.binding.as_ref().unwrap().to_stored());
    // Digests only: no bound cookie or challenge in the store.
    let dump = format!("{hash:?}");
    assert!(
        !dump.contains("cookie-") && !dump.contains("challenge-"),
        "{dump}"
    );
}

#[test]
fn a_data_write_racing_a_binding_swap_never_undoes_it_nor_is_undone() {
    // Each round: the writer reads the session (a validate: its data write then starts from
    // that read, binding included in the hash it saw), then writes a key while the other
    // thread swaps the binding from the state it saw. Both must land, every round.
    let Some(store) = store() else { return };
    let store = Arc::new(store);
    let mut r = Record::new(
        SessionId::from_bytes([0x31; 32]),
        Some(Arc::from("carol")),
        T,
        600_000,
        true,
        CsrfSecret::generate().unwrap(),
    );
    r.binding = Some(full_binding(0));
    store.insert(r.clone(), IDLE).unwrap();
    let id = r.id;
    const ROUNDS: u64 = 200;
    let barrier = Arc::new(Barrier::new(2));
    let writer = {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        std::thread::spawn(move || {
            for i in 0..ROUNDS {
                let now = T + 1 + i;
                assert!(matches!(
                    store.load_gated(&id, now, IDLE, &Gate::JUDGED).unwrap(),
                    Load::Live { .. }
                ));
                barrier.wait();
                store
                    .update_data(
                        &id,
                        &DataOp::Set(format!("k{i}"), serde_json::json!(i)),
                        1 << 16,
                        now,
                        IDLE,
                    )
                    .unwrap();
                barrier.wait();
            }
        })
    };
    for i in 0..ROUNDS {
        let now = T + 1 + i;
        barrier.wait();
        let swapped = store
            .swap_binding(
                &id,
                Some(&full_binding(i)),
                Some(full_binding(i + 1)),
                now,
                IDLE,
            )
            .unwrap();
        assert_eq!(swapped, Swapped::Done, "round {i}");
        barrier.wait();
        let record = stored(&store, &id, now);
        assert_eq!(record.binding, Some(full_binding(i + 1)), "round {i}");
        let data = record.data.expect("data");
        assert!(
            (0..=i).all(|k| data.get(&format!("k{k}")) == Some(&serde_json::json!(k))),
            "round {i}: {data:?}"
        );
    }
    writer.join().unwrap();
}

#[test]
fn a_bound_session_reached_through_an_alias_is_judged_before_any_touch() {
    // Through an alias the `load` script reads the record; it must hand a bound one back
    // untouched for Rust to judge, whatever `seen` says.
    let Some(server) = server() else { return };
    let prefix = fresh_prefix();
    let store = RedisStore::open(&server.url(&prefix)).unwrap();
    let mut r = Record::new(
        SessionId::from_bytes([0x41; 32]),
        Some(Arc::from("dave")),
        T,
        600_000,
        true,
        CsrfSecret::generate().unwrap(),
    );
    r.binding = Some(full_binding(1));
    store.insert(r.clone(), IDLE).unwrap();
    let moved = SessionId::from_bytes([0x42; 32]);
    let change = Rekey {
        new_id: moved,
        alias_until: Some(T + 100_000),
        secure: true,
        login: None,
    };
    store.rekey(&r.id, &change, T + 1, IDLE).unwrap().unwrap();
    let mut conn = server.connection();
    let seen = |conn: &mut redis::Connection| -> u64 {
        redis::cmd("HGET")
            .arg(format!("{{{prefix}}}:s:{moved}"))
            .arg("seen")
            .query(conn)
            .unwrap()
    };
    let gate = |cookie: Option<&str>, touch| Gate {
        presented: Presented::from_values(cookie.into_iter()),
        grace_ms: 0,
        touch,
        fields: tessera::Fields::ALL,
    };
    // `seen` lags by far more than the touch slack from here on.
    let now = T + 10_000;
    match store
        .load_gated(&r.id, now, IDLE, &gate(None, true))
        .unwrap()
    {
        Load::Unproven(_, record) => assert_eq!(record.id, moved),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen(&mut conn), T + 1, "an unproven request does not touch");
    match store
        .load_gated(&r.id, now, IDLE, &gate(Some("cookie-1"), false))
        .unwrap()
    {
        Load::Live { record, via_alias } => assert!(via_alias && record.last_seen == T + 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        seen(&mut conn),
        T + 1,
        "a read that must not touch does not"
    );
    match store
        .load_gated(&r.id, now, IDLE, &gate(Some("cookie-1"), true))
        .unwrap()
    {
        Load::Live { record, via_alias } => assert!(via_alias && record.last_seen == now),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen(&mut conn), now, "a proven request touches");
}

#[test]
fn the_event_loop_fast_path_leaves_every_bound_or_offered_session_to_load() {
    let Some(store) = store() else { return };
    let plain = Record::new(
        SessionId::from_bytes([0x51; 32]),
        Some(Arc::from("erin")),
        T,
        600_000,
        true,
        CsrfSecret::generate().unwrap(),
    );
    store.insert(plain.clone(), IDLE).unwrap();
    // An offer admits any request; it is still the blocking path's to judge.
    let mut offered = plain.clone();
    offered.id = SessionId::from_bytes([0x52; 32]);
    offered.binding = Some(Arc::new(BindingState::Offered(Slot {
        hash: challenge_digest("offer"),
        until: T + 60_000,
    })));
    store.insert(offered.clone(), IDLE).unwrap();
    let read = |id: &SessionId| {
        let (tx, rx) = std::sync::mpsc::channel();
        let started = store.read_live_then(
            id,
            T + 1,
            IDLE,
            Box::new(move |record| tx.send(record).unwrap()),
        );
        assert!(started.is_ok(), "connected");
        rx.recv().unwrap()
    };
    assert_eq!(read(&plain.id).map(|r| r.id), Some(plain.id));
    assert_eq!(read(&offered.id), None);
}
