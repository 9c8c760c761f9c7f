//! Tessera on its embedded SQLite store from Rust: validate and create on a file of 1,000,000
//! sessions, the same calls on `memory://` (what is not SQLite's), and validate throughput of 4
//! processes sharing the file against 1.
//!
//! Usage: `sqlite --fixture-dir DIR --out OUT.json [--sessions 1000000] [--rounds 30]
//! [--round-ms 200] [--proc-ms 2500] [--procs 4]`
//!
//! `make bench-sqlite` runs this, then `bindings-python/benches/sqlite_bench.py` adds the Python
//! and Django figures and writes `benches/results/sqlite.{json,md}`.
//!
//! **The fixture** (`DIR/tessera-N.db`, with `DIR/tessera-N.tokens`: one token in every
//! `N / 100,000`, spread over the whole file, and `DIR/tessera-N.json`: when and how it was
//! built) is built once through the store — `SessionManager::create` of a signed-in user's
//! session with a little data, from [`BUILD_THREADS`] threads (SQLite takes one writer at a
//! time; the threads overlap the minting and encoding with the other's commit) — and reused while
//! younger than [`FIXTURE_MAX_AGE`] (sessions live [`ABSOLUTE`]; idle timeout [`IDLE`]). It is
//! built under a temporary name and renamed when complete, so an interrupted build is never
//! reused. Sessions this run creates are revoked at the end, so the file stays at N.
//!
//! **Validate is a read in the common case**: `last_seen` is written only when it moved by more
//! than `touch_slack_ms` (60 s under a 30-day idle timeout). A warm pass validates each sampled
//! session once first (timed apart: `validate_first_touch`, mostly writes on a reused fixture),
//! and the timed rounds stay well inside 60 s of it, so they time the read.
//!
//! Competing figures take their rounds in turn (the order rotated every round), so a machine
//! that gets busy slows them alike; each round times batches of calls and a figure's µs/op is
//! the median of its batches. Each figure notes the thread's CPU time and its wait for a core
//! per call (`/proc/thread-self/schedstat`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use tessera::record::Load;
use tessera::store::SqliteStore;
use tessera::{Config, Context, Data, MemoryStore, SessionId, SessionManager, Store, Validation};
use tessera_benches::utc_now_rfc3339;

/// Calls per timed batch.
const BATCH: u32 = 50;
/// Most sampled tokens kept (the validates' working set, spread over the whole file).
const SAMPLE: usize = 100_000;
/// Threads that build the fixture.
const BUILD_THREADS: usize = 4;
/// Idle timeout and lifetime of the bench sessions: long, so a cached fixture stays live.
const IDLE: Duration = Duration::from_secs(30 * 24 * 3600);
const ABSOLUTE: Duration = Duration::from_secs(365 * 24 * 3600);
/// A fixture older than this is rebuilt (well inside the idle timeout).
const FIXTURE_MAX_AGE: Duration = Duration::from_secs(20 * 24 * 3600);
/// Requests are HTTPS and sessions are created over HTTPS: validate never upgrade-rotates.
const CTX: Context<'static> = Context::HTTPS;

struct Args {
    fixture_dir: PathBuf,
    out: String,
    sessions: usize,
    rounds: usize,
    round: Duration,
    proc_round: Duration,
    procs: usize,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        fixture_dir: PathBuf::new(),
        out: String::new(),
        sessions: 1_000_000,
        rounds: 30,
        round: Duration::from_millis(200),
        proc_round: Duration::from_millis(2_500),
        procs: 4,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: a whole number > 0, not {value:?}"))
        };
        let millis = || number().map(|n| Duration::from_millis(n as u64));
        match flag.as_str() {
            "--fixture-dir" => args.fixture_dir = PathBuf::from(&value),
            "--out" => args.out = value.clone(),
            "--sessions" => args.sessions = number()?,
            "--rounds" => args.rounds = number()?,
            "--round-ms" => args.round = millis()?,
            "--proc-ms" => args.proc_round = millis()?,
            "--procs" => args.procs = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.out.is_empty() || !args.fixture_dir.is_absolute() {
        return Err(
            "usage: sqlite --fixture-dir ABSOLUTE_DIR --out OUT.json [--sessions N] \
                    [--rounds N] [--round-ms MS] [--proc-ms MS] [--procs N]"
                .to_owned(),
        );
    }
    Ok(args)
}

fn config() -> Config {
    Config {
        idle_timeout: IDLE,
        absolute_timeout: ABSOLUTE,
        // A rotation would make validate a write: this bench times the read.
        rotation_interval: None,
        ..Config::default()
    }
}

fn manager_on(url: &str) -> tessera::Result<SessionManager> {
    SessionManager::builder(config())
        .store(SqliteStore::open(url)?)
        .sweep_interval(None)
        .build()
}

fn session_data(i: usize) -> Data {
    let value = json!({
        "_auth_user_id": i.to_string(),
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "theme": "dark",
        "cart": ["apple", "pear"],
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// -- the fixture ---------------------------------------------------------------------------------

struct Fixture {
    db: PathBuf,
    tokens_file: PathBuf,
    tokens: Vec<String>,
    meta: Value,
}

fn paths(dir: &Path, n: usize, suffix: &str) -> [PathBuf; 3] {
    ["db", "tokens", "json"].map(|ext| dir.join(format!("tessera-{n}{suffix}.{ext}")))
}

fn read_tokens(path: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// The cached fixture if it is complete and young enough, else a new one.
fn fixture(dir: &Path, n: usize) -> Result<Fixture, Box<dyn std::error::Error>> {
    let [db, tokens_file, meta_file] = paths(dir, n, "");
    if let Ok(text) = std::fs::read_to_string(&meta_file) {
        let mut meta: Value = serde_json::from_str(&text)?;
        let built = meta["built_unix"].as_u64().unwrap_or(0);
        if db.exists() && unix_now().saturating_sub(built) < FIXTURE_MAX_AGE.as_secs() {
            let tokens = read_tokens(&tokens_file)?;
            meta["reused"] = json!(true);
            eprintln!("rust: reusing the fixture {} ({n} sessions)", db.display());
            return Ok(Fixture {
                db,
                tokens_file,
                tokens,
                meta,
            });
        }
    }
    std::fs::create_dir_all(dir)?;
    let [tmp_db, tmp_tokens, _] = paths(dir, n, ".building");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", tmp_db.display()));
    }
    let manager = manager_on(&format!("sqlite://{}", tmp_db.display()))?;
    let every = (n / SAMPLE).max(1);
    let started = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let per_thread: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..BUILD_THREADS)
            .map(|t| {
                let (manager, done) = (&manager, &done);
                s.spawn(move || -> tessera::Result<Vec<String>> {
                    let mut kept = Vec::new();
                    for i in (t..n).step_by(BUILD_THREADS) {
                        let user = format!("user{i}");
                        let session = manager.create(Some(&user), Some(session_data(i)), &CTX)?;
                        if i % every == 0 {
                            kept.push(session.new_token().expect("a new token").expose());
                        }
                        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if d % 100_000 == 0 {
                            eprintln!(
                                "rust: fixture {d}/{n} ({:.0} s)",
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(kept)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a fixture thread panicked"))
            .collect::<tessera::Result<_>>()
    })?;
    let build_s = started.elapsed().as_secs_f64();
    let len = manager.store_len()?;
    // Dropping the last connection checkpoints the WAL into the file and removes it.
    drop(manager);
    if len != n {
        return Err(format!("the fixture holds {len} sessions, not {n}").into());
    }
    // Interleave the threads' samples, so neighbours in the list are far apart in the file.
    let mut tokens = Vec::with_capacity(n / every + 1);
    let longest = per_thread.iter().map(Vec::len).max().unwrap_or(0);
    for j in 0..longest {
        tokens.extend(per_thread.iter().filter_map(|v| v.get(j).cloned()));
    }
    // Tokens are credentials, even a bench's: owner-only, like the database file.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp_tokens)?;
        file.write_all((tokens.join("\n") + "\n").as_bytes())?;
    }
    let meta = json!({
        "built_unix": unix_now(),
        "built": utc_now_rfc3339(),
        "sessions": n,
        "how": format!(
            "SessionManager::create of a signed-in user's session with a little data, \
             {BUILD_THREADS} threads on one manager (one transaction per session)"
        ),
        "build_s": build_s,
        "file_bytes": std::fs::metadata(&tmp_db)?.len(),
        "sampled_tokens": tokens.len(),
    });
    std::fs::rename(&tmp_db, &db)?;
    std::fs::rename(&tmp_tokens, &tokens_file)?;
    std::fs::write(&meta_file, serde_json::to_string_pretty(&meta)? + "\n")?;
    eprintln!("rust: fixture of {n} sessions built in {build_s:.1} s");
    let mut meta = meta;
    meta["reused"] = json!(false);
    Ok(Fixture {
        db,
        tokens_file,
        tokens,
        meta,
    })
}

// -- timing --------------------------------------------------------------------------------------

/// The calling thread's scheduler account: ns on a CPU, ns runnable but waiting for one.
fn sched() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = text
        .split_whitespace()
        .map(|x| x.parse::<u64>().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

#[derive(Default)]
struct Tally {
    batches: Vec<f64>,
    calls: u64,
    wall: Duration,
    cpu_ns: u64,
    wait_ns: u64,
}

impl Tally {
    /// Call `op` in batches for `budget`.
    fn round(&mut self, budget: Duration, op: &mut impl FnMut(u64)) {
        let (cpu0, wait0) = sched();
        let start = Instant::now();
        let deadline = start + budget;
        loop {
            let t = Instant::now();
            if t >= deadline {
                break;
            }
            for _ in 0..BATCH {
                op(self.calls);
                self.calls += 1;
            }
            self.batches
                .push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
        }
        self.wall += start.elapsed();
        let (cpu1, wait1) = sched();
        self.cpu_ns += cpu1 - cpu0;
        self.wait_ns += wait1 - wait0;
    }

    /// Call `op` once on each item, in batches.
    fn pass<T>(&mut self, items: &[T], op: &mut impl FnMut(&T)) {
        let (cpu0, wait0) = sched();
        let start = Instant::now();
        for chunk in items.chunks(BATCH as usize) {
            let t = Instant::now();
            chunk.iter().for_each(&mut *op);
            self.batches
                .push(t.elapsed().as_secs_f64() * 1e6 / chunk.len() as f64);
            self.calls += chunk.len() as u64;
        }
        self.wall += start.elapsed();
        let (cpu1, wait1) = sched();
        self.cpu_ns += cpu1 - cpu0;
        self.wait_ns += wait1 - wait0;
    }

    fn figure(mut self, name: &'static str, what: &'static str) -> Figure {
        self.batches.sort_by(f64::total_cmp);
        let per_call = |ns: u64| ns as f64 / 1e3 / self.calls as f64;
        Figure {
            name,
            what,
            us_per_op: quantile(&self.batches, 0.5),
            us_per_op_p10: quantile(&self.batches, 0.1),
            us_per_op_p90: quantile(&self.batches, 0.9),
            ops_per_s: self.calls as f64 / self.wall.as_secs_f64(),
            calls: self.calls,
            batches: self.batches.len(),
            cpu_us_per_op: per_call(self.cpu_ns),
            wait_us_per_op: per_call(self.wait_ns),
        }
    }
}

#[derive(Serialize)]
struct Figure {
    name: &'static str,
    what: &'static str,
    /// Median over batches of the wall time per call.
    us_per_op: f64,
    us_per_op_p10: f64,
    us_per_op_p90: f64,
    ops_per_s: f64,
    calls: u64,
    batches: usize,
    /// CPU time of the calling thread per call, and its wait for a core.
    cpu_us_per_op: f64,
    wait_us_per_op: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// Spreads consecutive calls over the working set (a prime coprime with any sample size here).
const STRIDE: u64 = 7919;

fn validate_live(manager: &SessionManager, token: &str) {
    match manager.validate(token, &CTX).expect("validate failed") {
        Validation::Valid(s) => debug_assert!(s.new_token().is_none()),
        Validation::Rejected(r) => panic!("a live session was rejected: {r}"),
    }
}

// -- several processes ---------------------------------------------------------------------------

/// `sqlite --worker URL TOKENS_FILE MS OFFSET`: one process of the throughput figure. Opens its
/// own manager, warms it, says `ready`, waits for a line on stdin, validates for MS, prints
/// `calls seconds`.
fn worker(mut it: impl Iterator<Item = String>) -> Result<(), Box<dyn std::error::Error>> {
    let (url, tokens, ms, offset) = (
        it.next().ok_or("url")?,
        it.next().ok_or("tokens")?,
        it.next().ok_or("ms")?.parse::<u64>()?,
        it.next().ok_or("offset")?.parse::<u64>()?,
    );
    let tokens = read_tokens(Path::new(&tokens))?;
    let manager = manager_on(&url)?;
    let n = tokens.len() as u64;
    for i in 0..200 {
        validate_live(&manager, &tokens[((offset + i * STRIDE) % n) as usize]);
    }
    println!("ready");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let start = Instant::now();
    let deadline = start + Duration::from_millis(ms);
    let mut calls = 0u64;
    while Instant::now() < deadline {
        for _ in 0..BATCH {
            let i = offset + calls * STRIDE;
            validate_live(&manager, &tokens[(i % n) as usize]);
            calls += 1;
        }
    }
    println!("{calls} {}", start.elapsed().as_secs_f64());
    Ok(())
}

/// Validates per second of `procs` processes on one file, all started together.
fn processes(url: &str, tokens: &Path, procs: usize, budget: Duration) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let n = SAMPLE as u64;
    let mut children = Vec::new();
    for p in 0..procs {
        let child = Command::new(&exe)
            .arg("--worker")
            .arg(url)
            .arg(tokens)
            .arg(budget.as_millis().to_string())
            .arg((p as u64 * n / procs as u64).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        children.push(child);
    }
    let mut outputs = Vec::new();
    let result = (|| {
        for child in &mut children {
            let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
            let mut line = String::new();
            out.read_line(&mut line).map_err(|e| e.to_string())?;
            if line.trim() != "ready" {
                return Err(format!("a worker failed to start: {line:?}"));
            }
            outputs.push(out);
        }
        for child in &mut children {
            let stdin = child.stdin.as_mut().ok_or("no stdin")?;
            stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
            stdin.flush().map_err(|e| e.to_string())?;
        }
        let mut total = 0.0;
        for out in &mut outputs {
            let mut line = String::new();
            out.read_line(&mut line).map_err(|e| e.to_string())?;
            let mut f = line.split_whitespace().map(str::parse::<f64>);
            match (f.next(), f.next()) {
                (Some(Ok(calls)), Some(Ok(secs))) if secs > 0.0 => total += calls / secs,
                _ => return Err(format!("a worker failed: {line:?}")),
            }
        }
        Ok(total)
    })();
    // Always reap the workers, killing them if the run failed half way.
    for mut child in children {
        if result.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    result
}

// -- the run -------------------------------------------------------------------------------------

fn run(args: &Args) -> Result<Value, Box<dyn std::error::Error>> {
    let load_before = load_average();
    let fixture = fixture(&args.fixture_dir, args.sessions)?;
    let load_after_fixture = load_average();
    let url = format!("sqlite://{}", fixture.db.display());
    let manager = manager_on(&url)?;
    let tokens = &fixture.tokens;
    let n = tokens.len() as u64;

    // The same calls where the store is a hash map: what a call costs outside SQLite.
    let memory = SessionManager::builder(config())
        .store(MemoryStore::new())
        .sweep_interval(None)
        .build()?;
    let memory_tokens: Vec<String> = (0..tokens.len())
        .map(|i| {
            let s = memory.create(Some(&format!("user{i}")), Some(session_data(i)), &CTX)?;
            Ok(s.new_token().expect("a new token").expose())
        })
        .collect::<tessera::Result<_>>()?;

    // The warm pass: each sampled session's first validate of this run.
    let load_before_timed = load_average();
    let mut warm = Tally::default();
    warm.pass(tokens, &mut |token| validate_live(&manager, token));

    // The store's own share of a validate: `Store::load` on a second store over the same file
    // (a connection lease, the SELECT by id, decoding the row), with the ids the tokens name.
    let store = SqliteStore::open(&url)?;
    let ids: Vec<SessionId> = tokens
        .iter()
        .map(|t| {
            manager
                .id_of(t)
                .map_err(|r| format!("a sampled token: {r}"))
        })
        .collect::<Result<_, _>>()?;
    let idle_ms = u64::try_from(IDLE.as_millis())?;

    let mut tallies: [Tally; 5] = Default::default();
    let mut created: Vec<SessionId> = Vec::new();
    let started = Instant::now();
    for round in 0..args.rounds {
        for j in 0..5 {
            let which = (j + round) % 5;
            let tally = &mut tallies[which];
            match which {
                0 => tally.round(args.round, &mut |c| {
                    validate_live(&manager, &tokens[((c * STRIDE) % n) as usize]);
                }),
                1 => tally.round(args.round, &mut |_| {
                    let s = manager.create(None, None, &CTX).expect("create failed");
                    created.push(*s.id());
                }),
                2 => tally.round(args.round, &mut |c| {
                    validate_live(&memory, &memory_tokens[((c * STRIDE) % n) as usize]);
                }),
                3 => tally.round(args.round, &mut |_| {
                    memory.create(None, None, &CTX).expect("create failed");
                }),
                _ => tally.round(args.round, &mut |c| {
                    let id = &ids[((c * STRIDE) % n) as usize];
                    match store.load(id, manager.now(), idle_ms).expect("load failed") {
                        Load::Live { .. } => {}
                        _ => panic!("a live session did not load"),
                    }
                }),
            }
        }
        if (round + 1) % 10 == 0 || round + 1 == args.rounds {
            eprintln!(
                "rust: round {}/{} ({:.1} s)",
                round + 1,
                args.rounds,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let [t_validate, t_create, t_mem_validate, t_mem_create, t_load] = tallies;
    let figures = vec![
        warm.figure(
            "validate_first_touch",
            "SessionManager::validate, first of this run per session (writes last_seen if it \
             is older than 60 s)",
        ),
        t_validate.figure(
            "validate",
            "SessionManager::validate of a live session (a read: last_seen fresh)",
        ),
        t_create.figure("create", "SessionManager::create (anonymous, empty)"),
        t_mem_validate.figure("memory_validate", "the same validate on memory://"),
        t_mem_create.figure("memory_create", "the same create on memory://"),
        t_load.figure(
            "store_load",
            "SqliteStore::load of a live session's id (lease, SELECT, row decoding)",
        ),
    ];
    let load_after_timed = load_average();

    // Validate throughput: 1 process, then `procs`, in turn, twice.
    let mut one = Vec::new();
    let mut many = Vec::new();
    for _ in 0..2 {
        one.push(processes(&url, &fixture.tokens_file, 1, args.proc_round)?);
        many.push(processes(
            &url,
            &fixture.tokens_file,
            args.procs,
            args.proc_round,
        )?);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let load_after_procs = load_average();
    eprintln!(
        "rust: validate throughput: 1 process {:.0}/s, {} processes {:.0}/s",
        best(&one),
        args.procs,
        best(&many)
    );

    // Keep the cached fixture at its size: revoke what the create rounds added.
    let cleanup = Instant::now();
    for id in &created {
        manager.revoke(id)?;
    }
    let len = manager.store_len()?;
    eprintln!(
        "rust: revoked the {} created sessions in {:.1} s; the store holds {len}",
        created.len(),
        cleanup.elapsed().as_secs_f64()
    );

    for f in &figures {
        eprintln!(
            "rust: {:>20} {:>8.2} µs/op (p10 {:.2}, p90 {:.2}) {:>9.0} ops/s  CPU {:.2} µs, wait {:.2} µs",
            f.name,
            f.us_per_op,
            f.us_per_op_p10,
            f.us_per_op_p90,
            f.ops_per_s,
            f.cpu_us_per_op,
            f.wait_us_per_op
        );
    }
    Ok(json!({
        "language": "rust",
        "date": utc_now_rfc3339(),
        "store_url": url,
        "tokens_file": fixture.tokens_file,
        "fixture": fixture.meta,
        "settings": {
            "sessions": args.sessions,
            "working_set": tokens.len(),
            "rounds": args.rounds,
            "round_ms": args.round.as_millis() as u64,
            "batch": BATCH,
            "proc_round_ms": args.proc_round.as_millis() as u64,
            "procs": args.procs,
            "idle_timeout_s": IDLE.as_secs(),
            "rotation": "off",
        },
        // In the order taken.
        "load": [
            ["start", load_before],
            ["after_fixture", load_after_fixture],
            ["before_timed", load_before_timed],
            ["after_timed", load_after_timed],
            ["after_processes", load_after_procs],
        ],
        "figures": figures,
        "processes": {
            "procs": args.procs,
            "ops_per_s_1": best(&one),
            "ops_per_s_n": best(&many),
            "ratio": best(&many) / best(&one),
            "rounds_1": one,
            "rounds_n": many,
            "how": "each process its own manager (own connections), validating sampled sessions \
                    single-threaded for the round; best of 2 rounds each, taken in turn",
        },
        "created_and_revoked": created.len(),
    }))
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("--worker") {
        argv.next();
        return match worker(argv) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sqlite bench worker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(report) => {
            let text = serde_json::to_string_pretty(&report).expect("JSON");
            if let Err(e) = std::fs::write(&args.out, text + "\n") {
                eprintln!("sqlite bench: cannot write {}: {e}", args.out);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sqlite bench: {e}");
            ExitCode::FAILURE
        }
    }
}
