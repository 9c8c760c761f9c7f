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
        .arg("2")
        .query(&mut conn)
        .unwrap();
    let before: Vec<String> = redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap();
    let err = m.set(s.id(), "k", serde_json::json!("v")).unwrap_err();
    assert!(err.to_string().contains("schema version 2"), "{err}");
    clock.advance(Duration::from_secs(60));
    let err = m.validate(&token, &Context::HTTPS).unwrap_err();
    assert!(err.to_string().contains("schema version 2"), "{err}");
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
        "local SCHEMA = '1'\n{}{}",
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
