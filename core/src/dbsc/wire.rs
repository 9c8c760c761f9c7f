//! DBSC header values and JSON bodies (`docs/dbsc.md` §1.2–1.4, §1.10).
//!
//! Read: `Secure-Session-Response` and `Sec-Secure-Session-Id`, which Chrome sends bare and the
//! draft as RFC 9651 sf-strings — [`token_value`] accepts both. Written:
//! `Secure-Session-Registration`, `Secure-Session-Challenge` and the session-config and
//! end-session JSON bodies.
//!
//! The header builders return a [`Result`]: every sf-string they emit must be printable ASCII
//! (0x20–0x7E, RFC 9651 §3.3.3). Tessera's own values (base64url challenges and ids,
//! configured paths) always are, so an error means a programming or configuration mistake; a
//! header that a browser would fail to parse (or that would split the response) is never built.

use std::fmt;

use serde::Serialize;

use super::key::{Alg, to_json};

/// Longest DBSC request header value read (8 KiB).
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The single token in a `Secure-Session-Response` or `Sec-Secure-Session-Id` value.
///
/// Accepted, after trimming optional whitespace (SP, HTAB): a bare `[A-Za-z0-9._-]+` (Chrome) or
/// an sf-string holding only those characters (the draft), returned without its quotes.
/// Anything else — other characters, parameters, a list, an escape, an empty value, more than
/// [`MAX_HEADER_LEN`] bytes — gives `None`.
pub fn token_value(header_value: &str) -> Option<&str> {
    if header_value.len() > MAX_HEADER_LEN {
        return None;
    }
    let v = header_value.trim_matches([' ', '\t']);
    let inner = match v.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => v,
    };
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    (!inner.is_empty() && inner.bytes().all(is_token_char)).then_some(inner)
}

/// A value Tessera refused to put in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// A path, challenge or identifier holds a character outside printable ASCII (0x20–0x7E):
    /// it cannot be an sf-string.
    NotPrintableAscii,
    /// `Secure-Session-Registration` with no algorithm offers nothing a browser can use.
    NoAlgorithm,
}

impl WireError {
    /// Stable code: `not_printable_ascii` or `no_algorithm`.
    pub fn code(self) -> &'static str {
        match self {
            WireError::NotPrintableAscii => "not_printable_ascii",
            WireError::NoAlgorithm => "no_algorithm",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for WireError {}

/// Appends `s` as an RFC 9651 sf-string: quoted, `"` and `\` escaped.
fn push_sf_string(out: &mut String, s: &str) -> Result<(), WireError> {
    if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(WireError::NotPrintableAscii);
    }
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(())
}

/// The `Secure-Session-Registration` value: `(ES256 RS256);path="…";challenge="…"`, algorithms
/// in the order given (the browser takes the first it supports).
///
/// # Errors
/// [`WireError::NoAlgorithm`] for an empty list; [`WireError::NotPrintableAscii`] if `path` or
/// `challenge` cannot be an sf-string.
pub fn registration_header(algs: &[Alg], path: &str, challenge: &str) -> Result<String, WireError> {
    if algs.is_empty() {
        return Err(WireError::NoAlgorithm);
    }
    let names: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    let mut out = format!("({});path=", names.join(" "));
    push_sf_string(&mut out, path)?;
    out.push_str(";challenge=");
    push_sf_string(&mut out, challenge)?;
    Ok(out)
}

/// The `Secure-Session-Challenge` value: `"<challenge>";id="<session_identifier>"` (always with
/// `id`: Chrome drops a challenge without one).
///
/// # Errors
/// [`WireError::NotPrintableAscii`] if either value cannot be an sf-string.
pub fn challenge_header(challenge: &str, session_identifier: &str) -> Result<String, WireError> {
    let mut out = String::with_capacity(challenge.len() + session_identifier.len() + 9);
    push_sf_string(&mut out, challenge)?;
    out.push_str(";id=");
    push_sf_string(&mut out, session_identifier)?;
    Ok(out)
}

/// One `scope.scope_specification` entry. The browser evaluates the list last to first; the
/// first match decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRule {
    /// `true` for `"include"`, `false` for `"exclude"`.
    pub include: bool,
    /// Host pattern (`"*"`, `"example.com"`, `"*.example.com"`).
    pub domain: String,
    /// Path prefix (`"/"` for every path).
    pub path: String,
}

/// What the session-config JSON (registration answer, and every refresh answer) says.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig<'a> {
    /// The DBSC `session_identifier` (the binding id, base64url).
    pub session_identifier: &'a str,
    /// The refresh endpoint, relative or absolute.
    pub refresh_url: &'a str,
    /// `scope.origin`: `scheme://host[:port]`, always sent.
    pub origin: &'a str,
    /// `scope.include_site`: the whole registrable domain (always sent; Chrome requires it).
    pub include_site: bool,
    /// `scope.scope_specification`.
    pub scope_rules: &'a [ScopeRule],
    /// The bound cookie's name.
    pub cookie_name: &'a str,
    /// The bound cookie's attributes as Chrome compares them: only `Domain`, `Path`, `Secure`,
    /// `HttpOnly`, `SameSite` (no `Max-Age`), e.g. `"Path=/; Secure; HttpOnly; SameSite=Lax"`.
    pub cookie_attributes: &'a str,
    /// `allowed_refresh_initiators`: host patterns.
    pub refresh_initiators: &'a [String],
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    session_identifier: &'a str,
    refresh_url: &'a str,
    scope: ScopeJson<'a>,
    credentials: [CredentialJson<'a>; 1],
    allowed_refresh_initiators: &'a [String],
}

#[derive(Serialize)]
struct ScopeJson<'a> {
    origin: &'a str,
    include_site: bool,
    scope_specification: Vec<RuleJson<'a>>,
}

#[derive(Serialize)]
struct RuleJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    domain: &'a str,
    path: &'a str,
}

#[derive(Serialize)]
struct CredentialJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    attributes: &'a str,
}

#[derive(Serialize)]
struct EndJson<'a> {
    session_identifier: &'a str,
    #[serde(rename = "continue")]
    keep_going: bool,
}

/// The session-config JSON of `docs/dbsc.md` §1.3 step 3:
/// `{"session_identifier", "refresh_url", "scope": {"origin", "include_site",
/// "scope_specification": [{"type", "domain", "path"}]}, "credentials": [{"type": "cookie",
/// "name", "attributes"}], "allowed_refresh_initiators"}`.
pub fn session_config_json(c: &SessionConfig) -> String {
    to_json(&ConfigJson {
        session_identifier: c.session_identifier,
        refresh_url: c.refresh_url,
        scope: ScopeJson {
            origin: c.origin,
            include_site: c.include_site,
            scope_specification: c
                .scope_rules
                .iter()
                .map(|r| RuleJson {
                    kind: if r.include { "include" } else { "exclude" },
                    domain: &r.domain,
                    path: &r.path,
                })
                .collect(),
        },
        credentials: [CredentialJson {
            kind: "cookie",
            name: c.cookie_name,
            attributes: c.cookie_attributes,
        }],
        allowed_refresh_initiators: c.refresh_initiators,
    })
}

/// The body that ends the browser's DBSC session:
/// `{"session_identifier":"…","continue":false}`.
pub fn end_session_json(session_identifier: &str) -> String {
    to_json(&EndJson {
        session_identifier,
        keep_going: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn token_value_reads_bare_and_quoted_and_refuses_junk() {
        assert_eq!(token_value("abc.DEF-_9"), Some("abc.DEF-_9"));
        assert_eq!(token_value(" \tabc \t"), Some("abc"));
        assert_eq!(token_value("\"abc.def\""), Some("abc.def"));
        assert_eq!(token_value("  \"abc\"\t"), Some("abc"));
        for junk in [
            "",
            "   ",
            "\"\"",
            "\"abc",
            "abc\"",
            "\"ab\"c\"",
            "\"a\\\"b\"",
            "a b",
            "a,b",
            "\"a\", \"b\"",
            "\"abc\";p=1",
            "abc;p=1",
            "ab+c",
            "ab/c",
            "ab=",
            "é",
            "abc\n",
            "\u{0}",
            "\"\u{7f}\"",
        ] {
            assert_eq!(token_value(junk), None, "{junk:?}");
        }
        let longest = "a".repeat(MAX_HEADER_LEN);
        assert_eq!(token_value(&longest), Some(longest.as_str()));
        assert_eq!(token_value(&format!("{longest}a")), None);
        // The length limit counts the raw value, whitespace included.
        assert_eq!(token_value(&format!(" {longest}")), None);
    }

    #[test]
    fn registration_header_exact_text() {
        assert_eq!(
            registration_header(&[Alg::Es256, Alg::Rs256], "/_tessera/dbsc/register", "cv")
                .unwrap(),
            r#"(ES256 RS256);path="/_tessera/dbsc/register";challenge="cv""#
        );
        assert_eq!(
            registration_header(&[Alg::Rs256], "/r", "c").unwrap(),
            r#"(RS256);path="/r";challenge="c""#
        );
        assert_eq!(
            registration_header(&[Alg::Es256], r#"/a"b\c"#, "x").unwrap(),
            r#"(ES256);path="/a\"b\\c";challenge="x""#
        );
        assert_eq!(
            registration_header(&[], "/r", "c"),
            Err(WireError::NoAlgorithm)
        );
        for bad in ["/r\r\nSet-Cookie: x=y", "/é", "/\t", "/\u{7f}"] {
            assert_eq!(
                registration_header(&[Alg::Es256], bad, "c"),
                Err(WireError::NotPrintableAscii)
            );
            assert_eq!(
                registration_header(&[Alg::Es256], "/r", bad),
                Err(WireError::NotPrintableAscii)
            );
        }
    }

    #[test]
    fn challenge_header_exact_text() {
        assert_eq!(challenge_header("C1", "BID").unwrap(), r#""C1";id="BID""#);
        assert_eq!(
            challenge_header("a\"b", "i\\d").unwrap(),
            r#""a\"b";id="i\\d""#
        );
        assert_eq!(
            challenge_header("c\n", "id"),
            Err(WireError::NotPrintableAscii)
        );
        assert_eq!(
            challenge_header("c", "i\u{0}d"),
            Err(WireError::NotPrintableAscii)
        );
        assert_eq!(
            WireError::NotPrintableAscii.to_string(),
            "not_printable_ascii"
        );
        assert_eq!(WireError::NoAlgorithm.code(), "no_algorithm");
    }

    #[test]
    fn session_config_json_has_the_documented_shape() {
        let rules = [
            ScopeRule {
                include: false,
                domain: "*".into(),
                path: "/static".into(),
            },
            ScopeRule {
                include: true,
                domain: "app.example".into(),
                path: "/".into(),
            },
        ];
        let initiators = vec!["*.example.com".to_string()];
        let text = session_config_json(&SessionConfig {
            session_identifier: "BID",
            refresh_url: "/_tessera/dbsc/refresh",
            origin: "https://app.example",
            include_site: false,
            scope_rules: &rules,
            cookie_name: "__Host-session-bound",
            cookie_attributes: "Path=/; Secure; HttpOnly; SameSite=Lax",
            refresh_initiators: &initiators,
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        let top = v.as_object().unwrap();
        assert_eq!(top.len(), 5, "{text}");
        assert_eq!(v["session_identifier"], "BID");
        assert_eq!(v["refresh_url"], "/_tessera/dbsc/refresh");
        assert!(v.get("continue").is_none());
        let scope = v["scope"].as_object().unwrap();
        assert_eq!(scope.len(), 3);
        assert_eq!(scope["origin"], "https://app.example");
        assert_eq!(scope["include_site"], false);
        assert_eq!(
            scope["scope_specification"],
            json!([
                {"type": "exclude", "domain": "*", "path": "/static"},
                {"type": "include", "domain": "app.example", "path": "/"},
            ])
        );
        assert_eq!(
            v["credentials"],
            json!([{
                "type": "cookie",
                "name": "__Host-session-bound",
                "attributes": "Path=/; Secure; HttpOnly; SameSite=Lax",
            }])
        );
        assert_eq!(v["allowed_refresh_initiators"], json!(["*.example.com"]));

        // Empty lists are sent as empty arrays; odd characters are JSON-escaped, not dropped.
        let text = session_config_json(&SessionConfig {
            session_identifier: "a\"b",
            refresh_url: "/r",
            origin: "https://x",
            include_site: true,
            scope_rules: &[],
            cookie_name: "c",
            cookie_attributes: "Path=/",
            refresh_initiators: &[],
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["session_identifier"], "a\"b");
        assert_eq!(v["scope"]["include_site"], true);
        assert_eq!(v["scope"]["scope_specification"], json!([]));
        assert_eq!(v["allowed_refresh_initiators"], json!([]));
    }

    #[test]
    fn end_session_json_exact_text() {
        assert_eq!(
            end_session_json("BID"),
            r#"{"session_identifier":"BID","continue":false}"#
        );
        let v: Value = serde_json::from_str(&end_session_json("x\"y\n")).unwrap();
        assert_eq!(
            v,
            json!({"session_identifier": "x\"y\n", "continue": false})
        );
    }
}
