//! A private `redis-server` for one test binary: a free loopback port, no persistence, stopped
//! (killed) when dropped. Under `CI=true` a missing `redis-server` fails the test instead of
//! skipping it.
//!
//! A server kept in a `static` is never dropped (Rust does not run destructors of statics at
//! exit), so each server's directory is named after the test process and records the server's
//! pid; starting a server first stops those whose test process is gone.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
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
        reap_orphans();
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
            child: None,
            port: free_port(),
            password: password.map(str::to_owned),
            dir,
            persistent,
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args([
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
        ])
        .arg("--dir")
        .arg(&self.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(p) = &self.password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd.spawn().expect("start redis-server");
        let _ = std::fs::write(self.dir.join("server.pid"), child.id().to_string());
        self.child = Some(child);
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's pid (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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

/// Stop servers left by test processes that have exited (see the module docs).
fn reap_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix("tessera-redis-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if owner == std::process::id() || std::path::Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if let Ok(pid) = std::fs::read_to_string(entry.path().join("server.pid")) {
            let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}
