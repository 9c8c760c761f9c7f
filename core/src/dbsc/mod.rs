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
//! Challenges, the single use of a challenge and the binding's storage are the caller's: these
//! functions say only whether a proof is well formed and signed, and which `jti` it names.

pub mod key;
pub mod proof;
pub mod wire;

pub use key::{Alg, PublicKey};
pub use proof::{ProofFailure, Registration, verify_refresh, verify_registration};
pub use wire::{ScopeRule, SessionConfig, WireError};
