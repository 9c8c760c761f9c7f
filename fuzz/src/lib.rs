//! Support for Tessera's fuzz targets (see README.md).
//!
//! [`checks`] holds the properties of the core targets; core/tests/fuzz_regressions.rs includes
//! the same file so that the committed corpora replay under `cargo test`.

pub mod checks;
