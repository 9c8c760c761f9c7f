//! `sqlite://` URLs.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How Tessera uses an SQLite database file, from the store URL.
///
/// `sqlite:///absolute/path/to/sessions.db` with optional query parameters:
/// `busy_timeout_ms` (how long a call waits for another process's write lock before failing
/// with `store_unavailable`; default 5000), `pool_size` (idle connections kept per process;
/// default 4) and `synchronous` (`normal`, the default, or `full`; see `docs/sqlite-schema.md`).
///
/// The path must be absolute: every process sharing the store must name the same file, and a
/// relative path would silently depend on each process's working directory. It is taken as
/// written (no percent-decoding).
///
/// ```
/// use tessera::store::SqliteOptions;
/// let o = SqliteOptions::parse("sqlite:///var/lib/app/sessions.db?busy_timeout_ms=250").unwrap();
/// assert_eq!(o.path.to_str(), Some("/var/lib/app/sessions.db"));
/// assert_eq!(o.busy_timeout.as_millis(), 250);
/// assert_eq!(
///     SqliteOptions::parse("sqlite://sessions.db").unwrap_err().code(),
///     "invalid_config"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database file (created, owner-only, if it does not exist).
    pub path: PathBuf,
    /// How long a call waits for a lock another connection holds.
    pub busy_timeout: Duration,
    /// Most idle connections kept open per process (more are opened, then closed, under load).
    pub pool_size: usize,
    /// Whether every commit is flushed to disk (`synchronous=FULL`) rather than only at WAL
    /// checkpoints (`NORMAL`).
    pub full_sync: bool,
}

/// Default [`SqliteOptions::busy_timeout`]: long enough to ride out another process's
/// checkpoint, short enough that a stuck lock fails a request rather than hanging it.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;

/// Default [`SqliteOptions::pool_size`].
pub const DEFAULT_POOL_SIZE: usize = 4;

impl SqliteOptions {
    /// Parse a store URL.
    ///
    /// # Errors
    /// `invalid_config` naming what is wrong.
    pub fn parse(url: &str) -> Result<Self> {
        let Some(rest) = url.strip_prefix("sqlite://") else {
            return Err(Error::invalid_config(
                "store: an SQLite URL starts with sqlite:// (sqlite:///absolute/path.db)",
            ));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == "/" {
            return Err(Error::invalid_config(
                "store: sqlite:// needs the path of a database file (sqlite:///absolute/path.db)",
            ));
        }
        if !path.starts_with('/') {
            return Err(Error::invalid_config(format!(
                "store: the SQLite path {path:?} is relative; every process must name the same \
                 file, so write it absolute: sqlite:///absolute/path.db"
            )));
        }
        if path.ends_with('/') || path.contains('#') || path.contains('\0') {
            return Err(Error::invalid_config(
                "store: the SQLite path must name a file (no trailing '/', '#' or NUL)",
            ));
        }
        let mut options = SqliteOptions {
            path: PathBuf::from(path),
            busy_timeout: Duration::from_millis(DEFAULT_BUSY_TIMEOUT_MS),
            pool_size: DEFAULT_POOL_SIZE,
            full_sync: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "busy_timeout_ms" => {
                    options.busy_timeout = match value.parse::<u64>() {
                        Ok(ms) if (1..=600_000).contains(&ms) => Duration::from_millis(ms),
                        _ => {
                            return Err(Error::invalid_config(
                                "store: busy_timeout_ms must be a whole number of milliseconds \
                                 between 1 and 600000",
                            ));
                        }
                    }
                }
                "pool_size" => {
                    options.pool_size = match value.parse::<usize>() {
                        Ok(n) if (1..=256).contains(&n) => n,
                        _ => {
                            return Err(Error::invalid_config(
                                "store: pool_size must be between 1 and 256",
                            ));
                        }
                    }
                }
                "synchronous" => {
                    options.full_sync = match value.to_ascii_lowercase().as_str() {
                        "normal" => false,
                        "full" => true,
                        _ => {
                            return Err(Error::invalid_config(
                                "store: synchronous must be normal or full",
                            ));
                        }
                    }
                }
                _ => {
                    return Err(Error::invalid_config(format!(
                        "store: unknown sqlite:// parameter {key:?} (accepted: busy_timeout_ms, \
                         pool_size, synchronous)"
                    )));
                }
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_parameters() {
        let o = SqliteOptions::parse("sqlite:///tmp/s.db").unwrap();
        assert_eq!(o.path, PathBuf::from("/tmp/s.db"));
        assert_eq!(o.busy_timeout, Duration::from_millis(5_000));
        assert_eq!((o.pool_size, o.full_sync), (4, false));
        let o = SqliteOptions::parse(
            "sqlite:///tmp/s.db?pool_size=2&synchronous=FULL&busy_timeout_ms=50",
        )
        .unwrap();
        assert_eq!((o.pool_size, o.full_sync), (2, true));
        assert_eq!(o.busy_timeout, Duration::from_millis(50));
    }

    #[test]
    fn urls_without_a_usable_path_are_invalid_config() {
        for url in [
            "sqlite://",
            "sqlite:///",
            "sqlite://?busy_timeout_ms=5",
            "sqlite://relative/s.db",
            "sqlite://s.db",
            "sqlite:///tmp/dir/",
            "sqlite:///tmp/s.db?busy_timeout_ms=0",
            "sqlite:///tmp/s.db?busy_timeout_ms=x",
            "sqlite:///tmp/s.db?pool_size=0",
            "sqlite:///tmp/s.db?synchronous=off",
            "sqlite:///tmp/s.db?mode=ro",
            "sqlite:/tmp/s.db",
        ] {
            let err = SqliteOptions::parse(url).unwrap_err();
            assert_eq!(err.code(), "invalid_config", "{url}");
        }
    }
}
