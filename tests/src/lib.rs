//! Cross-cutting tests of tessera-core.
//!
//! [`scenario`] is the model of the language-neutral conformance corpus
//! (`tests/conformance/*.json`): it parses scenarios strictly (an unknown op or field is an
//! error, so a typo cannot silently pass) and turns a scenario's `config` into a
//! [`tessera::Config`]. The Rust runner (`tests/conformance.rs`) executes it against the memory
//! store and again against Redis.
//!
//! [`redis_server`] starts a private `redis-server` for a test binary, [`redis_cluster`] a
//! private three-master Redis Cluster; [`sqlite_files`] gives a
//! test its own SQLite database files.

#![forbid(unsafe_code)]

pub mod corpus;
pub mod http_scenario;
pub mod redis_cluster;
pub mod redis_server;
pub mod scenario;
pub mod sqlite_files;
