//! A private `redis-server` for one test binary: a free loopback port, no persistence, stopped
//! (killed) when dropped. Under `CI=true` a missing `redis-server` fails the test instead of
//! skipping it.
//!
//! A server kept in a `static` is never dropped (Rust does not run destructors of statics at
//! exit), and a test process killed by a signal drops nothing. So every server runs under a
//! small `sh` supervisor (`Supervised`) whose stdin is a pipe from the test process: the
//! kernel closes that pipe when the test process ends, however it ends, and the supervisor then
//! kills the server. Otherwise the server would outlive the test binary and keep every file
//! descriptor it inherited, such as the fd of `flock /tmp/tessera-build.lock cargo ...`, which
//! blocks every later build.

use std::ffi::{OsStr, OsString};
use std::io::BufRead;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` that dies with the test process that started it (see the module docs).
pub(crate) struct Supervised {
    supervisor: Child,
    pid: u32,
}

/// Started with the server's arguments as `"$@"`. The server gets `/dev/null` for stdin and
/// stdout: holding the supervisor's stdout would let a later write of its log kill it with
/// SIGPIPE once the test process has read the pid. The supervisor ignores INT, TERM and HUP (as
/// does `cat`, which inherits that) because its lifetime must be the pipe's alone: a signal
/// that killed it first would leave the server running. `wait` makes the server's death part
/// of the supervisor's exit, so that whoever waits for the supervisor knows the port is free.
const SUPERVISOR: &str = r#"redis-server "$@" </dev/null >/dev/null 2>&1 &
s=$!
trap '' INT TERM HUP
echo "$s"
cat >/dev/null
kill -9 "$s" 2>/dev/null
wait "$s"
"#;

impl Supervised {
    /// Start `redis-server` with `args` under its supervisor.
    pub(crate) fn spawn<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("sh")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh, the supervisor of redis-server");
        let mut line = String::new();
        if let Some(out) = supervisor.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let pid = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the supervisor printed no server pid: {line:?}"));
        Supervised { supervisor, pid }
    }

    /// The server's own pid (not the supervisor's).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Supervised {
    /// Kill the server (SIGKILL, as a crash would) and wait until it is gone.
    fn drop(&mut self) {
        drop(self.supervisor.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    server: Option<Supervised>,
    /// Its loopback port.
    pub port: u16,
    password: Option<String>,
    dir: std::path::PathBuf,
    /// `appendonly yes` with an fsync per write: a restart loses nothing acknowledged.
    persistent: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn have_redis() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisServer {
    /// Start one, or `None` (skip) when redis-server is missing outside CI.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Start one that requires `password` (AUTH).
    pub fn start_with(password: Option<&str>) -> Option<Self> {
        Self::start_configured(password, false)
    }

    /// Start one that persists every write before answering (`appendonly yes`,
    /// `appendfsync always`), so that [`RedisServer::restart`] keeps the data.
    pub fn start_persistent() -> Option<Self> {
        Self::start_configured(None, true)
    }

    fn start_configured(password: Option<&str>, persistent: bool) -> Option<Self> {
        remove_stale_dirs();
        if !have_redis() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is required under CI=true (make test installs it)"
            );
            eprintln!("redis-server not installed: skipping (make test installs it)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "tessera-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = RedisServer {
            server: None,
            port: free_port(),
            password: password.map(str::to_owned),
            dir,
            persistent,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let mut args: Vec<OsString> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            if self.persistent { "yes" } else { "no" },
            "--appendfsync",
            "always",
            "--dir",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        args.push(self.dir.clone().into());
        if let Some(p) = &self.password {
            args.extend(["--requirepass".into(), p.into()]);
        }
        let server = Supervised::spawn(args);
        let _ = std::fs::write(self.dir.join("server.pid"), server.pid().to_string());
        self.server = Some(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://` URL for database `db` with a key prefix of its own.
    pub fn url(&self, prefix: &str) -> String {
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        format!(
            "redis://{auth}127.0.0.1:{}/0?prefix={prefix}&connect_timeout_ms=500&command_timeout_ms=1000",
            self.port
        )
    }

    /// Kill the server (as a crash would).
    pub fn kill(&mut self) {
        drop(self.server.take());
    }

    /// The server's pid (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Supervised::pid)
    }

    /// Send the server a signal by name (`STOP`, `CONT`), as `kill -<name>` does.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.pid() {
            let ok = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(pid.to_string())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill -{name} {pid}");
        }
    }

    /// Start it again on the same port (empty unless it is persistent).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A plain redis-crate connection to this server, for inspecting it.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url("inspect").split('?').next().unwrap_or_default())
            .and_then(|c| c.get_connection())
            .expect("connect to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Remove the directories of servers whose test process has exited: a server in a `static` is
/// never dropped, so its directory outlives the process (the server itself does not). Nothing
/// is killed here any more: the supervisor does that, and the pid a stale directory records
/// may by now belong to an unrelated process.
pub(crate) fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix("tessera-redis-")
            .map(|rest| rest.strip_prefix("cluster-").unwrap_or(rest))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if owner == std::process::id() || std::path::Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_cluster::RedisCluster;
    use std::io::{BufReader, Read, Write};
    use std::sync::OnceLock;

    /// Set in the child: which way it ends ("exits" or "killed").
    const ROLE: &str = "TESSERA_ORPHAN_TEST_ROLE";
    const NAME: &str = "redis_server::tests::servers_die_with_their_test_process";

    /// The child's part: start a server and a cluster and keep them in `static`s, which are
    /// never dropped, print their pids, then either return (the harness exits) or wait to be
    /// killed with SIGKILL.
    fn child(role: &str) {
        static SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
        static CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();
        let server = SERVER.get_or_init(RedisServer::start).as_ref();
        let cluster = CLUSTER.get_or_init(RedisCluster::start).as_ref();
        let mut out = std::io::stdout().lock();
        let (Some(server), Some(cluster)) = (server, cluster) else {
            let _ = writeln!(out, "orphan-test skip");
            return;
        };
        let mut pids = vec![server.pid().expect("the server runs")];
        pids.extend(cluster.pids());
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let _ = writeln!(out, "orphan-test {} {}", std::process::id(), pids.join(" "));
        let _ = out.flush();
        drop(out);
        if role == "killed" {
            // The parent kills us before closing our stdin; EOF first means it is gone.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
    }

    /// Whether `pid` is a live `redis-server`: a zombie holds neither its port nor its fds, and
    /// init here may take a while to reap one whose supervisor is gone.
    fn is_redis_server(pid: u32) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let comm = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'));
        comm.is_some_and(|(name, rest)| {
            name == "redis-server" && !rest.trim_start().starts_with('Z')
        })
    }

    /// Servers left in `static`s by a test process that exits, or that is killed with SIGKILL,
    /// die with it and release a `flock` the test process inherited (as a build run under
    /// `flock /tmp/tessera-build.lock cargo test` passes its lock down).
    #[test]
    fn servers_die_with_their_test_process() {
        if let Ok(role) = std::env::var(ROLE) {
            return child(&role);
        }
        let lock =
            std::env::temp_dir().join(format!("tessera-orphan-test-{}.lock", std::process::id()));
        for role in ["exits", "killed"] {
            let mut flock = Command::new("flock")
                .arg(&lock)
                .arg(std::env::current_exe().expect("the test binary"))
                .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                .env(ROLE, role)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("run the test binary under flock");
            let mut out = BufReader::new(flock.stdout.take().expect("piped stdout"));
            // The harness prints `test NAME ... ` on the same line, before ours.
            let mut line = String::new();
            let ours = loop {
                line.clear();
                let read = out.read_line(&mut line).expect("read the child's stdout");
                assert!(
                    read > 0,
                    "the child ({role}) exited without printing its servers' pids"
                );
                if let Some(at) = line.find("orphan-test ") {
                    break line[at..].to_owned();
                }
            };
            let mut fields = ours.split_whitespace().skip(1);
            let first = fields.next().expect("a pid or skip");
            if first == "skip" {
                drop(flock.stdin.take());
                let _ = flock.wait();
                return;
            }
            let pids: Vec<u32> = fields.map(|p| p.parse().expect("a server pid")).collect();
            assert_eq!(pids.len(), 4, "one server and three cluster nodes: {ours}");
            assert!(
                pids.iter().all(|&p| is_redis_server(p)),
                "the servers run: {ours}"
            );
            if role == "killed" {
                let killed = Command::new("kill")
                    .args(["-KILL", first])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(killed, "kill -KILL {first}");
            }
            drop(flock.stdin.take());
            let _ = out.read_to_end(&mut Vec::new());
            let status = flock.wait().expect("wait for the child");
            if role == "exits" {
                assert!(status.success(), "the child test failed: {status}");
            }
            // The kernel says when: `flock` blocks until every holder of the lock has closed it.
            // Each supervisor holds it until it has reaped its server (`wait "$s"`), so once the
            // lock is free no server is left, not even as a zombie. The timeout only turns a
            // leak into a failure instead of a hang.
            let unlocked = Command::new("flock")
                .args(["-w", "10"])
                .arg(&lock)
                .arg("true")
                .status()
                .is_ok_and(|s| s.success());
            let alive: Vec<u32> = pids
                .iter()
                .copied()
                .filter(|&p| is_redis_server(p))
                .collect();
            assert!(
                unlocked && alive.is_empty(),
                "after the child {role}, servers {alive:?} still run, lock free: {unlocked}"
            );
        }
        let _ = std::fs::remove_file(&lock);
        remove_stale_dirs();
    }
}
