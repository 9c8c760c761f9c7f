//! `include/tessera.h` is checked in; this fails when it differs from what cbindgen generates
//! from the current sources (build.rs writes the fresh one to `$OUT_DIR/tessera.h`).
//!
//! Outside CI the build refreshes the checked-in copy itself, so locally this only fails if the
//! file was edited by hand; on CI (`CI=true`) the build leaves the source tree alone and a header
//! that was not committed fails here.

use std::fs;
use std::path::Path;

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let fresh_path = Path::new(env!("OUT_DIR")).join("tessera.h");
    let checked_in_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tessera.h");
    let fresh = fs::read_to_string(&fresh_path).expect("build.rs wrote $OUT_DIR/tessera.h");
    let checked_in = fs::read_to_string(&checked_in_path).unwrap_or_default();
    if fresh == checked_in {
        return;
    }
    let first_difference = fresh
        .lines()
        .zip(checked_in.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map_or_else(
            || {
                format!(
                    "one is a prefix of the other ({} vs {} lines)",
                    fresh.lines().count(),
                    checked_in.lines().count()
                )
            },
            |(i, (a, b))| format!("line {}:\n  generated:  {a}\n  checked in: {b}", i + 1),
        );
    panic!(
        "bindings-c/include/tessera.h is stale; run `cargo build -p tessera-c` (without CI set) \
         to regenerate it, then commit it.\nFirst difference at {first_difference}"
    );
}

#[test]
fn every_export_is_declared_in_the_header() {
    let header =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tessera.h"))
            .expect("include/tessera.h exists");
    let names = exported_names();
    assert!(names.len() >= 50, "only {} exports found", names.len());
    for name in &names {
        assert!(
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")),
            "{name} is exported but not declared in include/tessera.h"
        );
    }
}

/// Names of the `extern "C"` functions in src/.
fn exported_names() -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for (at, _) in text.match_indices("extern \"C\" fn tessera_") {
            let rest = &text[at + "extern \"C\" fn ".len()..];
            let end = rest.find('(').unwrap();
            names.push(rest[..end].to_owned());
        }
    }
    names.sort();
    names
}
