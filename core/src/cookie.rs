//! The session cookie: building `Set-Cookie` values and finding the token in a `Cookie` header.
//!
//! # Two cookies with the session's name
//!
//! A browser sends every cookie whose domain and path match, so a page on a sibling subdomain
//! (or a man in the middle on plain HTTP) can plant a second cookie with the session's name
//! ("cookie tossing"). The request then carries two values and nothing in the header says which
//! one the server set. Picking either is unsafe: the planted one may be the attacker's own valid
//! session (login CSRF), or the order may be steered with `Path`. Tessera therefore treats more
//! than one cookie of the session's name as [`CookieToken::Ambiguous`]: no session (the request
//! is anonymous, reason `malformed`) and the middleware clears the cookie. The default
//! `__Host-` name prevents the planting in the first place: browsers accept such a cookie only
//! from the host itself, with `Secure`, `Path=/` and no `Domain`.

use std::time::Duration;

use crate::config::Config;
use crate::token::Token;

/// What a `Cookie` request header says about the session cookie.
// Debug is written by hand: a derived one would print the cookie's value, a live token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CookieToken<'a> {
    /// No cookie with the session's name.
    Absent,
    /// Exactly one; its value (not yet validated as a token).
    One(&'a str),
    /// More than one cookie with the session's name: treat the request as having no session.
    Ambiguous,
}

impl<'a> CookieToken<'a> {
    /// The single value, if there is exactly one.
    pub fn value(self) -> Option<&'a str> {
        match self {
            CookieToken::One(v) => Some(v),
            _ => None,
        }
    }
}

impl std::fmt::Debug for CookieToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CookieToken::Absent => f.write_str("Absent"),
            CookieToken::One(_) => f.write_str("One(<redacted>)"),
            CookieToken::Ambiguous => f.write_str("Ambiguous"),
        }
    }
}

/// Find the session cookie `name` in a `Cookie` request header (RFC 6265 §5.4 syntax, tolerant
/// of the spacing browsers and proxies produce). A value in double quotes is unquoted.
///
/// ```
/// use tessera::cookie::{CookieToken, find_session_cookie};
/// let h = "theme=dark; __Host-session=abc; lang=en";
/// assert_eq!(find_session_cookie(h, "__Host-session"), CookieToken::One("abc"));
/// assert_eq!(find_session_cookie("a=1; a=2", "a"), CookieToken::Ambiguous);
/// ```
pub fn find_session_cookie<'a>(header: &'a str, name: &str) -> CookieToken<'a> {
    let mut found = CookieToken::Absent;
    for pair in header.split(';') {
        let pair = pair.trim_matches(|c| c == ' ' || c == '\t');
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        if key.trim_end_matches([' ', '\t']) != name {
            continue;
        }
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        found = match found {
            CookieToken::Absent => CookieToken::One(value),
            _ => return CookieToken::Ambiguous,
        };
    }
    found
}

/// The `Set-Cookie` value that hands `token` to the browser, with the configured attributes.
///
/// ```
/// use tessera::{Config, Token, cookie::set_cookie};
/// let token = Token::generate().unwrap();
/// let header = set_cookie(&Config::default(), &token);
/// assert!(header.starts_with("__Host-session="));
/// assert!(header.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"));
/// ```
pub fn set_cookie(config: &Config, token: &Token) -> String {
    set_cookie_with_max_age(config, token, config.cookie_max_age)
}

/// [`set_cookie`] with this `Max-Age` (whole seconds) instead of the configured one; `None`
/// makes a browser-session cookie. For sessions an app gave an expiry of their own.
pub fn set_cookie_with_max_age(
    config: &Config,
    token: &Token,
    max_age: Option<Duration>,
) -> String {
    set_named_cookie(config, &config.cookie_name, token, max_age)
}

/// A `Set-Cookie` value for cookie `name` holding `token`, with the session cookie's attributes
/// (the visitor CSRF cookie uses it).
pub(crate) fn set_named_cookie(
    config: &Config,
    name: &str,
    token: &Token,
    max_age: Option<Duration>,
) -> String {
    let mut out = String::with_capacity(name.len() + 100);
    out.push_str(name);
    out.push('=');
    out.push_str(&token.expose());
    if let Some(max_age) = max_age {
        out.push_str("; Max-Age=");
        out.push_str(&max_age.as_secs().to_string());
    }
    push_attributes(config, &mut out);
    out
}

/// The `Set-Cookie` value that removes the session cookie from the browser.
///
/// ```
/// use tessera::{Config, cookie::clear_cookie};
/// assert_eq!(
///     clear_cookie(&Config::default()),
///     "__Host-session=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"
/// );
/// ```
pub fn clear_cookie(config: &Config) -> String {
    let mut out = String::with_capacity(config.cookie_name.len() + 64);
    out.push_str(&config.cookie_name);
    // Max-Age=0 expires it at once in every browser that honours RFC 6265; no date is needed.
    out.push_str("=; Max-Age=0");
    push_attributes(config, &mut out);
    out
}

/// The `Set-Cookie` value that deletes the cookie `name` (same attributes as the session's).
pub(crate) fn clear_named_cookie(config: &Config, name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 64);
    out.push_str(name);
    out.push_str("=; Max-Age=0");
    push_attributes(config, &mut out);
    out
}

/// The session cookie's attributes as a `Set-Cookie` tail without the leading `"; "` and
/// without `Max-Age` (what a DBSC session config's `attributes` names).
pub(crate) fn attributes(config: &Config) -> String {
    let mut out = String::with_capacity(64);
    push_attributes(config, &mut out);
    out.trim_start_matches("; ").to_owned()
}

/// The name of the bound cookie of device-bound sessions: the session cookie's, plus `-bound`.
pub fn bound_cookie_name(config: &Config) -> String {
    format!("{}-bound", config.cookie_name)
}

fn push_attributes(config: &Config, out: &mut String) {
    if let Some(domain) = &config.cookie_domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; Path=");
    out.push_str(&config.cookie_path);
    if config.cookie_secure {
        out.push_str("; Secure");
    }
    if config.cookie_http_only {
        out.push_str("; HttpOnly");
    }
    out.push_str("; SameSite=");
    out.push_str(config.cookie_same_site.as_str());
}

/// Header name and value every response that sets or clears the session cookie carries, so no
/// shared cache stores a response with someone's token in it.
pub const CACHE_CONTROL: (&str, &str) = ("Cache-Control", "no-store");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SameSite;

    #[test]
    fn finds_one_cookie_among_many_with_odd_spacing() {
        let h = "a=1;b=2 ;  __Host-session = tok ;c=\"q\"";
        assert_eq!(
            find_session_cookie(h, "__Host-session"),
            CookieToken::One("tok")
        );
        assert_eq!(find_session_cookie(h, "c"), CookieToken::One("q"));
        assert_eq!(find_session_cookie(h, "missing"), CookieToken::Absent);
        assert_eq!(find_session_cookie("", "a"), CookieToken::Absent);
        assert_eq!(find_session_cookie("novalue; a", "a"), CookieToken::Absent);
    }

    #[test]
    fn names_are_case_sensitive_and_prefixes_do_not_match() {
        assert_eq!(find_session_cookie("SID=1", "sid"), CookieToken::Absent);
        assert_eq!(find_session_cookie("sidx=1", "sid"), CookieToken::Absent);
        assert_eq!(find_session_cookie("xsid=1", "sid"), CookieToken::Absent);
    }

    #[test]
    fn two_cookies_of_the_session_name_are_ambiguous_in_any_order() {
        assert_eq!(
            find_session_cookie("sid=good; sid=tossed", "sid"),
            CookieToken::Ambiguous
        );
        assert_eq!(
            find_session_cookie("sid=tossed; x=1; sid=good", "sid"),
            CookieToken::Ambiguous
        );
        assert_eq!(
            find_session_cookie("sid=; sid=good", "sid"),
            CookieToken::Ambiguous
        );
        assert_eq!(CookieToken::Ambiguous.value(), None);
    }

    #[test]
    fn debug_never_shows_the_value() {
        let t = Token::generate().unwrap().expose();
        let shown = format!("{:?}", CookieToken::One(&t));
        assert_eq!(shown, "One(<redacted>)");
        assert!(!shown.contains(&t));
    }

    #[test]
    fn set_and_clear_follow_the_config() {
        let c = Config {
            cookie_name: "sid".into(),
            cookie_secure: false,
            cookie_http_only: false,
            cookie_same_site: SameSite::Strict,
            cookie_path: "/app".into(),
            cookie_domain: Some("example.com".into()),
            cookie_max_age: Some(Duration::from_secs(3600)),
            ..Config::default()
        };
        let t = Token::generate().unwrap();
        assert_eq!(
            set_cookie(&c, &t),
            format!(
                "sid={}; Max-Age=3600; Domain=example.com; Path=/app; SameSite=Strict",
                t.expose()
            )
        );
        assert_eq!(
            clear_cookie(&c),
            "sid=; Max-Age=0; Domain=example.com; Path=/app; SameSite=Strict"
        );
    }
}
