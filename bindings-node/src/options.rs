//! The options object of `new SessionManager(options)`: camelCase names mapped onto the core's
//! named options (`tessera::options`), so the meaning of every option lives in core, once.

use napi::bindgen_prelude::{ClassInstance, FromNapiValue, Object, Unknown};
use napi::{JsValue, ValueType};
use serde_json::{Map, Value};

use crate::args;
use crate::clock::ManualClock;
use crate::errors::{Fail, Outcome};

/// JavaScript name → core option name. Every core option has exactly one entry.
pub const NAMES: [(&str, &str); 28] = [
    ("idleTimeoutMs", "idle_timeout_ms"),
    ("absoluteTimeoutMs", "absolute_timeout_ms"),
    ("rotationIntervalMs", "rotation_interval_ms"),
    ("rotationGraceMs", "rotation_grace_ms"),
    ("maxSessionsPerUser", "max_sessions_per_user"),
    ("maxSessions", "max_sessions"),
    ("maxDataBytes", "max_data_bytes"),
    ("loginKeepsData", "login_keeps_data"),
    ("pepper", "pepper"),
    ("cookieName", "cookie_name"),
    ("cookieSecure", "cookie_secure"),
    ("cookieHttpOnly", "cookie_http_only"),
    ("cookieSameSite", "cookie_same_site"),
    ("cookiePath", "cookie_path"),
    ("cookieDomain", "cookie_domain"),
    ("cookieMaxAgeMs", "cookie_max_age_ms"),
    ("sweepIntervalMs", "sweep_interval_ms"),
    ("store", "store"),
    ("dbsc", "dbsc"),
    ("dbscAlgorithms", "dbsc_algorithms"),
    ("dbscCookieTtlMs", "dbsc_cookie_ttl_ms"),
    ("dbscChallengeTtlMs", "dbsc_challenge_ttl_ms"),
    ("dbscRegistrationTtlMs", "dbsc_registration_ttl_ms"),
    ("dbscEnforceGraceMs", "dbsc_enforce_grace_ms"),
    ("dbscPathPrefix", "dbsc_path_prefix"),
    ("dbscOrigin", "dbsc_origin"),
    ("dbscIncludeSite", "dbsc_include_site"),
    ("dbscRevokeOnBadProof", "dbsc_revoke_on_bad_proof"),
];

/// Options that are JavaScript objects rather than values.
const CLOCK: &str = "clock";

/// What the options object asks for.
pub struct Parsed {
    /// Core options by their core names.
    pub named: Map<String, Value>,
    /// The manual clock, if one was given.
    pub clock: Option<tessera::ManualClock>,
}

/// Read the options object (`undefined` means all defaults).
pub fn parse(options: Option<Unknown>) -> Outcome<Parsed> {
    let mut parsed = Parsed {
        named: Map::new(),
        clock: None,
    };
    let Some(obj) = args::opt_object(options, "options")? else {
        return Ok(parsed);
    };
    let keys = Object::keys(&obj).map_err(|e| Fail::Type(format!("options: {}", e.reason)))?;
    for key in keys {
        let Some(value) = args::prop(&obj, &key)? else {
            continue;
        };
        if key == CLOCK {
            parsed.clock = Some(clock(value)?);
            continue;
        }
        let Some((_, core)) = NAMES.iter().find(|(js, _)| *js == key) else {
            let known: Vec<&str> = NAMES.iter().map(|(js, _)| *js).chain([CLOCK]).collect();
            return Err(Fail::Core(tessera::Error::invalid_config(format!(
                "unknown option {key:?}; known options: {}",
                known.join(", ")
            ))));
        };
        parsed
            .named
            .insert((*core).to_owned(), to_json(value, &key)?);
    }
    Ok(parsed)
}

fn clock(value: Unknown) -> Outcome<tessera::ManualClock> {
    let not_a_clock = || Fail::Type("options.clock must be a ManualClock".to_owned());
    if value.get_type().ok() != Some(ValueType::Object) {
        return Err(not_a_clock());
    }
    let instance = ClassInstance::<ManualClock>::from_unknown(value).map_err(|_| not_a_clock())?;
    Ok(instance.inner.clone())
}

/// An option's value as the JSON the core reads. Whole numbers become integers (JavaScript has
/// only doubles); anything the core cannot use is passed on for it to name in its message.
fn to_json(value: Unknown, key: &str) -> Outcome<Value> {
    Ok(match value.get_type().ok() {
        Some(ValueType::Null) => Value::Null,
        Some(ValueType::Boolean) => Value::Bool(
            bool::from_unknown(value).map_err(|e| Fail::Type(format!("{key}: {}", e.reason)))?,
        ),
        Some(ValueType::Number) => {
            let n =
                f64::from_unknown(value).map_err(|e| Fail::Type(format!("{key}: {}", e.reason)))?;
            match args::whole(n) {
                Some(n) => Value::from(n),
                // A fraction or a negative number: the core refuses it, naming the option.
                None => Value::from(-1),
            }
        }
        Some(ValueType::String) => Value::String(args::string(
            Some(value),
            &format!("options.{key}"),
            args::MAX_SHORT,
        )?),
        // An array of strings (`dbscAlgorithms`); anything else in it is passed on as a value
        // the core refuses, naming the option.
        Some(ValueType::Object) if value.is_array().unwrap_or(false) => {
            match args::opt_strings(Some(value), &format!("options.{key}")) {
                Ok(items) => Value::Array(items.into_iter().map(Value::String).collect()),
                Err(_) => Value::Array(vec![Value::Null]),
            }
        }
        // Objects, functions, symbols…: a type no option has; the core names what it expects.
        _ => Value::Array(Vec::new()),
    })
}

/// Rewrite a core message so it names the JavaScript option (`idleTimeoutMs`, not
/// `idle_timeout_ms`).
pub fn in_js_terms(e: tessera::Error) -> tessera::Error {
    let mut message = e.message().to_owned();
    // Longest first, so `rotation_interval_ms` is not half-rewritten by a shorter name.
    let mut names = NAMES;
    names.sort_by_key(|(_, core)| std::cmp::Reverse(core.len()));
    for (js, core) in names {
        if core != js {
            message = message.replace(core, js);
        }
    }
    tessera::Error::new(e.kind(), message)
}
