//! Per-session CSRF tokens for state-changing requests.
//!
//! Each session holds a 32-byte random secret. The token put in a form or header is the secret
//! XOR-masked with fresh random bytes (`mask ‖ mask⊕secret`, base64url, 86 characters), so it
//! differs on every page and a compression side channel (BREACH) cannot recover it. Verification
//! unmasks and compares in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::Result;
use crate::token::fill_random;

/// Length of a CSRF token's text form.
pub const CSRF_TOKEN_LEN: usize = 86;

/// A session's CSRF secret. Never printed; zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfSecret(pub(crate) [u8; 32]);

impl CsrfSecret {
    /// What a record holds in place of a secret a read did not copy out
    /// ([`Fields::CSRF`](crate::Fields::CSRF)): all zero, which [`verify`](Self::verify) and
    /// [`mint`](Self::mint) refuse. (A generated secret is all zero with probability 2⁻²⁵⁶.)
    pub const UNREAD: CsrfSecret = CsrfSecret([0; 32]);

    /// A fresh secret from the OS CSPRNG.
    ///
    /// # Errors
    /// `internal` if the OS cannot supply randomness.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(CsrfSecret(bytes))
    }

    /// Rebuild a secret a store persisted.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CsrfSecret(bytes)
    }

    /// The raw bytes, for a store to persist.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A masked token for this secret; every call gives a different string.
    ///
    /// # Errors
    /// `invalid_argument` for [`CsrfSecret::UNREAD`]; `internal` if the OS cannot supply
    /// randomness.
    pub fn mint(&self) -> Result<String> {
        if *self == Self::UNREAD {
            return Err(crate::Error::invalid_argument(
                "no CSRF secret: the session was read without it",
            ));
        }
        let mut buf = [0u8; 64];
        fill_random(&mut buf[..32])?;
        for i in 0..32 {
            buf[32 + i] = buf[i] ^ self.0[i];
        }
        let out = URL_SAFE_NO_PAD.encode(buf);
        buf.zeroize();
        Ok(out)
    }

    /// Whether `candidate` is a token minted for this secret. Constant-time in the secret.
    pub fn verify(&self, candidate: &str) -> bool {
        if candidate.len() != CSRF_TOKEN_LEN || *self == Self::UNREAD {
            return false;
        }
        let mut buf = [0u8; 64];
        let ok = matches!(
            URL_SAFE_NO_PAD.decode_slice(candidate.as_bytes(), &mut buf),
            Ok(64)
        );
        let mut unmasked = [0u8; 32];
        for i in 0..32 {
            unmasked[i] = buf[i] ^ buf[32 + i];
        }
        let equal: bool = unmasked.ct_eq(&self.0).into();
        buf.zeroize();
        unmasked.zeroize();
        ok && equal
    }
}

impl fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(<redacted>)")
    }
}

impl Drop for CsrfSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_differ() {
        let s = CsrfSecret::generate().unwrap();
        let a = s.mint().unwrap();
        let b = s.mint().unwrap();
        assert_eq!(a.len(), CSRF_TOKEN_LEN);
        assert_ne!(a, b);
        assert!(s.verify(&a) && s.verify(&b));
    }

    #[test]
    fn other_sessions_and_garbage_fail() {
        let s = CsrfSecret::generate().unwrap();
        let other = CsrfSecret::generate().unwrap();
        assert!(!s.verify(&other.mint().unwrap()));
        assert!(!s.verify(""));
        assert!(!s.verify(&"A".repeat(86)));
        assert!(!s.verify(&"!".repeat(86)));
        let mut t = s.mint().unwrap();
        t.pop();
        assert!(!s.verify(&t));
        assert!(!format!("{s:?}").contains(&format!("{:?}", s.0)));
    }
}
