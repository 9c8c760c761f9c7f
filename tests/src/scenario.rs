//! The model of a conformance scenario (`tests/conformance/*.json`), exactly as
//! `tests/conformance/README.md` specifies it.
//!
//! Parsing is strict: every struct denies unknown fields and the op is a closed enum, so a
//! misspelt op, argument or expectation makes the scenario fail to load instead of silently
//! checking nothing. [`Scenario::problems`] then checks what serde cannot express: `token` xor
//! `raw`, which `expect` fields an op can have, that every code named is a real one, and that
//! `config` has only the README's keys with the right types ([`ConfigSpec`]).
//!
//! The `config` object itself is handed to core's named options
//! ([`tessera::options`], `Builder::options`), the one mapping every binding uses, so this
//! runner cannot map a key differently from the Python, Node and C ones.

use std::io;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::corpus::{self, nullable};
use serde_json::{Map, Value};

/// A JSON object (session data).
pub type Object = Map<String, Value>;

/// Every code an `expect.result` may name: `ok`, the rejection reasons, the error kinds.
pub const RESULT_CODES: &[&str] = &[
    "ok",
    "malformed",
    "unknown",
    "expired_idle",
    "expired_absolute",
    "invalid_config",
    "invalid_argument",
    "data_too_large",
    "store_unavailable",
    "internal",
];

/// The rejection reasons.
pub const REASON_CODES: &[&str] = &["malformed", "unknown", "expired_idle", "expired_absolute"];

/// The event kinds.
pub const EVENT_KINDS: &[&str] = &[
    "created",
    "rotated",
    "login",
    "logout",
    "revoked",
    "expired",
    "rejected",
    "reauthenticated",
];

/// What `require_recent` answers.
pub const FRESHNESS_CODES: &[&str] = &["allowed", "anonymous", "stale", "level"];

/// The manual clock's reading when a scenario starts.
pub const START_MS: u64 = 1_700_000_000_000;

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
    /// The error code building a manager with `config` must give; such a scenario has no steps.
    #[serde(default)]
    pub config_error: Option<String>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// The schema of the `config` object: the README's keys and their types. Absent keys keep the
/// default; `null` is accepted only where the README allows it (it means "none"). A scenario's
/// `config` must deserialize into this (no other key, no wrong type) before it is used, so a
/// misspelt key cannot make a `config_error` scenario pass for the wrong reason.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    #[serde(default, deserialize_with = "present")]
    pub idle_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub absolute_timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub rotation_interval_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub rotation_grace_ms: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_sessions_per_user: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_sessions: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub max_data_bytes: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub login_keeps_data: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub cookie_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub cookie_secure: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub cookie_http_only: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub cookie_same_site: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub cookie_path: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub cookie_domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub cookie_max_age_ms: Option<Option<u64>>,
}

impl ConfigSpec {
    /// Check `config` against the schema.
    ///
    /// # Errors
    /// serde's message for an unknown key or a value of the wrong type.
    pub fn check(config: &Object) -> Result<Self, String> {
        Self::deserialize(Value::Object(config.clone())).map_err(|e| format!("config: {e}"))
    }
}

/// One step. Token arguments are names bound by an earlier `as` (`token`, `csrf`, `id_of`) or
/// literal strings (`raw`, `raw_csrf`, `raw_id`).
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Create {
        user: Option<String>,
        data: Option<Object>,
        #[serde(default)]
        https: bool,
        user_agent: Option<String>,
        #[serde(rename = "as")]
        bind: String,
        expect: Option<Expect>,
    },
    Validate {
        token: Option<String>,
        raw: Option<String>,
        #[serde(default)]
        https: bool,
        #[serde(rename = "as")]
        bind: Option<String>,
        expect: Option<Expect>,
    },
    Rotate {
        token: Option<String>,
        raw: Option<String>,
        #[serde(default)]
        https: bool,
        #[serde(rename = "as")]
        bind: Option<String>,
        expect: Option<Expect>,
    },
    Login {
        token: Option<String>,
        raw: Option<String>,
        user: String,
        level: Option<u8>,
        amr: Option<Vec<String>>,
        #[serde(default)]
        https: bool,
        user_agent: Option<String>,
        #[serde(rename = "as")]
        bind: Option<String>,
        expect: Option<Expect>,
    },
    Logout {
        token: Option<String>,
        raw: Option<String>,
        expect: Option<Expect>,
    },
    Reauthenticate {
        token: Option<String>,
        raw: Option<String>,
        level: u8,
        amr: Option<Vec<String>>,
        #[serde(default)]
        https: bool,
        #[serde(rename = "as")]
        bind: Option<String>,
        expect: Option<Expect>,
    },
    RequireRecent {
        token: Option<String>,
        raw: Option<String>,
        max_age_ms: u64,
        min_level: u8,
        #[serde(default)]
        https: bool,
        expect: Option<Expect>,
    },
    Revoke {
        id_of: Option<String>,
        raw_id: Option<String>,
        expect: Option<Expect>,
    },
    RevokeUser {
        user: String,
        expect: Option<Expect>,
    },
    RevokeUserExcept {
        user: String,
        token: Option<String>,
        raw: Option<String>,
        expect: Option<Expect>,
    },
    RevokeAll {
        expect: Option<Expect>,
    },
    ListUser {
        user: String,
        expect: Option<Expect>,
    },
    Set {
        token: String,
        key: String,
        value: Value,
        expect: Option<Expect>,
    },
    RemoveKey {
        token: String,
        key: String,
        expect: Option<Expect>,
    },
    ReplaceData {
        token: String,
        data: Object,
        expect: Option<Expect>,
    },
    CsrfToken {
        token: Option<String>,
        raw: Option<String>,
        #[serde(rename = "as")]
        bind: Option<String>,
        expect: Option<Expect>,
    },
    VerifyCsrf {
        token: Option<String>,
        raw: Option<String>,
        csrf: Option<String>,
        raw_csrf: Option<String>,
        expect: Option<Expect>,
    },
    Advance {
        ms: u64,
    },
    Sweep {
        expect: Option<Expect>,
    },
    StoreLen {
        expect: Option<Expect>,
    },
    Events {
        expect: Option<Expect>,
    },
}

/// Expectation fields of a step that returns a session (`create`, `validate`, `rotate`, `login`).
const SESSION_FIELDS: &[&str] = &[
    "result",
    "user",
    "data",
    "same_session_as",
    "secure",
    "expires_in_ms",
    "absolute_in_ms",
    "auth_level",
    "authenticated_ago_ms",
];

impl Step {
    /// The op's name as written in the file.
    pub fn op(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Validate { .. } => "validate",
            Step::Rotate { .. } => "rotate",
            Step::Login { .. } => "login",
            Step::Logout { .. } => "logout",
            Step::Reauthenticate { .. } => "reauthenticate",
            Step::RequireRecent { .. } => "require_recent",
            Step::Revoke { .. } => "revoke",
            Step::RevokeUser { .. } => "revoke_user",
            Step::RevokeUserExcept { .. } => "revoke_user_except",
            Step::RevokeAll { .. } => "revoke_all",
            Step::ListUser { .. } => "list_user",
            Step::Set { .. } => "set",
            Step::RemoveKey { .. } => "remove_key",
            Step::ReplaceData { .. } => "replace_data",
            Step::CsrfToken { .. } => "csrf_token",
            Step::VerifyCsrf { .. } => "verify_csrf",
            Step::Advance { .. } => "advance",
            Step::Sweep { .. } => "sweep",
            Step::StoreLen { .. } => "store_len",
            Step::Events { .. } => "events",
        }
    }

    /// The step's expectation, if any.
    pub fn expect(&self) -> Option<&Expect> {
        match self {
            Step::Create { expect, .. }
            | Step::Validate { expect, .. }
            | Step::Rotate { expect, .. }
            | Step::Login { expect, .. }
            | Step::Logout { expect, .. }
            | Step::Reauthenticate { expect, .. }
            | Step::RequireRecent { expect, .. }
            | Step::Revoke { expect, .. }
            | Step::RevokeUser { expect, .. }
            | Step::RevokeUserExcept { expect, .. }
            | Step::RevokeAll { expect }
            | Step::ListUser { expect, .. }
            | Step::Set { expect, .. }
            | Step::RemoveKey { expect, .. }
            | Step::ReplaceData { expect, .. }
            | Step::CsrfToken { expect, .. }
            | Step::VerifyCsrf { expect, .. }
            | Step::Sweep { expect }
            | Step::StoreLen { expect }
            | Step::Events { expect } => expect.as_ref(),
            Step::Advance { .. } => None,
        }
    }

    /// The `expect` fields this op can be checked on.
    pub fn expectable(&self) -> Vec<&'static str> {
        let mut fields = match self {
            Step::Create { .. }
            | Step::Rotate { .. }
            | Step::Login { .. }
            | Step::Reauthenticate { .. } => SESSION_FIELDS.to_vec(),
            Step::RequireRecent { .. } => vec!["result", "freshness"],
            Step::Validate { .. } => [SESSION_FIELDS, &["rotated"]].concat(),
            Step::Logout { .. } | Step::Revoke { .. } => vec!["result", "ended"],
            Step::RevokeUser { .. }
            | Step::RevokeUserExcept { .. }
            | Step::RevokeAll { .. }
            | Step::Sweep { .. }
            | Step::StoreLen { .. } => vec!["result", "count"],
            Step::ListUser { .. } => vec!["result", "count", "ids_of"],
            Step::VerifyCsrf { .. } => vec!["result", "valid"],
            Step::Set { .. }
            | Step::RemoveKey { .. }
            | Step::ReplaceData { .. }
            | Step::CsrfToken { .. } => vec!["result"],
            Step::Events { .. } => vec!["result", "events"],
            Step::Advance { .. } => vec![],
        };
        fields.sort_unstable();
        fields
    }

    /// What is wrong with this step on its own (argument combinations, inapplicable or
    /// misspelt expectations); empty if nothing.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut one_of = |a: (&str, bool), b: (&str, bool), required: bool| match (a.1, b.1) {
            (true, true) => out.push(format!("give `{}` or `{}`, not both", a.0, b.0)),
            (false, false) if required => out.push(format!("needs `{}` or `{}`", a.0, b.0)),
            _ => {}
        };
        match self {
            Step::Validate { token, raw, .. }
            | Step::Rotate { token, raw, .. }
            | Step::Reauthenticate { token, raw, .. }
            | Step::RequireRecent { token, raw, .. }
            | Step::Logout { token, raw, .. }
            | Step::RevokeUserExcept { token, raw, .. }
            | Step::CsrfToken { token, raw, .. } => {
                one_of(("token", token.is_some()), ("raw", raw.is_some()), true);
            }
            Step::Login { token, raw, .. } => {
                one_of(("token", token.is_some()), ("raw", raw.is_some()), false);
            }
            Step::Revoke { id_of, raw_id, .. } => {
                one_of(
                    ("id_of", id_of.is_some()),
                    ("raw_id", raw_id.is_some()),
                    true,
                );
            }
            Step::VerifyCsrf {
                token,
                raw,
                csrf,
                raw_csrf,
                ..
            } => {
                one_of(("token", token.is_some()), ("raw", raw.is_some()), true);
                one_of(
                    ("csrf", csrf.is_some()),
                    ("raw_csrf", raw_csrf.is_some()),
                    true,
                );
            }
            _ => {}
        }
        if let Some(expect) = self.expect() {
            let allowed = self.expectable();
            for field in expect.fields() {
                if !allowed.contains(&field) {
                    out.push(format!(
                        "`expect.{field}` does not apply to `{}` (it can check: {})",
                        self.op(),
                        allowed.join(", ")
                    ));
                }
            }
            out.extend(expect.problems());
        }
        out
    }
}

/// What a step must produce; only the fields given are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `ok`, a reason code or an error code.
    pub result: Option<String>,
    /// `validate`: whether a new token was issued.
    pub rotated: Option<bool>,
    /// The session's user; `Some(None)` is `null`, anonymous.
    #[serde(default, deserialize_with = "nullable")]
    pub user: Option<Option<String>>,
    /// The session's whole data.
    pub data: Option<Object>,
    /// The session's id is the public id of this token name.
    pub same_session_as: Option<String>,
    /// The session is HTTPS-only.
    pub secure: Option<bool>,
    /// `expires_at − now`.
    pub expires_in_ms: Option<u64>,
    /// `absolute_deadline − now`.
    pub absolute_in_ms: Option<u64>,
    /// `logout`, `revoke`: whether a session was ended.
    pub ended: Option<bool>,
    /// How many.
    pub count: Option<usize>,
    /// `list_user`: the listed ids are those of these token names, in this order.
    pub ids_of: Option<Vec<String>>,
    /// `verify_csrf`: the verdict.
    pub valid: Option<bool>,
    /// `events`: the events since the previous `events` step.
    pub events: Option<Vec<EventExpect>>,
    /// `require_recent`: `allowed`, `anonymous`, `stale` or `level`.
    pub freshness: Option<String>,
    /// The session's authentication level; `Some(None)` (`null`) for an anonymous session.
    #[serde(default, deserialize_with = "nullable")]
    pub auth_level: Option<Option<u8>>,
    /// `now − authenticated_at` of a signed-in session.
    pub authenticated_ago_ms: Option<u64>,
}

impl Expect {
    /// The names of the fields given.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("result", self.result.is_some()),
            ("rotated", self.rotated.is_some()),
            ("user", self.user.is_some()),
            ("data", self.data.is_some()),
            ("same_session_as", self.same_session_as.is_some()),
            ("secure", self.secure.is_some()),
            ("expires_in_ms", self.expires_in_ms.is_some()),
            ("absolute_in_ms", self.absolute_in_ms.is_some()),
            ("ended", self.ended.is_some()),
            ("count", self.count.is_some()),
            ("ids_of", self.ids_of.is_some()),
            ("valid", self.valid.is_some()),
            ("events", self.events.is_some()),
            ("freshness", self.freshness.is_some()),
            ("auth_level", self.auth_level.is_some()),
            ("authenticated_ago_ms", self.authenticated_ago_ms.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(result) = &self.result
            && !RESULT_CODES.contains(&result.as_str())
        {
            out.push(format!("`expect.result` {result:?} is not a known code"));
        }
        if let Some(f) = &self.freshness
            && !FRESHNESS_CODES.contains(&f.as_str())
        {
            out.push(format!("`expect.freshness` {f:?} is not a freshness code"));
        }
        for (i, event) in self.events.iter().flatten().enumerate() {
            if !EVENT_KINDS.contains(&event.kind.as_str()) {
                out.push(format!(
                    "`expect.events[{i}].kind` {:?} is not an event kind",
                    event.kind
                ));
            }
            if let Some(Some(reason)) = &event.reason
                && !REASON_CODES.contains(&reason.as_str())
            {
                out.push(format!(
                    "`expect.events[{i}].reason` {reason:?} is not a reason code"
                ));
            }
        }
        out
    }
}

/// One expected event; `kind` always, the other fields only when given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventExpect {
    /// The event kind.
    pub kind: String,
    /// Its reason; `Some(None)` (`null`) means it has none.
    #[serde(default, deserialize_with = "nullable")]
    pub reason: Option<Option<String>>,
    /// Its user; `Some(None)` (`null`) means anonymous.
    #[serde(default, deserialize_with = "nullable")]
    pub user: Option<Option<String>>,
    /// Its session id is the public id of this token name.
    pub same_session_as: Option<String>,
}

impl Scenario {
    /// Parse one scenario file's text.
    ///
    /// # Errors
    /// serde's message (with line and column) for malformed JSON, an unknown op or field, or a
    /// value of the wrong type.
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
        match &self.config_error {
            Some(code) => {
                if !RESULT_CODES.contains(&code.as_str()) || code == "ok" {
                    out.push(format!("config_error {code:?} is not an error code"));
                }
                if !self.steps.is_empty() {
                    out.push("a config_error scenario has no steps".to_owned());
                }
            }
            None if self.steps.is_empty() => out.push("no steps".to_owned()),
            None => {}
        }
        for (i, step) in self.steps.iter().enumerate() {
            for p in step.problems() {
                out.push(format!("steps[{i}] ({}): {p}", step.op()));
            }
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

/// A field that may be absent (`None`) but, when given, must not be `null`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ops_fields_and_expectations_do_not_parse() {
        let base = |steps: &str| format!(r#"{{"name":"x","description":"d","steps":[{steps}]}}"#);
        assert!(Scenario::parse(&base(r#"{"op":"validate","raw":"a"}"#)).is_ok());
        for bad in [
            r#"{"op":"valdiate","raw":"a"}"#,
            r#"{"op":"validate","raw":"a","https":true,"http":false}"#,
            r#"{"op":"validate","raw":"a","expect":{"reslt":"ok"}}"#,
            r#"{"op":"events","expect":{"events":[{"kind":"created","usr":null}]}}"#,
            r#"{"op":"advance","ms":1,"expect":{"result":"ok"}}"#,
            r#"{"op":"set","token":"t","key":"k"}"#,
        ] {
            assert!(Scenario::parse(&base(bad)).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn problems_catch_what_serde_cannot() {
        let s = Scenario::parse(
            r#"{"name":"y","description":"d","steps":[
                {"op":"validate","token":"a","raw":"b"},
                {"op":"logout","token":"a","expect":{"rotated":true}},
                {"op":"validate","token":"a","expect":{"result":"unkown"}},
                {"op":"events","expect":{"events":[{"kind":"made"}]}}
            ]}"#,
        )
        .unwrap();
        let problems = s.problems("x");
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }

    #[test]
    fn config_keys_and_types_are_checked() {
        let problems = |config: &str| {
            let text = format!(
                r#"{{"name":"x","description":"d","config":{config},"config_error":"invalid_config"}}"#
            );
            Scenario::parse(&text).unwrap().problems("x")
        };
        let fine = r#"{"idle_timeout_ms":60000,"rotation_interval_ms":null,
            "max_sessions_per_user":3,"cookie_same_site":"strict","cookie_domain":null}"#;
        assert!(problems(fine).is_empty(), "{:?}", problems(fine));
        for bad in [
            r#"{"max_sesions_per_user":0}"#,
            r#"{"idle_timeout_ms":null}"#,
            r#"{"idle_timeout_ms":"0"}"#,
            r#"{"idle_timeout_ms":-1}"#,
            r#"{"cookie_secure":"no"}"#,
            r#"{"sweep_interval_ms":1000}"#,
            r#"{"store":"memory://"}"#,
        ] {
            assert_eq!(problems(bad).len(), 1, "{bad}: {:?}", problems(bad));
        }
    }
}
