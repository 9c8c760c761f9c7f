//! The Redis store on a real three-master Redis Cluster (`redis+cluster://`): the store
//! conformance cases, keys in one hash slot per prefix, and the slot moved to another master
//! while clients use it. (The conformance and HTTP corpora run on the cluster in their own test
//! files.)

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tessera::store::RedisStore;
use tessera::{Config, Context, SessionManager, Validation};
use tessera_tests::redis_cluster::RedisCluster;

fn cluster() -> Option<&'static RedisCluster> {
    static CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start).as_ref()
}

fn fresh_prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("c{}", N.fetch_add(1, Ordering::SeqCst))
}

fn store() -> Option<RedisStore> {
    cluster().map(|c| RedisStore::open(&c.url(&fresh_prefix())).expect("open"))
}

/// A manager on the cluster under `prefix`, with no background sweeper.
fn manager(cluster: &RedisCluster, prefix: &str) -> SessionManager {
    SessionManager::builder(Config::default())
        .store(RedisStore::open(&cluster.url(prefix)).expect("open"))
        .sweep_interval(None)
        .build()
        .expect("build")
}

mod conformance {
    tessera::store_conformance_tests!(optional super::store());
}

#[test]
fn every_key_of_a_prefix_is_in_one_slot() {
    let Some(cluster) = cluster() else { return };
    let prefix = fresh_prefix();
    let m = manager(cluster, &prefix);
    let s = m.login(None, "ann", &Context::HTTPS).unwrap();
    let token = s.new_token().unwrap().expose();
    let Validation::Valid(rotated) = m.rotate(&token, &Context::HTTPS).unwrap() else {
        panic!("rotated")
    };
    let slot = cluster.slot_of(&format!("{{{prefix}}}"));
    let (_, port) = cluster.owner(slot);
    let mut conn = cluster.connection(port);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}:*"))
        .query(&mut conn)
        .unwrap();
    // The session, the alias of the rotated-away token, the user index and the due sets.
    for want in [
        format!("{{{prefix}}}:s:{}", rotated.id()),
        format!("{{{prefix}}}:a:{}", s.id()),
        format!("{{{prefix}}}:u:ann"),
        format!("{{{prefix}}}:due"),
        format!("{{{prefix}}}:adue"),
    ] {
        assert!(keys.contains(&want), "{want} on the slot's owner: {keys:?}");
        assert_eq!(cluster.slot_of(&want), slot);
    }
}

/// What clients saw while the slot moved.
#[derive(Default, Debug)]
struct Seen {
    answers: AtomicU64,
    right: AtomicU64,
    unavailable: AtomicU64,
    /// A signed-out token accepted, or a token accepted as another user.
    wrongly_authenticated: AtomicU64,
    /// A live session answered as unknown or expired.
    wrongly_rejected: AtomicU64,
}

#[test]
fn moving_the_slot_under_load_answers_every_request_rightly_or_unavailable() {
    let Some(cluster) = cluster() else { return };
    let prefix = fresh_prefix();
    let manager = Arc::new(manager(cluster, &prefix));
    let ctx = Context::HTTPS;
    let live: Arc<Vec<(String, String)>> = Arc::new(
        (0..64)
            .map(|i| {
                let user = format!("user-{}", i % 8);
                let s = manager.login(None, &user, &ctx).unwrap();
                (s.new_token().unwrap().expose(), user)
            })
            .collect(),
    );
    let ended: Arc<Vec<String>> = Arc::new(
        (0..16)
            .map(|_| {
                let s = manager.login(None, "gone", &ctx).unwrap();
                let t = s.new_token().unwrap().expose();
                assert!(manager.logout(&t).unwrap());
                t
            })
            .collect(),
    );
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (manager, live, ended, seen, stop) = (
                Arc::clone(&manager),
                Arc::clone(&live),
                Arc::clone(&ended),
                Arc::clone(&seen),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut n: usize = c;
                while !stop.load(Ordering::Relaxed) {
                    n += 8;
                    if n.is_multiple_of(7) {
                        // A whole life that writes: sign in, rotate, sign out; once signed
                        // out (the call said so), the token never validates again.
                        let token = match manager.login(None, "writer", &Context::HTTPS) {
                            Ok(s) => s.new_token().unwrap().expose(),
                            Err(e) if e.code() == "store_unavailable" => {
                                seen.unavailable.fetch_add(1, Ordering::Relaxed);
                                seen.answers.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        };
                        let token = match manager.rotate(&token, &Context::HTTPS) {
                            Ok(Validation::Valid(s)) => s.new_token().unwrap().expose(),
                            _ => token,
                        };
                        if let Ok(true) = manager.logout(&token) {
                            match manager.validate(&token, &Context::HTTPS) {
                                Ok(Validation::Valid(_)) => &seen.wrongly_authenticated,
                                _ => &seen.right,
                            }
                            .fetch_add(1, Ordering::Relaxed);
                        }
                        seen.answers.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if n.is_multiple_of(5) {
                        match manager.validate(&ended[n % ended.len()], &Context::HTTPS) {
                            Ok(Validation::Rejected(_)) => &seen.right,
                            Ok(Validation::Valid(_)) => &seen.wrongly_authenticated,
                            Err(e) if e.code() == "store_unavailable" => &seen.unavailable,
                            Err(e) => panic!("{e}"),
                        }
                    } else {
                        let (token, user) = &live[n % live.len()];
                        match manager.validate(token, &Context::HTTPS) {
                            Ok(Validation::Valid(s)) if s.user() == Some(user.as_str()) => {
                                &seen.right
                            }
                            Ok(Validation::Valid(_)) => &seen.wrongly_authenticated,
                            Ok(Validation::Rejected(_)) => &seen.wrongly_rejected,
                            Err(e) if e.code() == "store_unavailable" => &seen.unavailable,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    .fetch_add(1, Ordering::Relaxed);
                    seen.answers.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let progress = |more: u64| {
        let from = seen.answers.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.answers.load(Ordering::Relaxed) < from + more {
            assert!(Instant::now() < deadline, "clients stalled: {seen:?}");
            std::thread::yield_now();
        }
    };
    progress(500);
    let slot = cluster.slot_of(&format!("{{{prefix}}}"));
    let (_, from) = cluster.owner(slot);
    let to = *cluster.ports.iter().find(|&&p| p != from).unwrap();
    cluster.move_slot(slot, to, || progress(50));
    progress(500);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(cluster.owner(slot).1, to);
    eprintln!("while the slot moved: {seen:?}");
    assert_eq!(seen.wrongly_authenticated.load(Ordering::Relaxed), 0);
    assert_eq!(seen.wrongly_rejected.load(Ordering::Relaxed), 0);
    // Every write either happened whole or not at all: the index of the writing user names
    // exactly its sessions still in Redis (a rotation cut half-way would leave it wrong).
    let (_, port) = cluster.owner(slot);
    let mut conn = cluster.connection(port);
    let mut index: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{{{prefix}}}:u:writer"))
        .query(&mut conn)
        .unwrap();
    index.sort();
    let mut stored: Vec<String> = Vec::new();
    for key in redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}:s:*"))
        .query::<Vec<String>>(&mut conn)
        .unwrap()
    {
        let user: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg("user")
            .query(&mut conn)
            .unwrap();
        if user.as_deref() == Some("writer") {
            stored.push(key.rsplit(':').next().unwrap().to_owned());
        }
    }
    stored.sort();
    assert_eq!(index, stored, "the writer's index matches its sessions");
    // After the move, every session is where it was: valid, for its user.
    for (token, user) in live.iter() {
        let Validation::Valid(s) = manager.validate(token, &ctx).unwrap() else {
            panic!("a session of {user} was lost in the move")
        };
        assert_eq!(s.user(), Some(user.as_str()));
    }
}

#[test]
fn a_script_never_runs_half_way_on_a_half_moved_slot() {
    // Mid-move, the one key a logout would reach last (the alias of the token before) is
    // already at the new owner while the session is still at the old one. Redis runs scripts
    // without rollback: a logout that ran there would delete the session and then fail. The
    // store's scripts are refused whole instead (store_unavailable), and nothing changes.
    let Some(cluster) = cluster() else { return };
    let prefix = fresh_prefix();
    let m = manager(cluster, &prefix);
    let s = m.login(None, "bea", &Context::HTTPS).unwrap();
    let first = s.new_token().unwrap().expose();
    let Validation::Valid(rotated) = m.rotate(&first, &Context::HTTPS).unwrap() else {
        panic!("rotated")
    };
    let token = rotated.new_token().unwrap().expose();
    let slot = cluster.slot_of(&format!("{{{prefix}}}"));
    let (_, from) = cluster.owner(slot);
    let to = *cluster.ports.iter().find(|&&p| p != from).unwrap();
    let moving = cluster.start_move(slot, to);
    moving.migrate(&[format!("{{{prefix}}}:a:{}", s.id())]);
    let err = m.logout(&token).unwrap_err();
    assert_eq!(err.code(), "store_unavailable", "{err}");
    moving.finish();
    let Validation::Valid(still) = m.validate(&token, &Context::HTTPS).unwrap() else {
        panic!("the refused logout changed nothing: the session lives")
    };
    assert_eq!(still.user(), Some("bea"));
    assert!(
        m.logout(&token).unwrap(),
        "and a logout after the move works"
    );
}
