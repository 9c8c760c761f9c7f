//! The model of an HTTP-level scenario (`tests/http/*.json`), exactly as `tests/http/README.md`
//! specifies it, and the checks of a response against a step's expectation.
//!
//! Parsing is strict, as in [`crate::scenario`]: every object denies unknown keys and every step
//! is one of four closed shapes, so a misspelt key makes the scenario fail to load instead of
//! silently checking nothing. [`Scenario::problems`] then checks what serde cannot express: the
//! route and the shape of its body, that every saved name is saved before it is used, that held
//! requests are released, and `config` (through [`ConfigSpec`], the conformance corpus's schema).
//!
//! [`Expect::mismatches`] compares a [`Response`] with an expectation, and
//! [`Response::invariant_violations`] checks the rules that hold for every response; both speak
//! in terms of the `Set-Cookie` lines ([`SetCookie`]), as a browser would read them.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::corpus::{self, nullable};
use serde_json::{Map, Value};

use crate::scenario::ConfigSpec;

/// A JSON object.
pub type Object = Map<String, Value>;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Equals the file name without `.json`.
    pub name: String,
    /// The rule the scenario pins down.
    pub description: String,
    /// Overrides of the defaults, as named options (checked against [`ConfigSpec`]).
    #[serde(default)]
    pub config: Object,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step: a request, the release of a held request, or a test control.
#[derive(Debug)]
pub enum Step {
    /// An HTTP request to the reference app.
    Request(RequestStep),
    /// Let a held request finish.
    Release(Release),
    /// Advance the manual clock by this many milliseconds.
    Advance(u64),
    /// The store holds exactly this many sessions.
    StoreLen(usize),
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let Some(map) = value.as_object() else {
            return Err(D::Error::custom("a step is an object"));
        };
        // A test control is an object with that one key.
        let control = |key: &str| match (map.len(), map.get(key)) {
            (1, Some(v)) => Ok(v.clone()),
            _ => Err(D::Error::custom(format!(
                "a `{key}` step has no other key (got {:?})",
                map.keys().collect::<Vec<_>>()
            ))),
        };
        let step = if map.contains_key("request") {
            RequestStep::deserialize(value).map(Step::Request)
        } else if map.contains_key("release") {
            Release::deserialize(value).map(Step::Release)
        } else if map.contains_key("advance_ms") {
            u64::deserialize(control("advance_ms")?).map(Step::Advance)
        } else if map.contains_key("store_len") {
            usize::deserialize(control("store_len")?).map(Step::StoreLen)
        } else {
            return Err(D::Error::custom(
                "a step has one of `request`, `release`, `advance_ms`, `store_len`",
            ));
        };
        step.map_err(D::Error::custom)
    }
}

impl Step {
    /// A short label for failure messages.
    pub fn label(&self) -> String {
        match self {
            Step::Request(r) => {
                let mut s = format!("{} {}", r.request.method, r.request.path);
                if let Some(name) = &r.hold {
                    s.push_str(&format!(", held as {name:?}"));
                }
                s
            }
            Step::Release(r) => format!("release {:?}", r.release),
            Step::Advance(ms) => format!("advance_ms {ms}"),
            Step::StoreLen(n) => format!("store_len {n}"),
        }
    }
}

/// A request step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestStep {
    /// What is sent.
    pub request: HttpRequest,
    /// Stop after the app's action; a later `release` finishes it.
    pub hold: Option<String>,
    /// What the response must be.
    pub expect: Option<Expect>,
    /// Save the session cookie the step's client holds after the response.
    pub save_cookie: Option<String>,
    /// Save the `csrf` field of the response body.
    pub save_csrf: Option<String>,
}

/// The release of a held request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The `hold` name.
    pub release: String,
    /// What its response must be.
    pub expect: Option<Expect>,
    /// Save the session cookie its client holds after the response.
    pub save_cookie: Option<String>,
}

/// What a request sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRequest {
    /// As sent (case-sensitive).
    pub method: String,
    /// One of [`ROUTES`].
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The request arrives over HTTPS.
    #[serde(default)]
    pub https: bool,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Which session cookie is sent.
    #[serde(default, deserialize_with = "cookie_arg")]
    pub cookie: CookieArg,
    /// The `X-CSRF-Token` header.
    #[serde(default, deserialize_with = "csrf_arg")]
    pub csrf: Option<CsrfArg>,
}

/// The `cookie` of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CookieArg {
    /// Absent: the jar's cookies; the step is the jar's client.
    #[default]
    Jar,
    /// `null`: the jar's cookies without the session cookie.
    NoSession,
    /// A name: the session cookie saved under it, with the jar's other cookies.
    Saved(String),
    /// `{"raw": ...}`: this literal `Cookie` header.
    Raw(String),
    /// `{"template": ...}`: this `Cookie` header, `{name}` replaced by saved cookies.
    Template(String),
}

impl CookieArg {
    /// Whether the step's client is the jar's (its response updates the jar).
    pub fn is_jar(&self) -> bool {
        matches!(self, CookieArg::Jar)
    }
}

/// The `csrf` of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsrfArg {
    /// The token saved under this name by `save_csrf`.
    Saved(String),
    /// This literal value.
    Raw(String),
}

fn cookie_arg<'de, D: Deserializer<'de>>(d: D) -> Result<CookieArg, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(CookieArg::NoSession),
        Value::String(name) => Ok(CookieArg::Saved(name)),
        other => match one_string_field(&other, &["raw", "template"]) {
            Some(("raw", text)) => Ok(CookieArg::Raw(text)),
            Some((_, text)) => Ok(CookieArg::Template(text)),
            None => Err(D::Error::custom(format!(
                "`cookie` is null, a saved name, {{\"raw\": \"...\"}} or {{\"template\": \"...\"}}, not {other}"
            ))),
        },
    }
}

fn csrf_arg<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CsrfArg>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(name) => Ok(Some(CsrfArg::Saved(name))),
        other => match one_string_field(&other, &["raw"]) {
            Some((_, text)) => Ok(Some(CsrfArg::Raw(text))),
            None => Err(D::Error::custom(format!(
                "`csrf` is a saved name or {{\"raw\": \"...\"}}, not {other}"
            ))),
        },
    }
}

/// `{"k": "text"}` with `k` one of `keys`, and nothing else.
fn one_string_field<'k>(v: &Value, keys: &[&'k str]) -> Option<(&'k str, String)> {
    let map = v.as_object().filter(|m| m.len() == 1)?;
    let (key, value) = map.iter().next()?;
    let key = keys.iter().find(|k| **k == key)?;
    Some((key, value.as_str()?.to_owned()))
}

/// What a response must be; only the fields given are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A status class (2–5) or an exact status.
    pub status: Option<u16>,
    /// What the response does to the session cookie.
    pub cookie: Option<CookieEffect>,
    /// The session cookie's `Set-Cookie` attributes.
    pub attributes: Option<Attributes>,
    /// Whether the response carries `Cache-Control: no-store`.
    pub no_store: Option<bool>,
    /// What the response body must contain (top-level keys, values equal).
    pub body: Option<Value>,
}

/// What a response does to the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieEffect {
    /// No `Set-Cookie` for it.
    None,
    /// Sets a value different from every session cookie sent.
    New,
    /// Sets the value that was sent.
    Same,
    /// Removes it.
    Cleared,
    /// Sets a value, new or same.
    Set,
}

/// Expected `Set-Cookie` attributes; `Some(None)` (`null`) means absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    /// `true` present, `false`/`null` absent.
    #[serde(rename = "Secure", default, deserialize_with = "nullable")]
    pub secure: Option<Option<bool>>,
    /// `true` present, `false`/`null` absent.
    #[serde(rename = "HttpOnly", default, deserialize_with = "nullable")]
    pub http_only: Option<Option<bool>>,
    /// Compared case-insensitively.
    #[serde(rename = "SameSite", default, deserialize_with = "nullable")]
    pub same_site: Option<Option<String>>,
    /// Compared exactly.
    #[serde(rename = "Path", default, deserialize_with = "nullable")]
    pub path: Option<Option<String>>,
    /// Compared exactly.
    #[serde(rename = "Domain", default, deserialize_with = "nullable")]
    pub domain: Option<Option<String>>,
    /// Seconds, exactly or in a range.
    #[serde(rename = "Max-Age", default, deserialize_with = "nullable")]
    pub max_age: Option<Option<MaxAge>>,
    /// `true` present, `false`/`null` absent.
    #[serde(rename = "Expires", default, deserialize_with = "nullable")]
    pub expires: Option<Option<bool>>,
}

/// An expected `Max-Age`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged)]
pub enum MaxAge {
    /// Exactly this many seconds.
    Exact(i64),
    /// Between `min` and `max` seconds, inclusive.
    Range {
        /// The least.
        min: i64,
        /// The most.
        max: i64,
    },
}

impl CookieEffect {
    /// The name as written in a scenario.
    pub fn as_str(self) -> &'static str {
        match self {
            CookieEffect::None => "none",
            CookieEffect::New => "new",
            CookieEffect::Same => "same",
            CookieEffect::Cleared => "cleared",
            CookieEffect::Set => "set",
        }
    }
}

impl MaxAge {
    fn accepts(self, got: i64) -> bool {
        match self {
            MaxAge::Exact(n) => got == n,
            MaxAge::Range { min, max } => (min..=max).contains(&got),
        }
    }

    fn describe(self) -> String {
        match self {
            MaxAge::Exact(n) => n.to_string(),
            MaxAge::Range { min, max } => format!("{min}..={max}"),
        }
    }
}

/// The routes of the reference app (README, "The reference app"), with the method each takes
/// (`None`: any method).
pub const ROUTES: &[(&str, Option<&str>)] = &[
    ("/read", Some("GET")),
    ("/set", Some("POST")),
    ("/delete", Some("POST")),
    ("/append", Some("POST")),
    ("/flash", Some("POST")),
    ("/flashes", Some("GET")),
    ("/login", Some("POST")),
    ("/logout", Some("POST")),
    ("/regenerate", Some("POST")),
    ("/expiry", Some("POST")),
    ("/csrf", Some("GET")),
    ("/protected", None),
    ("/error", Some("POST")),
    ("/early", Some("POST")),
    ("/stream", Some("POST")),
];

/// The body shapes a route accepts: each a set of keys that must all be present, nothing else
/// (`[]`: no body). With `key`, the data key must be a string that does not start with `_`.
fn body_shapes(path: &str) -> &'static [&'static [&'static str]] {
    match path {
        "/set" | "/append" => &[&["key", "value"]],
        "/delete" => &[&["key"]],
        "/flash" => &[&["message", "category"]],
        "/login" => &[&["user"]],
        "/logout" => &[&[], &["key", "value"]],
        "/expiry" => &[&["seconds"], &["permanent"]],
        "/error" => &[&[], &["key", "value"], &["login"], &["logout"]],
        "/early" | "/stream" => &[&["key", "value"], &["login"], &["logout"]],
        _ => &[&[]],
    }
}

fn body_problem(path: &str, body: Option<&Value>) -> Option<String> {
    let keys: Vec<&str> = match body {
        None => Vec::new(),
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        Some(other) => return Some(format!("the body of {path} is an object, not {other}")),
    };
    let shapes = body_shapes(path);
    let fits = shapes
        .iter()
        .any(|shape| shape.len() == keys.len() && shape.iter().all(|k| keys.contains(k)));
    if !fits {
        let shown: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
        return Some(format!(
            "the body of {path} has the keys {keys:?}; it takes one of {}",
            shown.join(", ")
        ));
    }
    let body = body?;
    BODY_TYPES.iter().find_map(|(key, ok, what)| {
        body.get(*key)
            .filter(|v| !ok(v))
            .map(|v| format!("`{key}` of {path} is {what}, not {v}"))
    })
}

/// The type each body key must have.
type TypeCheck = (&'static str, fn(&Value) -> bool, &'static str);
const BODY_TYPES: &[TypeCheck] = &[
    (
        "key",
        |v| v.as_str().is_some_and(|k| !k.starts_with('_')),
        "a string not starting with `_`",
    ),
    ("user", Value::is_string, "a string"),
    ("login", Value::is_string, "a string"),
    ("logout", |v| *v == Value::Bool(true), "true"),
    ("message", Value::is_string, "a string"),
    ("category", Value::is_string, "a string"),
    ("permanent", Value::is_boolean, "a boolean"),
    (
        "seconds",
        |v| v.is_null() || v.is_u64(),
        "a whole number or null",
    ),
];

/// The names `{name}` in a cookie template, or why it is not one (an unclosed `{`).
pub fn template_names(template: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    fill_template(template, |name| {
        names.push(name.to_owned());
        Some(String::new())
    })?;
    Ok(names)
}

/// `template` with each `{name}` replaced by `lookup(name)`.
///
/// # Errors
/// An unclosed `{`, or a name `lookup` does not know.
pub fn fill_template(
    template: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("template {template:?} has an unclosed `{{`"))?;
        let name = &after[..end];
        out.push_str(&lookup(name).ok_or_else(|| format!("no cookie saved as {name:?}"))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Scenario {
    /// Parse one scenario file's text.
    ///
    /// # Errors
    /// serde's message for malformed JSON, an unknown key, or a value of the wrong type.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Everything wrong with the scenario that parsing cannot see, given the file's stem.
    pub fn problems(&self, file_stem: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.name != file_stem {
            out.push(format!(
                "name {:?} differs from the file name {file_stem:?}",
                self.name
            ));
        }
        if self.description.trim().is_empty() {
            out.push("description is empty".to_owned());
        }
        if let Err(e) = ConfigSpec::check(&self.config) {
            out.push(e);
        }
        if self.steps.is_empty() {
            out.push("no steps".to_owned());
        }
        let mut cookies: HashSet<&str> = HashSet::new();
        let mut csrf: HashSet<&str> = HashSet::new();
        let mut held: HashSet<&str> = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let mut problem = |p: String| out.push(format!("steps[{i}] ({}): {p}", step.label()));
            let (expect, save_cookie) = match step {
                Step::Request(r) => {
                    for p in r.request.problems(&cookies, &csrf) {
                        problem(p);
                    }
                    if let Some(name) = &r.hold {
                        if r.expect.is_some() || r.save_cookie.is_some() || r.save_csrf.is_some() {
                            problem(
                                "a held request has no expect, save_cookie or save_csrf (give \
                                 them to its release)"
                                    .to_owned(),
                            );
                        }
                        if !held.insert(name) {
                            problem(format!("{name:?} is already held"));
                        }
                    }
                    if let Some(name) = &r.save_csrf {
                        csrf.insert(name);
                    }
                    (&r.expect, &r.save_cookie)
                }
                Step::Release(r) => {
                    if !held.remove(r.release.as_str()) {
                        problem(format!("no request is held as {:?}", r.release));
                    }
                    (&r.expect, &r.save_cookie)
                }
                Step::Advance(_) | Step::StoreLen(_) => continue,
            };
            if let Some(e) = expect {
                for p in e.problems() {
                    problem(p);
                }
            }
            if let Some(name) = save_cookie {
                cookies.insert(name);
            }
        }
        if !held.is_empty() {
            let mut names: Vec<&&str> = held.iter().collect();
            names.sort();
            out.push(format!("held and never released: {names:?}"));
        }
        out
    }
}

impl HttpRequest {
    fn problems(&self, cookies: &HashSet<&str>, csrf: &HashSet<&str>) -> Vec<String> {
        let mut out = Vec::new();
        match ROUTES.iter().find(|(path, _)| *path == self.path) {
            None => out.push(format!("no route {:?} in the reference app", self.path)),
            Some((_, Some(method))) if *method != self.method => {
                out.push(format!("{} takes {method}, not {}", self.path, self.method))
            }
            Some(_) => out.extend(body_problem(&self.path, self.body.as_ref())),
        }
        let unsaved = |name: &str| format!("cookie {name:?} is not saved by an earlier step");
        match &self.cookie {
            CookieArg::Saved(name) if !cookies.contains(name.as_str()) => out.push(unsaved(name)),
            CookieArg::Template(t) => match template_names(t) {
                Ok(names) => out.extend(
                    names
                        .into_iter()
                        .filter(|n| !cookies.contains(n.as_str()))
                        .map(|n| unsaved(&n)),
                ),
                Err(e) => out.push(e),
            },
            _ => {}
        }
        if let Some(CsrfArg::Saved(name)) = &self.csrf
            && !csrf.contains(name.as_str())
        {
            out.push(format!("csrf {name:?} is not saved by an earlier step"));
        }
        out
    }
}

impl Expect {
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = self.status
            && !(2..=5).contains(&s)
            && !(100..=599).contains(&s)
        {
            out.push(format!("status {s} is neither a class (2-5) nor a status"));
        }
        if let Some(Some(MaxAge::Range { min, max })) =
            self.attributes.as_ref().and_then(|a| a.max_age)
            && min > max
        {
            out.push(format!("Max-Age range {min}..={max} is empty"));
        }
        if self.attributes.is_some() && matches!(self.cookie, Some(CookieEffect::None)) {
            out.push(
                "attributes cannot be checked on a response expected to send no cookie".to_owned(),
            );
        }
        out
    }

    /// The mismatches between `response` and this expectation. `cookie_name` is the session
    /// cookie's name; `sent` the session cookie values the request carried.
    pub fn mismatches(
        &self,
        response: &Response,
        cookie_name: &str,
        sent: &[String],
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(want) = self.status {
            let got = response.status;
            let ok = if want <= 5 {
                got / 100 == want
            } else {
                got == want
            };
            if !ok {
                let want = if want <= 5 {
                    format!("{want}xx")
                } else {
                    want.to_string()
                };
                out.push(format!("status: expected {want}, got {got}"));
            }
        }
        let session = response.session_cookie(cookie_name);
        if let Some(want) = self.cookie {
            let got = describe_effect(session.as_ref(), sent);
            let ok = match (want, &session) {
                (CookieEffect::None, None) => true,
                (CookieEffect::Cleared, Some(c)) => c.removes(),
                (CookieEffect::Set, Some(c)) => !c.removes(),
                (CookieEffect::New, Some(c)) => !c.removes() && !sent.contains(&c.value),
                (CookieEffect::Same, Some(c)) => {
                    !c.removes() && sent.len() == 1 && sent[0] == c.value
                }
                _ => false,
            };
            if !ok {
                out.push(format!("cookie: expected {:?}, got {got}", want.as_str()));
            }
        }
        if let Some(want) = &self.attributes {
            match &session {
                Some(c) => out.extend(want.mismatches(c)),
                None => out.push(
                    "attributes: expected, but no Set-Cookie for the session cookie".to_owned(),
                ),
            }
        }
        if let Some(want) = self.no_store
            && want != response.no_store()
        {
            out.push(format!(
                "no_store: expected {want}, got {} (Cache-Control: {:?})",
                response.no_store(),
                response.cache_control
            ));
        }
        if let Some(want) = &self.body {
            out.extend(body_mismatch(want, response.body.as_ref()));
        }
        out
    }
}

fn describe_effect(session: Option<&SetCookie>, sent: &[String]) -> String {
    match session {
        None => "no Set-Cookie for the session cookie".to_owned(),
        Some(c) if c.removes() => "the cookie cleared".to_owned(),
        Some(c) if sent.contains(&c.value) => "the same value set again".to_owned(),
        Some(_) => "a new value".to_owned(),
    }
}

fn body_mismatch(want: &Value, got: Option<&Value>) -> Option<String> {
    let Some(got) = got else {
        return Some(format!(
            "body: expected {want}, got a body that is not JSON"
        ));
    };
    match want {
        Value::Object(keys) => {
            let wrong: Vec<String> = keys
                .iter()
                .filter(|(k, v)| got.get(k.as_str()) != Some(*v))
                .map(|(k, v)| match got.get(k.as_str()) {
                    Some(g) => format!("{k:?}: expected {v}, got {g}"),
                    None => format!("{k:?}: expected {v}, missing"),
                })
                .collect();
            (!wrong.is_empty()).then(|| format!("body: {} (whole body: {got})", wrong.join("; ")))
        }
        _ => (want != got).then(|| format!("body: expected {want}, got {got}")),
    }
}

impl Attributes {
    fn mismatches(&self, c: &SetCookie) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, want: Option<String>, got: Option<String>, same: bool| {
            if !same {
                out.push(format!(
                    "attribute {name}: expected {}, got {} (Set-Cookie attributes: {})",
                    want.unwrap_or_else(|| "absent".to_owned()),
                    got.unwrap_or_else(|| "absent".to_owned()),
                    c.describe_attributes()
                ));
            }
        };
        for (name, want) in [
            ("Secure", self.secure),
            ("HttpOnly", self.http_only),
            ("Expires", self.expires),
        ] {
            if let Some(want) = want {
                let want = want.unwrap_or(false);
                let got = c.attr(name).is_some();
                check(
                    name,
                    want.then(|| "present".to_owned()),
                    got.then(|| "present".to_owned()),
                    want == got,
                );
            }
        }
        for (name, want, case_blind) in [
            ("SameSite", &self.same_site, true),
            ("Path", &self.path, false),
            ("Domain", &self.domain, false),
        ] {
            if let Some(want) = want {
                let got = c.attr(name).map(|v| v.unwrap_or_default());
                let same = match (want, &got) {
                    (None, None) => true,
                    (Some(w), Some(g)) if case_blind => w.eq_ignore_ascii_case(g),
                    (Some(w), Some(g)) => w == g,
                    _ => false,
                };
                check(name, want.clone(), got, same);
            }
        }
        if let Some(want) = self.max_age {
            let got = c.attr("Max-Age").map(|v| v.unwrap_or_default());
            let same = match (want, &got) {
                (None, None) => true,
                (Some(w), Some(g)) => g.trim().parse::<i64>().is_ok_and(|n| w.accepts(n)),
                _ => false,
            };
            check("Max-Age", want.map(MaxAge::describe), got, same);
        }
        out
    }
}

/// One `Set-Cookie` line, as a browser reads it (RFC 6265 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// Its value (unquoted).
    pub value: String,
    /// The attributes in order: name as written, value if any.
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Parse a `Set-Cookie` value; `None` if it has no `name=`.
    pub fn parse(line: &str) -> Option<SetCookie> {
        let mut parts = line.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let attributes = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (a.to_owned(), None),
            })
            .collect();
        Some(SetCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes,
        })
    }

    /// The last attribute called `name` (case-insensitive): `Some(value)` if present.
    pub fn attr(&self, name: &str) -> Option<Option<String>> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Whether this line removes the cookie: `Max-Age` of zero or less, or an `Expires` in the
    /// past (without a `Max-Age`, which takes precedence).
    pub fn removes(&self) -> bool {
        match self.attr("Max-Age") {
            Some(v) => v
                .unwrap_or_default()
                .trim()
                .parse::<i64>()
                .is_ok_and(|n| n <= 0),
            None => self
                .attr("Expires")
                .flatten()
                .and_then(|d| expires_year(&d))
                .is_some_and(|year| year < 2000),
        }
    }

    fn describe_attributes(&self) -> String {
        let shown: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        format!("[{}]", shown.join("; "))
    }
}

/// The year of an HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT` and its older forms): the first
/// four-digit number in it. Enough to tell "in the past" (the removal idiom) from a real expiry.
fn expires_year(date: &str) -> Option<i32> {
    date.split(|c: char| !c.is_ascii_digit())
        .find(|n| n.len() == 4)
        .and_then(|n| n.parse().ok())
}

/// A response as the runner saw it.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every `Set-Cookie` header value, in order.
    pub set_cookies: Vec<String>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
    /// The body, if it is JSON.
    pub body: Option<Value>,
}

impl Response {
    /// Whether `Cache-Control` has the `no-store` directive.
    pub fn no_store(&self) -> bool {
        self.cache_control.as_deref().is_some_and(|cc| {
            cc.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
        })
    }

    /// Every parsed `Set-Cookie` for `name`.
    pub fn cookies_named(&self, name: &str) -> Vec<SetCookie> {
        self.set_cookies
            .iter()
            .filter_map(|l| SetCookie::parse(l))
            .filter(|c| c.name == name)
            .collect()
    }

    /// The `Set-Cookie` for the session cookie (the last, if the response wrongly has several).
    pub fn session_cookie(&self, name: &str) -> Option<SetCookie> {
        self.cookies_named(name).pop()
    }

    /// The README's rules for every response: at most one `Set-Cookie` for the session cookie,
    /// and `no-store` on a response that sets or clears it.
    pub fn invariant_violations(&self, cookie_name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let lines = self.cookies_named(cookie_name).len();
        if lines > 1 {
            out.push(format!(
                "the response has {lines} Set-Cookie lines for {cookie_name} (at most one allowed)"
            ));
        }
        if lines > 0 && !self.no_store() {
            out.push(format!(
                "the response sets or clears {cookie_name} without Cache-Control: no-store (got {:?})",
                self.cache_control
            ));
        }
        out
    }
}

/// One file of the corpus, parsed and checked.
pub type Loaded = corpus::Loaded<Scenario>;

/// Read every `*.json` of `dir`, sorted by file name (see [`corpus::load`]).
///
/// # Errors
/// If the directory cannot be listed.
pub fn load_corpus(dir: &Path) -> io::Result<Vec<Loaded>> {
    corpus::load(dir)
}

impl corpus::Scenario for Scenario {
    fn parse(text: &str) -> Result<Self, String> {
        Scenario::parse(text)
    }

    fn problems(&self, file_stem: &str) -> Vec<String> {
        Scenario::problems(self, file_stem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(steps: &str) -> Result<Scenario, String> {
        Scenario::parse(&format!(
            r#"{{"name":"x","description":"d","steps":[{steps}]}}"#
        ))
    }

    #[test]
    fn unknown_keys_and_shapes_do_not_parse() {
        assert!(scenario(r#"{"request":{"method":"GET","path":"/read"}}"#).is_ok());
        for bad in [
            r#"{"request":{"method":"GET","path":"/read","cokie":null}}"#,
            r#"{"request":{"method":"GET","path":"/read"},"expect":{"stauts":2}}"#,
            r#"{"request":{"method":"GET","path":"/read"},"expect":{"cookie":"fresh"}}"#,
            r#"{"request":{"method":"GET","path":"/read"},"expect":{"attributes":{"secure":true}}}"#,
            r#"{"request":{"method":"GET","path":"/read","cookie":{"raw":"a","x":1}}}"#,
            r#"{"advance_ms":1,"store_len":0}"#,
            r#"{"advance":1}"#,
            r#"{"release":"a","hold":"b"}"#,
        ] {
            assert!(scenario(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn problems_catch_what_serde_cannot() {
        let s = scenario(
            r#"{"request":{"method":"GET","path":"/nowhere"}},
               {"request":{"method":"GET","path":"/set","body":{"key":"k","value":1}}},
               {"request":{"method":"POST","path":"/set","body":{"key":"k","vaule":1}}},
               {"request":{"method":"GET","path":"/read","cookie":"never_saved"}},
               {"request":{"method":"GET","path":"/read","cookie":{"template":"a={nope}"}}},
               {"request":{"method":"POST","path":"/protected","csrf":"c"}},
               {"request":{"method":"POST","path":"/set","body":{"key":"k","value":1}},"hold":"h","expect":{"status":2}},
               {"release":"other"}"#,
        )
        .unwrap();
        let problems = s.problems("x");
        assert_eq!(problems.len(), 9, "{problems:#?}");
    }

    #[test]
    fn set_cookie_lines_are_read_as_browsers_do() {
        let c =
            SetCookie::parse("__Host-session=abc; Max-Age=0; path=/; secure; HttpOnly").unwrap();
        assert_eq!(
            (c.name.as_str(), c.value.as_str()),
            ("__Host-session", "abc")
        );
        assert!(c.removes());
        assert_eq!(c.attr("Path"), Some(Some("/".to_owned())));
        assert_eq!(c.attr("Secure"), Some(None));
        let past = SetCookie::parse("sid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/").unwrap();
        assert!(past.removes());
        let live = SetCookie::parse("sid=x; Expires=Wed, 21 Oct 2037 07:28:00 GMT").unwrap();
        assert!(!live.removes());
        assert_eq!(
            fill_template("a={x}; b={y}", |n| Some(n.to_uppercase())).unwrap(),
            "a=X; b=Y"
        );
    }
}
