//! Node.js binding for Tessera: the npm package `tessera`.
//!
//! The native part is one class, [`manager::SessionManager`], plus [`clock::ManualClock`] and a
//! few constants; `index.js` loads it and adds the JavaScript layer (error classes, Express
//! middleware, express-session store). Modules, one job each:
//!
//! | module | job |
//! |---|---|
//! | [`args`] | checking JavaScript arguments (`TypeError` / `RangeError`) |
//! | [`callback`] | N-API callbacks written by hand for the per-request calls (no napi-rs per-call machinery) |
//! | [`errors`] | failures → JavaScript exceptions with a stable `code`; the panic boundary |
//! | [`options`] | the options object → the core's named options |
//! | [`clock`] | `ManualClock` |
//! | [`session`] | core sessions → JavaScript objects |
//! | [`dbsc`] | device-bound sessions and step-up: `{ level, amr }`, the two DBSC endpoints |
//! | [`events`] | lifecycle events → JavaScript listeners |
//! | [`handles`] | request handles: the `External`s of per-request state, checked by a registry per thread |
//! | [`compact`] | results as one compact string (the per-request path) |
//! | [`lifecycle`] | the lifecycle operations of `SessionManager`, once each |
//! | [`task`] | running an operation now, or as a Promise on the store's pool or the libuv pool |
//! | [`manager`] | the `SessionManager` class |
//! | [`request`] | the core's per-request protocol for the Express glue: free functions over an `External` |
//! | [`warnings`] | the store's configuration warnings → `process.emitWarning` (via `lib/deployment.js`) |

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod args;
pub mod callback;
pub mod clock;
pub mod compact;
pub mod completions;
pub mod dbsc;
pub mod errors;
pub mod events;
pub mod handles;
#[allow(missing_docs)]
pub mod lifecycle;
pub mod manager;
pub mod options;
pub mod request;
pub mod session;
pub mod task;
pub mod warnings;

/// The core manager, shared with tasks on the thread pool and with per-request handles.
pub type Core = std::sync::Arc<tessera::SessionManager>;

use napi_derive::napi;

/// The version of the Tessera core this addon was built with.
#[napi]
pub fn version() -> &'static str {
    tessera::VERSION
}

/// `"release"` or `"debug"`: how this addon was compiled. The benchmark refuses a debug build
/// (another `make test` in the same tree may have replaced the release one).
#[napi(js_name = "__buildProfile")]
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The rejection reasons, in a fixed order: `malformed`, `unknown`, `expired_idle`,
/// `expired_absolute`, `binding_missing`.
#[napi]
pub fn reason_codes() -> Vec<&'static str> {
    tessera::Reason::ALL.iter().map(|r| r.code()).collect()
}

/// The error codes: `invalid_config`, `invalid_argument`, `data_too_large`,
/// `store_unavailable`, `internal`.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    use tessera::ErrorKind as K;
    [
        K::InvalidConfig,
        K::InvalidArgument,
        K::DataTooLarge,
        K::StoreUnavailable,
        K::StoreFull,
        K::Internal,
    ]
    .iter()
    .map(|k| k.code())
    .collect()
}
