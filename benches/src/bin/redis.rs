//! Tessera on Redis from Rust, against a bare `GET` round trip on the same server.
//!
//! Usage: `redis --url redis://127.0.0.1:PORT/0 --out OUT.json [--round-ms 100] [--rounds 30]
//! [--sessions 4000] [--prefix bench]`
//!
//! `make bench-redis` starts a private `redis-server` and runs this (then the Python side);
//! `bindings-python/benches/redis_bench.py` merges both into `benches/results/redis.{json,md}`.
//!
//! Figures, each at concurrency 1 (one thread), 16 and 64 (threads):
//!
//! - `get`: `GET` of a 256-byte string through the `redis` crate's sync `Connection`, one
//!   connection per thread: the floor a validate cannot beat (one round trip, no script);
//! - `validate`: `SessionManager::validate` of a live session (a signed-in user's with a little
//!   data), the 16 threads sharing one manager on `?prefix=bench`;
//! - `create`: `SessionManager::create` of an anonymous session;
//! - `ping` and `ping_store`: a bare `PING` (a sync `Connection` per thread) and
//!   `RedisStore::ping` (the same command through the store's one multiplexed connection, the
//!   caller handing it to the I/O thread and waiting for the answer): their difference is what
//!   the hand-offs cost a call, whatever it asks of Redis;
//! - `validate_cluster` (with `--cluster-url redis+cluster://...`): the same validate on a Redis
//!   Cluster (every key of the prefix in one slot, so on one master).
//!
//! Competing figures take their rounds in turn (`--rounds` rounds of `--round-ms` each, the order
//! rotated every round), so a machine that gets busy slows them alike. Within a round every
//! thread times batches of calls ([`BATCH`] ÷ concurrency, at least 4); a figure's µs per op is
//! the median of its batches (the latency a caller sees), its ops/s the calls of all rounds over
//! their wall time.
//!
//! Each figure also notes, per call, the CPU time of the bench threads and of redis-server's main
//! thread, and how long each waited for a core while runnable (`/proc/.../schedstat`: on a
//! shared machine, the time other processes took). After the
//! timed rounds, MONITOR around [`MONITOR_OPS`] calls of each kind counts the round trips per
//! call, and `CONFIG RESETSTAT` + `INFO commandstats` around [`PROFILE_OPS`] calls gives Redis's
//! own time per command.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tessera::store::RedisStore;
use tessera::{Config, Context, Data, SessionManager, Validation};
use tessera_benches::utc_now_rfc3339;

/// Calls per timed batch at concurrency 1; divided by the concurrency (at least 4) above.
const BATCH: u32 = 50;
/// Calls of each kind between `CONFIG RESETSTAT` and `INFO commandstats`.
const PROFILE_OPS: u32 = 1_000;
/// Calls of each kind watched with MONITOR.
const MONITOR_OPS: u32 = 200;
/// Size of the value the bare `GET` reads (about what a validate's reply carries).
const GET_VALUE_BYTES: usize = 256;
/// The concurrencies measured.
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// Requests are HTTPS, and sessions are created over HTTPS: validate never upgrade-rotates.
const CTX: Context<'static> = Context::HTTPS;

struct Args {
    url: String,
    /// A `redis+cluster://` URL (no query) for `validate_cluster`, if any.
    cluster_url: Option<String>,
    out: String,
    round: Duration,
    rounds: usize,
    sessions: usize,
    prefix: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        cluster_url: None,
        out: String::new(),
        round: Duration::from_millis(100),
        rounds: 30,
        sessions: 4_000,
        prefix: "bench".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: a whole number > 0, not {value:?}"))
        };
        match flag.as_str() {
            "--url" => args.url = value.clone(),
            "--cluster-url" => args.cluster_url = Some(value.clone()),
            "--out" => args.out = value.clone(),
            "--round-ms" => args.round = Duration::from_millis(number()?),
            "--rounds" => args.rounds = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--sessions" => {
                args.sessions = usize::try_from(number()?).map_err(|e| e.to_string())?;
            }
            "--prefix" => args.prefix = value.clone(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.url.is_empty() || args.out.is_empty() || args.url.contains('?') {
        return Err("usage: redis --url redis://HOST:PORT/DB --out OUT.json \
                    [--cluster-url redis+cluster://H:P,H:P] [--round-ms MS] [--rounds N] \
                    [--sessions N] [--prefix P]"
            .to_owned());
    }
    Ok(args)
}

/// What one figure accumulated over its rounds.
#[derive(Default)]
struct Tally {
    /// µs per call of every batch of every thread.
    batches: Vec<f64>,
    calls: u64,
    wall: Duration,
    /// The bench threads' scheduler accounts, summed.
    client: Sched,
    /// redis-server's main thread's.
    redis: Sched,
}

/// A thread's scheduler account (`/proc/.../schedstat`): nanoseconds on a CPU, and waiting on a
/// run queue for one (runnable, but other threads had the cores).
#[derive(Clone, Copy, Default)]
struct Sched {
    cpu_ns: u64,
    wait_ns: u64,
}

impl Sched {
    fn read(path: &str) -> Option<Sched> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        Some(Sched {
            cpu_ns: fields.next()??,
            wait_ns: fields.next()??,
        })
    }

    /// The calling thread's account.
    fn this_thread() -> Sched {
        Sched::read("/proc/thread-self/schedstat").unwrap_or_default()
    }

    fn add_since(&mut self, before: Sched, after: Sched) {
        self.cpu_ns += after.cpu_ns.saturating_sub(before.cpu_ns);
        self.wait_ns += after.wait_ns.saturating_sub(before.wait_ns);
    }
}

/// One figure's result, as written to the JSON.
#[derive(Serialize)]
struct Figure {
    name: &'static str,
    what: &'static str,
    concurrency: usize,
    /// Median over batches of the time per call a caller saw.
    us_per_op: f64,
    us_per_op_p10: f64,
    us_per_op_p90: f64,
    /// Calls over wall time, all threads together.
    ops_per_s: f64,
    calls: u64,
    batches: usize,
    wall_s: f64,
    /// CPU time of the bench threads per call.
    client_cpu_us_per_op: f64,
    /// Time the bench threads were runnable but waited for a core, per call.
    client_wait_us_per_op: f64,
    /// CPU time of redis-server's main thread per call (commands, scripts, network I/O).
    redis_cpu_us_per_op: f64,
    /// Time redis-server's main thread waited for a core, per call.
    redis_wait_us_per_op: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

impl Tally {
    fn figure(mut self, name: &'static str, what: &'static str, concurrency: usize) -> Figure {
        self.batches.sort_by(f64::total_cmp);
        let per_call = |ns: u64| ns as f64 / 1e3 / self.calls as f64;
        Figure {
            name,
            what,
            concurrency,
            us_per_op: quantile(&self.batches, 0.5),
            us_per_op_p10: quantile(&self.batches, 0.1),
            us_per_op_p90: quantile(&self.batches, 0.9),
            ops_per_s: self.calls as f64 / self.wall.as_secs_f64(),
            calls: self.calls,
            batches: self.batches.len(),
            wall_s: self.wall.as_secs_f64(),
            client_cpu_us_per_op: per_call(self.client.cpu_ns),
            client_wait_us_per_op: per_call(self.client.wait_ns),
            redis_cpu_us_per_op: per_call(self.redis.cpu_ns),
            redis_wait_us_per_op: per_call(self.redis.wait_ns),
        }
    }
}

/// Run `op` on one thread per state for `budget`, in batches; add the outcome to `tally`.
/// `op(state, i)` makes the `i`th call of its thread. `redis_sched` is redis-server's main
/// thread's schedstat file, if this machine has it.
fn run_round<S: Send>(
    states: &mut [S],
    budget: Duration,
    op: &(impl Fn(&mut S, u64) + Sync),
    redis_sched: Option<&str>,
    tally: &mut Tally,
) {
    let batch = (BATCH / u32::try_from(states.len()).unwrap_or(u32::MAX)).max(4);
    let start_line = Barrier::new(states.len() + 1);
    let redis_before = redis_sched.and_then(Sched::read);
    let (start, per_thread) = std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .iter_mut()
            .map(|state| {
                let start_line = &start_line;
                scope.spawn(move || {
                    start_line.wait();
                    let sched = Sched::this_thread();
                    let deadline = Instant::now() + budget;
                    let mut batches = Vec::new();
                    let mut i = 0u64;
                    loop {
                        let t = Instant::now();
                        if t >= deadline {
                            break;
                        }
                        for _ in 0..batch {
                            op(state, i);
                            i += 1;
                        }
                        batches.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(batch));
                    }
                    let end = Instant::now();
                    (end, i, batches, sched, Sched::this_thread())
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .collect();
        (start, results)
    });
    if let (Some(before), Some(after)) = (redis_before, redis_sched.and_then(Sched::read)) {
        tally.redis.add_since(before, after);
    }
    let mut end = start;
    for (thread_end, calls, batches, before, after) in per_thread {
        end = end.max(thread_end);
        tally.calls += calls;
        tally.batches.extend(batches);
        tally.client.add_since(before, after);
    }
    tally.wall += end - start;
}

/// The schedstat file of redis-server's main thread, when it runs on this machine.
fn redis_sched_path(con: &mut redis::Connection) -> redis::RedisResult<Option<String>> {
    let info: String = redis::cmd("INFO").arg("server").query(con)?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .map(|p| p.trim().to_owned());
    Ok(pid
        .map(|pid| format!("/proc/{pid}/task/{pid}/schedstat"))
        .filter(|path| Sched::read(path).is_some()))
}

/// The commands clients sent while `f` ran, by name, as MONITOR shows them: commands that
/// scripts run inside Redis (marked `lua`) cost no round trip and are not counted.
fn client_commands(
    client: &redis::Client,
    f: impl FnOnce(),
) -> redis::RedisResult<BTreeMap<String, u64>> {
    let mut monitor = client.get_connection()?;
    monitor.set_read_timeout(Some(Duration::from_secs(10)))?;
    monitor.send_packed_command(&redis::cmd("MONITOR").get_packed_command())?;
    let _ok: redis::Value = monitor.recv_response()?;
    f();
    let mut marker = client.get_connection()?;
    redis::cmd("ECHO")
        .arg("tessera-bench-end")
        .query::<String>(&mut marker)?;
    let mut seen = BTreeMap::new();
    loop {
        let line: String = redis::from_redis_value(monitor.recv_response()?)?;
        if line.contains("tessera-bench-end") {
            return Ok(seen);
        }
        // `<time> [<db> <client address or lua>] "COMMAND" "arg" ...`
        let Some((origin, command)) = line.split_once(']') else {
            continue;
        };
        if origin.ends_with(" lua") {
            continue;
        }
        let name = command
            .trim()
            .split('"')
            .nth(1)
            .unwrap_or("?")
            .to_lowercase();
        *seen.entry(name).or_insert(0) += 1;
    }
}

/// One row of `INFO commandstats`: calls and Redis's own µs.
#[derive(Clone, Copy, Debug)]
struct CommandStat {
    calls: u64,
    usec: u64,
}

fn command_stats(con: &mut redis::Connection) -> redis::RedisResult<BTreeMap<String, CommandStat>> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(con)?;
    let mut stats = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        // The measuring commands themselves are not the workload's.
        if name == "info" || name.starts_with("config") {
            continue;
        }
        let field = |key: &str| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        stats.insert(
            name.to_owned(),
            CommandStat {
                calls: field("calls"),
                usec: field("usec"),
            },
        );
    }
    Ok(stats)
}

/// Round trips per call (MONITOR, over [`MONITOR_OPS`] calls), then every command Redis ran
/// per call and its own µs per call (`INFO commandstats`, over [`PROFILE_OPS`] calls; scripts'
/// inner commands included, and counted again inside `evalsha`'s time).
fn profile(
    client: &redis::Client,
    admin: &mut redis::Connection,
    mut op: impl FnMut(u64),
) -> redis::RedisResult<Value> {
    let mut i = 0u64;
    let sent = client_commands(client, || {
        for _ in 0..MONITOR_OPS {
            op(i);
            i += 1;
        }
    })?;
    let round_trips: u64 = sent.values().sum();
    redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(admin)?;
    for _ in 0..PROFILE_OPS {
        op(i);
        i += 1;
    }
    let stats = command_stats(admin)?;
    let per_call = f64::from(PROFILE_OPS);
    let commands: serde_json::Map<String, Value> = stats
        .iter()
        .map(|(name, s)| {
            let us = if s.calls == 0 {
                0.0
            } else {
                s.usec as f64 / s.calls as f64
            };
            let entry = json!({ "per_op": s.calls as f64 / per_call, "redis_us_per_call": us });
            (name.clone(), entry)
        })
        .collect();
    Ok(json!({
        "monitor_ops": MONITOR_OPS,
        "commandstats_ops": PROFILE_OPS,
        "round_trips_per_op": round_trips as f64 / f64::from(MONITOR_OPS),
        "client_commands": sent,
        "commands_per_op": stats.values().map(|s| s.calls).sum::<u64>() as f64 / per_call,
        "commands": commands,
    }))
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

fn run(args: &Args) -> Result<Value, Box<dyn std::error::Error>> {
    let load_before = load_average();
    let client = redis::Client::open(args.url.as_str())?;
    let mut admin = client.get_connection()?;

    // The bare GET's keys.
    let value = vec![b'x'; GET_VALUE_BYTES];
    let get_keys: Vec<String> = (0..args.sessions)
        .map(|i| format!("{}:get:{i}", args.prefix))
        .collect();
    let mut pipe = redis::pipe();
    for key in &get_keys {
        pipe.set(key, &value[..]).ignore();
    }
    pipe.query::<()>(&mut admin)?;

    // Tessera: one manager on a pool of 16 connections, and its live sessions.
    let store_url = format!("{}?prefix={}", args.url, args.prefix);
    let manager = SessionManager::builder(Config::default())
        .store(RedisStore::open(&store_url)?)
        .sweep_interval(None)
        .build()?;
    let created = Instant::now();
    let tokens: Vec<String> = (0..args.sessions)
        .map(|i| {
            let user = format!("user{i}");
            let session = manager.create(Some(&user), Some(session_data(i)), &CTX)?;
            Ok(session
                .new_token()
                .expect("a new session has a token")
                .expose())
        })
        .collect::<tessera::Result<_>>()?;
    eprintln!(
        "rust: {} sessions created in {:.2} s",
        tokens.len(),
        created.elapsed().as_secs_f64()
    );

    // The same sessions' kind on the cluster, if one is given.
    let cluster = match &args.cluster_url {
        Some(url) => {
            let m = SessionManager::builder(Config::default())
                .store(RedisStore::open(&format!("{url}?prefix={}", args.prefix))?)
                .sweep_interval(None)
                .build()?;
            let tokens: Vec<String> = (0..args.sessions)
                .map(|i| {
                    let user = format!("user{i}");
                    let session = m.create(Some(&user), Some(session_data(i)), &CTX)?;
                    Ok(session
                        .new_token()
                        .expect("a new session has a token")
                        .expose())
                })
                .collect::<tessera::Result<_>>()?;
            Some((m, tokens))
        }
        None => None,
    };
    let kinds = if cluster.is_some() { 6 } else { 5 };
    // A store of its own (so a link of its own) for `ping_store`.
    let pinged = RedisStore::open(&store_url)?;
    pinged.ping()?;

    let n = tokens.len() as u64;
    let pick = |cursor: &(usize, u64), i: u64| ((cursor.1 + i * 7919) % n) as usize;
    let get = |state: &mut (redis::Connection, u64), i: u64| {
        let key = &get_keys[((state.1 + i * 7919) % n) as usize];
        let v: Vec<u8> = redis::cmd("GET")
            .arg(key)
            .query(&mut state.0)
            .expect("GET failed");
        assert_eq!(v.len(), GET_VALUE_BYTES);
    };
    let validate = |cursor: &mut (usize, u64), i: u64| match manager
        .validate(&tokens[pick(cursor, i)], &CTX)
        .expect("validate failed")
    {
        Validation::Valid(s) => debug_assert!(s.new_token().is_none()),
        Validation::Rejected(r) => panic!("a live session was rejected: {r}"),
    };
    let create = |_: &mut (), _: u64| {
        manager.create(None, None, &CTX).expect("create failed");
    };
    let ping = |state: &mut (redis::Connection, u64), _: u64| {
        redis::cmd("PING")
            .query::<()>(&mut state.0)
            .expect("PING failed");
    };
    let ping_store = |_: &mut (), _: u64| pinged.ping().expect("ping through the store failed");
    let validate_cluster = |cursor: &mut (usize, u64), i: u64| {
        let (m, tokens) = cluster.as_ref().expect("only timed with a cluster");
        match m
            .validate(&tokens[pick(cursor, i)], &CTX)
            .expect("validate on the cluster failed")
        {
            Validation::Valid(s) => debug_assert!(s.new_token().is_none()),
            Validation::Rejected(r) => panic!("a live session was rejected: {r}"),
        }
    };

    // Per-thread state, kept across rounds: a connection (GET) or a cursor into the tokens.
    let mut get_states: Vec<Vec<(redis::Connection, u64)>> = Vec::new();
    let mut cursors: Vec<Vec<(usize, u64)>> = Vec::new();
    let mut units: Vec<Vec<()>> = Vec::new();
    for &c in &CONCURRENCY {
        let spread = n / c as u64;
        get_states.push(
            (0..c as u64)
                .map(|t| Ok((client.get_connection()?, t * spread)))
                .collect::<redis::RedisResult<_>>()?,
        );
        cursors.push((0..c).map(|t| (t, t as u64 * spread)).collect());
        units.push(vec![(); c]);
    }
    // Open the pool's connections and load the scripts before timing.
    let warm = cursors[1].len();
    std::thread::scope(|s| {
        for t in 0..warm {
            let validate = &validate;
            s.spawn(move || {
                for i in 0..20 {
                    validate(&mut (t, t as u64 * 101), i);
                }
            });
        }
    });

    if cluster.is_some() {
        for t in 0..warm {
            validate_cluster(&mut (t, t as u64 * 101), 0);
        }
    }
    let mut tallies: Vec<[Tally; 6]> = CONCURRENCY.iter().map(|_| Default::default()).collect();
    let sched_path = redis_sched_path(&mut admin)?;
    let sched = sched_path.as_deref();
    let started = Instant::now();
    for round in 0..args.rounds {
        for j in 0..kinds * CONCURRENCY.len() {
            let at = (j + round) % (kinds * CONCURRENCY.len());
            let (k, which) = (at / kinds, at % kinds);
            let tally = &mut tallies[k][which];
            match which {
                0 => run_round(&mut get_states[k], args.round, &get, sched, tally),
                1 => run_round(&mut cursors[k], args.round, &validate, sched, tally),
                2 => run_round(&mut units[k], args.round, &create, sched, tally),
                3 => run_round(&mut get_states[k], args.round, &ping, sched, tally),
                4 => run_round(&mut units[k], args.round, &ping_store, sched, tally),
                _ => run_round(&mut cursors[k], args.round, &validate_cluster, None, tally),
            }
        }
        if (round + 1) % 5 == 0 || round + 1 == args.rounds {
            eprintln!(
                "rust: round {}/{} done ({:.1} s)",
                round + 1,
                args.rounds,
                started.elapsed().as_secs_f64()
            );
        }
    }

    let mut figures = Vec::new();
    for (k, [t_get, t_validate, t_create, t_ping, t_ping_store, t_cluster]) in
        tallies.into_iter().enumerate()
    {
        let c = CONCURRENCY[k];
        figures.push(t_get.figure(
            "get",
            "bare GET of a 256-byte value (redis crate, sync Connection per thread)",
            c,
        ));
        figures.push(t_validate.figure(
            "validate",
            "SessionManager::validate of a live session (one shared manager, one multiplexed connection)",
            c,
        ));
        figures.push(t_create.figure(
            "create",
            "SessionManager::create of an anonymous session",
            c,
        ));
        figures.push(t_ping.figure(
            "ping",
            "bare PING (redis crate, sync Connection per thread)",
            c,
        ));
        figures.push(t_ping_store.figure(
            "ping_store",
            "RedisStore::ping: PING through the store's multiplexed connection and I/O thread",
            c,
        ));
        if cluster.is_some() {
            figures.push(t_cluster.figure(
                "validate_cluster",
                "SessionManager::validate on a three-master Redis Cluster (the prefix's slot on one master)",
                c,
            ));
        }
    }

    // Round trips and Redis's own time, one thread, after the timed rounds.
    let mut get_state = (client.get_connection()?, 0u64);
    let mut cursor = (0usize, 0u64);
    let profiles = json!({
        "get": profile(&client, &mut admin, |i| get(&mut get_state, i))?,
        "validate": profile(&client, &mut admin, |i| validate(&mut cursor, i))?,
        "create": profile(&client, &mut admin, |_| create(&mut (), 0))?,
    });

    for f in &figures {
        eprintln!(
            "rust: {:>8} c={:<2} {:>8.1} µs/op {:>9.0} ops/s   per op, CPU (wait): bench {:.1} ({:.1}) µs, redis {:.1} ({:.1}) µs",
            f.name,
            f.concurrency,
            f.us_per_op,
            f.ops_per_s,
            f.client_cpu_us_per_op,
            f.client_wait_us_per_op,
            f.redis_cpu_us_per_op,
            f.redis_wait_us_per_op,
        );
    }
    Ok(json!({
        "language": "rust",
        "date": utc_now_rfc3339(),
        "load_before": load_before,
        "load_after": load_average(),
        "settings": {
            "round_ms": args.round.as_millis() as u64,
            "rounds": args.rounds,
            "batch_at_concurrency_1": BATCH,
            "sessions": tokens.len(),
            "store_url": store_url,
            "get_value_bytes": GET_VALUE_BYTES,
        },
        "figures": figures,
        "profile": profiles,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args() {
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
                eprintln!("redis bench: cannot write {}: {e}", args.out);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("redis bench: {e}");
            ExitCode::FAILURE
        }
    }
}
