//! The bearer token a client holds: 32 bytes from the operating system's CSPRNG.
//!
//! A token's text form is its cookie value: base64url without padding, exactly 43 characters.
//! Parsing is strict — length, alphabet and canonical encoding are checked before anything looks
//! at a store — so a malformed cookie costs a few nanoseconds and leaks nothing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Reason, Result};

/// Bytes of entropy in a token.
pub const TOKEN_BYTES: usize = 32;
/// Length of a token's text form (base64url, no padding).
pub const TOKEN_LEN: usize = 43;

/// A session token: the secret that proves possession of a session.
///
/// The value is never printed: `Debug` shows `Token(<redacted>)` and there is no `Display`.
/// Equality is constant-time and the bytes are zeroed when the token is dropped. Only
/// [`Token::expose`] and [`Token::encode_into`] reveal it, for writing the cookie.
///
/// ```
/// use tessera::Token;
/// let token = Token::generate().unwrap();
/// let text = token.expose();
/// assert_eq!(text.len(), 43);
/// assert_eq!(Token::parse(&text).unwrap(), token);
/// assert_eq!(format!("{token:?}"), "Token(<redacted>)");
/// ```
#[derive(Clone)]
pub struct Token([u8; TOKEN_BYTES]);

impl Token {
    /// A fresh token from the OS CSPRNG (`getrandom`).
    ///
    /// The OS source is used directly rather than a user-space generator so that forked worker
    /// processes (gunicorn `--preload`, cluster mode) can never share generator state and mint
    /// the same token.
    ///
    /// # Errors
    /// `internal` if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; TOKEN_BYTES];
        fill_random(&mut bytes)?;
        Ok(Token(bytes))
    }

    /// Parse a token's text form.
    ///
    /// # Errors
    /// [`Reason::Malformed`] unless `text` is exactly 43 characters of canonical base64url.
    pub fn parse(text: &str) -> Result<Self, Reason> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parse a token from raw bytes (which need not be UTF-8).
    ///
    /// # Errors
    /// [`Reason::Malformed`] unless `bytes` is exactly 43 characters of canonical base64url.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, Reason> {
        if bytes.len() != TOKEN_LEN {
            return Err(Reason::Malformed);
        }
        let mut out = [0u8; TOKEN_BYTES];
        // The engine rejects characters outside the URL-safe alphabet, padding, and non-zero
        // trailing bits, so each token has exactly one accepted spelling.
        match URL_SAFE_NO_PAD.decode_slice(bytes, &mut out) {
            Ok(TOKEN_BYTES) => Ok(Token(out)),
            _ => {
                out.zeroize();
                Err(Reason::Malformed)
            }
        }
    }

    /// The token's text form, for the `Set-Cookie` header and nothing else.
    pub fn expose(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Write the text form into a caller-supplied buffer (no allocation).
    pub fn encode_into(&self, out: &mut [u8; TOKEN_LEN]) {
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, out)
            .expect("43 bytes always hold a 32-byte token");
        debug_assert_eq!(written, TOKEN_LEN);
    }

    pub(crate) fn as_bytes(&self) -> &[u8; TOKEN_BYTES] {
        &self.0
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A fresh token and a fresh CSRF secret from one OS draw: every new session needs both, and
/// the system call (no vDSO for `getrandom` in this glibc) costs more than the rest of a
/// create. Still the OS source, once per session: nothing in user space survives a `fork()`.
pub(crate) fn token_and_csrf() -> Result<(Token, crate::csrf::CsrfSecret)> {
    let mut bytes = [0u8; TOKEN_BYTES + 32];
    let drawn = fill_random(&mut bytes);
    let mut token = [0u8; TOKEN_BYTES];
    let mut csrf = [0u8; 32];
    token.copy_from_slice(&bytes[..TOKEN_BYTES]);
    csrf.copy_from_slice(&bytes[TOKEN_BYTES..]);
    bytes.zeroize();
    let pair = (Token(token), crate::csrf::CsrfSecret::from_bytes(csrf));
    token.zeroize();
    csrf.zeroize();
    drawn.map(|()| pair)
}

/// Fill `buf` from the OS CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    rand::rngs::SysRng.try_fill_bytes(buf).map_err(|e| {
        Error::internal(format!(
            "the operating system could not supply randomness: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_chars_and_parse_back() {
        let t = Token::generate().unwrap();
        let s = t.expose();
        assert_eq!(s.len(), TOKEN_LEN);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Token::parse(&s).unwrap(), t);
        let mut buf = [0u8; TOKEN_LEN];
        t.encode_into(&mut buf);
        assert_eq!(&buf[..], s.as_bytes());
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(Token::generate().unwrap(), Token::generate().unwrap());
    }

    #[test]
    fn rejects_wrong_length_alphabet_padding_and_non_canonical_spellings() {
        let good = Token::generate().unwrap().expose();
        assert!(Token::parse(&good[..42]).is_err());
        assert!(Token::parse(&format!("{good}A")).is_err());
        assert!(Token::parse("").is_err());
        let plus = format!("+{}", &good[1..]);
        assert_eq!(Token::parse(&plus), Err(Reason::Malformed));
        let padded = format!("{}=", &good[..42]);
        assert_eq!(Token::parse(&padded), Err(Reason::Malformed));
        // 43 chars carry 258 bits; the last 2 must be zero. 'A' is 0, 'B' sets the lowest bit.
        let base = format!("{}A", &good[..42]);
        let noncanonical = format!("{}B", &good[..42]);
        let canonical_ok = Token::parse(&base).is_ok();
        assert!(canonical_ok);
        assert_eq!(Token::parse(&noncanonical), Err(Reason::Malformed));
        assert!(Token::parse_bytes(&[0xff; TOKEN_LEN]).is_err());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let t = Token::generate().unwrap();
        let shown = format!("{t:?} {:?}", Some(t.clone()));
        assert!(!shown.contains(&t.expose()));
        assert!(shown.contains("redacted"));
    }
}
