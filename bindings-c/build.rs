//! Generates `include/tessera.h` with cbindgen (pitfall 10 of TOOLCHAIN.md).
//!
//! The header is always written to `$OUT_DIR/tessera.h`; `tests/header.rs` compares it with the
//! checked-in `include/tessera.h` and fails when they differ. Outside CI the build also refreshes
//! the checked-in copy, so a developer only has to commit it; on CI (`CI` set) the source tree is
//! never written, so a header that was not committed makes the test fail.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");

    let version = env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let part = |name: &str| env::var(name).expect("set by cargo");
    let (major, minor, patch) = (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    );

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("bindings-c/cbindgen.toml is readable and valid");
    config.after_includes = Some(format!(
        r#"
/**
 * The version of Tessera this header belongs to (the workspace version, from which every
 * binding's version is derived). Compare it with tessera_version() at run time.
 */
#define TESSERA_VERSION "{version}"
#define TESSERA_VERSION_MAJOR {major}
#define TESSERA_VERSION_MINOR {minor}
#define TESSERA_VERSION_PATCH {patch}

/**
 * Every response that sets or clears the session cookie must carry this header, so that no
 * shared cache keeps a response with someone's token in it: "Cache-Control: no-store".
 */
#define TESSERA_CACHE_CONTROL_NAME "Cache-Control"
#define TESSERA_CACHE_CONTROL_VALUE "no-store"
"#
    ));
    let generated = out_dir.join("tessera.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&generated);

    if !on_ci() {
        refresh(&generated, &crate_dir.join("include/tessera.h"));
    }

    // A versioned soname, so that an installed library can be upgraded side by side. Before 1.0
    // every minor version may change the ABI, so it is part of the name.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let soname = if major == "0" {
            format!("libtessera.so.{major}.{minor}")
        } else {
            format!("libtessera.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
}

fn on_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Copy `fresh` over `checked_in` if they differ, atomically (several cargo processes may run
/// this script at once).
fn refresh(fresh: &Path, checked_in: &Path) {
    let new = fs::read(fresh).expect("the generated header is readable");
    if fs::read(checked_in).ok().as_deref() == Some(&new[..]) {
        return;
    }
    let dir = checked_in.parent().expect("include/ has a parent");
    fs::create_dir_all(dir).expect("include/ can be created");
    let tmp = dir.join(format!(".tessera.h.{}.tmp", std::process::id()));
    fs::write(&tmp, &new).expect("include/ is writable");
    fs::rename(&tmp, checked_in).expect("include/tessera.h can be replaced");
}
