//! `redis://` URLs: what the redis crate understands, plus Tessera's own query parameters.

use std::time::Duration;

use crate::error::{Error, Result};

/// How Tessera talks to Redis, from the store URL.
///
/// `redis://[user:password@]host:port/db` (`rediss://` for TLS) with optional query parameters:
/// `prefix` (key prefix, default `tessera`; name one per app: two apps on one Redis with the same
/// prefix share their sessions, so the store warns once when none is given),
/// `connect_timeout_ms` (default 2000), `command_timeout_ms` (default 2000) and
/// `allow_eviction` (`true` to run on a Redis whose `maxmemory-policy` may evict any key; refused
/// otherwise, since an evicted per-user index lets `revoke_user` miss live sessions).
///
/// Each process keeps one multiplexed connection: calls in flight share it, pipelined.
///
/// ```
/// use tessera::store::RedisOptions;
/// let o = RedisOptions::parse("redis://:secret@127.0.0.1:6380/2?prefix=app&command_timeout_ms=250").unwrap();
/// assert_eq!(o.prefix, "app");
/// assert_eq!(o.command_timeout.as_millis(), 250);
/// assert!(!format!("{o:?}").contains("secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The URL handed to the redis crate (Tessera's parameters removed).
    pub(crate) redis_url: String,
    /// Key prefix: every key starts with `<prefix>:`.
    pub prefix: String,
    /// Whether the URL named the prefix (without one, the store warns once at first use).
    pub prefix_given: bool,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on each command's reply.
    pub command_timeout: Duration,
    /// Run even where Redis may evict any key (`maxmemory-policy` `allkeys-*`).
    pub allow_eviction: bool,
    /// Whether the connection uses TLS (`rediss://`).
    pub tls: bool,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("allow_eviction", &self.allow_eviction)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RedisOptions {
    /// Parse a store URL.
    ///
    /// # Errors
    /// `invalid_config` naming the parameter that is wrong.
    pub fn parse(url: &str) -> Result<Self> {
        let tls = url.starts_with("rediss://");
        if !tls && !url.starts_with("redis://") {
            return Err(Error::invalid_config(
                "store: a Redis URL starts with redis:// or rediss://",
            ));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = RedisOptions {
            redis_url: base.to_owned(),
            prefix: "tessera".to_owned(),
            prefix_given: false,
            connect_timeout: Duration::from_millis(2000),
            command_timeout: Duration::from_millis(2000),
            allow_eviction: false,
            tls,
        };
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let millis = || -> Result<Duration> {
                match value.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(Error::invalid_config(format!(
                        "store: {key} must be a whole number of milliseconds > 0"
                    ))),
                }
            };
            match key {
                "prefix" => {
                    let ok = !value.is_empty()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
                    if !ok {
                        return Err(Error::invalid_config(
                            "store: prefix must be non-empty letters, digits, '-', '_', '.' or ':'",
                        ));
                    }
                    options.prefix = value.to_owned();
                    options.prefix_given = true;
                }
                "connect_timeout_ms" => options.connect_timeout = millis()?,
                "command_timeout_ms" => options.command_timeout = millis()?,
                "allow_eviction" => {
                    options.allow_eviction = match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(Error::invalid_config(
                                "store: allow_eviction must be true or false",
                            ));
                        }
                    }
                }
                "pool_size" => {
                    return Err(Error::invalid_config(
                        "store: pool_size is gone: each process keeps one multiplexed connection \
                         that every call shares (remove the parameter)",
                    ));
                }
                // Parameters of the redis crate itself (e.g. protocol) pass through.
                _ => passed.push(pair),
            }
        }
        if !passed.is_empty() {
            options.redis_url = format!("{base}?{}", passed.join("&"));
        }
        Ok(options)
    }
}

/// A redis error as text without the URL (which may hold a password).
pub(crate) fn describe(e: &redis::RedisError) -> String {
    let text = e.to_string();
    match text.find("redis://").or_else(|| text.find("rediss://")) {
        Some(at) => format!("{}<url>", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_passthrough() {
        let o = RedisOptions::parse("redis://127.0.0.1:6379/0").unwrap();
        assert_eq!(
            (o.prefix.as_str(), o.prefix_given, o.allow_eviction, o.tls),
            ("tessera", false, false, false)
        );
        let o = RedisOptions::parse("rediss://h:1/0?protocol=resp3&prefix=a&allow_eviction=true")
            .unwrap();
        assert!(o.tls && o.prefix_given && o.allow_eviction);
        assert_eq!(o.redis_url, "rediss://h:1/0?protocol=resp3");
    }

    #[test]
    fn bad_parameters_are_invalid_config() {
        for url in [
            "http://x",
            "redis://h/0?prefix=",
            "redis://h/0?prefix=a b",
            "redis://h/0?connect_timeout_ms=0",
            "redis://h/0?command_timeout_ms=x",
            "redis://h/0?pool_size=4",
            "redis://h/0?allow_eviction=maybe",
        ] {
            assert_eq!(
                RedisOptions::parse(url).unwrap_err().code(),
                "invalid_config",
                "{url}"
            );
        }
    }
}
