//! # Tessera's C ABI: `libtessera.so`, `libtessera.a` and `include/tessera.h`
//!
//! A thin layer over `tessera-core`: it converts C strings, JSON text and status codes, and adds
//! nothing to the semantics, which are the same in every Tessera binding. The conventions are
//! written at the top of the generated header (`cbindgen.toml`'s `header`) and in README.md.
//!
//! One module per job: [`status`] (status codes, reasons, last error), `boundary` (the panic
//! boundary and pointer checks every export goes through), [`strings`] (buffers and returned
//! strings), [`manager`] (the lifecycle), [`data`] (data writes), [`session`] (the session
//! handle), [`cookies`], [`events`], [`clock`], and the per-request protocol for C servers:
//! [`request`] (begin, the app's steps, finish) and [`response`] (the headers to send);
//! device-bound sessions: [`dbsc`] (the two endpoints, the request's binding, unbind) and
//! [`stepup`] (how strongly a user signed in, re-authentication, `require_recent`);
//! `signals` keeps `SIGPIPE` from killing a C program when Redis drops a connection.
//!
//! All the `unsafe` code of Tessera lives in this crate (the core forbids it); every block states
//! why it is sound in a `// SAFETY:` comment, which clippy enforces.

// The exported types carry their C names (`tessera_status`, `tessera_manager`, ...), which
// cbindgen copies into the header unchanged.
#![allow(non_camel_case_types)]
#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[macro_use]
mod boundary;

pub mod clock;
pub mod cookies;
pub mod data;
pub mod dbsc;
pub mod events;
mod handles;
pub mod manager;
pub mod request;
pub mod response;
pub mod session;
mod signals;
pub mod status;
pub mod stepup;
pub mod strings;

use std::ffi::{CStr, c_char};

pub use clock::tessera_clock;
pub use cookies::tessera_cookie;
pub use dbsc::{tessera_binding, tessera_dbsc_head, tessera_dbsc_route, tessera_endpoint_response};
pub use events::{tessera_event, tessera_listener};
pub use manager::tessera_manager;
pub use request::{tessera_auth, tessera_csrf, tessera_expiry, tessera_request};
pub use response::tessera_response;
pub use session::tessera_session;
pub use status::{tessera_reason, tessera_status};
pub use stepup::tessera_freshness;

/// The library's version, e.g. `"0.1.0"`: compare it with the header's `TESSERA_VERSION` to catch
/// a program built against one version and run with another. Static: never free it.
///
/// Thread safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn tessera_version() -> *const c_char {
    ffi_value!(c"".as_ptr(), { VERSION.as_ptr() })
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the crate version contains a NUL byte"),
    };

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_core_version() {
        assert_eq!(super::VERSION.to_str(), Ok(tessera_core::VERSION));
    }
}
