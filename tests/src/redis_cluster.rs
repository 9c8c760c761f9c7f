//! A private Redis Cluster for one test binary: three masters (`redis-server --cluster-enabled
//! yes`) on free loopback ports, joined by `redis-cli --cluster create`, stopped when dropped
//! and, like a [`RedisServer`](crate::redis_server::RedisServer), killed when the test process
//! exits even if never dropped (a `static`, a panic, SIGKILL).
//! Under `CI=true` a missing `redis-server` or `redis-cli` fails the test instead of skipping.
//!
//! [`RedisCluster::move_slot`] migrates one hash slot to another master the way
//! `redis-cli --cluster reshard` does for each slot it moves (IMPORTING / MIGRATING, MIGRATE
//! of its keys in batches, then the new owner announced to every master), so that a test can
//! move the one slot a prefix lives in while clients use it.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{Supervised, remove_stale_dirs};

/// Three running masters, killed on drop.
pub struct RedisCluster {
    nodes: Vec<Supervised>,
    /// The masters' loopback ports.
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

/// A port that is free, and whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl RedisCluster {
    /// Start one, or `None` (skip) when redis-server or redis-cli is missing outside CI.
    pub fn start() -> Option<Self> {
        remove_stale_dirs();
        if !have("redis-server") || !have("redis-cli") {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server and redis-cli are required under CI=true (make test installs them)"
            );
            eprintln!("redis-server or redis-cli not installed: skipping the cluster tests");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "tessera-redis-cluster-{}-{}",
            std::process::id(),
            free_cluster_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            ports: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let port = free_cluster_port();
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let port_arg = port.to_string();
            let mut args: Vec<&OsStr> = [
                "--port",
                &port_arg,
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ]
            .into_iter()
            .map(OsStr::new)
            .collect();
            args.push(node_dir.as_os_str());
            cluster.nodes.push(Supervised::spawn(args));
            cluster.ports.push(port);
        }
        for &port in &cluster.ports {
            cluster.wait(&format!("node {port} to listen"), || {
                cluster.try_query(port, &["PING"]).is_some()
            });
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for &port in &cluster.ports {
            cluster.wait("the cluster to be ok on every node", || {
                cluster
                    .try_query(port, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
        }
        Some(cluster)
    }

    /// The masters' pids, in the order of [`RedisCluster::ports`].
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Supervised::pid).collect()
    }

    /// The `redis+cluster://` URL of the store, with a key prefix of its own.
    pub fn url(&self, prefix: &str) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!(
            "redis+cluster://{}?prefix={prefix}&connect_timeout_ms=500&command_timeout_ms=2000",
            nodes.join(",")
        )
    }

    /// A plain connection to the master on `port`.
    pub fn connection(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection())
            .expect("connect to a cluster node")
    }

    fn try_query(&self, port: u16, args: &[&str]) -> Option<String> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let value: redis::Value = cmd.query(&mut conn).ok()?;
        match value {
            redis::Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => Some(s),
            redis::Value::Okay => Some("OK".into()),
            _ => Some(String::new()),
        }
    }

    fn wait(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node id and port of the master that owns `slot`.
    pub fn owner(&self, slot: u16) -> (String, u16) {
        let mut conn = self.connection(self.ports[0]);
        let slots: Vec<(u16, u16, (String, u16, String))> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query::<Vec<redis::Value>>(&mut conn)
            .expect("cluster slots")
            .into_iter()
            .map(|range| {
                let redis::Value::Array(parts) = range else {
                    panic!("a CLUSTER SLOTS range is an array")
                };
                let start: u16 = redis::from_redis_value(parts[0].clone()).expect("start");
                let end: u16 = redis::from_redis_value(parts[1].clone()).expect("end");
                // The master: host, port, id (and, since Redis 7, a map of metadata).
                let redis::Value::Array(master) = parts[2].clone() else {
                    panic!("a CLUSTER SLOTS master is an array")
                };
                let port: u16 = redis::from_redis_value(master[1].clone()).expect("port");
                let id: String = redis::from_redis_value(master[2].clone()).expect("id");
                (start, end, (String::new(), port, id))
            })
            .collect();
        let (_, _, (_, port, id)) = slots
            .into_iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .expect("every slot has an owner");
        (id, port)
    }

    /// The hash slot of `key`.
    pub fn slot_of(&self, key: &str) -> u16 {
        let mut conn = self.connection(self.ports[0]);
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .expect("cluster keyslot")
    }

    /// Move `slot` to the master on `to_port`, keys and all, as `redis-cli --cluster reshard`
    /// does slot by slot. `between_batches` runs after each batch of keys has moved (a test can
    /// let its clients work while the slot is half-migrated).
    pub fn move_slot(&self, slot: u16, to_port: u16, mut between_batches: impl FnMut()) {
        let moving = self.start_move(slot, to_port);
        loop {
            let keys = moving.keys_left(10);
            if keys.is_empty() {
                break;
            }
            moving.migrate(&keys);
            between_batches();
        }
        moving.finish();
    }

    /// Mark `slot` as moving to the master on `to_port` (IMPORTING there, MIGRATING at its
    /// owner); no key moves yet.
    pub fn start_move(&self, slot: u16, to_port: u16) -> SlotMove<'_> {
        let (from_id, from_port) = self.owner(slot);
        assert_ne!(from_port, to_port, "the slot is already there");
        let mut to = self.connection(to_port);
        let mut from = self.connection(from_port);
        let to_id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut to)
            .expect("cluster myid");
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&from_id)
            .query(&mut to)
            .expect("setslot importing");
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(&to_id)
            .query(&mut from)
            .expect("setslot migrating");
        SlotMove {
            cluster: self,
            slot,
            from_port,
            to_port,
            to_id,
        }
    }
}

/// A slot half-way to another master (see [`RedisCluster::start_move`]).
pub struct SlotMove<'c> {
    cluster: &'c RedisCluster,
    slot: u16,
    from_port: u16,
    to_port: u16,
    to_id: String,
}

impl SlotMove<'_> {
    /// Up to `count` keys of the slot still at its old owner.
    pub fn keys_left(&self, count: usize) -> Vec<String> {
        redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(self.slot)
            .arg(count)
            .query(&mut self.cluster.connection(self.from_port))
            .expect("getkeysinslot")
    }

    /// Move `keys` (of the slot) to the new owner.
    pub fn migrate(&self, keys: &[String]) {
        let _: () = redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(self.to_port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(keys)
            .query(&mut self.cluster.connection(self.from_port))
            .expect("migrate");
    }

    /// Move the keys left and announce the new owner to every master.
    pub fn finish(self) {
        loop {
            let keys = self.keys_left(100);
            if keys.is_empty() {
                break;
            }
            self.migrate(&keys);
        }
        for &port in &self.cluster.ports {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(self.slot)
                .arg("NODE")
                .arg(&self.to_id)
                .query(&mut self.cluster.connection(port))
                .expect("setslot node");
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
