//! Policy: timeouts, rotation, limits and cookie attributes, with secure defaults
//! (OWASP session management cheat sheet, NIST SP 800-63B AAL2) and validation that refuses
//! combinations a browser or an attacker would punish.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroize;

use crate::dbsc::key::Alg;
use crate::error::{Error, Result};

/// The `SameSite` cookie attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Sent only on same-site requests, not even on top-level navigations from elsewhere.
    Strict,
    /// Sent on same-site requests and top-level `GET` navigations: the default.
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }

    /// Parse `strict`, `lax` or `none` (any case).
    ///
    /// # Errors
    /// `invalid_config` for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(Error::invalid_config(
                "cookie_same_site must be \"strict\", \"lax\" or \"none\"",
            )),
        }
    }
}

/// A secret mixed into session ids so that ids in a leaked store cannot even be matched against
/// tokens seen elsewhere. At least 16 bytes; never printed; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    /// Wrap the pepper bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Pepper(bytes.into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

impl Drop for Pepper {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The default [`Config::max_sessions`]: 256 MiB at ~256 bytes per anonymous session, what one
/// costs the memory store with its share of the table and the expiry index.
pub const DEFAULT_MAX_SESSIONS: usize = 1 << 20;

/// Everything a [`SessionManager`](crate::SessionManager) enforces.
///
/// Start from [`Config::default`] and change fields (always with `..Config::default()`, so new
/// fields can be added); [`Config::validate`] (called by the manager) rejects bad combinations
/// with `invalid_config` naming the field.
///
/// ```
/// use std::time::Duration;
/// use tessera::Config;
/// let mut config = Config {
///     idle_timeout: Duration::from_secs(10 * 60),
///     max_sessions_per_user: Some(5),
///     ..Config::default()
/// };
/// config.validate().unwrap();
///
/// config.cookie_secure = false; // `__Host-` cookies must be Secure
/// assert!(config.validate().unwrap_err().to_string().contains("cookie_secure"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// A session unused this long ends (`expired_idle`). Default 30 minutes.
    pub idle_timeout: Duration,
    /// A session ends this long after it was created or last logged in (`expired_absolute`),
    /// however active. Default 12 hours.
    pub absolute_timeout: Duration,
    /// A session older than this (since its last rotation) gets a new token on its next
    /// validation; `None` turns periodic rotation off. Default 15 minutes.
    pub rotation_interval: Option<Duration>,
    /// How long a rotated-away token keeps resolving to its successor, so requests already in
    /// flight do not log the user out. Default 30 seconds; must be shorter than the idle timeout.
    pub rotation_grace: Duration,
    /// At login, the least recently seen sessions of the user beyond this many are ended.
    /// Default: no limit.
    pub max_sessions_per_user: Option<usize>,
    /// Cap on the live sessions of the store. At the cap, a new session first evicts the least
    /// recently seen *anonymous* sessions; signed-in sessions are never evicted for it, and a
    /// new anonymous session that finds nothing to evict is refused (`store_full`, HTTP 503
    /// from the middlewares). A sign-in is never refused: it is bounded by the accounts and
    /// `max_sessions_per_user`. Default [`DEFAULT_MAX_SESSIONS`] (a 256 MiB budget at the memory
    /// store's ~256 bytes per anonymous session); `None` for no cap.
    pub max_sessions: Option<usize>,
    /// Cap on the serialized size of a session's data, in bytes. Default 64 KiB.
    pub max_data_bytes: usize,
    /// Whether [`login`](crate::SessionManager::login) carries the pre-login session's data into
    /// the new session (a cart survives signing in). Default true.
    pub login_keeps_data: bool,
    /// Optional secret mixed into session ids. Default none.
    pub pepper: Option<Pepper>,
    /// Cookie name. Default `__Host-session`, which browsers only accept with `Secure`,
    /// `Path=/` and no `Domain`, so a sibling subdomain cannot plant or shadow it.
    pub cookie_name: String,
    /// `Secure` attribute. Default true.
    pub cookie_secure: bool,
    /// `HttpOnly` attribute. Default true: scripts cannot read the token.
    pub cookie_http_only: bool,
    /// `SameSite` attribute. Default `Lax`.
    pub cookie_same_site: SameSite,
    /// `Path` attribute. Default `/`.
    pub cookie_path: String,
    /// `Domain` attribute. Default none (host-only cookie).
    pub cookie_domain: Option<String>,
    /// `Max-Age` attribute. Default none: a browser-session cookie, never a persistent login.
    pub cookie_max_age: Option<Duration>,
    /// Device-bound sessions (DBSC, `docs/dbsc.md`): `None` (the default) leaves them off.
    pub dbsc: Option<Dbsc>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 60 * 60),
            rotation_interval: Some(Duration::from_secs(15 * 60)),
            rotation_grace: Duration::from_secs(30),
            max_sessions_per_user: None,
            max_sessions: Some(DEFAULT_MAX_SESSIONS),
            max_data_bytes: 64 * 1024,
            login_keeps_data: true,
            pepper: None,
            cookie_name: "__Host-session".to_owned(),
            cookie_secure: true,
            cookie_http_only: true,
            cookie_same_site: SameSite::Lax,
            cookie_path: "/".to_owned(),
            cookie_domain: None,
            cookie_max_age: None,
            dbsc: None,
        }
    }
}

/// The shortest bound-cookie lifetime allowed: Chromium signs at most 6 proofs per 9 minutes and
/// refreshes 2 minutes before expiry, so a shorter cookie would outrun its quota.
pub const MIN_DBSC_COOKIE_TTL: Duration = Duration::from_secs(5 * 60);

/// Device-bound session settings. `Dbsc::default()` is the recommended policy.
///
/// ```
/// use tessera::config::{Config, Dbsc};
/// let config = Config { dbsc: Some(Dbsc::default()), ..Config::default() };
/// config.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dbsc {
    /// The algorithms offered, in order of preference (ES256, RS256; `none` does not exist here).
    pub algorithms: Vec<Alg>,
    /// Lifetime of a bound cookie (default 10 min, at least [`MIN_DBSC_COOKIE_TTL`]).
    pub cookie_ttl: Duration,
    /// How long a refresh challenge may be answered (default 60 s).
    pub challenge_ttl: Duration,
    /// How long a registration offer may be taken up (default 2 min).
    pub registration_ttl: Duration,
    /// After registration, how long requests without a bound cookie still pass (default 10 s):
    /// the browser may not have stored the first one yet.
    pub enforce_grace: Duration,
    /// Where the two endpoints live: `<prefix>/register`, `<prefix>/refresh`.
    pub path_prefix: String,
    /// `scheme://host[:port]` for the session config's `scope.origin`; `None` takes the
    /// request's own origin as the framework resolves it (set it behind a proxy).
    pub origin: Option<String>,
    /// Whether the binding covers the whole site rather than the origin.
    pub include_site: bool,
    /// A refresh proof that fails verification also revokes the session (the default only
    /// ends the browser's DBSC session and keeps the Tessera session).
    pub revoke_on_bad_proof: bool,
}

impl Default for Dbsc {
    fn default() -> Self {
        Dbsc {
            algorithms: vec![Alg::Es256, Alg::Rs256],
            cookie_ttl: Duration::from_secs(10 * 60),
            challenge_ttl: Duration::from_secs(60),
            registration_ttl: Duration::from_secs(2 * 60),
            enforce_grace: Duration::from_secs(10),
            path_prefix: "/_tessera/dbsc".to_owned(),
            origin: None,
            include_site: false,
            revoke_on_bad_proof: false,
        }
    }
}

impl Dbsc {
    fn validate(&self, config: &Config) -> Result<()> {
        let bad = |msg: &str| Err(Error::invalid_config(msg));
        if self.algorithms.is_empty() {
            return bad("dbsc_algorithms must name at least one of ES256, RS256");
        }
        if self.cookie_ttl < MIN_DBSC_COOKIE_TTL {
            return bad("dbsc_cookie_ttl must be at least 5 minutes (Chromium's signing quota)");
        }
        if self.challenge_ttl.is_zero() || self.registration_ttl.is_zero() {
            return bad("dbsc_challenge_ttl and dbsc_registration_ttl must be greater than zero");
        }
        let prefix = &self.path_prefix;
        let path_ok = prefix.starts_with('/')
            && !prefix.ends_with('/')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
        if !path_ok {
            return bad(
                "dbsc_path_prefix must start with / and not end with one, in [A-Za-z0-9/-._~]",
            );
        }
        if let Some(origin) = &self.origin {
            // Browsers treat loopback as a secure context: those may be named over plain HTTP.
            let rest = origin.strip_prefix("https://").or_else(|| {
                ["http://localhost", "http://127.0.0.1", "http://[::1]"]
                    .iter()
                    .find_map(|p| origin.strip_prefix(p))
                    .filter(|r| r.is_empty() || r.starts_with(':'))
            });
            let ok = rest.is_some_and(|r| {
                !r.contains('/')
                    && r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
            if !ok {
                return bad(
                    "dbsc_origin must be https://host[:port], or http:// on a loopback host (no path)",
                );
            }
        }
        if !config.cookie_secure {
            return bad("dbsc needs cookie_secure: a device-bound session is HTTPS-only");
        }
        Ok(())
    }
}

impl Config {
    /// Check every field and combination.
    ///
    /// # Errors
    /// `invalid_config`, with a message that names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| Err(Error::invalid_config(msg));
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout must be greater than zero");
        }
        if self.absolute_timeout.is_zero() {
            return bad("absolute_timeout must be greater than zero");
        }
        if self.idle_timeout > self.absolute_timeout {
            return bad("idle_timeout must not exceed absolute_timeout");
        }
        if self.rotation_interval.is_some_and(|d| d.is_zero()) {
            return bad(
                "rotation_interval must be greater than zero (use none to disable rotation)",
            );
        }
        if self.rotation_grace >= self.idle_timeout {
            return bad("rotation_grace must be shorter than idle_timeout");
        }
        if self.max_sessions == Some(0) {
            return bad("max_sessions must be at least 1 (or none for no cap)");
        }
        if self.max_sessions_per_user == Some(0) {
            return bad("max_sessions_per_user must be at least 1 (or none for no limit)");
        }
        if self.max_data_bytes < 2 {
            return bad("max_data_bytes must be at least 2 (the empty object {})");
        }
        if self
            .pepper
            .as_ref()
            .is_some_and(|p| p.as_bytes().len() < 16)
        {
            return bad("pepper must be at least 16 bytes");
        }
        self.validate_cookie()?;
        match &self.dbsc {
            Some(d) => d.validate(self),
            None => Ok(()),
        }
    }

    fn validate_cookie(&self) -> Result<()> {
        let bad = |msg: &str| Err(Error::invalid_config(msg));
        let name = &self.cookie_name;
        if name.is_empty() || !name.bytes().all(is_cookie_name_char) {
            return bad(
                "cookie_name must be a non-empty RFC 6265 token (letters, digits, !#$%&'*+-.^_`|~)",
            );
        }
        if !self.cookie_path.starts_with('/') || !self.cookie_path.bytes().all(is_attr_char) {
            return bad("cookie_path must start with / and contain no control characters or ';'");
        }
        if let Some(domain) = &self.cookie_domain {
            let ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return bad("cookie_domain must be a host name (letters, digits, '-' and '.')");
            }
        }
        if self.cookie_max_age.is_some_and(|d| d.as_secs() == 0) {
            return bad(
                "cookie_max_age must be at least one second (or none for a browser-session cookie)",
            );
        }
        if name.starts_with("__Host-") {
            if !self.cookie_secure {
                return bad("cookie_secure must be true for a __Host- cookie_name");
            }
            if self.cookie_path != "/" {
                return bad("cookie_path must be / for a __Host- cookie_name");
            }
            if self.cookie_domain.is_some() {
                return bad("cookie_domain must be unset for a __Host- cookie_name");
            }
        }
        if name.starts_with("__Secure-") && !self.cookie_secure {
            return bad("cookie_secure must be true for a __Secure- cookie_name");
        }
        if self.cookie_same_site == SameSite::None && !self.cookie_secure {
            return bad("cookie_secure must be true when cookie_same_site is none");
        }
        Ok(())
    }
}

/// RFC 6265 `cookie-name` is an RFC 2616 `token`: visible ASCII minus separators.
fn is_cookie_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_attr_char(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b';'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: &Config) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_secure() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.absolute_timeout, Duration::from_secs(43200));
        assert_eq!(c.rotation_interval, Some(Duration::from_secs(900)));
        assert_eq!(c.rotation_grace, Duration::from_secs(30));
        assert_eq!(c.cookie_name, "__Host-session");
        assert!(c.cookie_secure && c.cookie_http_only);
        assert_eq!(c.cookie_same_site, SameSite::Lax);
        assert_eq!(c.cookie_path, "/");
        assert!(c.cookie_domain.is_none() && c.cookie_max_age.is_none());
        assert_eq!(c.max_data_bytes, 65536);
    }

    #[test]
    fn each_bad_combination_names_its_field() {
        type Case = (fn(&mut Config), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.idle_timeout = Duration::ZERO, "idle_timeout"),
            (|c| c.absolute_timeout = Duration::ZERO, "absolute_timeout"),
            (
                |c| c.idle_timeout = Duration::from_secs(86400),
                "idle_timeout must not exceed",
            ),
            (
                |c| c.rotation_interval = Some(Duration::ZERO),
                "rotation_interval",
            ),
            (
                |c| c.rotation_grace = Duration::from_secs(1800),
                "rotation_grace",
            ),
            (
                |c| c.max_sessions_per_user = Some(0),
                "max_sessions_per_user",
            ),
            (|c| c.max_sessions = Some(0), "max_sessions"),
            (|c| c.max_data_bytes = 1, "max_data_bytes"),
            (
                |c| c.pepper = Some(Pepper::new(b"short".to_vec())),
                "pepper",
            ),
            (|c| c.cookie_name = String::new(), "cookie_name"),
            (|c| c.cookie_name = "a b".into(), "cookie_name"),
            (|c| c.cookie_name = "sess=1".into(), "cookie_name"),
            (|c| c.cookie_secure = false, "cookie_secure"),
            (|c| c.cookie_path = "/app".into(), "cookie_path must be /"),
            (
                |c| c.cookie_domain = Some("example.com".into()),
                "cookie_domain must be unset",
            ),
            (
                |c| c.cookie_max_age = Some(Duration::ZERO),
                "cookie_max_age",
            ),
            (
                |c| {
                    c.cookie_name = "__Secure-s".into();
                    c.cookie_secure = false;
                },
                "cookie_secure must be true for a __Secure-",
            ),
            (
                |c| {
                    c.cookie_name = "sid".into();
                    c.cookie_secure = false;
                    c.cookie_same_site = SameSite::None;
                },
                "cookie_same_site is none",
            ),
            (
                |c| {
                    c.cookie_name = "sid".into();
                    c.cookie_path = "x".into();
                },
                "cookie_path must start",
            ),
            (
                |c| {
                    c.cookie_name = "sid".into();
                    c.cookie_path = "/a;b".into();
                },
                "cookie_path",
            ),
            (
                |c| {
                    c.cookie_name = "sid".into();
                    c.cookie_domain = Some("evil.com; Secure".into());
                },
                "cookie_domain must be a host",
            ),
        ];
        for (mutate, field) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            let msg = err(&c);
            assert!(msg.starts_with("invalid_config: "), "{msg}");
            assert!(msg.contains(field), "{msg} should name {field}");
        }
    }

    #[test]
    fn plain_names_may_drop_secure_for_local_http() {
        let c = Config {
            cookie_name: "sid".into(),
            cookie_secure: false,
            cookie_path: "/app".into(),
            cookie_domain: Some("example.com".into()),
            rotation_interval: None,
            rotation_grace: Duration::ZERO,
            ..Config::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn pepper_is_redacted() {
        let c = Config {
            pepper: Some(Pepper::new(b"a very secret pepper".to_vec())),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("very secret"));
    }

    #[test]
    fn same_site_parses() {
        assert_eq!(SameSite::parse("STRICT").unwrap(), SameSite::Strict);
        assert_eq!(SameSite::parse("none").unwrap().as_str(), "None");
        assert!(SameSite::parse("sometimes").is_err());
    }
}
