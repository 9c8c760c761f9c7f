//! Configuration by name, the way every binding passes it (Python keyword arguments, a Node
//! options object, C's JSON text, the conformance corpus): one mapping, kept here so the
//! languages cannot drift apart.
//!
//! | name | type | field |
//! |---|---|---|
//! | `idle_timeout_ms`, `absolute_timeout_ms`, `rotation_grace_ms` | integer ms | the timeouts |
//! | `rotation_interval_ms` | integer ms or `null` (off) | `rotation_interval` |
//! | `max_sessions_per_user` | integer or `null` (no limit) | |
//! | `max_sessions` | integer or `null` (no cap) | default 1048576 |
//! | `max_data_bytes` | integer | |
//! | `login_keeps_data`, `cookie_secure`, `cookie_http_only` | boolean | |
//! | `pepper` | string (its UTF-8 bytes) or `null` | |
//! | `cookie_name`, `cookie_path` | string | |
//! | `cookie_same_site` | `"strict"`, `"lax"`, `"none"` | |
//! | `cookie_domain` | string or `null` | |
//! | `cookie_max_age_ms` | integer ms or `null` (browser-session cookie) | whole seconds are sent |
//! | `sweep_interval_ms` | integer ms or `null` (no background sweeper) | builder |
//! | `store` | URL: `memory://` (see [`store::open`](crate::store::open)) | builder |

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{Config, Pepper, SameSite};
use crate::error::{Error, Result};

/// Every option name [`apply`] accepts.
pub const NAMES: [&str; 18] = [
    "idle_timeout_ms",
    "absolute_timeout_ms",
    "rotation_interval_ms",
    "rotation_grace_ms",
    "max_sessions_per_user",
    "max_sessions",
    "max_data_bytes",
    "login_keeps_data",
    "pepper",
    "cookie_name",
    "cookie_secure",
    "cookie_http_only",
    "cookie_same_site",
    "cookie_path",
    "cookie_domain",
    "cookie_max_age_ms",
    "sweep_interval_ms",
    "store",
];

/// Options that are not [`Config`] fields but choices of the manager around it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagerOptions {
    /// `sweep_interval_ms`, if given: `Some(None)` turns the sweeper off.
    pub sweep_interval: Option<Option<Duration>>,
    /// `store`, if given.
    pub store: Option<String>,
}

/// Apply named options to `config`.
///
/// ```
/// use tessera::{Config, options};
/// let opts = serde_json::json!({"idle_timeout_ms": 600000, "rotation_interval_ms": null});
/// let mut config = Config::default();
/// options::apply(&mut config, opts.as_object().unwrap()).unwrap();
/// assert_eq!(config.idle_timeout.as_secs(), 600);
/// assert_eq!(config.rotation_interval, None);
/// ```
///
/// # Errors
/// `invalid_config` naming the option for an unknown name or a value of the wrong type. The
/// combination is checked later, by [`Config::validate`].
pub fn apply(config: &mut Config, options: &Map<String, Value>) -> Result<ManagerOptions> {
    let mut manager = ManagerOptions::default();
    for (name, value) in options {
        match name.as_str() {
            "idle_timeout_ms" => config.idle_timeout = millis(name, value)?,
            "absolute_timeout_ms" => config.absolute_timeout = millis(name, value)?,
            "rotation_interval_ms" => {
                config.rotation_interval = nullable(value, |v| millis(name, v))?
            }
            "rotation_grace_ms" => config.rotation_grace = millis(name, value)?,
            "max_sessions" => config.max_sessions = nullable(value, |v| count(name, v))?,
            "max_sessions_per_user" => {
                config.max_sessions_per_user = nullable(value, |v| count(name, v))?
            }
            "max_data_bytes" => config.max_data_bytes = count(name, value)?,
            "login_keeps_data" => config.login_keeps_data = boolean(name, value)?,
            "pepper" => config.pepper = nullable(value, |v| string(name, v).map(Pepper::new))?,
            "cookie_name" => config.cookie_name = string(name, value)?,
            "cookie_secure" => config.cookie_secure = boolean(name, value)?,
            "cookie_http_only" => config.cookie_http_only = boolean(name, value)?,
            "cookie_same_site" => config.cookie_same_site = SameSite::parse(&string(name, value)?)?,
            "cookie_path" => config.cookie_path = string(name, value)?,
            "cookie_domain" => config.cookie_domain = nullable(value, |v| string(name, v))?,
            "cookie_max_age_ms" => config.cookie_max_age = nullable(value, |v| millis(name, v))?,
            "sweep_interval_ms" => {
                manager.sweep_interval = Some(nullable(value, |v| millis(name, v))?)
            }
            "store" => manager.store = Some(string(name, value)?),
            other => {
                return Err(Error::invalid_config(format!(
                    "unknown option {other:?}; known options: {}",
                    NAMES.join(", ")
                )));
            }
        }
    }
    Ok(manager)
}

fn nullable<T>(value: &Value, f: impl FnOnce(&Value) -> Result<T>) -> Result<Option<T>> {
    if value.is_null() {
        Ok(None)
    } else {
        f(value).map(Some)
    }
}

fn millis(name: &str, value: &Value) -> Result<Duration> {
    value.as_u64().map(Duration::from_millis).ok_or_else(|| {
        Error::invalid_config(format!("{name} must be a whole number of milliseconds ≥ 0"))
    })
}

fn count(name: &str, value: &Value) -> Result<usize> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::invalid_config(format!("{name} must be a whole number ≥ 0")))
}

fn boolean(name: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid_config(format!("{name} must be true or false")))
}

fn string(name: &str, value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid_config(format!("{name} must be a string")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply_json(v: Value) -> Result<(Config, ManagerOptions)> {
        let mut c = Config::default();
        let m = apply(&mut c, v.as_object().unwrap())?;
        Ok((c, m))
    }

    #[test]
    fn every_name_is_accepted() {
        let (c, m) = apply_json(json!({
            "idle_timeout_ms": 1000, "absolute_timeout_ms": 2000, "rotation_interval_ms": 500,
            "rotation_grace_ms": 10, "max_sessions_per_user": 3, "max_sessions": 9,
            "max_data_bytes": 100,
            "login_keeps_data": false, "pepper": "0123456789abcdef!", "cookie_name": "sid",
            "cookie_secure": false, "cookie_http_only": false, "cookie_same_site": "strict",
            "cookie_path": "/app", "cookie_domain": "example.com", "cookie_max_age_ms": 60000,
            "sweep_interval_ms": null, "store": "memory://"
        }))
        .unwrap();
        assert_eq!(c.idle_timeout, Duration::from_secs(1));
        assert_eq!(c.rotation_interval, Some(Duration::from_millis(500)));
        assert_eq!(c.max_sessions_per_user, Some(3));
        assert_eq!(c.max_sessions, Some(9));
        assert!(!c.login_keeps_data && !c.cookie_secure && !c.cookie_http_only);
        assert_eq!(c.cookie_same_site, SameSite::Strict);
        assert_eq!(c.cookie_domain.as_deref(), Some("example.com"));
        assert_eq!(c.cookie_max_age, Some(Duration::from_secs(60)));
        assert!(c.pepper.is_some());
        assert_eq!(m.sweep_interval, Some(None));
        assert_eq!(m.store.as_deref(), Some("memory://"));
        assert_eq!(NAMES.len(), 18);
    }

    #[test]
    fn unknown_names_and_wrong_types_name_the_option() {
        let e = apply_json(json!({"idle_timout_ms": 5})).unwrap_err();
        assert_eq!(e.code(), "invalid_config");
        assert!(e.to_string().contains("idle_timout_ms"));
        for (k, v) in [
            ("idle_timeout_ms", json!(-1)),
            ("idle_timeout_ms", json!(1.5)),
            ("idle_timeout_ms", json!("30m")),
            ("cookie_secure", json!("yes")),
            ("cookie_name", json!(7)),
            ("max_sessions_per_user", json!(true)),
            ("max_sessions", json!("many")),
            ("cookie_same_site", json!("sometimes")),
        ] {
            let mut m = Map::new();
            m.insert(k.to_owned(), v);
            let e = apply(&mut Config::default(), &m).unwrap_err();
            assert!(e.to_string().contains(k.split('_').next().unwrap()), "{e}");
        }
    }
}
