//! Shared pieces of the Tessera benches: the fixtures the criterion benches and the memory
//! binary build, the tower-sessions peer driven without a runtime, and the JSON shapes the
//! binaries exchange.
//!
//! - `benches/core.rs` (criterion): create / validate / rotate / login on a store of 1,000,000
//!   sessions, next to tower-sessions' `MemoryStore::load` on 1,000,000 records.
//! - `src/bin/memory.rs`: live heap bytes per session, by a counting global allocator.
//! - `src/bin/report.rs`: reads criterion's estimates and the memory JSON, writes
//!   `benches/results/core.{json,md}`.

#![forbid(unsafe_code)]

pub mod dbsc;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera::{Config, Context, ManualClock, SessionManager};
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::{SessionStore, session_store};
use tower_sessions_memory_store::MemoryStore as TowerStore;

/// Number of live sessions (records) every measurement runs against.
pub const STORE_SIZE: usize = 1_000_000;

/// Distinct users the "with users" memory figure spreads its sessions over.
pub const USERS: usize = 10_000;

/// The request context of every bench: HTTPS, so a session created over HTTPS is never
/// upgrade-rotated.
pub const CTX: Context<'static> = Context::HTTPS;

/// A manager on a memory store, with a manual clock (nothing expires while it stands still),
/// no periodic rotation (validate never rotates) and no background sweeper.
///
/// # Panics
/// If the configuration is refused, which would be a bug in this crate.
#[expect(
    clippy::field_reassign_with_default,
    reason = "Config is #[non_exhaustive]: no struct literal outside tessera"
)]
pub fn bench_manager() -> SessionManager {
    let mut config = Config::default();
    config.rotation_interval = None;
    SessionManager::builder(config)
        .clock(ManualClock::default())
        .sweep_interval(None)
        .build()
        .expect("the bench configuration is valid")
}

/// Poll a future once with a no-op waker and return its output.
///
/// tower-sessions' `MemoryStore` futures never wait (an uncontended `tokio::sync::Mutex` is
/// granted on the first poll), so this drives them without building a runtime per call.
///
/// # Panics
/// If the future is not ready on its first poll (only possible under lock contention, which the
/// single-threaded callers here never cause).
#[inline]
pub fn poll_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a tower-sessions MemoryStore future was not ready at once"),
    }
}

/// A tower-sessions record with no data that expires in 30 minutes (the peer of an anonymous
/// Tessera session under the default idle timeout).
pub fn tower_record() -> Record {
    Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: OffsetDateTime::now_utc() + Duration::from_secs(30 * 60),
    }
}

/// Create one record in a tower-sessions store; returns its id.
///
/// # Errors
/// The store's error (never, for the memory store).
pub fn tower_create(store: &TowerStore) -> session_store::Result<Id> {
    let mut record = tower_record();
    poll_once(store.create(&mut record))?;
    Ok(record.id)
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR`, or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"))
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where criterion writes its results: `$CRITERION_HOME`, or `<target>/criterion` (the same
/// order criterion itself uses).
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"))
}

/// Heap cost of one scenario of the memory binary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemoryScenario {
    /// What was created.
    pub scenario: String,
    /// Sessions (records) created.
    pub sessions: usize,
    /// Distinct users among them (0 for anonymous sessions).
    pub users: usize,
    /// Live heap bytes requested from the allocator before creating them (store already built).
    pub live_bytes_before: u64,
    /// Live heap bytes after.
    pub live_bytes_after: u64,
    /// (after − before) / sessions: what the allocator was asked for, per session.
    pub bytes_per_session: f64,
    /// Live allocations per session.
    pub allocations_per_session: f64,
    /// Like `bytes_per_session`, but each allocation rounded the way glibc malloc stores it
    /// (size + 8-byte header, rounded up to 16, at least 32): the footprint to expect.
    pub malloc_footprint_per_session: f64,
    /// Resident-set growth per session, from `/proc/self/statm` (includes allocator slack and
    /// pages not returned; coarse). `None` where unavailable.
    pub rss_bytes_per_session: Option<f64>,
}

/// The memory binary's output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemoryReport {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<MemoryScenario>,
}

impl MemoryReport {
    /// The scenario named `name`.
    pub fn scenario(&self, name: &str) -> Option<&MemoryScenario> {
        self.scenarios.iter().find(|s| s.scenario == name)
    }
}

/// Scenario name: anonymous Tessera sessions with no data.
pub const MEM_ANONYMOUS: &str = "tessera/anonymous";
/// Scenario name: Tessera sessions of `USERS` users (adds the per-user index).
pub const MEM_USERS: &str = "tessera/users";
/// Scenario name: tower-sessions `MemoryStore` records with no data.
pub const MEM_TOWER: &str = "tower_sessions/record";

/// Now, in UTC, as RFC 3339 to the second.
pub fn utc_now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::Validation;

    #[test]
    fn bench_manager_validates_without_rotating() {
        let manager = bench_manager();
        let session = manager.create(None, None, &CTX).unwrap();
        let token = session.new_token().unwrap().expose();
        match manager.validate(&token, &CTX).unwrap() {
            Validation::Valid(s) => assert!(s.new_token().is_none()),
            Validation::Rejected(r) => panic!("rejected: {r}"),
        }
    }

    #[test]
    fn tower_store_is_driven_without_a_runtime() {
        let store = TowerStore::default();
        let id = tower_create(&store).unwrap();
        let loaded = poll_once(store.load(&id)).unwrap();
        assert_eq!(loaded.map(|r| r.id), Some(id));
        assert!(poll_once(store.load(&Id::default())).unwrap().is_none());
    }

    #[test]
    fn date_looks_like_rfc3339() {
        let d = utc_now_rfc3339();
        assert_eq!(d.len(), 20);
        assert!(d.ends_with('Z') && d.as_bytes()[10] == b'T');
    }
}
