//! Multi-threaded stress tests with checked invariants (bounded to a few seconds).
//!
//! Each worker thread owns its sessions and keeps an exact model of them. Time is a manual
//! clock that a ticker thread advances *between* operations (a gate lock freezes it during one),
//! so the model knows precisely whether a session must be alive, rotated, or dead. Meanwhile a
//! sweeper thread sweeps and a revoker thread revokes the "shared" users. Invariants:
//! - a logged-out, revoked or expired token never validates again;
//! - a rotated-away token works exactly until its grace ends, then never again;
//! - a session the model says is alive always validates (no live session is lost, so sweep
//!   never removed one) and rotates exactly when its interval has passed;
//! - a write racing a logout never brings the session back;
//! - `revoke_user` racing rotations of that user leaves none of them alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde_json::json;
use tessera::{Clock, Config, Context, ManualClock, Reason, SessionId, SessionManager, Validation};

const IDLE: u64 = 400;
const ABSOLUTE: u64 = 5_000;
const ROTATE: u64 = 150;
const GRACE: u64 = 40;
const RUN_FOR: Duration = Duration::from_millis(2_500);

fn config() -> Config {
    Config {
        idle_timeout: Duration::from_millis(IDLE),
        absolute_timeout: Duration::from_millis(ABSOLUTE),
        rotation_interval: Some(Duration::from_millis(ROTATE)),
        rotation_grace: Duration::from_millis(GRACE),
        ..Config::default()
    }
}

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Tracked {
    token: String,
    id: SessionId,
    last_touch: u64,
    deadline: u64,
    rotated_at: u64,
    alias: Option<(String, u64)>,
    revocable: bool,
}

impl Tracked {
    fn alive_at(&self, now: u64) -> bool {
        now < self.deadline && now - self.last_touch < IDLE
    }
}

#[derive(Default)]
struct Counts {
    validations: AtomicUsize,
    rotations: AtomicUsize,
    expiries: AtomicUsize,
    revoked_seen: AtomicUsize,
    dead_rechecks: AtomicUsize,
    alias_hits: AtomicUsize,
}

fn worker(m: &SessionManager, clock: &ManualClock, gate: &RwLock<()>, seed: u64, counts: &Counts) {
    let mut rng = Rng(seed);
    let mut live: Vec<Tracked> = Vec::new();
    let mut dead: Vec<String> = Vec::new();
    let ctx = Context::default();
    let stop = Instant::now() + RUN_FOR;
    let mut ops = 0u64;
    while Instant::now() < stop && ops < 2_000_000 {
        ops += 1;
        let _frozen = gate.read();
        let now = clock.now();
        if live.len() < 12 || rng.below(50) == 0 {
            let revocable = rng.below(3) == 0;
            let session = if revocable {
                m.login(None, &format!("shared-{}", rng.below(4)), &ctx)
                    .unwrap()
            } else {
                m.create(Some(&format!("w{seed}-{}", rng.below(3))), None, &ctx)
                    .unwrap()
            };
            live.push(Tracked {
                token: session.new_token().unwrap().expose(),
                id: *session.id(),
                last_touch: now,
                deadline: now + ABSOLUTE,
                rotated_at: now,
                alias: None,
                revocable,
            });
            continue;
        }
        let i = rng.below(live.len());
        match rng.below(10) {
            0..=4 => {
                counts.validations.fetch_add(1, Ordering::Relaxed);
                let t = &mut live[i];
                let verdict = m.validate(&t.token, &ctx).unwrap();
                if !t.alive_at(now) {
                    let expected = if now >= t.deadline {
                        Reason::ExpiredAbsolute
                    } else {
                        Reason::ExpiredIdle
                    };
                    match verdict {
                        Validation::Rejected(r) if r == expected || r == Reason::Unknown => {}
                        other => panic!("an expired session gave {other:?} (expected {expected})"),
                    }
                    counts.expiries.fetch_add(1, Ordering::Relaxed);
                    let t = live.swap_remove(i);
                    dead.push(t.token);
                    dead.extend(t.alias.map(|a| a.0));
                    continue;
                }
                match verdict {
                    Validation::Valid(s) => {
                        assert_eq!(*s.id() == t.id, s.new_token().is_none());
                        let due = now - t.rotated_at >= ROTATE;
                        if due && s.new_token().is_none() && t.revocable {
                            // revoke_user ended it between the lookup and the rotation: the
                            // request still counts (it came first), the session must be dead.
                            assert!(matches!(
                                m.validate(&t.token, &ctx).unwrap(),
                                Validation::Rejected(_)
                            ));
                            counts.revoked_seen.fetch_add(1, Ordering::Relaxed);
                            let t = live.swap_remove(i);
                            dead.push(t.token);
                            dead.extend(t.alias.map(|a| a.0));
                            continue;
                        }
                        assert_eq!(
                            s.new_token().is_some(),
                            due,
                            "rotation exactly when due (revocable: {}, now-rotated_at {})",
                            t.revocable,
                            now - t.rotated_at
                        );
                        t.last_touch = now;
                        if let Some(new) = s.new_token() {
                            counts.rotations.fetch_add(1, Ordering::Relaxed);
                            let old = std::mem::replace(&mut t.token, new.expose());
                            if let Some((stale, _)) = t.alias.replace((old, now + GRACE)) {
                                dead.push(stale);
                            }
                            t.id = *s.id();
                            t.rotated_at = now;
                        }
                    }
                    Validation::Rejected(Reason::Unknown) if t.revocable => {
                        counts.revoked_seen.fetch_add(1, Ordering::Relaxed);
                        let t = live.swap_remove(i);
                        dead.push(t.token);
                        dead.extend(t.alias.map(|a| a.0));
                    }
                    other => panic!("a live session was lost: {other:?}"),
                }
            }
            5 => {
                let t = &mut live[i];
                let Some((alias, until)) = t.alias.clone() else {
                    continue;
                };
                let verdict = m.validate(&alias, &ctx).unwrap();
                if now >= until {
                    assert!(
                        matches!(verdict, Validation::Rejected(Reason::Unknown)),
                        "an alias outlived its grace: {verdict:?}"
                    );
                    t.alias = None;
                    dead.push(alias);
                } else if t.alive_at(now) {
                    match verdict {
                        Validation::Valid(s) => {
                            assert_eq!(*s.id(), t.id, "an alias resolves to its successor");
                            assert!(s.new_token().is_none(), "an alias never rotates");
                            t.last_touch = now;
                            counts.alias_hits.fetch_add(1, Ordering::Relaxed);
                        }
                        Validation::Rejected(Reason::Unknown) if t.revocable => {}
                        other => panic!("an alias in grace of a live session gave {other:?}"),
                    }
                }
            }
            6 => {
                let t = live.swap_remove(i);
                let ended = m.logout(&t.token).unwrap();
                assert!(
                    ended || t.revocable || !t.alive_at(now),
                    "logout of a live session ended nothing"
                );
                dead.push(t.token);
                dead.extend(t.alias.map(|a| a.0));
            }
            7 => {
                let t = &mut live[i];
                if !t.alive_at(now) {
                    continue;
                }
                match m.rotate(&t.token, &ctx).unwrap() {
                    Validation::Valid(s) => {
                        let new = s.new_token().expect("rotate issues a token").expose();
                        let old = std::mem::replace(&mut t.token, new);
                        if let Some((stale, _)) = t.alias.replace((old, now + GRACE)) {
                            dead.push(stale);
                        }
                        t.id = *s.id();
                        t.rotated_at = now;
                        t.last_touch = now;
                    }
                    Validation::Rejected(Reason::Unknown) if t.revocable => {}
                    other => panic!("rotating a live session gave {other:?}"),
                }
            }
            8 => {
                let t = &live[i];
                let result = m.set(&t.id, "n", json!(ops));
                if t.alive_at(now) && !t.revocable {
                    result.unwrap();
                }
            }
            _ => {
                if dead.is_empty() {
                    continue;
                }
                counts.dead_rechecks.fetch_add(1, Ordering::Relaxed);
                let token = &dead[rng.below(dead.len())];
                let verdict = m.validate(token, &ctx).unwrap();
                assert!(
                    matches!(verdict, Validation::Rejected(_)),
                    "an ended token validated again: {verdict:?}"
                );
            }
        }
    }
}

#[test]
fn concurrent_lifecycle_keeps_every_invariant() {
    let clock = ManualClock::default();
    let m = Arc::new(
        SessionManager::builder(config())
            .clock(clock.clone())
            .sweep_interval(None)
            .build()
            .unwrap(),
    );
    let gate = Arc::new(RwLock::new(()));
    let done = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let sweeps = AtomicUsize::new(0);
    let revocations = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Steps of 1..=40 ms: small enough to land inside grace windows, large enough that
            // rotation intervals pass and untouched sessions idle out during the run.
            let mut rng = Rng(0x5eed);
            while !done.load(Ordering::Relaxed) {
                {
                    let _w = gate.write();
                    clock.advance_millis(1 + rng.below(40) as u64);
                }
                std::thread::sleep(Duration::from_micros(30));
            }
        });
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                m.sweep().unwrap();
                sweeps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        scope.spawn(|| {
            let mut k = 0;
            while !done.load(Ordering::Relaxed) {
                m.revoke_user(&format!("shared-{}", k % 4)).unwrap();
                revocations.fetch_add(1, Ordering::Relaxed);
                k += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        let workers: Vec<_> = (1..=3u64)
            .map(|seed| {
                let (m, clock, gate, counts) = (&m, &clock, &gate, &counts);
                scope.spawn(move || worker(m, clock, gate, seed * 0x9e37_79b9, counts))
            })
            .collect();
        let mut panicked = None;
        for w in workers {
            if let Err(e) = w.join() {
                panicked = Some(e);
            }
        }
        done.store(true, Ordering::Relaxed);
        if let Some(e) = panicked {
            std::panic::resume_unwind(e);
        }
    });
    let c = &*counts;
    println!(
        "stress: {} validations, {} rotations, {} expiries, {} revocations seen, {} alias hits, {} dead rechecks, {} sweeps, {} revoke_user calls, clock +{} ms",
        c.validations.load(Ordering::Relaxed),
        c.rotations.load(Ordering::Relaxed),
        c.expiries.load(Ordering::Relaxed),
        c.revoked_seen.load(Ordering::Relaxed),
        c.alias_hits.load(Ordering::Relaxed),
        c.dead_rechecks.load(Ordering::Relaxed),
        sweeps.load(Ordering::Relaxed),
        revocations.load(Ordering::Relaxed),
        clock.now() - ManualClock::default().now(),
    );
    // The run must have exercised every path it claims to check.
    for (what, n) in [
        ("validations", &c.validations),
        ("rotations", &c.rotations),
        ("expiries", &c.expiries),
        ("dead rechecks", &c.dead_rechecks),
        ("alias hits", &c.alias_hits),
    ] {
        assert!(
            n.load(Ordering::Relaxed) > 0,
            "the stress run never exercised {what}"
        );
    }
}

#[test]
fn a_write_racing_a_logout_never_resurrects_the_session() {
    let m = SessionManager::builder(Config::default())
        .sweep_interval(None)
        .build()
        .unwrap();
    let ctx = Context::default();
    let mut refused_writes = 0;
    for round in 0..300 {
        let s = m.create(Some("racer"), None, &ctx).unwrap();
        let token = s.new_token().unwrap().expose();
        let id = *s.id();
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                barrier.wait();
                for i in 0..10_000 {
                    if let Err(e) = m.set(&id, "k", json!(i)) {
                        assert_eq!(e.reason(), Some(Reason::Unknown), "round {round}: {e}");
                        refused_writes += 1;
                        return;
                    }
                }
            });
            scope.spawn(|| {
                barrier.wait();
                assert!(m.logout(&token).unwrap());
            });
        });
        assert!(matches!(
            m.validate(&token, &ctx).unwrap(),
            Validation::Rejected(Reason::Unknown)
        ));
        assert_eq!(
            m.set(&id, "late", json!(true)).unwrap_err().reason(),
            Some(Reason::Unknown)
        );
    }
    assert_eq!(m.store_len().unwrap(), 0, "no write brought a session back");
    assert!(m.list_user("racer").unwrap().is_empty());
    assert!(refused_writes > 0);
}

#[test]
fn revoke_user_racing_rotations_leaves_no_session_alive() {
    let m = SessionManager::builder(Config {
        rotation_grace: Duration::ZERO,
        ..Config::default()
    })
    .sweep_interval(None)
    .build()
    .unwrap();
    let ctx = Context::default();
    for round in 0..100 {
        let user = format!("victim-{round}");
        let mut tokens: Vec<String> = (0..4)
            .map(|_| {
                m.login(None, &user, &ctx)
                    .unwrap()
                    .new_token()
                    .unwrap()
                    .expose()
            })
            .collect();
        let revoked = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let rotator = scope.spawn(|| {
                // Rotate until revocation is observed; every token handed out after
                // revoke_user returned must already be dead.
                for _ in 0..100_000 {
                    for t in tokens.iter_mut() {
                        let after = revoked.load(Ordering::SeqCst);
                        match m.rotate(t, &ctx).unwrap() {
                            Validation::Valid(s) => {
                                assert!(!after, "round {round}: rotated after the revocation");
                                *t = s.new_token().unwrap().expose();
                            }
                            Validation::Rejected(_) => {}
                        }
                    }
                    if revoked.load(Ordering::SeqCst) {
                        return;
                    }
                }
            });
            std::thread::yield_now();
            m.revoke_user(&user).unwrap();
            revoked.store(true, Ordering::SeqCst);
            rotator.join().unwrap();
        });
        for t in &tokens {
            assert!(
                matches!(m.validate(t, &ctx).unwrap(), Validation::Rejected(_)),
                "round {round}: a session survived revoke_user"
            );
        }
        assert!(m.list_user(&user).unwrap().is_empty());
    }
    assert_eq!(m.store_len().unwrap(), 0);
}
