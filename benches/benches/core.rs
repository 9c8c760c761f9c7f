//! Criterion benches of the core lifecycle on a memory store holding 1,000,000 live sessions,
//! next to tower-sessions' `MemoryStore::load` on a store of 1,000,000 records.
//!
//! Ids (group/function/parameter, the directory under `target/criterion/`):
//!
//! | id | what one iteration is |
//! |---|---|
//! | `validate/tessera/hit` | validate a live token (100k of them, cycled: lookups miss the cache) |
//! | `validate/tessera/hit_cached` | the same, cycling through only 1,000 tokens: the CPU cost, without memory latency |
//! | `validate/tessera/unknown` | validate a well-formed token that was never issued |
//! | `validate/tessera/malformed` | validate a 42-character string |
//! | `validate/tower_sessions/load` | `SessionStore::load` of an existing record by its `Id` |
//! | `validate/tower_sessions/parse_load` | the same, starting from the cookie string (`Id::from_str`) |
//! | `validate/tower_sessions/load_cached` | `load`, cycling through only 1,000 records |
//! | `validate_throughput/control/{1_thread,2_threads}` | 64 rounds of splitmix64 (register-only arithmetic) per iteration, split likewise: how well the machine itself scales |
//! | `validate_throughput/tessera/1_thread` | wall time per validation, N validations on 1 thread |
//! | `validate_throughput/tessera/2_threads` | wall time per validation, N validations split over 2 threads |
//! | `create/tessera/anonymous` | create an anonymous session with no data |
//! | `login/tessera/anonymous_to_user` | log an anonymous session in (new token, grace 0) |
//! | `rotate/tessera/with_grace` | rotate a session, keeping the new token (the old one becomes an alias) |
//! | `validate/control/dram_load` | one load that depends on the previous one, at random over 256 MiB: this machine's cost of a cache (and TLB) miss, the unit a lookup in a large store pays |
//! | `validate/tessera/signed_in` | validate a signed-in browser session (a user agent, 5 keys of data), 20k cycled, every part read (`Fields::ALL`, the default) |
//! | `validate/tessera/signed_in_narrow` | the same sessions, read with `Fields::NONE` (what a gateway that only asks "who is this?" needs): the data, user agent and CSRF secret stay in the store |
//! | `validate/tessera/id_of` | derive a token's id (base64url decoding and the keyed BLAKE3), 1,000 tokens cycled: the floor under every validate |
//! | `dbsc/tessera/unbound_hit` | with device-bound sessions on: validate an unbound signed-in session (20k cycled) |
//! | `dbsc/tessera/bound_hit` | the same for a bound session with its bound cookie (20k cycled): the cookie's digest and check included |
//! | `dbsc/tessera/unbound_request`, `bound_request` | the same two through the request protocol a framework runs (`http::begin` on the `Cookie` header, then `finish`) |
//! | `dbsc/tessera/refresh_es256`, `refresh_rs256` | a refresh that mints a bound cookie: proof verification, challenge check, one compare-and-swap (the challenge is asked for and signed outside the timing) |
//!
//! The manager has a manual clock that never moves (nothing expires, `last_seen` is never
//! rewritten) and no periodic rotation (validate never rotates). Create and login run in timed
//! batches whose sessions are revoked, untimed, after each batch, so the store stays at ~1M.
//! Rotations leave one 30-second alias each, which the frozen clock never sweeps: the rotate
//! bench runs last.

use std::hint::black_box;
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use tessera::http::{self, Outcome, RequestHead};
use tessera::token::TOKEN_LEN;
use tessera::{
    Context, DataOp, Fields, Presented, Proof, SessionId, SessionManager, Token, Validation,
};
use tessera_benches::{CTX, STORE_SIZE, USERS, bench_manager, poll_once, tower_create};
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::Id;
use tower_sessions_memory_store::MemoryStore as TowerStore;

/// How many live tokens the hit benches cycle through.
const HOT: usize = 100_000;
/// How many the `*_cached` benches cycle through: few enough that their records stay in cache.
const CACHED: usize = 1_000;
/// Dedicated sessions the rotate bench cycles through (part of the 1,000,000).
const RING: usize = 10_000;
/// Signed-in browser sessions with data (part of the 1,000,000), for the `signed_in` benches.
const SIGNED_IN: usize = 20_000;
/// Sessions per timed batch in the create and login benches.
const BATCH: usize = 4_096;

/// Fixed-length cookie values packed into one buffer.
///
/// A request's cookie sits in a freshly read, cache-hot buffer; 100k separate `String`s
/// scattered over a heap of 1M sessions would instead charge each validation a cache and TLB
/// miss just to read its input (profiled: a third of the time, in base64 decoding's first load).
/// Cycling through one packed buffer reads the input sequentially, as hot as a real request's.
struct Tokens {
    text: String,
    width: usize,
}

impl Tokens {
    fn new<S: AsRef<str>>(width: usize, values: impl IntoIterator<Item = S>) -> Tokens {
        let mut text = String::new();
        for v in values {
            assert_eq!(v.as_ref().len(), width, "every value has the same length");
            text.push_str(v.as_ref());
        }
        Tokens { text, width }
    }

    fn len(&self) -> usize {
        self.text.len() / self.width
    }

    #[inline(always)]
    fn get(&self, i: usize) -> &str {
        &self.text[i * self.width..(i + 1) * self.width]
    }

    fn set(&mut self, i: usize, value: &str) {
        assert_eq!(value.len(), self.width, "every value has the same length");
        self.text
            .replace_range(i * self.width..(i + 1) * self.width, value);
    }
}

struct TesseraFixture {
    manager: SessionManager,
    /// Live tokens, spread over the whole store, in an order unrelated to creation.
    hits: Tokens,
    /// Well-formed tokens that were never issued.
    unknown: Tokens,
    /// Tokens of the rotate bench's dedicated sessions; each rotation replaces its slot.
    ring: Mutex<Tokens>,
    /// User names for login.
    users: Vec<String>,
    /// Tokens of signed-in sessions with a user agent and data.
    signed_in: Tokens,
}

struct TowerFixture {
    store: TowerStore,
    ids: Vec<Id>,
    cookies: Tokens,
}

fn tessera_fixture() -> &'static TesseraFixture {
    static FIXTURE: OnceLock<TesseraFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let started = Instant::now();
        let manager = bench_manager();
        let anonymous = STORE_SIZE - RING - SIGNED_IN;
        let stride = anonymous / HOT;
        let mut hits = Vec::with_capacity(HOT);
        for i in 0..anonymous {
            let session = manager.create(None, None, &CTX).expect("create");
            if i % stride == 0 && hits.len() < HOT {
                hits.push(session.new_token().expect("a new token").expose());
            }
        }
        let ring = Tokens::new(
            TOKEN_LEN,
            (0..RING).map(|_| {
                let session = manager.create(None, None, &CTX).expect("create");
                session.new_token().expect("a new token").expose()
            }),
        );
        let browser = Context {
            user_agent: Some(BROWSER),
            ..CTX
        };
        let mut signed_in: Vec<String> = (0..SIGNED_IN)
            .map(|i| {
                let session = manager
                    .login(None, &format!("member-{i:05}"), &browser)
                    .expect("login");
                manager
                    .update_data(session.id(), DataOp::Replace(payload()))
                    .expect("data");
                session.new_token().expect("a new token").expose()
            })
            .collect();
        signed_in.sort_unstable();
        let signed_in = Tokens::new(TOKEN_LEN, signed_in);
        // Tokens are random, so sorting them decorrelates lookup order from allocation order.
        hits.sort_unstable();
        let hits = Tokens::new(TOKEN_LEN, hits);
        let unknown = Tokens::new(
            TOKEN_LEN,
            (0..HOT).map(|_| Token::generate().expect("randomness").expose()),
        );
        let users = (0..USERS).map(|u| format!("user-{u:05}")).collect();
        assert_eq!(manager.store_len().expect("len"), STORE_SIZE);
        for i in 0..10 {
            let valid = manager.validate(hits.get(i), &CTX).expect("validate");
            assert!(matches!(&valid, Validation::Valid(s) if s.new_token().is_none()));
        }
        eprintln!(
            "tessera: {STORE_SIZE} live sessions built in {:.1?}",
            started.elapsed()
        );
        TesseraFixture {
            manager,
            hits,
            unknown,
            ring: Mutex::new(ring),
            users,
            signed_in,
        }
    })
}

fn tower_fixture() -> &'static TowerFixture {
    static FIXTURE: OnceLock<TowerFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let started = Instant::now();
        let store = TowerStore::default();
        let stride = STORE_SIZE / HOT;
        let mut ids = Vec::with_capacity(HOT);
        for i in 0..STORE_SIZE {
            let id = tower_create(&store).expect("create");
            if i % stride == 0 {
                ids.push(id);
            }
        }
        ids.sort_unstable_by_key(|id| id.0);
        let cookies = Tokens::new(22, ids.iter().map(Id::to_string));
        for id in ids.iter().take(10) {
            assert!(poll_once(store.load(id)).expect("load").is_some());
        }
        eprintln!(
            "tower-sessions: {STORE_SIZE} records built in {:.1?}",
            started.elapsed()
        );
        TowerFixture {
            store,
            ids,
            cookies,
        }
    })
}

/// One random cycle through 64 Mi slots (256 MiB): following it, every load misses every cache
/// and most of the TLB, and depends on the one before (Sattolo's shuffle, splitmix64).
fn dram_chase() -> Vec<u32> {
    const SLOTS: usize = 64 << 20;
    let mut next: Vec<u32> = (0..SLOTS as u32).collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..SLOTS).rev() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let j = usize::try_from((z ^ (z >> 31)) % i as u64).expect("below SLOTS");
        next.swap(i, j);
    }
    next
}

/// Cycle `i` through `0..len`.
#[inline(always)]
fn next(i: &mut usize, len: usize) -> usize {
    let at = *i;
    *i = if at + 1 == len { 0 } else { at + 1 };
    at
}

/// A current desktop browser's `User-Agent`, as a signed-in session records it.
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// What a signed-in Django session holds (the Python benches' payload).
fn payload() -> tessera::Data {
    let value = serde_json::json!({
        "_auth_user_id": "1",
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": "9f2c".repeat(16),
        "cart": ["apple", "pear"],
        "theme": "dark",
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

fn validate(c: &mut Criterion) {
    let fx = tessera_fixture();
    let tower = tower_fixture();
    let manager = &fx.manager;
    let mut group = c.benchmark_group("validate");

    group.bench_function(BenchmarkId::new("tessera", "hit"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.hits.get(next(&mut i, HOT));
            manager.validate(black_box(token), &CTX).expect("validate")
        });
    });

    group.bench_function(BenchmarkId::new("tessera", "hit_cached"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.hits.get(next(&mut i, CACHED));
            manager.validate(black_box(token), &CTX).expect("validate")
        });
    });

    let narrow = Context {
        fields: Fields::NONE,
        ..CTX
    };
    match manager
        .validate(fx.signed_in.get(0), &narrow)
        .expect("validate")
    {
        Validation::Valid(s) => assert!(s.user().is_some() && s.data().is_empty()),
        Validation::Rejected(r) => panic!("a signed-in session was rejected: {r}"),
    }
    group.bench_function(BenchmarkId::new("tessera", "signed_in"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.signed_in.get(next(&mut i, SIGNED_IN));
            manager.validate(black_box(token), &CTX).expect("validate")
        });
    });
    group.bench_function(BenchmarkId::new("tessera", "signed_in_narrow"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.signed_in.get(next(&mut i, SIGNED_IN));
            manager
                .validate(black_box(token), &narrow)
                .expect("validate")
        });
    });

    let unknown = fx.unknown.get(0);
    assert_eq!(
        manager.validate(unknown, &CTX).expect("validate").reason(),
        Some(tessera::Reason::Unknown)
    );
    let chase = dram_chase();
    group.bench_function(BenchmarkId::new("control", "dram_load"), |b| {
        let mut at = 0u32;
        b.iter(|| {
            at = chase[at as usize];
            at
        });
    });
    drop(chase);

    group.bench_function(BenchmarkId::new("tessera", "id_of"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.hits.get(next(&mut i, CACHED));
            manager.id_of(black_box(token)).expect("well-formed")
        });
    });

    group.bench_function(BenchmarkId::new("tessera", "unknown"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = fx.unknown.get(next(&mut i, HOT));
            manager.validate(black_box(token), &CTX).expect("validate")
        });
    });

    let malformed = &fx.hits.get(0)[..TOKEN_LEN - 1];
    assert_eq!(
        manager
            .validate(malformed, &CTX)
            .expect("validate")
            .reason(),
        Some(tessera::Reason::Malformed)
    );
    group.bench_function(BenchmarkId::new("tessera", "malformed"), |b| {
        b.iter(|| {
            manager
                .validate(black_box(malformed), &CTX)
                .expect("validate")
        });
    });

    group.bench_function(BenchmarkId::new("tower_sessions", "load"), |b| {
        let mut i = 0;
        b.iter(|| {
            let id = &tower.ids[next(&mut i, tower.ids.len())];
            poll_once(tower.store.load(black_box(id))).expect("load")
        });
    });

    group.bench_function(BenchmarkId::new("tower_sessions", "load_cached"), |b| {
        let mut i = 0;
        b.iter(|| {
            let id = &tower.ids[next(&mut i, CACHED)];
            poll_once(tower.store.load(black_box(id))).expect("load")
        });
    });

    group.bench_function(BenchmarkId::new("tower_sessions", "parse_load"), |b| {
        let mut i = 0;
        b.iter(|| {
            let cookie = tower.cookies.get(next(&mut i, tower.cookies.len()));
            let id: Id = black_box(cookie).parse().expect("a well-formed id");
            poll_once(tower.store.load(&id)).expect("load")
        });
    });

    group.finish();
}

/// Wall time of `iters` iterations of `work` split over `threads` threads: `work(t, n)` runs `n`
/// iterations on thread `t`. The clock starts when every thread is ready.
fn parallel(threads: usize, iters: u64, work: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let (barrier, work) = (&barrier, &work);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let n = iters / threads as u64 + u64::from((t as u64) < iters % threads as u64);
                scope.spawn(move || {
                    barrier.wait();
                    work(t, n);
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        for worker in workers {
            worker.join().expect("a benchmark thread panicked");
        }
        started.elapsed()
    })
}

/// `n` validations of live tokens on thread `t` of `threads`, each thread starting at its own
/// offset in the token list.
fn validate_many(fx: &TesseraFixture, t: usize, threads: usize, n: u64) {
    let len = fx.hits.len();
    let mut i = t * len / threads;
    let mut valid = 0u64;
    for _ in 0..n {
        let token = fx.hits.get(next(&mut i, len));
        let v = fx.manager.validate(black_box(token), &CTX);
        valid += u64::from(matches!(v, Ok(Validation::Valid(_))));
    }
    assert_eq!(valid, n, "every validation of a live token succeeds");
}

/// The control: 64 rounds of splitmix64 (register-only arithmetic, a few hundred cycles) per
/// iteration, sharing nothing between threads. Its 2-thread/1-thread ratio is what the machine
/// itself delivers (≈ 2 on two free cores; ≈ 1 if the host time-slices the two vCPUs on one core).
fn control_many(t: usize, n: u64) {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ t as u64;
    for _ in 0..n {
        for _ in 0..64 {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x = z ^ (z >> 31);
        }
        x = black_box(x);
    }
}

fn validate_throughput(c: &mut Criterion) {
    let fx = tessera_fixture();
    let mut group = c.benchmark_group("validate_throughput");
    // Every sample gets the same number of iterations, so thread start-up weighs the same.
    group.sampling_mode(SamplingMode::Flat);
    for (threads, name) in [(1, "1_thread"), (2, "2_threads")] {
        group.bench_function(BenchmarkId::new("control", name), |b| {
            b.iter_custom(|iters| parallel(threads, iters, control_many));
        });
    }
    for (threads, name) in [(1, "1_thread"), (2, "2_threads")] {
        group.bench_function(BenchmarkId::new("tessera", name), |b| {
            b.iter_custom(|iters| {
                parallel(threads, iters, |t, n| validate_many(fx, t, threads, n))
            });
        });
    }
    group.finish();
}

/// Run `iters` timed operations in batches of at most `BATCH`, with untimed `before` and
/// `after` steps around each batch, all sharing `state`; returns the time spent in `timed` only.
fn batched<S>(
    iters: u64,
    state: &mut S,
    mut before: impl FnMut(&mut S, usize),
    mut timed: impl FnMut(&mut S, usize),
    mut after: impl FnMut(&mut S),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = usize::try_from(left.min(BATCH as u64)).expect("BATCH fits in usize");
        before(state, n);
        let started = Instant::now();
        timed(state, n);
        total += started.elapsed();
        after(state);
        left -= n as u64;
    }
    total
}

fn revoke_all(manager: &SessionManager, ids: &mut Vec<SessionId>) {
    for id in ids.drain(..) {
        assert!(manager.revoke(&id).expect("revoke"));
    }
}

fn create(c: &mut Criterion) {
    let fx = tessera_fixture();
    let manager = &fx.manager;
    let mut group = c.benchmark_group("create");
    group.bench_function(BenchmarkId::new("tessera", "anonymous"), |b| {
        let mut ids: Vec<SessionId> = Vec::with_capacity(BATCH);
        b.iter_custom(|iters| {
            batched(
                iters,
                &mut ids,
                |_, _| {},
                |ids, n| {
                    for _ in 0..n {
                        let session = manager.create(None, None, &CTX).expect("create");
                        ids.push(*session.id());
                    }
                },
                |ids| revoke_all(manager, ids),
            )
        });
    });
    group.finish();
}

fn login(c: &mut Criterion) {
    let fx = tessera_fixture();
    let manager = &fx.manager;
    let mut group = c.benchmark_group("login");
    group.bench_function(BenchmarkId::new("tessera", "anonymous_to_user"), |b| {
        struct State {
            tokens: Vec<String>,
            ids: Vec<SessionId>,
            user: usize,
        }
        let mut state = State {
            tokens: Vec::with_capacity(BATCH),
            ids: Vec::with_capacity(BATCH),
            user: 0,
        };
        b.iter_custom(|iters| {
            batched(
                iters,
                &mut state,
                |st, n| {
                    st.tokens.extend((0..n).map(|_| {
                        let session = manager.create(None, None, &CTX).expect("create");
                        session.new_token().expect("a new token").expose()
                    }));
                },
                |st, _| {
                    for token in &st.tokens {
                        let name = &fx.users[next(&mut st.user, fx.users.len())];
                        let session = manager.login(Some(token), name, &CTX).expect("login");
                        st.ids.push(*session.id());
                    }
                },
                |st| {
                    st.tokens.clear();
                    revoke_all(manager, &mut st.ids);
                },
            )
        });
    });
    group.finish();
}

fn rotate(c: &mut Criterion) {
    let fx = tessera_fixture();
    let manager = &fx.manager;
    let mut ring = fx.ring.lock().expect("the ring is not poisoned");
    let mut group = c.benchmark_group("rotate");
    group.bench_function(BenchmarkId::new("tessera", "with_grace"), |b| {
        let mut i = 0;
        b.iter(|| {
            let at = next(&mut i, RING);
            let Validation::Valid(session) = manager.rotate(ring.get(at), &CTX).expect("rotate")
            else {
                panic!("a ring session was rejected");
            };
            let mut cookie = [0u8; TOKEN_LEN];
            session
                .new_token()
                .expect("a new token")
                .encode_into(&mut cookie);
            ring.set(
                at,
                std::str::from_utf8(&cookie).expect("base64url is ASCII"),
            );
        });
    });
    group.finish();
}

/// How many bound (and unbound) sessions the DBSC benches cycle through.
const DBSC_SAMPLE: usize = 20_000;

fn dbsc(c: &mut Criterion) {
    let started = Instant::now();
    let fx = tessera_benches::dbsc::build(DBSC_SAMPLE);
    eprintln!(
        "dbsc: {STORE_SIZE} sessions, {DBSC_SAMPLE} bound, built in {:.1?}",
        started.elapsed()
    );
    let manager = &fx.manager;
    let unbound = Tokens::new(TOKEN_LEN, &fx.unbound);
    let bound = Tokens::new(TOKEN_LEN, fx.bound.iter().map(|b| &b.token));
    let cookies = Tokens::new(TOKEN_LEN, fx.bound.iter().map(|b| &b.bound_cookie));
    let check = |token: &str, cookie: &str| {
        let ctx = Context {
            bound: Presented::from_values(std::iter::once(cookie)),
            ..CTX
        };
        manager.validate(token, &ctx).expect("validate")
    };
    match check(bound.get(0), cookies.get(0)) {
        Validation::Valid(s) => assert_eq!(s.proof(), Proof::Fresh),
        Validation::Rejected(r) => panic!("a bound session was rejected: {r}"),
    }
    assert_eq!(
        manager
            .validate(bound.get(0), &CTX)
            .expect("validate")
            .reason(),
        Some(tessera::Reason::BindingMissing)
    );
    let mut group = c.benchmark_group("dbsc");
    group.bench_function(BenchmarkId::new("tessera", "unbound_hit"), |b| {
        let mut i = 0;
        b.iter(|| {
            let token = unbound.get(next(&mut i, DBSC_SAMPLE));
            manager.validate(black_box(token), &CTX).expect("validate")
        });
    });
    group.bench_function(BenchmarkId::new("tessera", "bound_hit"), |b| {
        let mut i = 0;
        b.iter(|| {
            let at = next(&mut i, DBSC_SAMPLE);
            // The digest of the request's bound cookie is part of the cost.
            check(black_box(bound.get(at)), black_box(cookies.get(at)))
        });
    });
    let request = |cookie: &str| {
        let head = RequestHead {
            cookie_header: Some(cookie),
            https: true,
            method: "GET",
            ..RequestHead::default()
        };
        let r = http::begin(manager, &head).expect("begin");
        r.finish(manager, Outcome::default()).expect("finish")
    };
    let unbound_headers: Vec<String> = fx
        .unbound
        .iter()
        .map(|t| format!("theme=dark; __Host-session={t}"))
        .collect();
    let bound_headers: Vec<String> = fx
        .bound
        .iter()
        .map(|b| {
            format!(
                "theme=dark; __Host-session={}; __Host-session-bound={}",
                b.token, b.bound_cookie
            )
        })
        .collect();
    assert!(request(&bound_headers[0]).user.is_some());
    assert!(request(&unbound_headers[0]).user.is_some());
    group.bench_function(BenchmarkId::new("tessera", "unbound_request"), |b| {
        let mut i = 0;
        b.iter(|| request(black_box(&unbound_headers[next(&mut i, DBSC_SAMPLE)])));
    });
    group.bench_function(BenchmarkId::new("tessera", "bound_request"), |b| {
        let mut i = 0;
        b.iter(|| request(black_box(&bound_headers[next(&mut i, DBSC_SAMPLE)])));
    });
    for (name, device) in [
        ("refresh_es256", tessera_benches::dbsc::Device::es256()),
        ("refresh_rs256", tessera_benches::dbsc::Device::rs256()),
    ] {
        let session = tessera_benches::dbsc::bind(manager, name, &device);
        fx.clock.advance(Duration::from_secs(11));
        let cookie = format!("__Host-session={}", session.token);
        group.bench_function(BenchmarkId::new("tessera", name), |b| {
            b.iter_batched(
                || device.proof(&tessera_benches::dbsc::challenge(manager, &session), false),
                |proof| {
                    let head =
                        tessera_benches::dbsc::endpoint(&cookie, Some(&session.bid), Some(&proof));
                    let r = tessera::dbsc::refresh(manager, &head).expect("refresh");
                    assert_eq!(r.status, 200);
                    r
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    validate,
    validate_throughput,
    create,
    login,
    rotate,
    dbsc
);
criterion_main!(benches);
