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
/// Redis Cluster: `redis+cluster://[user:password@]host1:port1,host2:port2[,...]` (or
/// `rediss+cluster://` for TLS) names some of the cluster's nodes; the client learns the rest.
/// Every key of one prefix lives in one hash slot (`{prefix}`), so every script runs on one
/// node (see `docs/redis-schema.md`).
///
/// ```
/// use tessera::store::RedisOptions;
/// let o = RedisOptions::parse("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000?prefix=shop").unwrap();
/// assert!(o.cluster);
/// assert_eq!(o.prefix, "shop");
/// ```
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
    /// The URL handed to the redis crate (Tessera's parameters removed); for a cluster, the
    /// first node's.
    pub(crate) redis_url: String,
    /// A cluster's seed nodes as `redis://` URLs (empty for a single Redis).
    pub(crate) cluster_nodes: Vec<String>,
    /// Whether the URL names a Redis Cluster (`redis+cluster://`).
    pub cluster: bool,
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
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl RedisOptions {
    /// Parse a store URL.
    ///
    /// # Errors
    /// `invalid_config` naming the parameter that is wrong.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (tls, cluster) = match scheme {
            "redis" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            _ => {
                return Err(Error::invalid_config(
                    "store: a Redis URL starts with redis://, rediss://, redis+cluster:// or \
                     rediss+cluster://",
                ));
            }
        };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = RedisOptions {
            redis_url: base.to_owned(),
            cluster_nodes: Vec::new(),
            cluster,
            prefix: "tessera".to_owned(),
            prefix_given: false,
            connect_timeout: Duration::from_millis(2000),
            command_timeout: Duration::from_millis(2000),
            allow_eviction: false,
            tls,
        };
        if cluster {
            options.cluster_nodes = cluster_nodes(tls, rest.split('?').next().unwrap_or(""))?;
            options.redis_url = options.cluster_nodes[0].clone();
        }
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
            let extra = passed.join("&");
            if cluster {
                for node in &mut options.cluster_nodes {
                    *node = format!("{node}?{extra}");
                }
                options.redis_url = options.cluster_nodes[0].clone();
            } else {
                options.redis_url = format!("{base}?{extra}");
            }
        }
        Ok(options)
    }
}

/// The seed nodes of `[user:password@]h1:p1,h2:p2[/db]` as single-node URLs.
fn cluster_nodes(tls: bool, authority: &str) -> Result<Vec<String>> {
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts = match hosts.split_once('/') {
        Some((hosts, "" | "0")) => hosts,
        Some(_) => {
            return Err(Error::invalid_config(
                "store: a Redis Cluster has only database 0",
            ));
        }
        None => hosts,
    };
    let scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{scheme}://{auth}{h}"))
        .collect();
    if nodes.is_empty() || hosts.split(',').any(|h| !h.contains(':')) {
        return Err(Error::invalid_config(
            "store: redis+cluster:// names its nodes as host:port, separated by commas",
        ));
    }
    Ok(nodes)
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
    fn cluster_urls_name_their_nodes() {
        let o = RedisOptions::parse("redis+cluster://u:p@a:7000,b:7001/0?prefix=x&protocol=resp3")
            .unwrap();
        assert_eq!(
            o.cluster_nodes,
            vec![
                "redis://u:p@a:7000?protocol=resp3",
                "redis://u:p@b:7001?protocol=resp3"
            ]
        );
        assert!(o.cluster && !o.tls);
        assert!(!format!("{o:?}").contains("u:p"));
        let tls = RedisOptions::parse("rediss+cluster://a:1").unwrap();
        assert_eq!(tls.cluster_nodes, vec!["rediss://a:1"]);
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
            "redis+cluster://",
            "redis+cluster://h1",
            "redis+cluster://h1:1/3",
        ] {
            assert_eq!(
                RedisOptions::parse(url).unwrap_err().code(),
                "invalid_config",
                "{url}"
            );
        }
    }
}
