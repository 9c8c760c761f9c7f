//! The fuzz targets' inputs, replayed under plain `cargo test`.
//!
//! Every file under fuzz/corpus/<target>/ (the committed seeds) and fuzz/regressions/<target>/
//! (minimised crashes, kept forever) of the core targets — token_parse, cookie_header,
//! session_data — goes through the very checks the libFuzzer targets make: fuzz/src/checks.rs,
//! included here by path. A failing file is named in the panic message.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/checks.rs"]
mod checks;

/// A target's check: panics when a property does not hold for the input.
type Check = fn(&[u8]);

/// The core targets and their checks.
const TARGETS: [(&str, Check); 3] = [
    ("token_parse", checks::token_parse),
    ("cookie_header", checks::cookie_header),
    ("session_data", checks::session_data),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none if the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run every target's check on its inputs of `kind`; fail naming each file that fails.
fn replay(kind: &str) {
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        for path in inputs(kind, target) {
            let data = fs::read(&path).expect("a readable input");
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_seed_of_the_core_targets_passes_their_checks() {
    for (target, _) in TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "fuzz/corpus/{target}/ has no seeds"
        );
    }
    replay("corpus");
}

#[test]
fn every_kept_crash_of_the_core_targets_is_fixed() {
    replay("regressions");
}

/// The checks themselves catch what they are meant to: a canonical token is accepted and
/// re-encodes; the three cookie outcomes; a write at the cap and one byte over it.
#[test]
fn the_checks_accept_known_good_inputs() {
    checks::token_parse(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    checks::token_parse(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB");
    checks::cookie_header(b"a=1; __Host-session=\"tok\"; b=2");
    checks::cookie_header(b"sid\nsid=1;sid=2");
    checks::cookie_header(b"sid\nSID=1");
    // Cap 22 bytes: {"k":"xxxxxxxxxxxxxx"} fits exactly, one more character does not.
    checks::session_data(b"\x05r{\"k\":\"xxxxxxxxxxxxxx\"}\0r{\"k\":\"xxxxxxxxxxxxxxx\"}");
}
