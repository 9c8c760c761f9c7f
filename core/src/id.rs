//! Session ids: the public, non-replayable name of a session.
//!
//! Stores key sessions by `BLAKE3-derive-key("tessera 2026-11 session id v1", token)`, never by the
//! token itself, so a dump of the store, a log line or an admin page that shows ids cannot be
//! turned back into a cookie.

use std::fmt;

use blake3::hazmat::{ContextKey, HasherExt as _, hash_derive_key_context};

use crate::error::{Error, Result};
use crate::token::Token;

/// The BLAKE3 derive-key context for session ids. Changing it changes every id: never do.
pub const ID_CONTEXT: &str = "tessera 2026-11 session id v1";
/// The derive-key context that turns a configured pepper into a keyed-hash key.
pub const PEPPER_CONTEXT: &str = "tessera 2026-11 session id pepper v1";

/// The public id of a session: 32 bytes, shown as 64 lowercase hex digits.
///
/// Safe to log, list on an admin page or use for "revoke this device". Ids are uniformly
/// distributed, so their first 8 bytes serve directly as a hash.
///
/// ```
/// use tessera::SessionId;
/// let hex = "00".repeat(32);
/// let id: SessionId = hex.parse().unwrap();
/// assert_eq!(id.to_string(), hex);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 32]);

impl SessionId {
    /// The id from its raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 bytes as an integer: a ready-made hash.
    #[inline]
    pub fn prefix(&self) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(head)
    }

    /// Parse 64 hex digits (either case).
    ///
    /// # Errors
    /// `invalid_argument` for anything else.
    pub fn parse_hex(text: &str) -> Result<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(Error::invalid_argument(
                "a session id is 64 hexadecimal digits",
            ));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => out[i] = hi << 4 | lo,
                _ => {
                    return Err(Error::invalid_argument(
                        "a session id is 64 hexadecimal digits",
                    ));
                }
            }
        }
        Ok(SessionId(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for SessionId {
    /// Lowercase hex, written in one piece: events, listings and every binding's `id` print it,
    /// and 32 formatted writes cost more than the validate that found the session.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 64];
        for (pair, b) in text.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        f.pad(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::str::FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SessionId::parse_hex(s)
    }
}

/// Turns tokens into ids. Built once per manager so the per-call cost is one BLAKE3 compression.
#[derive(Clone)]
pub(crate) enum IdDeriver {
    /// `derive_key(ID_CONTEXT, token)` with the context pre-hashed.
    Plain(ContextKey),
    /// `keyed_hash(derive_key(PEPPER_CONTEXT, pepper), token)`.
    Peppered([u8; 32]),
}

impl IdDeriver {
    pub(crate) fn new(pepper: Option<&[u8]>) -> Self {
        match pepper {
            None => IdDeriver::Plain(hash_derive_key_context(ID_CONTEXT)),
            Some(pepper) => IdDeriver::Peppered(blake3::derive_key(PEPPER_CONTEXT, pepper)),
        }
    }

    #[inline]
    pub(crate) fn derive(&self, token: &Token) -> SessionId {
        let hash = match self {
            IdDeriver::Plain(context_key) => {
                let mut hasher = blake3::Hasher::new_from_context_key(context_key);
                hasher.update(token.as_bytes());
                hasher.finalize()
            }
            IdDeriver::Peppered(key) => blake3::keyed_hash(key, token.as_bytes()),
        };
        SessionId(*hash.as_bytes())
    }
}

impl fmt::Debug for IdDeriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pepper is a secret too.
        match self {
            IdDeriver::Plain(_) => f.write_str("IdDeriver::Plain"),
            IdDeriver::Peppered(_) => f.write_str("IdDeriver::Peppered(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_blake3_derive_key_of_the_token_bytes() {
        let token = Token::generate().unwrap();
        let id = IdDeriver::new(None).derive(&token);
        let expected = blake3::derive_key(ID_CONTEXT, token.as_bytes());
        assert_eq!(id.as_bytes(), &expected);
    }

    #[test]
    fn a_pepper_changes_every_id() {
        let token = Token::generate().unwrap();
        let plain = IdDeriver::new(None).derive(&token);
        let a = IdDeriver::new(Some(b"pepper one, 16+ bytes")).derive(&token);
        let b = IdDeriver::new(Some(b"pepper two, 16+ bytes")).derive(&token);
        assert_ne!(plain, a);
        assert_ne!(a, b);
        let key = blake3::derive_key(PEPPER_CONTEXT, b"pepper one, 16+ bytes");
        assert_eq!(
            a.as_bytes(),
            blake3::keyed_hash(&key, token.as_bytes()).as_bytes()
        );
    }

    #[test]
    fn hex_round_trip_and_rejections() {
        let id = IdDeriver::new(None).derive(&Token::generate().unwrap());
        let hex = id.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex.parse::<SessionId>().unwrap(), id);
        assert_eq!(SessionId::parse_hex(&hex.to_uppercase()).unwrap(), id);
        assert!(SessionId::parse_hex(&hex[..63]).is_err());
        assert!(SessionId::parse_hex(&format!("{}g", &hex[..63])).is_err());
        assert!(SessionId::parse_hex("é").is_err());
        let mut bytes = [0u8; 32];
        bytes[0] = 0x0f;
        bytes[1] = 0xa5;
        bytes[31] = 0xff;
        let fixed = SessionId::from_bytes(bytes).to_string();
        assert_eq!(&fixed[..4], "0fa5");
        assert_eq!(&fixed[60..], "00ff");
        assert_eq!(format!("{:>66}", SessionId::from_bytes(bytes)).len(), 66);
    }
}
