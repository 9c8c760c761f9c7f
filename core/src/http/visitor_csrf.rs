//! CSRF tokens for visitors without a session, at no server cost.
//!
//! A login, sign-up or contact form needs a CSRF token before anyone is signed in. Making a
//! session for every visitor who loads such a page would let a bot that fetches the login page
//! fill the store (each record kept for the idle timeout). Instead the visitor gets a random
//! cookie (`<session cookie name>-csrf`, 256 bits, the session cookie's attributes) and the form
//! token is the keyed BLAKE3 hash of that cookie, masked like a session's token (same 86-character
//! form, different on every page). Verifying needs the cookie, the token and the server's key:
//! nothing is stored.
//!
//! **Scopes never mix.** A signed-in session accepts only its own per-session tokens: a token
//! minted for the visitor before login is refused after it, as the session's secret is new. An
//! anonymous session (one that stored something) accepts both its own tokens and its visitor's,
//! because a form rendered before that first write must still post.
//!
//! **The key** is derived from the configured pepper (`BLAKE3-derive-key("tessera 2026-12
//! visitor csrf v1", pepper)`), so every process and host of an app configured alike agrees on
//! it. Without a pepper each manager draws a random key at start: fine for one process; several
//! processes must configure a pepper.

use crate::config::Config;
use crate::csrf::CsrfSecret;
use crate::error::Result;
use crate::token::Token;

const KEY_CONTEXT: &str = "tessera 2026-12 visitor csrf v1";

/// The server's key for visitor tokens, and the name of the visitor cookie.
pub(crate) struct VisitorCsrf {
    key: [u8; 32],
    cookie_name: String,
}

impl VisitorCsrf {
    pub(crate) fn new(config: &Config) -> Result<Self> {
        let key = match &config.pepper {
            Some(pepper) => blake3::derive_key(KEY_CONTEXT, pepper.as_bytes()),
            None => *Token::generate()?.as_bytes(),
        };
        Ok(VisitorCsrf {
            key,
            cookie_name: format!("{}-csrf", config.cookie_name),
        })
    }

    /// The visitor cookie's name.
    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The secret the visitor's form tokens are masked with: bound to its cookie value.
    pub(crate) fn secret(&self, cookie: &Token) -> CsrfSecret {
        CsrfSecret::from_bytes(*blake3::keyed_hash(&self.key, cookie.as_bytes()).as_bytes())
    }
}

impl std::fmt::Debug for VisitorCsrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorCsrf(<redacted>)")
    }
}

impl Drop for VisitorCsrf {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pepper;

    #[test]
    fn tokens_are_bound_to_the_cookie_and_the_key() {
        let v = VisitorCsrf::new(&Config::default()).unwrap();
        let cookie = Token::generate().unwrap();
        let other = Token::generate().unwrap();
        let token = v.secret(&cookie).mint().unwrap();
        assert!(v.secret(&cookie).verify(&token));
        assert!(!v.secret(&other).verify(&token));
        let elsewhere = VisitorCsrf::new(&Config::default()).unwrap();
        assert!(!elsewhere.secret(&cookie).verify(&token));
        assert_eq!(v.cookie_name(), "__Host-session-csrf");
    }

    #[test]
    fn managers_with_one_pepper_agree() {
        let config = Config {
            pepper: Some(Pepper::new(b"0123456789abcdef0123".to_vec())),
            ..Config::default()
        };
        let a = VisitorCsrf::new(&config).unwrap();
        let b = VisitorCsrf::new(&config).unwrap();
        let cookie = Token::generate().unwrap();
        assert!(b.secret(&cookie).verify(&a.secret(&cookie).mint().unwrap()));
    }
}
