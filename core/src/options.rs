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
//! | `dbsc` | boolean: device-bound sessions on (`docs/dbsc.md`) | `dbsc` |
//! | `dbsc_algorithms` | array of `"ES256"`, `"RS256"` | needs `dbsc: true`, as every `dbsc_*` |
//! | `dbsc_cookie_ttl_ms`, `dbsc_challenge_ttl_ms`, `dbsc_registration_ttl_ms`, `dbsc_enforce_grace_ms` | integer ms | |
//! | `dbsc_path_prefix` | string | default `/_tessera/dbsc` |
//! | `dbsc_origin` | string or `null` (the request's origin) | |
//! | `dbsc_include_site`, `dbsc_revoke_on_bad_proof` | boolean | |

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{Config, Dbsc, Pepper, SameSite};
use crate::dbsc::key::Alg;
use crate::error::{Error, Result};

/// Every option name [`apply`] accepts.
pub const NAMES: [&str; 28] = [
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
    "dbsc",
    "dbsc_algorithms",
    "dbsc_cookie_ttl_ms",
    "dbsc_challenge_ttl_ms",
    "dbsc_registration_ttl_ms",
    "dbsc_enforce_grace_ms",
    "dbsc_path_prefix",
    "dbsc_origin",
    "dbsc_include_site",
    "dbsc_revoke_on_bad_proof",
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
    let mut dbsc_on = None;
    let mut dbsc_tuned = false;
    for (name, value) in options {
        if let Some(field) = name.strip_prefix("dbsc_") {
            dbsc_tuned = true;
            dbsc_option(
                config.dbsc.get_or_insert_with(Dbsc::default),
                field,
                name,
                value,
            )?;
            continue;
        }
        match name.as_str() {
            "dbsc" => dbsc_on = Some(boolean(name, value)?),
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
            other => return Err(unknown(other)),
        }
    }
    match (dbsc_on, dbsc_tuned) {
        (Some(true), _) => {
            config.dbsc.get_or_insert_with(Dbsc::default);
        }
        (Some(false), false) => config.dbsc = None,
        (_, true) => {
            return Err(Error::invalid_config(
                "dbsc_* options need dbsc: true (device-bound sessions are off otherwise)",
            ));
        }
        (None, false) => {}
    }
    Ok(manager)
}

fn unknown(name: &str) -> Error {
    Error::invalid_config(format!(
        "unknown option {name:?}; known options: {}",
        NAMES.join(", ")
    ))
}

fn dbsc_option(dbsc: &mut Dbsc, field: &str, name: &str, value: &Value) -> Result<()> {
    match field {
        "algorithms" => {
            let bad = || {
                Error::invalid_config(format!(
                    "{name} must be a non-empty array of \"ES256\", \"RS256\""
                ))
            };
            let list = value.as_array().ok_or_else(bad)?;
            dbsc.algorithms = list
                .iter()
                .map(|v| v.as_str().and_then(Alg::parse).ok_or_else(bad))
                .collect::<Result<_>>()?;
        }
        "cookie_ttl_ms" => dbsc.cookie_ttl = millis(name, value)?,
        "challenge_ttl_ms" => dbsc.challenge_ttl = millis(name, value)?,
        "registration_ttl_ms" => dbsc.registration_ttl = millis(name, value)?,
        "enforce_grace_ms" => dbsc.enforce_grace = millis(name, value)?,
        "path_prefix" => dbsc.path_prefix = string(name, value)?,
        "origin" => dbsc.origin = nullable(value, |v| string(name, v))?,
        "include_site" => dbsc.include_site = boolean(name, value)?,
        "revoke_on_bad_proof" => dbsc.revoke_on_bad_proof = boolean(name, value)?,
        _ => return Err(unknown(name)),
    }
    Ok(())
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
        assert_eq!(NAMES.len(), 28);
    }

    #[test]
    fn dbsc_options_tune_the_feature_and_need_it_on() {
        let (c, _) = apply_json(json!({
            "dbsc": true, "dbsc_algorithms": ["RS256"], "dbsc_cookie_ttl_ms": 400000,
            "dbsc_challenge_ttl_ms": 1000, "dbsc_registration_ttl_ms": 2000,
            "dbsc_enforce_grace_ms": 0, "dbsc_path_prefix": "/dbsc", "dbsc_origin": "https://a.example",
            "dbsc_include_site": true, "dbsc_revoke_on_bad_proof": true
        }))
        .unwrap();
        let d = c.dbsc.clone().unwrap();
        assert_eq!(d.algorithms, vec![Alg::Rs256]);
        assert_eq!(d.cookie_ttl, Duration::from_secs(400));
        assert_eq!(d.enforce_grace, Duration::ZERO);
        assert_eq!(d.path_prefix, "/dbsc");
        assert_eq!(d.origin.as_deref(), Some("https://a.example"));
        assert!(d.include_site && d.revoke_on_bad_proof);
        c.validate().unwrap();
        let (c, _) = apply_json(json!({"dbsc": true})).unwrap();
        assert_eq!(c.dbsc, Some(Dbsc::default()));
        for loopback in [
            "http://localhost:8000",
            "http://127.0.0.1:8001",
            "http://[::1]:8002",
        ] {
            let (c, _) = apply_json(json!({"dbsc": true, "dbsc_origin": loopback})).unwrap();
            c.validate().unwrap();
        }
        let (c, _) = apply_json(json!({"dbsc": false})).unwrap();
        assert_eq!(c.dbsc, None);
        for bad in [
            json!({"dbsc_cookie_ttl_ms": 400000}),
            json!({"dbsc": false, "dbsc_include_site": true}),
            json!({"dbsc": true, "dbsc_algorithms": ["none"]}),
            json!({"dbsc": true, "dbsc_algorithms": "ES256"}),
            json!({"dbsc": true, "dbsc_bogus": 1}),
        ] {
            assert_eq!(
                apply_json(bad.clone()).unwrap_err().code(),
                "invalid_config",
                "{bad}"
            );
        }
        for bad in [
            json!({"dbsc": true, "dbsc_cookie_ttl_ms": 299999}),
            json!({"dbsc": true, "dbsc_algorithms": []}),
            json!({"dbsc": true, "dbsc_path_prefix": "dbsc"}),
            json!({"dbsc": true, "dbsc_origin": "http://evil.example"}),
            json!({"dbsc": true, "dbsc_origin": "http://localhost.evil.example"}),
            json!({"dbsc": true, "dbsc_origin": "https://a.example/path"}),
            json!({"dbsc": true, "cookie_secure": false, "cookie_name": "sid"}),
        ] {
            let (c, _) = apply_json(bad.clone()).unwrap();
            assert_eq!(c.validate().unwrap_err().code(), "invalid_config", "{bad}");
        }
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
