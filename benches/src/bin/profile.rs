//! A fixed workload for valgrind's cachegrind and callgrind: where a validate's instructions and
//! cache misses go. This VM exposes no hardware counters (`perf stat` reports
//! `<not supported>`), so the profile in `benches/results/core-profile.md` counts with
//! valgrind's simulation instead.
//!
//! Usage: `profile <sessions> <validates> <distinct>`: builds a memory store of `sessions`
//! anonymous sessions (the core benches' manager), then validates `validates` times, cycling
//! through `distinct` of their tokens spread over the store. Run it twice with different
//! `validates` and subtract: what remains is the validates' own cost.

use std::process::ExitCode;

use tessera::Validation;
use tessera_benches::{CTX, bench_manager};

fn arg(args: &[String], i: usize, name: &str) -> Result<usize, String> {
    args.get(i)
        .ok_or_else(|| format!("missing <{name}>"))?
        .parse()
        .map_err(|_| format!("<{name}> must be a whole number"))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let sessions = arg(&args, 1, "sessions")?;
    let validates = arg(&args, 2, "validates")?;
    let distinct = arg(&args, 3, "distinct")?.clamp(1, sessions.max(1));
    let manager = bench_manager();
    let stride = sessions / distinct;
    let mut tokens = Vec::with_capacity(distinct);
    for i in 0..sessions {
        let session = manager
            .create(None, None, &CTX)
            .map_err(|e| e.to_string())?;
        if i % stride == 0 && tokens.len() < distinct {
            tokens.push(session.new_token().ok_or("no token")?.expose());
        }
    }
    tokens.sort_unstable();
    let mut live = 0usize;
    for i in 0..validates {
        let token = &tokens[i % tokens.len()];
        if let Validation::Valid(_) = manager.validate(token, &CTX).map_err(|e| e.to_string())? {
            live += 1;
        }
    }
    if live != validates {
        return Err(format!(
            "{live} of {validates} validates found their session"
        ));
    }
    println!("{sessions} sessions, {validates} validates over {distinct} tokens: all live");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("profile: {e}");
            ExitCode::FAILURE
        }
    }
}
