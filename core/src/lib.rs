//! # Tessera core
//!
//! Secure web sessions in one place, shared by the Python, Node and C bindings: server-minted
//! 256-bit tokens, stores that hold only a hash of them, idle and absolute timeouts, rotation with
//! a grace window, fixation-proof login, logout that really ends the session, administrator
//! revocation, CSRF tokens and cookie handling with secure defaults.
//!
//! ```
//! use tessera::{Config, Context, SessionManager, Validation};
//!
//! let manager = SessionManager::new(Config::default())?;
//! let session = manager.login(None, "alice", &Context::HTTPS)?;
//! let cookie = manager.set_cookie(session.new_token().unwrap());
//! assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
//!
//! // On the next request:
//! let token = session.new_token().unwrap().expose();
//! match manager.validate(&token, &Context::HTTPS)? {
//!     Validation::Valid(s) => assert_eq!(s.user(), Some("alice")),
//!     Validation::Rejected(reason) => panic!("rejected: {reason}"),
//! }
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! Module map: [`token`] and [`id`] (secrets and their public names), [`config`] (policy),
//! [`clock`] (time), [`record`] (what is stored and when it is alive), [`store`] (where),
//! [`manager`] (the lifecycle), [`http`] (the per-request protocol every framework integration
//! runs), [`cookie`] and [`csrf`] (its parts), [`fields`] (what a read hands back), [`events`] (audit).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod authn;
pub mod binding;
pub mod clock;
pub mod config;
pub mod cookie;
pub mod csrf;
pub mod data;
pub mod dbsc;
pub mod error;
pub mod events;
pub mod fields;
pub mod http;
pub mod id;
pub mod manager;
pub mod options;
pub mod record;
pub mod session;
pub mod store;
pub mod token;

pub use authn::{Authenticated, Authn, Freshness};
pub use binding::{Presented, Proof};
pub use clock::{Clock, ManualClock, SystemClock, UnixMillis};
pub use config::{Config, Pepper, SameSite};
pub use cookie::CookieToken;
pub use data::{Data, DataOp};
pub use error::{Error, ErrorKind, Reason, Result};
pub use events::{Event, EventKind};
pub use fields::Fields;
pub use id::SessionId;
pub use manager::{Builder, SessionManager};
pub use record::Record;
pub use session::{Context, Prevalidated, Session, SessionInfo, Validation};
pub use store::{MemoryStore, Store};
pub use token::Token;

/// The README's examples, compiled and run as doctests so they never rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The crate version, which every binding reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
