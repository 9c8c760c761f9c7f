//! Turns criterion's estimates for the `core` benches and the memory binary's JSON into
//! `benches/results/core.json` (machine-readable) and `benches/results/core.md` (for people).
//!
//! Usage: `report [--memory PATH] [--out DIR] [--since UNIX_SECONDS] [--settings TEXT]
//! [--load-before TEXT] [--load-after TEXT]`
//!
//! - `--memory`: the memory binary's output (default `<target>/tessera-benches/memory.json`).
//! - `--out`: where to write `core.json` and `core.md` (default `<workspace>/benches/results`).
//! - `--since`: refuse criterion results older than this (so a failed run cannot be reported
//!   with a previous run's figures).
//! - `--settings`: the criterion settings used, recorded in the report.
//! - `--load-before` / `--load-after`: the load averages (`/proc/loadavg`) around the criterion
//!   run, recorded so a reader can tell whether other work competed for the cores.
//!
//! Criterion's directory is `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
//! `<workspace>/target/criterion`. Each bench's figure is the median point estimate of
//! `new/estimates.json`, found by the `full_id` in the `new/benchmark.json` next to it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tessera_benches::{
    MEM_ANONYMOUS, MEM_TOWER, MEM_USERS, MemoryReport, STORE_SIZE, criterion_dir, target_dir,
    utc_now_rfc3339, workspace_dir,
};

const HIT: &str = "validate/tessera/hit";
const HIT_CACHED: &str = "validate/tessera/hit_cached";
const UNKNOWN: &str = "validate/tessera/unknown";
const MALFORMED: &str = "validate/tessera/malformed";
const TOWER_LOAD: &str = "validate/tower_sessions/load";
const TOWER_LOAD_CACHED: &str = "validate/tower_sessions/load_cached";
const TOWER_PARSE_LOAD: &str = "validate/tower_sessions/parse_load";
const CONTROL1: &str = "validate_throughput/control/1_thread";
const CONTROL2: &str = "validate_throughput/control/2_threads";
const TP1: &str = "validate_throughput/tessera/1_thread";
const TP2: &str = "validate_throughput/tessera/2_threads";
const CREATE: &str = "create/tessera/anonymous";
const LOGIN: &str = "login/tessera/anonymous_to_user";
const ROTATE: &str = "rotate/tessera/with_grace";
const ID_OF: &str = "validate/tessera/id_of";
const SIGNED_IN: &str = "validate/tessera/signed_in";
const SIGNED_IN_NARROW: &str = "validate/tessera/signed_in_narrow";
const DRAM: &str = "validate/control/dram_load";
const DBSC_UNBOUND: &str = "dbsc/tessera/unbound_hit";
const DBSC_BOUND: &str = "dbsc/tessera/bound_hit";
const DBSC_UNBOUND_REQ: &str = "dbsc/tessera/unbound_request";
const DBSC_BOUND_REQ: &str = "dbsc/tessera/bound_request";
const REFRESH_ES: &str = "dbsc/tessera/refresh_es256";
const REFRESH_RS: &str = "dbsc/tessera/refresh_rs256";

/// Every bench of `benches/core.rs`, with what one iteration is.
const BENCHES: &[(&str, &str)] = &[
    (HIT, "validate a live token (100k cycled)"),
    (
        HIT_CACHED,
        "validate a live token (1,000 cycled: records in cache)",
    ),
    (UNKNOWN, "validate a well-formed, never-issued token"),
    (MALFORMED, "validate a 42-character string"),
    (TOWER_LOAD, "tower-sessions MemoryStore::load by Id"),
    (TOWER_PARSE_LOAD, "tower-sessions Id::from_str + load"),
    (
        TOWER_LOAD_CACHED,
        "tower-sessions load (1,000 cycled: records in cache)",
    ),
    (CONTROL1, "control: 64 rounds of splitmix64, 1 thread"),
    (CONTROL2, "control: 64 rounds of splitmix64, 2 threads"),
    (TP1, "wall time per validation, 1 thread"),
    (TP2, "wall time per validation, 2 threads"),
    (CREATE, "create an anonymous session"),
    (LOGIN, "log an anonymous session in"),
    (ROTATE, "rotate, keeping the new token"),
    (
        DRAM,
        "control: one dependent random load over 256 MiB (a cache + TLB miss)",
    ),
    (
        ID_OF,
        "derive a token's id: base64url decoding + keyed BLAKE3 (1,000 cycled)",
    ),
    (
        SIGNED_IN,
        "validate a signed-in browser session with 5 keys of data (20k cycled), every part read",
    ),
    (
        SIGNED_IN_NARROW,
        "the same, read with Fields::NONE: data, user agent and CSRF secret left in the store",
    ),
    (
        DBSC_UNBOUND,
        "DBSC on: validate an unbound signed-in session (20k cycled)",
    ),
    (
        DBSC_BOUND,
        "DBSC on: validate a bound session with its bound cookie (20k cycled)",
    ),
    (
        DBSC_UNBOUND_REQ,
        "DBSC on: http::begin + finish, unbound signed-in session",
    ),
    (
        DBSC_BOUND_REQ,
        "DBSC on: http::begin + finish, bound session with its bound cookie",
    ),
    (
        REFRESH_ES,
        "DBSC refresh minting a bound cookie, ES256 proof verified",
    ),
    (
        REFRESH_RS,
        "DBSC refresh minting a bound cookie, RS256 proof verified",
    ),
];

/// Below this control scaling the two vCPUs did not act as two free cores during the run, and a
/// scaling verdict says more about the machine than about Tessera.
const CONTROL_SCALING_FLOOR: f64 = 1.8;

// Targets from the issues: 14 (the memory store against tower-sessions), 15 (DBSC), and the
// malformed-token bound of the first benches.
const TARGET_HIT_OVER_TOWER: f64 = 0.8;
const TARGET_CACHED_OVER_TOWER: f64 = 1.0;
const TARGET_SCALING: f64 = 1.8;
const TARGET_MALFORMED_NS: f64 = 50.0;
const TARGET_CREATE_NS: f64 = 1_000.0;
const TARGET_LOGIN_NS: f64 = 2_000.0;
const TARGET_BYTES: f64 = 200.0;
const TARGET_BOUND_OVER_UNBOUND: f64 = 1.2;
const TARGET_REFRESH_NS: f64 = 150_000.0;

#[derive(Deserialize)]
struct Estimate {
    confidence_interval: Interval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
    median: Estimate,
}

#[derive(Deserialize)]
struct CriterionId {
    full_id: String,
}

#[derive(Serialize)]
struct Bench {
    id: String,
    what: String,
    median_ns: f64,
    median_ci_ns: [f64; 2],
    mean_ns: f64,
}

#[derive(Serialize)]
struct Ratios {
    /// validate/tessera/hit ÷ validate/tower_sessions/load (time; < 1 means Tessera is faster).
    tessera_hit_over_tower_load: f64,
    /// validate/tessera/hit ÷ validate/tower_sessions/parse_load.
    tessera_hit_over_tower_parse_load: f64,
    /// The same comparison with both working sets in cache (hit_cached ÷ load_cached).
    tessera_hit_cached_over_tower_load_cached: f64,
    /// Throughput on 2 threads ÷ throughput on 1 (time per validation 1 thread ÷ 2 threads).
    throughput_2_threads_over_1: f64,
    /// The same for the control loop, which shares nothing: what the machine delivered.
    control_2_threads_over_1: f64,
    /// Bytes per session of the per-user index and user names (users − anonymous).
    user_index_bytes_per_session: f64,
    /// Tessera anonymous bytes per session ÷ tower-sessions bytes per record.
    tessera_bytes_over_tower_bytes: f64,
}

#[derive(Serialize)]
struct Target {
    name: String,
    /// `"<="` or `">="`.
    comparison: String,
    target: f64,
    measured: f64,
    unit: String,
    met: bool,
    /// How far past the target (positive) or inside it (negative), in `unit`.
    miss: f64,
    /// `miss` relative to the target, in percent.
    miss_percent: f64,
    /// Why the verdict may not be conclusive, if it may not.
    caveat: Option<String>,
    /// For a missed target: what bounds it, as measured in the same run.
    bound: Option<String>,
}

#[derive(Serialize)]
struct Machine {
    cores: usize,
    os: String,
    arch: String,
}

#[derive(Serialize)]
struct Report {
    date: String,
    machine: Machine,
    store_size: usize,
    criterion_settings: Option<String>,
    /// `/proc/loadavg` (1, 5, 15 minutes) before and after the criterion run.
    load_average_before: Option<String>,
    load_average_after: Option<String>,
    benches: Vec<Bench>,
    memory: MemoryReport,
    ratios: Ratios,
    targets: Vec<Target>,
}

struct Args {
    memory: PathBuf,
    out: PathBuf,
    since: Option<SystemTime>,
    settings: Option<String>,
    load_before: Option<String>,
    load_after: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        memory: target_dir().join("tessera-benches").join("memory.json"),
        out: workspace_dir().join("benches").join("results"),
        since: None,
        settings: None,
        load_before: None,
        load_after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--memory" => args.memory = PathBuf::from(value()?),
            "--out" => args.out = PathBuf::from(value()?),
            "--since" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--since wants Unix seconds, not {v:?}"))?;
                args.since = Some(UNIX_EPOCH + Duration::from_secs(secs));
            }
            "--settings" => args.settings = Some(value()?),
            "--load-before" => args.load_before = Some(value()?),
            "--load-after" => args.load_after = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: report [--memory PATH] [--out DIR] \
                     [--since UNIX_SECONDS] [--settings TEXT] [--load-before TEXT] \
                     [--load-after TEXT]"
                ));
            }
        }
    }
    Ok(args)
}

/// Every `new/` directory under `dir`.
fn new_dirs(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == "new" {
            found.push(path);
        } else {
            new_dirs(&path, found)?;
        }
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

/// Criterion's results by full id.
fn criterion_results(
    dir: &Path,
    since: Option<SystemTime>,
) -> Result<BTreeMap<String, Estimates>, String> {
    let mut dirs = Vec::new();
    new_dirs(dir, &mut dirs).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut results = BTreeMap::new();
    for new in dirs {
        let (id_path, est_path) = (new.join("benchmark.json"), new.join("estimates.json"));
        if !id_path.is_file() || !est_path.is_file() {
            continue;
        }
        let id: CriterionId = read_json(&id_path)?;
        if !BENCHES.iter().any(|(b, _)| *b == id.full_id) {
            continue;
        }
        if let Some(since) = since {
            let modified = std::fs::metadata(&est_path)
                .and_then(|m| m.modified())
                .map_err(|e| format!("cannot stat {}: {e}", est_path.display()))?;
            if modified < since {
                return Err(format!(
                    "{} predates this run: did the bench `{}` fail?",
                    est_path.display(),
                    id.full_id
                ));
            }
        }
        results.insert(id.full_id, read_json(&est_path)?);
    }
    Ok(results)
}

/// A target "measured ≤ target" (`at_most`) or "measured ≥ target".
fn target(name: &str, at_most: bool, target: f64, measured: f64, unit: &str) -> Target {
    let miss = if at_most {
        measured - target
    } else {
        target - measured
    };
    Target {
        name: name.to_owned(),
        comparison: if at_most { "<=" } else { ">=" }.to_owned(),
        target,
        measured,
        unit: unit.to_owned(),
        met: miss <= 0.0,
        miss,
        miss_percent: 100.0 * miss / target,
        caveat: None,
        bound: None,
    }
}

/// `1000000` → `1,000,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.3} µs", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => fmt_ns(v),
        "x" => format!("{v:.2}×"),
        _ => format!("{v:.1} {unit}"),
    }
}

fn verdict(t: &Target) -> String {
    let v = verdict_only(t);
    let v = match &t.bound {
        Some(bound) => format!("{v}; what bounds it: {bound}"),
        None => v,
    };
    match &t.caveat {
        Some(caveat) => format!("{v}; *inconclusive*: {caveat}"),
        None => v,
    }
}

fn verdict_only(t: &Target) -> String {
    if t.met {
        format!(
            "**met** (margin {}, {:.0} %)",
            fmt_value(-t.miss, &t.unit),
            -t.miss_percent
        )
    } else {
        let how = if t.comparison == "<=" {
            "over"
        } else {
            "short"
        };
        format!(
            "**missed** by {} ({:.0} % {how})",
            fmt_value(t.miss, &t.unit),
            t.miss_percent
        )
    }
}

fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let m = &r.ratios;
    let _ = writeln!(md, "# Tessera core benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `benches/run-core.sh` on {} ({} cores, {}/{}). Every bench runs against a \
         memory store holding {} live sessions (tower-sessions: {} records); figures are \
         criterion medians{}.\n",
        r.date,
        r.machine.cores,
        r.machine.os,
        r.machine.arch,
        thousands(r.store_size),
        thousands(r.store_size),
        r.criterion_settings
            .as_deref()
            .map(|s| format!(" (`{s}`)"))
            .unwrap_or_default()
    );
    if let (Some(before), Some(after)) = (&r.load_average_before, &r.load_average_after) {
        let _ = writeln!(
            md,
            "Load average (1 / 5 / 15 min) before the criterion run: {before}; after: {after}. \
             The benches themselves account for about 1 (2 during the two-thread bench); more \
             than that means other work shared the {} cores and inflated the times.\n",
            r.machine.cores
        );
    }
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | verdict |\n|---|---|---|");
    for t in &r.targets {
        let _ = writeln!(
            md,
            "| {} {} {} | {} | {} |",
            t.name,
            if t.comparison == "<=" { "≤" } else { "≥" },
            fmt_value(t.target, &t.unit),
            fmt_value(t.measured, &t.unit),
            verdict(t)
        );
    }
    let _ = writeln!(md, "\n## Ratios\n");
    let _ = writeln!(
        md,
        "- Tessera validate (hit) ÷ tower-sessions `load`: **{:.2}** (time; below 1 means \
         Tessera is faster). Against `Id::from_str` + `load`, which like Tessera starts from the \
         cookie string: **{:.2}**. With both working sets in cache (1,000 records cycled): \
         **{:.2}**. Tessera's figure also covers base64 decoding, the BLAKE3 id \
         derivation, the idle/absolute checks and the `last_seen` touch; tower-sessions' covers a \
         global `tokio::sync::Mutex`, a SipHash lookup, an expiry check against the system clock \
         and a boxed future.",
        m.tessera_hit_over_tower_load,
        m.tessera_hit_over_tower_parse_load,
        m.tessera_hit_cached_over_tower_load_cached
    );
    let _ = writeln!(
        md,
        "- Validate throughput, 2 threads ÷ 1 thread: **{:.2}×** (time per validation {} on 1 \
         thread, {} on 2). The control loop, which shares nothing between threads, scaled \
         **{:.2}×** in the same run: that is what the machine delivered, so Tessera's scaling \
         relative to it is {:.0} %.",
        m.throughput_2_threads_over_1,
        fmt_ns(bench_ns(r, TP1)),
        fmt_ns(bench_ns(r, TP2)),
        m.control_2_threads_over_1,
        100.0 * m.throughput_2_threads_over_1 / m.control_2_threads_over_1
    );
    let _ = writeln!(
        md,
        "- Memory, Tessera ÷ tower-sessions per session: **{:.2}**; the per-user index adds \
         **{:.1} B** per session.",
        m.tessera_bytes_over_tower_bytes, m.user_index_bytes_per_session
    );
    let _ = writeln!(
        md,
        "- A signed-in browser session read with `Fields::NONE` ÷ read whole (`signed_in_narrow` \
         ÷ `signed_in`): **{:.2}** ({} against {}): what the caller saves by asking only for what \
         it needs (issue 14). The request protocol asks for the data and the CSRF secret, never \
         the user agent.",
        bench_ns(r, SIGNED_IN_NARROW) / bench_ns(r, SIGNED_IN),
        fmt_ns(bench_ns(r, SIGNED_IN_NARROW)),
        fmt_ns(bench_ns(r, SIGNED_IN))
    );
    let _ = writeln!(md, "\n## Medians\n");
    let _ = writeln!(
        md,
        "| bench | one iteration | median | 95 % CI of the median |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for b in &r.benches {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} – {} |",
            b.id,
            b.what,
            fmt_ns(b.median_ns),
            fmt_ns(b.median_ci_ns[0]),
            fmt_ns(b.median_ci_ns[1])
        );
    }
    let _ = writeln!(
        md,
        "\n## Memory ({} sessions, no data)\n",
        thousands(r.store_size)
    );
    let _ = writeln!(
        md,
        "Counted by a global allocator wrapper (`src/bin/memory.rs`), each scenario in a fresh \
         process. *Requested* is what the allocator was asked for; *malloc footprint* rounds each \
         allocation the way glibc stores it (+8-byte header, multiple of 16, ≥ 32 B); RSS is the \
         coarse resident-set growth.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | requested B/session | malloc footprint B/session | allocations/session | RSS B/session |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for s in &r.memory.scenarios {
        let _ = writeln!(
            md,
            "| `{}`{} | {:.1} | {:.1} | {:.2} | {} |",
            s.scenario,
            if s.users > 0 {
                format!(" ({} users)", thousands(s.users))
            } else {
                String::new()
            },
            s.bytes_per_session,
            s.malloc_footprint_per_session,
            s.allocations_per_session,
            s.rss_bytes_per_session
                .map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"))
        );
    }
    let _ = writeln!(
        md,
        "\nThe memory target is judged on the requested bytes of `{MEM_ANONYMOUS}`.\n\n\
         Raw figures: `core.json` next to this file. Reproduce with `make bench` (or \
         `benches/run-core.sh`)."
    );
    md
}

fn bench_ns(r: &Report, id: &str) -> f64 {
    r.benches
        .iter()
        .find(|b| b.id == id)
        .map_or(f64::NAN, |b| b.median_ns)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let dir = criterion_dir();
    let results = criterion_results(&dir, args.since)?;
    let missing: Vec<&str> = BENCHES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !results.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no criterion results in {} for: {} (run `cargo bench -p tessera-benches --bench core` first)",
            dir.display(),
            missing.join(", ")
        ));
    }
    let benches: Vec<Bench> = BENCHES
        .iter()
        .map(|(id, what)| {
            let e = &results[*id];
            Bench {
                id: (*id).to_owned(),
                what: (*what).to_owned(),
                median_ns: e.median.point_estimate,
                median_ci_ns: [
                    e.median.confidence_interval.lower_bound,
                    e.median.confidence_interval.upper_bound,
                ],
                mean_ns: e.mean.point_estimate,
            }
        })
        .collect();
    let memory: MemoryReport = read_json(&args.memory)?;
    let mem = |name: &str| {
        memory
            .scenario(name)
            .map(|s| s.bytes_per_session)
            .ok_or_else(|| format!("{} has no scenario {name}", args.memory.display()))
    };
    let (anon, users, tower) = (mem(MEM_ANONYMOUS)?, mem(MEM_USERS)?, mem(MEM_TOWER)?);
    let ns = |id: &str| results[id].median.point_estimate;
    let ratios = Ratios {
        tessera_hit_over_tower_load: ns(HIT) / ns(TOWER_LOAD),
        tessera_hit_over_tower_parse_load: ns(HIT) / ns(TOWER_PARSE_LOAD),
        tessera_hit_cached_over_tower_load_cached: ns(HIT_CACHED) / ns(TOWER_LOAD_CACHED),
        throughput_2_threads_over_1: ns(TP1) / ns(TP2),
        control_2_threads_over_1: ns(CONTROL1) / ns(CONTROL2),
        user_index_bytes_per_session: users - anon,
        tessera_bytes_over_tower_bytes: anon / tower,
    };
    let mut scaling = target(
        "validate throughput, 2 threads vs 1",
        false,
        TARGET_SCALING,
        ratios.throughput_2_threads_over_1,
        "x",
    );
    if ratios.control_2_threads_over_1 < CONTROL_SCALING_FLOOR {
        scaling.caveat = Some(format!(
            "a control loop that shares nothing scaled only {:.2}× in the same run, so the two \
             vCPUs were not two free cores (other load, or the host time-slicing them)",
            ratios.control_2_threads_over_1
        ));
    }
    // What a validate costs before it touches the store at all, and tower-sessions never pays:
    // the design's keyed BLAKE3 id derivation (and the base64url decoding before it).
    let floor = ns(ID_OF);
    let floor_caveat = |tower: f64| {
        format!(
            "the id derivation (base64url + keyed BLAKE3, `{ID_OF}`) of {}, which \
             tower-sessions does not do, alone is {:.2}× its whole `load` ({}); the target would \
             leave {} for the lookup, the checks and the touch (`{DRAM}`: {} per dependent miss; \
             benches/results/core-profile.md)",
            fmt_ns(floor),
            floor / tower,
            fmt_ns(tower),
            fmt_ns((TARGET_HIT_OVER_TOWER * tower - floor).max(0.0)),
            fmt_ns(ns(DRAM))
        )
    };
    let mut hit = target(
        "validate hit ÷ tower-sessions load, 1,000,000 sessions",
        true,
        TARGET_HIT_OVER_TOWER,
        ratios.tessera_hit_over_tower_load,
        "x",
    );
    if !hit.met {
        hit.bound = Some(floor_caveat(ns(TOWER_LOAD)));
    }
    let mut cached = target(
        "validate hit ÷ tower-sessions load, records in cache",
        true,
        TARGET_CACHED_OVER_TOWER,
        ratios.tessera_hit_cached_over_tower_load_cached,
        "x",
    );
    if !cached.met {
        cached.bound = Some(floor_caveat(ns(TOWER_LOAD_CACHED)));
    }
    let mut targets = vec![
        hit,
        cached,
        scaling,
        target(
            "malformed rejection, median",
            true,
            TARGET_MALFORMED_NS,
            ns(MALFORMED),
            "ns",
        ),
        target("create, median", true, TARGET_CREATE_NS, ns(CREATE), "ns"),
        target("login, median", true, TARGET_LOGIN_NS, ns(LOGIN), "ns"),
        target(
            "memory per anonymous session beyond data",
            true,
            TARGET_BYTES,
            anon,
            "B",
        ),
    ];
    let mut bound = target(
        "DBSC: a request on a bound session ÷ on an unbound one (http::begin + finish)",
        true,
        TARGET_BOUND_OVER_UNBOUND,
        ns(DBSC_BOUND_REQ) / ns(DBSC_UNBOUND_REQ),
        "x",
    );
    if !bound.met {
        bound.bound = Some(format!(
            "a bound request adds the bound cookie's digest (a keyed BLAKE3 of 43 bytes, about \
             half of `{ID_OF}`'s {}) and one more memory access for the binding, which lives \
             outside the entry so that unbound sessions pay no bytes for it \
             (`{DRAM}`: {}); at the validate alone the ratio is {:.2}×",
            fmt_ns(floor),
            fmt_ns(ns(DRAM)),
            ns(DBSC_BOUND) / ns(DBSC_UNBOUND)
        ));
    }
    targets.push(bound);
    for (id, alg) in [(REFRESH_ES, "ES256"), (REFRESH_RS, "RS256")] {
        targets.push(target(
            &format!("DBSC: refresh, {alg} proof verified"),
            true,
            TARGET_REFRESH_NS,
            ns(id),
            "ns",
        ));
    }
    let report = Report {
        date: utc_now_rfc3339(),
        machine: Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
        },
        store_size: STORE_SIZE,
        criterion_settings: args.settings,
        load_average_before: args.load_before,
        load_average_after: args.load_after,
        benches,
        memory,
        ratios,
        targets,
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    let json_path = args.out.join("core.json");
    std::fs::write(&json_path, json + "\n")
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let md_path = args.out.join("core.md");
    std::fs::write(&md_path, markdown(&report))
        .map_err(|e| format!("cannot write {}: {e}", md_path.display()))?;
    println!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}
