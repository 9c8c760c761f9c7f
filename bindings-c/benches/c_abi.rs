//! What the C ABI adds to a validate: `tessera_manager_validate` + `tessera_session_free`
//! against `SessionManager::validate` (and dropping its result) on the same manager, in the same
//! process, on a store of 100 000 sessions; and `tessera_manager_validate_in` (the session built
//! in storage on the caller's stack, every part or the data only) against `validate` with the
//! same `Context::fields`. `make bench-c` runs it (release, the bench profile) and it writes
//! `c-abi.json` and `c-abi.md` into the directory given with `--out`.
//!
//! Method: the exported functions are called through function pointers hidden from the optimiser
//! (`black_box`), so the call cannot be inlined and runs the same machine code a C caller reaches
//! through the library: the NULL and UTF-8 checks, the panic boundary, boxing the session handle,
//! the out-parameters and the free. Tokens are C strings, as a C caller has them. The two sides
//! alternate in short batches over the same tokens (the order alternates too, since the second
//! side finds the records cached), and the overhead is the mean of the median difference of each
//! order, which cancels most of the drift of a shared, noisy machine.
//!
//! The figure depends on where the process's stack and heap land (the one copy of the session
//! into its handle is sensitive to address aliasing): from one process to the next it moves by
//! several nanoseconds while staying steady within a process. So the bench runs in several child
//! processes — each with its own address layout, as separate C programs would have — and reports
//! the median over them, with every process's figure.

use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::path::PathBuf;
use std::ptr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tessera::manager::tessera_manager;
use tessera::manager::{TESSERA_FIELD_DATA, TESSERA_FIELDS_ALL};
use tessera::request::{
    tessera_auth, tessera_expiry, tessera_request, tessera_request_begin,
    tessera_request_data_json, tessera_request_finish, tessera_request_user,
};
use tessera::response::tessera_response;
use tessera::session::{tessera_session, tessera_session_storage};
use tessera::status::{tessera_reason, tessera_status};
use tessera_core::http::{self, Outcome, RequestHead};
use tessera_core::{Context, Fields, Validation};

const DEFAULT_SESSIONS: usize = 100_000;
const SAMPLE: usize = 1_024;
const HOT: usize = 64;
const DEFAULT_PROCESSES: usize = 7;
const DEFAULT_BATCHES: usize = 3_000;
const PER_BATCH: usize = 200;
/// Issue 14's target (it was 30 ns before).
const TARGET_NS: f64 = 15.0;
/// A browser's `User-Agent`, passed with every validate (C converts and checks it; Rust code
/// holds a `&str`).
const USER_AGENT: &std::ffi::CStr = c"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";

type ValidateFn = unsafe extern "C" fn(
    *const tessera_manager,
    *const c_char,
    bool,
    *const c_char,
    *mut *mut tessera_session,
    *mut tessera_reason,
) -> tessera_status;
type ValidateInFn = unsafe extern "C" fn(
    *const tessera_manager,
    *const c_char,
    bool,
    u32,
    *mut tessera_session_storage,
    *mut *mut tessera_session,
    *mut tessera_reason,
) -> tessera_status;
type FreeFn = unsafe extern "C" fn(*mut tessera_session);

/// A token as C passes it and as Rust code holds it.
type Token<'a> = (*const c_char, &'a str);

struct Side {
    rust: Vec<f64>,
    c: Vec<f64>,
}

/// A size, overridable from the environment (e.g. `TESSERA_BENCH_SESSIONS=1000` for a quick run
/// under a profiler).
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--child") {
        child();
    } else {
        parent();
    }
}

/// Run the children, aggregate, write `c-abi.json` and `c-abi.md`.
fn parent() {
    let out = out_dir();
    let processes = setting("TESSERA_BENCH_PROCESSES", DEFAULT_PROCESSES);
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for i in 0..processes {
        eprintln!("c-abi bench: process {}/{processes}", i + 1);
        let output = std::process::Command::new(&exe)
            .arg("--child")
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("the bench can run itself");
        assert!(output.status.success(), "a bench process failed");
        runs.push(serde_json::from_slice(&output.stdout).expect("a bench process printed JSON"));
    }
    let sessions = runs[0]["sessions_in_store"].clone();
    let batches = runs[0]["batches"].clone();
    let mut results = serde_json::Map::new();
    for name in SCENARIOS {
        let of = |field: &str| -> Vec<f64> {
            runs.iter()
                .map(|r| r["scenarios"][name][field].as_f64().unwrap())
                .collect()
        };
        results.insert(
            name.to_owned(),
            json!({
                "distinct_tokens": runs[0]["scenarios"][name]["distinct_tokens"],
                "rust_ns_median": round1(quantile(&of("rust_ns_median"), 0.5)),
                "c_abi_ns_median": round1(quantile(&of("c_abi_ns_median"), 0.5)),
                "overhead_ns": round1(quantile(&of("overhead_ns"), 0.5)),
                "overhead_ns_of_each_process": of("overhead_ns"),
                "processes": runs.iter().map(|r| r["scenarios"][name].clone()).collect::<Vec<_>>(),
            }),
        );
    }
    let overhead = results[SCENARIOS[0]]["overhead_ns"].as_f64().unwrap();
    let overhead_in = results[SCENARIOS[1]]["overhead_ns"].as_f64().unwrap();
    let report = json!({
        "bench": "validate through the C ABI (tessera_manager_validate + tessera_session_free; tessera_manager_validate_in into stack storage + tessera_session_free) vs SessionManager::validate in Rust with the same Context::fields",
        "method": "same process, same manager and tokens; the exports are called through black-boxed function pointers with C-string tokens (and a browser User-Agent for tessera_manager_validate, which does not read it); the sides alternate in short batches over the same tokens, in alternating order; a process's overhead = mean of the median pair difference of each order; reported = median over the processes, each with its own address layout",
        "sessions_in_store": sessions,
        "processes": processes,
        "batches": batches,
        "validates_per_batch_per_side": PER_BATCH,
        "profile": "bench (release, line-tables debug info), the library linked statically",
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "results": results,
        "target_overhead_ns": TARGET_NS,
        "meets_target": overhead <= TARGET_NS,
        "meets_target_validate_in": overhead_in <= TARGET_NS,
    });
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("c-abi.json"),
        serde_json::to_string_pretty(&report).unwrap() + "\n",
    )
    .unwrap();
    std::fs::write(out.join("c-abi.md"), markdown(&report)).unwrap();
    println!("{}", markdown(&report));
}

/// The scenarios, headline first (the target is judged on it).
const SCENARIOS: [&str; 6] = [
    "valid_active_sessions",
    "validate_in_all_fields_active_sessions",
    "validate_in_data_only_active_sessions",
    "valid_across_the_store",
    "unknown_token",
    "request_of_an_active_session",
];

/// One process: fill a store, measure each scenario once, print the summaries as JSON.
fn child() {
    let sessions = setting("TESSERA_BENCH_SESSIONS", DEFAULT_SESSIONS);
    let batches = setting("TESSERA_BENCH_BATCHES", DEFAULT_BATCHES);
    let options = CString::new(
        r#"{"sweep_interval_ms": null, "rotation_interval_ms": null, "store": "memory://"}"#,
    )
    .unwrap();
    let mut manager: *mut tessera_manager = ptr::null_mut();
    // SAFETY: valid C strings and out-pointers; NULL clock is allowed.
    let st = unsafe {
        tessera::manager::tessera_manager_new(options.as_ptr(), ptr::null(), &mut manager)
    };
    assert_eq!(st, tessera_status::Ok);

    eprintln!("c-abi bench: filling a store with {sessions} sessions");
    let mut tokens = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let user = CString::new(format!("user-{}", i % 10_000)).unwrap();
        let data = CString::new(r#"{"theme": "dark", "cart": [1, 2, 3]}"#).unwrap();
        let mut s: *mut tessera_session = ptr::null_mut();
        let mut token = [0 as c_char; tessera::strings::TESSERA_TOKEN_BUFFER_LEN];
        // SAFETY: the manager is live; the strings, buffer and out-pointer are valid.
        unsafe {
            let st = tessera::manager::tessera_manager_create(
                manager,
                user.as_ptr(),
                data.as_ptr(),
                true,
                c"bench".as_ptr(),
                &mut s,
            );
            assert_eq!(st, tessera_status::Ok);
            let st =
                tessera::session::tessera_session_new_token(s, token.as_mut_ptr(), token.len());
            assert_eq!(st, tessera_status::Ok);
            tessera::session::tessera_session_free(s);
        }
        let bytes: Vec<u8> = token
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        tokens.push(CString::new(bytes).unwrap());
    }
    // A fixed pseudo-random sample spread over the whole store.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let sample: Vec<&CString> = (0..SAMPLE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            &tokens[(state % sessions as u64) as usize]
        })
        .collect();
    let unknown: Vec<CString> = (0..SAMPLE)
        .map(|i| {
            CString::new(format!("{:A<43}", format!("{i:x}")).replace(['8', '9'], "A")).unwrap()
        })
        .collect();

    // SAFETY: `manager` is live until the end of main; nothing frees it before.
    let core = unsafe { &*manager }.core();
    let validate: ValidateFn = black_box(tessera::manager::tessera_manager_validate);
    let validate_in: ValidateInFn = black_box(tessera::manager::tessera_manager_validate_in);
    let free: FreeFn = black_box(tessera::session::tessera_session_free);
    let ctx = Context {
        https: true,
        user_agent: Some(USER_AGENT.to_str().unwrap()),
        ..Context::default()
    };

    // Each token as C has it and as Rust has it (`&str`, no conversion to pay).
    fn pair(t: &CString) -> Token<'_> {
        (t.as_ptr(), t.to_str().unwrap())
    }
    let sample: Vec<Token> = sample.into_iter().map(pair).collect();
    assert!(sample.len() >= HOT);
    let unknown: Vec<Token> = unknown.iter().map(pair).collect();
    let rust_once = |token: &Token| {
        let v = core.validate(black_box(token.1), &ctx);
        black_box(&v);
        matches!(v, Ok(Validation::Valid(_)))
    };
    // The same validate asking only for the data, as `validate_in` with TESSERA_FIELD_DATA.
    let data_ctx = Context {
        https: true,
        fields: Fields::DATA,
        ..Context::default()
    };
    let rust_data_once = |token: &Token| {
        let v = core.validate(black_box(token.1), &data_ctx);
        black_box(&v);
        matches!(v, Ok(Validation::Valid(_)))
    };
    let c_once = |token: &Token| {
        let mut s: *mut tessera_session = ptr::null_mut();
        let mut reason = tessera_reason::None;
        // SAFETY: live manager, C strings, valid out-pointers; the session is freed once.
        unsafe {
            let st = validate(
                manager,
                black_box(token.0),
                true,
                USER_AGENT.as_ptr(),
                &mut s,
                &mut reason,
            );
            // As C code does: a session to free only when one came back.
            let ok = black_box(st) == tessera_status::Ok;
            if ok {
                free(s);
            }
            ok
        }
    };

    // validate_in as C calls it: storage on the stack (a fresh frame per call, as a request
    // handler's), the session freed before the frame ends.
    let c_in = |fields: u32| {
        move |token: &Token| {
            let mut storage = std::mem::MaybeUninit::<tessera_session_storage>::uninit();
            let mut s: *mut tessera_session = ptr::null_mut();
            let mut reason = tessera_reason::None;
            // SAFETY: live manager, C strings, valid out-pointers, storage that outlives the
            // session and holds none; the session is freed once.
            unsafe {
                let st = validate_in(
                    manager,
                    black_box(token.0),
                    true,
                    fields,
                    storage.as_mut_ptr(),
                    &mut s,
                    &mut reason,
                );
                let ok = black_box(st) == tessera_status::Ok;
                if ok {
                    free(s);
                }
                ok
            }
        }
    };
    let c_in_all = c_in(TESSERA_FIELDS_ALL);
    let c_in_data = c_in(TESSERA_FIELD_DATA);

    // A whole request of a C server that reads the session (tessera::http): begin with the
    // Cookie header, the data as JSON text, finish, the response's headers, every free.
    let hot = &sample[..HOT];
    let cookies: Vec<CString> = hot
        .iter()
        .map(|t| CString::new(format!("theme=dark; __Host-session={}", t.1)).unwrap())
        .collect();
    let cookies: Vec<Token> = cookies.iter().map(pair).collect();
    let user_agent = USER_AGENT.to_str().unwrap();
    let rust_request = |cookie: &Token| {
        let head = RequestHead {
            cookie_header: Some(black_box(cookie.1)),
            https: true,
            method: "GET",
            user_agent: Some(user_agent),
            csrf_candidate: None,
        };
        let Ok(request) = http::begin(core, &head) else {
            return false;
        };
        let data = serde_json::to_string(request.data()).unwrap();
        black_box(&data);
        let signed_in = request.user().is_some();
        let response = request.finish(core, Outcome::default());
        black_box(&response);
        signed_in && response.is_ok_and(|r| r.headers().is_empty())
    };
    let c_request = |cookie: &Token| {
        let mut request: *mut tessera_request = ptr::null_mut();
        let mut response: *mut tessera_response = ptr::null_mut();
        let mut data: *mut c_char = ptr::null_mut();
        let mut user: *const c_char = ptr::null();
        let mut headers = usize::MAX;
        // SAFETY: a live manager, C strings and valid out-pointers; the request is consumed by
        // finish, the string and the response are freed once.
        unsafe {
            let st = tessera_request_begin(
                manager,
                black_box(cookie.0),
                true,
                c"GET".as_ptr(),
                USER_AGENT.as_ptr(),
                ptr::null(),
                &mut request,
            );
            if st != tessera_status::Ok {
                return false;
            }
            tessera_request_data_json(request, &mut data);
            black_box(data);
            tessera::strings::tessera_string_free(data);
            tessera_request_user(request, &mut user);
            let signed_in = !user.is_null();
            let st = tessera_request_finish(
                request,
                manager,
                ptr::null(),
                tessera_auth::Unchanged as i32,
                ptr::null(),
                false,
                tessera_expiry::None as i32,
                0,
                false,
                false,
                &mut response,
            );
            tessera::response::tessera_response_header_count(response, &mut headers);
            tessera::response::tessera_response_free(response);
            signed_in && st == tessera_status::Ok && headers == 0
        }
    };

    // The headline: a working set of active sessions small enough to stay cached, so that the
    // figure is the ABI's cost rather than the memory latency both sides pay alike; the same
    // through validate_in (every part, then the data only, each against Rust asking for the
    // same). Then a set spread over the whole store, and tokens that were never issued; last,
    // whole requests.
    type Once<'a> = &'a dyn Fn(&Token) -> bool;
    let scenarios: [(&[Token], bool, Once, Once); 6] = [
        (hot, true, &rust_once, &c_once),
        (hot, true, &rust_once, &c_in_all),
        (hot, true, &rust_data_once, &c_in_data),
        (&sample, true, &rust_once, &c_once),
        (&unknown, false, &rust_once, &c_once),
        (&cookies, true, &rust_request, &c_request),
    ];
    let mut summaries = serde_json::Map::new();
    for (name, (tokens, valid, rust_side, c_side)) in SCENARIOS.iter().zip(scenarios) {
        eprintln!("c-abi bench:   {name}: {batches} pairs of batches of {PER_BATCH}");
        let side = measure(tokens, rust_side, c_side, valid, batches);
        let mut summary = summarize(&side);
        summary["distinct_tokens"] = json!(tokens.len());
        summaries.insert((*name).to_owned(), summary);
    }

    // SAFETY: no other reference to the manager is used after this point.
    unsafe { tessera::manager::tessera_manager_free(manager) };
    println!(
        "{}",
        json!({"sessions_in_store": sessions, "batches": batches, "scenarios": summaries})
    );
}

/// Alternate the two sides in short batches; returns ns per validate of each batch.
fn measure(
    tokens: &[Token],
    rust_once: &dyn Fn(&Token) -> bool,
    c_once: &dyn Fn(&Token) -> bool,
    want_valid: bool,
    batches: usize,
) -> Side {
    // Warm up both paths (caches, branch predictors, the allocator's free lists).
    for t in tokens.iter().take(2_000.min(batches * PER_BATCH)) {
        assert_eq!(rust_once(t), want_valid);
        assert_eq!(c_once(t), want_valid);
    }
    let mut side = Side {
        rust: Vec::with_capacity(batches),
        c: Vec::with_capacity(batches),
    };
    let mut next = 0usize;
    for batch in 0..batches {
        // Both sides of a pair validate the same tokens, so the second finds them in the cache:
        // the order alternates, and `summarize` averages the two orders.
        let order: [bool; 2] = if batch % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let first = next;
        for rust in order {
            next = first;
            let start = Instant::now();
            let mut ok = 0usize;
            for _ in 0..PER_BATCH {
                let t = &tokens[next];
                next = if next + 1 == tokens.len() {
                    0
                } else {
                    next + 1
                };
                ok += usize::from(if rust { rust_once(t) } else { c_once(t) });
            }
            let ns = start.elapsed().as_nanos() as f64 / PER_BATCH as f64;
            assert_eq!(ok, if want_valid { PER_BATCH } else { 0 });
            if rust {
                side.rust.push(ns)
            } else {
                side.c.push(ns)
            }
        }
    }
    side
}

/// The `q`-quantile (0..=1) of `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn summarize(side: &Side) -> serde_json::Value {
    // Even pairs ran Rust first (C found the records in the cache), odd pairs C first. Averaging
    // the median difference of each order cancels that advantage.
    let diffs = |parity: usize| -> Vec<f64> {
        side.c
            .iter()
            .zip(&side.rust)
            .enumerate()
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, (c, r))| c - r)
            .collect()
    };
    let (rust_first, c_first) = (diffs(0), diffs(1));
    let overhead = (quantile(&rust_first, 0.5) + quantile(&c_first, 0.5)) / 2.0;
    json!({
        "rust_ns_median": round1(quantile(&side.rust, 0.5)),
        "c_abi_ns_median": round1(quantile(&side.c, 0.5)),
        "rust_ns_p10": round1(quantile(&side.rust, 0.1)),
        "c_abi_ns_p10": round1(quantile(&side.c, 0.1)),
        "overhead_ns": round1(overhead),
        "median_difference_rust_first_ns": round1(quantile(&rust_first, 0.5)),
        "median_difference_c_first_ns": round1(quantile(&c_first, 0.5)),
        "overhead_ns_p10_to_p10": round1(quantile(&side.c, 0.1) - quantile(&side.rust, 0.1)),
    })
}

fn markdown(r: &serde_json::Value) -> String {
    let row = |name: &str, key: &str| {
        let s = &r["results"][key];
        format!(
            "| {name} | {} | {} | {} | **{}** | {} |\n",
            s["distinct_tokens"],
            s["rust_ns_median"],
            s["c_abi_ns_median"],
            s["overhead_ns"],
            s["overhead_ns_of_each_process"]
        )
    };
    let yes_no = |key: &str| {
        if r[key].as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        }
    };
    format!(
        "# C ABI overhead on validate\n\n\
         `make bench-c`: `tessera_manager_validate` + `tessera_session_free` called as C calls them \
         (C-string token, a browser `User-Agent`, which validate does not read), against \
         `SessionManager::validate` on the same manager from Rust, in the same process, on a \
         memory store of {} sessions; and `tessera_manager_validate_in` + `tessera_session_free` \
         with the session built in a `tessera_session_storage` on the caller's stack, asking for \
         every part (`TESSERA_FIELDS_ALL`) or the data only (`TESSERA_FIELD_DATA`), against \
         `validate` with the same `Context::fields`. A process \
         alternates the two sides in {} pairs of batches of {} validates over the same tokens; \
         the second side of a pair finds the records cached, so the order alternates and the \
         overhead is the mean of the median difference in each order. The figure is steady \
         within a process but moves with its address layout, so it is the median over {} \
         processes (each listed). Target: the C ABI adds ≤ {} ns.\n\n\
         | validate of | tokens | Rust ns/op | C ABI ns/op | C ABI adds, ns | each process |\n\
         |---|---|---|---|---|---|\n{}{}{}{}{}{}\n\
         The second and third rows validate the same tokens as the first through \
         `tessera_manager_validate_in`; the third compares with a Rust validate that also asks \
         for the data only (both skip the CSRF secret and the user agent). The last row is a \
         whole request of a C server that reads its session through the \
         request protocol (`tessera_request_begin` with the `Cookie` header, \
         `tessera_request_data_json`, `tessera_request_user`, `tessera_request_finish`, the \
         response's headers, every free) against the same steps on `tessera::http` in Rust; \
         it is not part of the target, which is about validate.\n\n\
         Target met (first row, `tessera_manager_validate`, median): **{}**; by \
         `tessera_manager_validate_in` with every part (second row): **{}**. Machine: {} CPUs \
         shared with other builds; `c-abi.json` has every figure.\n\n\
         Where the nanoseconds go. Both calls build the session in place \
         (`SessionManager::validate_into`): the copy of the ~300-byte session from the value the \
         core returned into the handle, which most of the overhead was until issue 14, is gone, \
         and so is the check of the `User-Agent` string, which validate never used. What is left \
         is a fixed cost per call, the same for a small or a large session: the token's C string \
         (`strlen`, an ASCII fast path before UTF-8 validation), the panic boundary, the checks \
         of the out-parameters, the status, and the state word that makes every free harmless \
         to repeat — a release store when the session is handed out and one atomic \
         compare-and-swap at the free, which a second free, even a racing one, then finds \
         already done. `tessera_manager_validate` also takes its handle from, and gives it back \
         to, this thread's cache of freed handles (a thread-local access each way, no `malloc`, \
         no lock); `tessera_manager_validate_in` takes no handle (its storage is the caller's) \
         and pays everything else, so the first two rows differ by that cache alone, and the \
         third pays the same as the second on a validate that copies less on both sides. That \
         floor — a C call with its string, its status and a free that is safe twice — is what \
         bounds the remaining overhead. The unknown-token row builds and frees no session but \
         takes the error path: the rejection records its reason for `tessera_last_error` (a \
         thread-local write), and `tessera_manager_validate` takes a handle it then gives back \
         unused (it cannot know before the store answers).\n",
        r["sessions_in_store"],
        r["batches"],
        r["validates_per_batch_per_side"],
        r["processes"],
        r["target_overhead_ns"],
        row(
            "a live session, among 64 active ones: `tessera_manager_validate`",
            "valid_active_sessions"
        ),
        row(
            "the same: `tessera_manager_validate_in`, stack storage, `TESSERA_FIELDS_ALL`",
            "validate_in_all_fields_active_sessions"
        ),
        row(
            "the same: `tessera_manager_validate_in`, stack storage, `TESSERA_FIELD_DATA` (Rust: `Fields::DATA`)",
            "validate_in_data_only_active_sessions"
        ),
        row(
            "a live session, spread over the store",
            "valid_across_the_store"
        ),
        row(
            "an unknown token (well-formed, never issued)",
            "unknown_token"
        ),
        row(
            "a whole request (begin → read → finish), an active session",
            "request_of_an_active_session"
        ),
        yes_no("meets_target"),
        yes_no("meets_target_validate_in"),
        r["cpus"],
    )
}

/// `--out DIR` from the arguments (cargo bench adds `--bench`, which is ignored).
fn out_dir() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/results"))
}
