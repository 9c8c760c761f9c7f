//! Device-bound sessions (DBSC) and step-up re-authentication as JavaScript sees them: the
//! strength of a sign-in (`{ level, amr }`) in and out, the two DBSC endpoints (request headers
//! in, the whole response out) and the registration offer header. Every rule is the core's
//! (`tessera::dbsc`, `tessera::Authn`); this module converts.

use napi::bindgen_prelude::Unknown;
use napi_derive::napi;
use serde_json::Value;

use crate::args::{self, MAX_SHORT};
use crate::clock::millis_to_js;
use crate::errors::{Fail, Outcome};

/// How strongly a user authenticated: `{ level, amr }` from JavaScript (an object to the manager,
/// its JSON text on the per-request path), checked by the core's rules (level 1..=255, at most 8
/// `amr` values of `[A-Za-z0-9_.-]`, 1 to 32 characters each).
pub fn authn(value: &Value, what: &str) -> Outcome<tessera::Authn> {
    let Value::Object(map) = value else {
        return Err(Fail::Type(format!(
            "{what} must be an object {{ level, amr }}"
        )));
    };
    if let Some(key) = map.keys().find(|k| *k != "level" && *k != "amr") {
        return Err(Fail::Type(format!(
            "{what} has an unknown member {key:?} (only level and amr)"
        )));
    }
    let level = match map.get("level") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(n) => n,
            None => {
                return Err(Fail::Range(format!(
                    "{what}.level must be a whole number from 1 to 255"
                )));
            }
        },
        Some(_) => return Err(Fail::Type(format!("{what}.level must be a number"))),
    };
    let amr: Vec<&str> = match map.get("amr") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| Fail::Type(format!("{what}.amr must be an array of strings")))
            })
            .collect::<Outcome<_>>()?,
        Some(_) => {
            return Err(Fail::Type(format!(
                "{what}.amr must be an array of strings"
            )));
        }
    };
    Ok(tessera::Authn::new(level, amr)?)
}

/// [`authn`] from a JavaScript argument (`undefined`/`null`: one factor, no `amr`).
pub fn opt_authn(value: Option<Unknown>, what: &str) -> Outcome<tessera::Authn> {
    if args::is_nullish(value.as_ref()) {
        return Ok(tessera::Authn::default());
    }
    authn(&args::json(value, what)?, what)
}

/// [`authn`] from the JSON text the per-request glue passes (`lib/express.js`).
pub fn authn_text(text: &str, what: &str) -> Outcome<tessera::Authn> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| Fail::Type(format!("{what} must be the JSON text of {{ level, amr }}")))?;
    authn(&value, what)
}

/// When and how strongly a session's user last authenticated (step-up).
#[napi(object, object_from_js = false)]
pub struct Authenticated {
    /// When: the sign-in or the latest re-authentication (ms since the epoch). Activity does not
    /// move it.
    pub at: f64,
    /// The app's level for it (1 one factor, 2 several, …: the app's scale).
    pub level: u32,
    /// The methods (RFC 8176 names such as `pwd`, `otp`, `hwk`).
    pub amr: Vec<String>,
}

impl From<tessera::Authenticated> for Authenticated {
    fn from(a: tessera::Authenticated) -> Self {
        Authenticated {
            at: millis_to_js(a.at),
            level: u32::from(a.level),
            amr: a.amr,
        }
    }
}

/// What the two DBSC endpoints read from a request, owned (it may go to the store's pool).
pub struct Head {
    cookie: Option<String>,
    https: bool,
    method: String,
    origin: Option<String>,
    session_id: Option<String>,
    proof: Option<String>,
}

/// `{ cookieHeader?, https?, method, origin?, sessionId?, proof? }`.
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct DbscRequest {
    /// The `Cookie` header.
    pub cookie_header: Option<String>,
    /// Whether the request arrived over HTTPS (proxies included). Default `false`.
    pub https: Option<bool>,
    /// The method (the endpoints answer 405 to anything but `POST`).
    pub method: String,
    /// This site's origin, `scheme://host[:port]`, for the session config's `scope.origin`
    /// (the `dbscOrigin` option wins when set).
    pub origin: Option<String>,
    /// The `Sec-Secure-Session-Id` header (refresh).
    pub session_id: Option<String>,
    /// The `Secure-Session-Response` header: the proof.
    pub proof: Option<String>,
}

impl Head {
    /// Read a `DbscRequest` object.
    pub fn parse(value: Option<Unknown>) -> Outcome<Head> {
        let Some(obj) = args::opt_object(value, "request")? else {
            return Err(Fail::Type(
                "request must be an object { cookieHeader, https, method, origin, sessionId, proof }"
                    .to_owned(),
            ));
        };
        let text = |name: &str| {
            args::opt_string(
                args::prop(&obj, name)?,
                &format!("request.{name}"),
                MAX_SHORT,
            )
        };
        Ok(Head {
            cookie: text("cookieHeader")?,
            https: args::opt_bool(args::prop(&obj, "https")?, "request.https", false)?,
            method: args::string(args::prop(&obj, "method")?, "request.method", MAX_SHORT)?,
            origin: text("origin")?,
            session_id: text("sessionId")?,
            proof: text("proof")?,
        })
    }

    fn head(&self) -> tessera::dbsc::DbscHead<'_> {
        tessera::dbsc::DbscHead {
            cookie_header: self.cookie.as_deref(),
            https: self.https,
            method: &self.method,
            origin: self.origin.as_deref(),
            session_id: self.session_id.as_deref(),
            proof: self.proof.as_deref(),
        }
    }
}

/// Which endpoint.
#[derive(Clone, Copy)]
pub enum Endpoint {
    /// `POST <dbscPathPrefix>/register`.
    Register,
    /// `POST <dbscPathPrefix>/refresh`.
    Refresh,
}

impl Endpoint {
    /// Answer the request `head` (the store may be waited on).
    pub fn answer(self, manager: &tessera::SessionManager, head: &Head) -> Outcome<DbscResponse> {
        // The core needs the origin only to write the config, after the binding changed: a
        // request without one is refused before anything is read or written.
        let configured = manager.config().dbsc.as_ref().map(|d| d.origin.is_some());
        if head.origin.is_none() && configured == Some(false) {
            return Err(Fail::Core(tessera::Error::invalid_argument(
                "no origin: give request.origin (scheme://host[:port] of this request) or set \
                 the dbscOrigin option",
            )));
        }
        let r = match self {
            Endpoint::Register => tessera::dbsc::register(manager, &head.head())?,
            Endpoint::Refresh => tessera::dbsc::refresh(manager, &head.head())?,
        };
        Ok(DbscResponse {
            status: u32::from(r.status),
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| vec![name.to_owned(), value])
                .collect(),
            body: r.body,
        })
    }
}

/// A whole HTTP response of a DBSC endpoint, to send as it is (several `Set-Cookie` lines
/// possible). Its `Set-Cookie` lines carry bound cookies: never log them.
#[napi(object, object_from_js = false)]
pub struct DbscResponse {
    /// The status code.
    pub status: u32,
    /// `[name, value]` pairs, in order.
    #[napi(ts_type = "Array<[string, string]>")]
    pub headers: Vec<Vec<String>>,
    /// The body (JSON, or empty).
    pub body: String,
}

/// The `Secure-Session-Registration` value offering `challenge` (device-bound sessions on).
pub fn registration_header(manager: &tessera::SessionManager, challenge: &str) -> Option<String> {
    let dbsc = manager.config().dbsc.as_ref()?;
    tessera::dbsc::wire::registration_header(
        &dbsc.algorithms,
        &format!("{}/register", dbsc.path_prefix),
        challenge,
    )
    .ok()
}

/// Check `{ level, amr }` given as JSON text (the Express glue checks it where the app sets it,
/// rather than when the response goes out). Throws as the manager's calls would.
#[napi(js_name = "__checkAuthn", ts_args_type = "authn: string")]
pub fn check_authn(env: napi::Env, text: Option<Unknown>) -> napi::Result<()> {
    crate::errors::run(&env, || {
        let text = args::string(text, "authn", MAX_SHORT)?;
        authn_text(&text, "authn").map(drop)
    })
}
