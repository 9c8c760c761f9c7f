//! The fault run on Redis (issue 12, item 7): 16 client threads in Rust share one
//! `SessionManager` on a private, persistent `redis-server` (`appendonly yes`, an fsync per
//! write), and so do 16 threads or loops of each other language's client (`tests/chaos/`:
//! Python, Node's Promise API, C), while the run kills and restarts it, pauses it with SIGSTOP
//! for 2 s, and kills every client connection with `CLIENT KILL`.
//!
//! The other languages' clients are named by the environment (`make test-chaos` sets it):
//! `TESSERA_CHAOS_PYTHON` (an interpreter that imports `tessera`), `TESSERA_CHAOS_NODE` (the
//! `bindings-node` directory, built), `TESSERA_CHAOS_C` (the built `tests/chaos/client.c`). A
//! client that is not named is skipped, loudly; under `CI=true` that fails the run.
//!
//! Every answer must be right or `store_unavailable`: a token that was signed out never
//! validates, a live token never validates as another user. Sessions written before the faults
//! must all be there afterwards. The report gives, per fault, the answers clients saw, how long
//! calls took to fail while Redis was away, and how long service took to come back.
//!
//! `make test-chaos` runs it (part of `make test`); it exits non-zero on any wrong answer, any
//! lost session, or a fault that service did not recover from within 10 s. Bounded: faults are
//! driven by the clients' progress (so many answers between faults), the pause lasts 2 s, and
//! the whole run is refused past two minutes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tessera::store::RedisStore;
use tessera::{Config, Context, SessionManager, Validation};
use tessera_tests::redis_server::RedisServer;

const CLIENTS: usize = 16;
const USERS: usize = 16;
const SESSIONS_PER_USER: usize = 8;
const ENDED: usize = 64;
/// Answers the clients give between two faults.
const CALM_ANSWERS: u64 = 3_000;
/// Longest a fault may keep service away once it is over.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// What the clients saw, counted across threads.
#[derive(Default)]
struct Tally {
    answers: AtomicU64,
    valid: AtomicU64,
    rejected_as_ended: AtomicU64,
    unavailable: AtomicU64,
    /// Wrong answers: a signed-out token accepted, a token accepted as another user, a live
    /// token rejected, or an error other than `store_unavailable`.
    wrong: AtomicU64,
    /// The slowest `store_unavailable` answer, in µs, since the tally was last reset.
    slowest_failure_us: AtomicU64,
    /// Milliseconds since the start of the run at the last correct, successful answer.
    last_success_ms: AtomicU64,
}

struct Fixture {
    manager: SessionManager,
    live: Vec<(String, String)>,
    ended: Vec<String>,
    tally: Tally,
    stop: AtomicBool,
    started: Instant,
}

impl Fixture {
    fn since_start_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn note_wrong(&self, what: String) {
        self.tally.wrong.fetch_add(1, Ordering::Relaxed);
        eprintln!("chaos: WRONG: {what}");
    }

    /// One client: validates live and signed-out tokens in turn, and writes data now and then.
    fn client(&self, index: usize) {
        let ctx = Context::HTTPS;
        let mut n = index;
        while !self.stop.load(Ordering::Relaxed) {
            n += CLIENTS;
            let began = Instant::now();
            let outcome = if n.is_multiple_of(10) {
                let token = &self.ended[n / 10 % self.ended.len()];
                match self.manager.validate(token, &ctx) {
                    Ok(Validation::Valid(_)) => Err(Some("a signed-out token validated".into())),
                    Ok(Validation::Rejected(_)) => {
                        self.tally.rejected_as_ended.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => Err((e.code() != "store_unavailable").then(|| e.to_string())),
                }
            } else {
                let (token, user) = &self.live[n % self.live.len()];
                match self.manager.validate(token, &ctx) {
                    Ok(Validation::Valid(s)) if s.user() == Some(user.as_str()) => {
                        if n % 16 == 1 {
                            match self.manager.set(s.id(), "n", serde_json::json!(n)) {
                                Ok(()) => Ok(()),
                                Err(e) if e.code() == "store_unavailable" => Err(None),
                                Err(e) => Err(Some(format!("a data write failed: {e}"))),
                            }
                        } else {
                            Ok(())
                        }
                    }
                    Ok(Validation::Valid(s)) => Err(Some(format!(
                        "a token of {user} validated as {:?}",
                        s.user()
                    ))),
                    Ok(Validation::Rejected(r)) => Err(Some(format!(
                        "a live session of {user} was rejected: {r:?}"
                    ))),
                    Err(e) => Err((e.code() != "store_unavailable").then(|| e.to_string())),
                }
            };
            match outcome {
                Ok(()) => {
                    self.tally.valid.fetch_add(1, Ordering::Relaxed);
                    self.tally
                        .last_success_ms
                        .fetch_max(self.since_start_ms(), Ordering::Relaxed);
                }
                Err(None) => {
                    self.tally.unavailable.fetch_add(1, Ordering::Relaxed);
                    let us = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.tally
                        .slowest_failure_us
                        .fetch_max(us, Ordering::Relaxed);
                }
                Err(Some(what)) => self.note_wrong(what),
            }
            self.tally.answers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Wait (polling the tally) until `done` says so, or fail the run past `limit`.
    fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&Tally) -> bool) -> Duration {
        let from = Instant::now();
        while !done(&self.tally) {
            if from.elapsed() > limit || self.started.elapsed() > RUN_LIMIT {
                eprintln!("chaos: FAILED: {what} did not happen within {limit:?}");
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        from.elapsed()
    }

    /// Let the clients give `CALM_ANSWERS` more answers.
    fn calm(&self) {
        let from = self.tally.answers.load(Ordering::Relaxed);
        self.wait_for("calm traffic", RUN_LIMIT, |t| {
            t.answers.load(Ordering::Relaxed) >= from + CALM_ANSWERS
        });
    }

    /// After a fault ends at `ended_ms`: how long until a client's call succeeded again.
    fn recovery(&self, what: &str, ended_ms: u64) -> Duration {
        self.wait_for(what, RECOVERY_LIMIT, |t| {
            t.last_success_ms.load(Ordering::Relaxed) > ended_ms
        })
    }
}

/// A client in another language, running (see `tests/chaos/`).
struct Foreign {
    language: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Foreign {
    /// Start the clients the environment names; each has said `ready` when this returns.
    fn start_all(url: &str, dir: &std::path::Path) -> Vec<Foreign> {
        let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("chaos");
        let json = dir.join("tokens.json");
        let txt = dir.join("tokens.txt");
        let mut wanted: Vec<(&'static str, &'static str, Option<Command>)> = Vec::new();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        wanted.push((
            "Python",
            "TESSERA_CHAOS_PYTHON",
            var("TESSERA_CHAOS_PYTHON").map(|py| {
                let mut c = Command::new(py);
                c.arg(tests.join("client.py")).arg(url).arg(&json);
                c
            }),
        ));
        wanted.push((
            "Node",
            "TESSERA_CHAOS_NODE",
            var("TESSERA_CHAOS_NODE").map(|binding| {
                let mut c = Command::new("node");
                c.arg(tests.join("client.js"))
                    .arg(binding)
                    .arg(url)
                    .arg(&json);
                c
            }),
        ));
        wanted.push((
            "C",
            "TESSERA_CHAOS_C",
            var("TESSERA_CHAOS_C").map(|bin| {
                let mut c = Command::new(bin);
                c.arg(url).arg(&txt);
                c
            }),
        ));
        let mut started = Vec::new();
        for (language, variable, command) in wanted {
            let Some(mut command) = command else {
                if std::env::var("CI").as_deref() == Ok("true") {
                    eprintln!("chaos: FAILED: {variable} is not set (make test-chaos sets it)");
                    std::process::exit(1);
                }
                eprintln!("chaos: {language} client SKIPPED: {variable} is not set");
                continue;
            };
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("start the {language} client: {e}"));
            let stdin = child.stdin.take();
            let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            let mut line = String::new();
            stdout
                .read_line(&mut line)
                .expect("the client's first line");
            assert_eq!(line.trim(), "ready", "the {language} client did not start");
            started.push(Foreign {
                language,
                child,
                stdin,
                stdout,
            });
        }
        started
    }

    /// Stop the client (its stdin closes) and read its tallies.
    fn finish(mut self) -> serde_json::Value {
        drop(self.stdin.take());
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the client's tallies");
        let status = self.child.wait().expect("the client exits");
        assert!(
            status.success(),
            "the {} client failed: {status}",
            self.language
        );
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the {} client's tallies: {e}: {line}", self.language))
    }
}

/// Write the tokens for the other languages' clients: JSON, and lines for C. Owner-only.
fn hand_over(dir: &std::path::Path, live: &[(String, String)], ended: &[String]) {
    let json = serde_json::json!({ "live": live, "ended": ended });
    let mut txt = String::new();
    for (token, user) in live {
        txt.push_str(&format!("live {token} {user}\n"));
    }
    for token in ended {
        txt.push_str(&format!("ended {token}\n"));
    }
    for (name, text) in [("tokens.json", json.to_string()), ("tokens.txt", txt)] {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(name))
            .expect("write the tokens for the clients");
        f.write_all(text.as_bytes()).expect("write the tokens");
    }
}

struct Row {
    fault: &'static str,
    unavailable: u64,
    slowest_failure: Duration,
    recovery: Duration,
}

fn main() {
    let Some(mut server) = RedisServer::start_persistent() else {
        // Outside CI without redis-server: RedisServer said it skips.
        return;
    };
    let url = server.url("chaos").replace(
        "connect_timeout_ms=500&command_timeout_ms=1000",
        "connect_timeout_ms=200&command_timeout_ms=500",
    );
    let manager = SessionManager::builder(Config::default())
        .store(RedisStore::open(&url).expect("open the store"))
        .sweep_interval(None)
        .build()
        .expect("build the manager");
    let ctx = Context::HTTPS;
    let mut live = Vec::new();
    for u in 0..USERS {
        let user = format!("user-{u}");
        for _ in 0..SESSIONS_PER_USER {
            let s = manager.login(None, &user, &ctx).expect("sign in");
            live.push((s.new_token().expect("token").expose(), user.clone()));
        }
    }
    let mut ended = Vec::new();
    for _ in 0..ENDED {
        let s = manager.login(None, "gone", &ctx).expect("sign in");
        let token = s.new_token().expect("token").expose();
        assert!(manager.logout(&token).expect("sign out"));
        ended.push(token);
    }
    let dir = std::env::temp_dir().join(format!("tessera-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the clients' tokens");
    hand_over(&dir, &live, &ended);
    let foreign = Foreign::start_all(&url, &dir);
    let fixture = Arc::new(Fixture {
        manager,
        live,
        ended,
        tally: Tally::default(),
        stop: AtomicBool::new(false),
        started: Instant::now(),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let f = Arc::clone(&fixture);
            std::thread::spawn(move || f.client(i))
        })
        .collect();

    let mut rows = Vec::new();
    let mut fault = |name: &'static str, inject: &mut dyn FnMut()| {
        fixture.calm();
        let unavailable_before = fixture.tally.unavailable.load(Ordering::Relaxed);
        fixture.tally.slowest_failure_us.store(0, Ordering::Relaxed);
        inject();
        let ended_ms = fixture.since_start_ms();
        let recovery = fixture.recovery(name, ended_ms);
        rows.push(Row {
            fault: name,
            unavailable: fixture.tally.unavailable.load(Ordering::Relaxed) - unavailable_before,
            slowest_failure: Duration::from_micros(
                fixture.tally.slowest_failure_us.load(Ordering::Relaxed),
            ),
            recovery,
        });
    };

    fault("kill -9, then restart", &mut || {
        let seen = fixture.tally.unavailable.load(Ordering::Relaxed);
        server.kill();
        // Down until the clients have met it (the breaker opens on the first refused connect).
        fixture.wait_for("clients noticing Redis is down", RECOVERY_LIMIT, |t| {
            t.unavailable.load(Ordering::Relaxed) >= seen + 200
        });
        server.restart();
    });
    fault("SIGSTOP for 2 s", &mut || {
        server.signal("STOP");
        std::thread::sleep(Duration::from_secs(2)); // the fault's length, not an ordering
        server.signal("CONT");
    });
    fault("CLIENT KILL TYPE normal", &mut || {
        let mut conn = server.connection();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query(&mut conn)
            .expect("client kill");
        assert!(killed >= 1, "the clients' connection was killed");
    });
    fixture.calm();
    fixture.stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let tallies: Vec<serde_json::Value> = foreign.into_iter().map(Foreign::finish).collect();
    let _ = std::fs::remove_dir_all(&dir);

    // Nothing acknowledged before the faults was lost; nothing signed out came back.
    let mut lost = 0;
    for (token, user) in &fixture.live {
        match fixture.manager.validate(token, &ctx) {
            Ok(Validation::Valid(s)) if s.user() == Some(user.as_str()) => {}
            other => {
                lost += 1;
                eprintln!("chaos: LOST: a session of {user}: {other:?}");
            }
        }
    }
    for token in &fixture.ended {
        if !matches!(
            fixture.manager.validate(token, &ctx),
            Ok(Validation::Rejected(_))
        ) {
            fixture.note_wrong("a signed-out token is back after the faults".into());
        }
    }

    let t = &fixture.tally;
    let wrong = t.wrong.load(Ordering::Relaxed);
    println!(
        "chaos (Rust, {CLIENTS} threads, one manager, persistent redis-server): {} answers in {:.1} s",
        t.answers.load(Ordering::Relaxed),
        fixture.started.elapsed().as_secs_f64()
    );
    println!(
        "  {} right, {} signed-out tokens refused, {} store_unavailable, {wrong} wrong",
        t.valid.load(Ordering::Relaxed),
        t.rejected_as_ended.load(Ordering::Relaxed),
        t.unavailable.load(Ordering::Relaxed)
    );
    println!(
        "  {:<26} {:>12} {:>18} {:>14}",
        "fault", "unavailable", "slowest failure", "recovered in"
    );
    for r in &rows {
        println!(
            "  {:<26} {:>12} {:>15.1} ms {:>11.1} ms",
            r.fault,
            r.unavailable,
            r.slowest_failure.as_secs_f64() * 1e3,
            r.recovery.as_secs_f64() * 1e3
        );
    }
    println!(
        "  sessions written before the faults and lost: {lost} of {}",
        fixture.live.len()
    );
    println!("  other languages' clients (16 each, through the same faults):");
    let mut foreign_wrong = 0;
    for t in &tallies {
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        foreign_wrong += n("wrong");
        println!(
            "  {:<8} {} answers: {} right, {} store_unavailable (slowest {:.1} ms), {} wrong {}",
            t["language"].as_str().unwrap_or("?"),
            n("answers"),
            n("right"),
            n("unavailable"),
            t["slowest_failure_ms"].as_f64().unwrap_or(f64::NAN),
            n("wrong"),
            t["wrong_examples"]
        );
        if n("answers") == 0 {
            foreign_wrong += 1;
            println!("  (a client that answered nothing counts as wrong)");
        }
    }
    let failed = u64::from(wrong > 0) + u64::from(lost > 0) + u64::from(foreign_wrong > 0);
    println!("{} passed, {failed} failed", 3 - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
