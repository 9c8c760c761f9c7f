//! The flood run (issue 13, item 3): 1,000,000 cookieless requests through the request protocol
//! (`tessera::http`, what every framework integration runs) while 10,000 signed-in users keep
//! making requests, on the memory store with `max_sessions` set.
//!
//! The cookieless requests come in three kinds, in turn: a login page (a form with a CSRF
//! token), a `csrf_token()` endpoint, and a page that stores something for the visitor (a cart):
//! only the last may make a session. Every tenth request is a signed-in user's, round robin,
//! carrying the cookie its last response left (rotations included).
//!
//! Live heap bytes are counted exactly by this binary's allocator (no RSS noise): at the start,
//! when the store first reaches its cap, and at the end. The report gives the store writes per
//! kind, the signed-in requests that were not recognised and the sessions lost, the requests
//! refused, the evictions, and the memory. It exits non-zero if a signed-in user was ever not
//! recognised, a login page or `csrf_token()` wrote to the store, or the heap grew past the
//! level it had when the store first filled by more than 10 %.
//!
//! Bounded: a fixed count of requests on a manual clock (1 ms per request, so ~18 minutes of
//! session time, inside the 30-minute idle timeout of the users, who return every ~100 s).
//! `make test-flood` runs it (part of `make test`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera::http::{self, Auth, Outcome, RequestHead};
use tessera::{Config, EventKind, ManualClock, MemoryStore, SessionManager};

/// Counts the bytes this process holds on the heap.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is only
// arithmetic on the sizes the caller passes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const FLOOD: u64 = 1_000_000;
const USERS: usize = 10_000;
/// One signed-in request after this many cookieless ones.
const EVERY: u64 = 9;
const MAX_SESSIONS: usize = 100_000;
const COOKIE: &str = "__Host-session";

fn main() -> ExitCode {
    let started = Instant::now();
    let clock = ManualClock::default();
    let config = Config {
        max_sessions: Some(MAX_SESSIONS),
        ..Config::default()
    };
    let manager = SessionManager::builder(config)
        .store(MemoryStore::new())
        .clock(clock.clone())
        .sweep_interval(None)
        .build()
        .expect("a valid configuration");
    let counts = Arc::new(Counts::default());
    let tally = Arc::clone(&counts);
    manager.add_listener(move |e| tally.saw(e.kind));
    let heap_at_start = LIVE_BYTES.load(Ordering::Relaxed);

    // The signed-in users, each with the cookie its sign-in left.
    let mut users: Vec<(String, String)> = (0..USERS)
        .map(|i| {
            let user = format!("user{i}");
            let cookie = sign_in(&manager, &user);
            (user, cookie)
        })
        .collect();
    let signed_in_writes = counts.created.load(Ordering::Relaxed);

    let mut writes_by_kind = [0u64; 3];
    let mut refused = 0u64;
    let mut not_recognised = 0u64;
    let mut signed_in_requests = 0u64;
    let mut heap_when_full = None;
    let mut next_user = 0usize;
    let mut flood = 0u64;
    while flood < FLOOD {
        for _ in 0..EVERY {
            if flood == FLOOD {
                break;
            }
            let kind = (flood % 3) as usize;
            let before = counts.created.load(Ordering::Relaxed);
            match cookieless(&manager, kind) {
                Ok(()) => {}
                Err("store_full") => refused += 1,
                Err(code) => panic!("a cookieless request failed: {code}"),
            }
            writes_by_kind[kind] += counts.created.load(Ordering::Relaxed) - before;
            flood += 1;
            clock.advance(Duration::from_millis(1));
            if heap_when_full.is_none() && manager.store_len().unwrap_or(0) >= MAX_SESSIONS {
                heap_when_full = Some(LIVE_BYTES.load(Ordering::Relaxed));
            }
        }
        let (user, cookie) = &mut users[next_user];
        next_user = (next_user + 1) % USERS;
        signed_in_requests += 1;
        match signed_in(&manager, cookie) {
            Some((seen, rotated)) if seen == *user => {
                if let Some(fresh) = rotated {
                    *cookie = fresh;
                }
            }
            _ => not_recognised += 1,
        }
        clock.advance(Duration::from_millis(1));
    }
    let lost = users
        .iter()
        .filter(|(user, cookie)| signed_in(&manager, cookie).is_none_or(|(seen, _)| seen != *user))
        .count();
    let heap_at_end = LIVE_BYTES.load(Ordering::Relaxed);
    let heap_when_full = heap_when_full.unwrap_or(heap_at_end);
    let sessions = manager.store_len().unwrap_or(0);

    let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
    let grown = heap_at_end.saturating_sub(heap_at_start);
    let full = heap_when_full.saturating_sub(heap_at_start);
    println!(
        "flood: {FLOOD} cookieless requests, {signed_in_requests} signed-in requests of {USERS} users"
    );
    println!(
        "  store: max_sessions {MAX_SESSIONS}, {sessions} sessions at the end; {} evicted",
        counts.evicted.load(Ordering::Relaxed)
    );
    println!(
        "  store writes (sessions created): login page {}, csrf_token() {}, visitor cart {}; the {USERS} sign-ins {signed_in_writes}",
        writes_by_kind[0], writes_by_kind[1], writes_by_kind[2]
    );
    println!("  requests refused (store_full): {refused}");
    println!(
        "  signed-in requests not recognised: {not_recognised}; signed-in sessions lost: {lost} of {USERS}"
    );
    println!(
        "  heap: {:.1} MiB at the start; +{:.1} MiB when the store first filled ({:.0} B per session); +{:.1} MiB at the end ({:+.1} % over full)",
        mb(heap_at_start),
        mb(full),
        full as f64 / MAX_SESSIONS as f64,
        mb(grown),
        (grown as f64 / full.max(1) as f64 - 1.0) * 100.0
    );
    println!("  took {:.1} s", started.elapsed().as_secs_f64());

    let mut failures = Vec::new();
    if not_recognised > 0 || lost > 0 {
        failures.push("a signed-in user was not recognised");
    }
    if writes_by_kind[0] > 0 || writes_by_kind[1] > 0 {
        failures.push("a login page or csrf_token() wrote to the store");
    }
    if sessions > MAX_SESSIONS {
        failures.push("the store holds more than max_sessions");
    }
    if grown as f64 > full as f64 * 1.10 {
        failures.push("the heap grew past the full store's level by more than 10 %");
    }
    if failures.is_empty() {
        println!("flood: passed");
        ExitCode::SUCCESS
    } else {
        for f in failures {
            println!("flood: FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}

#[derive(Default)]
struct Counts {
    created: AtomicU64,
    evicted: AtomicU64,
}

impl Counts {
    fn saw(&self, kind: EventKind) {
        match kind {
            EventKind::Created | EventKind::Login => {
                self.created.fetch_add(1, Ordering::Relaxed);
            }
            EventKind::Evicted => {
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The `name=value` of a `Set-Cookie` line for the session cookie.
fn cookie_of(set_cookie: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?;
    (pair.starts_with(COOKIE) && !pair.ends_with('=')).then(|| pair.to_owned())
}

fn sign_in(manager: &SessionManager, user: &str) -> String {
    let head = RequestHead {
        method: "POST",
        https: true,
        ..RequestHead::default()
    };
    let request = http::begin(manager, &head).expect("begin");
    let outcome = Outcome {
        auth: Auth::LoggedIn(user.into()),
        ..Outcome::default()
    };
    let response = request.finish(manager, outcome).expect("a sign-in");
    response
        .set_cookie
        .as_deref()
        .and_then(cookie_of)
        .expect("a sign-in sends the cookie")
}

/// One cookieless request of `kind`: 0 a login page, 1 `csrf_token()`, 2 a cart write. The
/// error code if it failed.
fn cookieless(manager: &SessionManager, kind: usize) -> Result<(), &'static str> {
    let head = RequestHead {
        method: "GET",
        https: true,
        ..RequestHead::default()
    };
    let mut request = http::begin(manager, &head).map_err(|e| e.code())?;
    let mut outcome = Outcome::default();
    match kind {
        0 | 1 => {
            let token = request.csrf_token(manager).map_err(|e| e.code())?;
            assert!(!token.is_empty());
        }
        _ => {
            let mut data = request.data().clone();
            data.insert("cart".into(), json!(["apples"]));
            outcome.data = Some(data);
        }
    }
    request
        .finish(manager, outcome)
        .map(drop)
        .map_err(|e| e.error().code())
}

/// A signed-in user's request: the user the cookie gave, and the new cookie if it rotated.
fn signed_in(manager: &SessionManager, cookie: &str) -> Option<(String, Option<String>)> {
    let head = RequestHead {
        cookie_header: Some(cookie),
        method: "GET",
        https: true,
        ..RequestHead::default()
    };
    let request = http::begin(manager, &head).ok()?;
    let user = request.user()?.to_owned();
    let response = request.finish(manager, Outcome::default()).ok()?;
    Some((user, response.set_cookie.as_deref().and_then(cookie_of)))
}
