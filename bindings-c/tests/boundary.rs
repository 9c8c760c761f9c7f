//! Every export goes through the panic boundary: its body is exactly one `ffi_boundary!`,
//! `ffi_value!` or `ffi_void!` (see src/boundary.rs), and it is `#[unsafe(no_mangle)]`. A new
//! export written without the macro fails here, before a panic could ever unwind into C.

use std::fs;
use std::path::Path;

const MACROS: [&str; 3] = ["ffi_boundary!(", "ffi_value!(", "ffi_void!("];

#[test]
fn every_export_runs_inside_a_panic_boundary() {
    let mut exports = 0;
    let mut problems = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("extern \"C\" fn tessera_") {
            exports += 1;
            let signature = &text[at..];
            let name_end = signature.find('(').unwrap();
            let name = &signature["extern \"C\" fn ".len()..name_end];
            // The body starts at the first brace: signatures here contain none.
            let body = &signature[signature.find('{').unwrap() + 1..];
            if !MACROS.iter().any(|m| body.trim_start().starts_with(m)) {
                problems.push(format!(
                    "{file}: {name} does not start with a boundary macro"
                ));
            }
            let before = &text[..at];
            let attrs = &before[before.rfind("///").unwrap_or(0)..];
            if !attrs.contains("#[unsafe(no_mangle)]") {
                problems.push(format!("{file}: {name} is not #[unsafe(no_mangle)]"));
            }
        }
    }
    assert!(exports >= 50, "only {exports} exports found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
