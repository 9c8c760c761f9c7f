//! Heap cost per session: live bytes before and after creating 1,000,000 sessions.
//!
//! Usage: `memory OUT.json` — runs each scenario in a fresh child process (so one scenario's
//! freed memory cannot hide the next one's growth from the resident-set figure), prints a table
//! and writes a [`MemoryReport`] as JSON to `OUT.json`.
//!
//! Scenarios: 1,000,000 anonymous Tessera sessions; 1,000,000 Tessera sessions of 10,000 users
//! (the difference is the per-user index); 1,000,000 tower-sessions `MemoryStore` records (the
//! peer). No session carries data, so every figure is the cost *beyond data*.
//!
//! Bytes are counted by a wrapper around the system allocator: what was requested, and the
//! footprint glibc malloc gives each request (size + 8-byte header, rounded up to 16, ≥ 32).

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tessera_benches::{
    CTX, MEM_ANONYMOUS, MEM_TOWER, MEM_USERS, MemoryReport, MemoryScenario, STORE_SIZE, USERS,
    bench_manager, tower_create, utc_now_rfc3339,
};

/// Counts live bytes, live allocations and their estimated malloc footprint.
struct Counting;

static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE_FOOTPRINT: AtomicU64 = AtomicU64::new(0);

/// What glibc malloc holds for a request of `size` bytes on a 64-bit target.
fn footprint(size: usize) -> u64 {
    ((size as u64 + 8).div_ceil(16) * 16).max(32)
}

fn added(size: usize) {
    LIVE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
    LIVE_FOOTPRINT.fetch_add(footprint(size), Ordering::Relaxed);
}

fn removed(size: usize) {
    LIVE_BYTES.fetch_sub(size as u64, Ordering::Relaxed);
    LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
    LIVE_FOOTPRINT.fetch_sub(footprint(size), Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees (valid, suitably aligned blocks; dealloc/realloc of blocks it handed out) carry
// over; the counting around the calls neither allocates nor touches the blocks.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size), which is
        // `System.alloc`'s contract too.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            added(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            added(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `System`,
        // which produced every block handed out here) with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        removed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (from `System`) with
        // `layout`, and that `new_size` is non-zero and does not overflow when aligned.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            removed(layout.size());
            added(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy)]
struct Snapshot {
    bytes: u64,
    allocs: u64,
    footprint: u64,
    rss: Option<u64>,
}

fn snapshot() -> Snapshot {
    Snapshot {
        bytes: LIVE_BYTES.load(Ordering::SeqCst),
        allocs: LIVE_ALLOCS.load(Ordering::SeqCst),
        footprint: LIVE_FOOTPRINT.load(Ordering::SeqCst),
        rss: rss_bytes(),
    }
}

/// Resident set size from `/proc/self/statm` (second field, in 4 KiB pages on x86-64 Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn per(delta: u64, n: usize) -> f64 {
    delta as f64 / n as f64
}

fn scenario(name: &str, users: usize, before: Snapshot, after: Snapshot) -> MemoryScenario {
    MemoryScenario {
        scenario: name.to_owned(),
        sessions: STORE_SIZE,
        users,
        live_bytes_before: before.bytes,
        live_bytes_after: after.bytes,
        bytes_per_session: per(after.bytes.saturating_sub(before.bytes), STORE_SIZE),
        allocations_per_session: per(after.allocs.saturating_sub(before.allocs), STORE_SIZE),
        malloc_footprint_per_session: per(
            after.footprint.saturating_sub(before.footprint),
            STORE_SIZE,
        ),
        rss_bytes_per_session: match (before.rss, after.rss) {
            (Some(b), Some(a)) => Some(per(a.saturating_sub(b), STORE_SIZE)),
            _ => None,
        },
    }
}

/// Run one scenario in this process.
fn measure(name: &str) -> Result<MemoryScenario, String> {
    match name {
        MEM_ANONYMOUS | MEM_USERS => {
            let with_users = name == MEM_USERS;
            let names: Vec<String> = if with_users {
                (0..USERS).map(|u| format!("user-{u:05}")).collect()
            } else {
                Vec::new()
            };
            let manager = bench_manager();
            let before = snapshot();
            for i in 0..STORE_SIZE {
                let user = names.get(i % USERS.max(1)).map(String::as_str);
                manager
                    .create(user, None, &CTX)
                    .map_err(|e| format!("create failed: {e}"))?;
            }
            let after = snapshot();
            let len = manager.store_len().map_err(|e| e.to_string())?;
            if len != STORE_SIZE {
                return Err(format!("the store holds {len} sessions, not {STORE_SIZE}"));
            }
            let users = if with_users { USERS } else { 0 };
            Ok(scenario(name, users, before, after))
        }
        MEM_TOWER => {
            let store = tower_sessions_memory_store::MemoryStore::default();
            let before = snapshot();
            for _ in 0..STORE_SIZE {
                tower_create(&store).map_err(|e| format!("create failed: {e}"))?;
            }
            let after = snapshot();
            drop(store);
            Ok(scenario(name, 0, before, after))
        }
        other => Err(format!("unknown scenario {other:?}")),
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = args.as_slice()
        && flag == "--scenario"
    {
        let result = measure(name)?;
        let json = serde_json::to_string(&result).map_err(|e| e.to_string())?;
        println!("{json}");
        return Ok(());
    }
    let [out] = args.as_slice() else {
        return Err("usage: memory OUT.json".to_owned());
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let mut scenarios = Vec::new();
    for name in [MEM_ANONYMOUS, MEM_USERS, MEM_TOWER] {
        let started = Instant::now();
        let output = Command::new(&exe)
            .args(["--scenario", name])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !output.status.success() {
            return Err(format!(
                "scenario {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let result: MemoryScenario = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("scenario {name} printed no result: {e}"))?;
        eprintln!("{name}: measured in {:.1?}", started.elapsed());
        scenarios.push(result);
    }
    println!(
        "{:<24} {:>10} {:>12} {:>14} {:>12} {:>10}",
        "scenario", "sessions", "B/session", "malloc B/sess", "allocs/sess", "RSS B/sess"
    );
    for s in &scenarios {
        println!(
            "{:<24} {:>10} {:>12.1} {:>14.1} {:>12.2} {:>10}",
            s.scenario,
            s.sessions,
            s.bytes_per_session,
            s.malloc_footprint_per_session,
            s.allocations_per_session,
            s.rss_bytes_per_session
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}")),
        );
    }
    let report = MemoryReport {
        date: utc_now_rfc3339(),
        scenarios,
    };
    if let (Some(anon), Some(users)) = (report.scenario(MEM_ANONYMOUS), report.scenario(MEM_USERS))
    {
        println!(
            "per-user index and user names: {:.1} B/session ({} users)",
            users.bytes_per_session - anon.bytes_per_session,
            users.users
        );
    }
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(dir) = std::path::Path::new(out).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(out, json + "\n").map_err(|e| format!("cannot write {out}: {e}"))?;
    println!("wrote {out}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memory: {e}");
            ExitCode::FAILURE
        }
    }
}
