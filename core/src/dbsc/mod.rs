//! Device Bound Session Credentials (W3C WebAppSec DBSC), server side: the pure parts.
//!
//! A browser that supports DBSC keeps a private key in hardware and proves possession of it with
//! a `dbsc+jwt` proof before the server mints a short-lived bound cookie; a stolen cookie jar
//! then works only until that cookie expires. `docs/dbsc.md` is the design; this module holds
//! what needs no state:
//!
//! - [`key`]: the two accepted key kinds (P-256 for `ES256`, RSA ≥ 2048 bits for `RS256`), read
//!   from a JWK, stored as canonical JWK text, named by their RFC 7638 thumbprint, and the
//!   signature check (`ring`).
//! - [`proof`]: verification of the proof sent at registration (key from the proof) and at
//!   refresh (the stored key), with one stable failure code per refusal.
//! - [`wire`]: the header values and JSON bodies Tessera sends and the header values it reads.
//!
//! - [`endpoint`]: the registration and refresh endpoints, headers in, whole response out, on
//!   the session's stored binding ([`crate::binding`]): single-use challenges, bound cookies,
//!   one compare-and-swap per change.
//!
//! [`key`], [`proof`] and [`wire`] say only whether a proof is well formed and signed, and which
//! `jti` it names; [`endpoint`] holds the state.

pub mod endpoint;
pub mod key;
pub mod proof;
pub mod wire;

pub use endpoint::{DbscHead, EndpointResponse, refresh, register};
pub use key::{Alg, PublicKey};
pub use proof::{ProofFailure, Registration, verify_refresh, verify_registration};
pub use wire::{ScopeRule, SessionConfig, WireError};
