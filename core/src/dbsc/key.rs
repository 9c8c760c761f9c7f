//! The public keys a DBSC proof may carry, and their signature check.
//!
//! Two kinds only, each pinned to one JWS algorithm: a P-256 point for `ES256` (ECDSA, SHA-256,
//! raw 64-byte `r‖s` signature) and an RSA key of 2048 to 4096 bits with exponent 65537 for
//! `RS256` (RSASSA-PKCS1-v1_5, SHA-256). All cryptography is `ring`'s.
//!
//! Keys are stored as their canonical JWK text ([`PublicKey::to_jwk_json`]): exactly the RFC 7638
//! thumbprint input (required members only, lexicographic order, no whitespace), so the stored
//! text, the thumbprint and the key are one thing.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::agreement;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::proof::ProofFailure;

/// Smallest accepted RSA modulus, in bits (NIST SP 800-131A; what `ring`'s verifier requires).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits: bounds the verification cost an attacker can ask for.
pub const RSA_MAX_BITS: usize = 4096;
/// The one RSA public exponent accepted (65537), big-endian without leading zeros.
const RSA_E: [u8; 3] = [1, 0, 1];

/// A JWS algorithm Tessera accepts in a DBSC proof. `none` is deliberately not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA on P-256 with SHA-256, raw `r‖s` signature (RFC 7518 §3.4).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
}

impl Alg {
    /// The JOSE name: `"ES256"` or `"RS256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }

    /// Reads a JOSE `alg` value. Exact, case-sensitive match of `"ES256"` or `"RS256"`;
    /// `"none"` and every other algorithm give `None`.
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "ES256" => Some(Alg::Es256),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated DBSC public key. Every value of this type passed the checks of
/// [`PublicKey::from_jwk`] (or came from a stored canonical text, see
/// [`PublicKey::from_jwk_json`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 point, uncompressed SEC1 form `04 ‖ x ‖ y` (32 bytes each).
    P256 {
        /// `04 ‖ x ‖ y`.
        point: [u8; 65],
    },
    /// An RSA public key; both numbers big-endian without leading zero bytes.
    Rsa {
        /// The modulus, 2048 to 4096 bits.
        n: Box<[u8]>,
        /// The public exponent, always 65537 (`01 00 01`).
        e: Box<[u8]>,
    },
}

impl PublicKey {
    /// The algorithm this key is pinned to: `P256` signs `ES256`, `Rsa` signs `RS256`.
    pub fn alg(&self) -> Alg {
        match self {
            PublicKey::P256 { .. } => Alg::Es256,
            PublicKey::Rsa { .. } => Alg::Rs256,
        }
    }

    /// Reads a public JWK (RFC 7517) as the `jwk` member of a registration proof carries it.
    ///
    /// Accepted: `{"kty":"EC","crv":"P-256","x":…,"y":…}` with `x`, `y` exactly 32 bytes each
    /// and the point on the curve; `{"kty":"RSA","n":…,"e":…}` with `e` = 65537 and `n` of 2048
    /// to 4096 bits (leading zero bytes are stripped before counting). Numbers are strict
    /// base64url without padding. Other members (`kid`, `use`, `alg`, …) are ignored; a
    /// duplicate of a member read here is refused.
    ///
    /// # Errors
    /// - [`ProofFailure::BadJwk`]: not an object, missing or mistyped members, unknown `kty` or
    ///   `crv`, wrong lengths, a point not on P-256, an even modulus, a modulus over 4096 bits,
    ///   an exponent other than 65537, or any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`,
    ///   `oth`, `k`) — a client that sends its private key has lost it.
    /// - [`ProofFailure::WeakKey`]: an RSA modulus under 2048 bits.
    pub fn from_jwk(jwk: &Value) -> Result<PublicKey, ProofFailure> {
        let Object(members) =
            Object::<JwkMembers>::deserialize(jwk).map_err(|_| ProofFailure::BadJwk)?;
        members.into_key(PointCheck::Full)
    }

    /// The canonical JWK text, for storage: the RFC 7638 thumbprint input, e.g.
    /// `{"crv":"P-256","kty":"EC","x":"…","y":"…"}` or `{"e":"AQAB","kty":"RSA","n":"…"}`.
    pub fn to_jwk_json(&self) -> String {
        match self {
            PublicKey::P256 { point } => to_json(&EcCanonical {
                crv: "P-256",
                kty: "EC",
                x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
            PublicKey::Rsa { n, e } => to_json(&RsaCanonical {
                e: URL_SAFE_NO_PAD.encode(e),
                kty: "RSA",
                n: URL_SAFE_NO_PAD.encode(n),
            }),
        }
    }

    /// Reads back what [`PublicKey::to_jwk_json`] wrote. Only the canonical text is accepted
    /// (anything else is not something Tessera stored), and the key rules of
    /// [`PublicKey::from_jwk`] apply, except that a P-256 point is not re-checked against the
    /// curve here: that check costs a scalar multiplication, a stored key passed it at
    /// registration, and `ring`'s verifier refuses an off-curve point anyway (as a bad
    /// signature).
    ///
    /// # Errors
    /// [`ProofFailure::BadJwk`] (or [`ProofFailure::WeakKey`]) for anything else.
    pub fn from_jwk_json(s: &str) -> Result<PublicKey, ProofFailure> {
        let members: JwkMembers =
            parse_json_object(s.as_bytes()).map_err(|_| ProofFailure::BadJwk)?;
        let key = members.into_key(PointCheck::Encoding)?;
        if key.to_jwk_json() != s {
            return Err(ProofFailure::BadJwk);
        }
        Ok(key)
    }

    /// The RFC 7638 JWK thumbprint: SHA-256 of [`PublicKey::to_jwk_json`]. Names the key in
    /// listings, events and logs (base64url it for display).
    pub fn thumbprint(&self) -> [u8; 32] {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.to_jwk_json().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }

    /// Checks a JWS signature made with this key's algorithm over `message`.
    ///
    /// `ES256`: exactly 64 bytes, raw `r‖s` (a DER signature is refused). `RS256`: exactly the
    /// modulus length.
    ///
    /// # Errors
    /// [`ProofFailure::BadSignature`] for a wrong length or a signature that does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ProofFailure> {
        let ok = match self {
            PublicKey::P256 { point } => {
                signature.len() == 64
                    && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point[..])
                        .verify(message, signature)
                        .is_ok()
            }
            PublicKey::Rsa { n, e } => {
                signature.len() == n.len()
                    && RsaPublicKeyComponents {
                        n: &n[..],
                        e: &e[..],
                    }
                    .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                    .is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(ProofFailure::BadSignature)
        }
    }
}

/// How much of a P-256 point [`JwkMembers::into_key`] checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PointCheck {
    /// Lengths only (stored keys, see [`PublicKey::from_jwk_json`]).
    Encoding,
    /// Lengths and curve membership (keys arriving from a client).
    Full,
}

/// The JWK members Tessera reads. Every field is loosely typed so that a wrong type is a
/// `BadJwk` decided here rather than a parse error; serde's derive still refuses a duplicate of
/// any of them.
#[derive(Deserialize)]
pub(super) struct JwkMembers {
    kty: Option<Value>,
    crv: Option<Value>,
    x: Option<Value>,
    y: Option<Value>,
    n: Option<Value>,
    e: Option<Value>,
    #[serde(default)]
    d: Present,
    #[serde(default)]
    p: Present,
    #[serde(default)]
    q: Present,
    #[serde(default)]
    dp: Present,
    #[serde(default)]
    dq: Present,
    #[serde(default)]
    qi: Present,
    #[serde(default)]
    oth: Present,
    #[serde(default)]
    k: Present,
}

impl JwkMembers {
    pub(super) fn into_key(self, point_check: PointCheck) -> Result<PublicKey, ProofFailure> {
        let private = [
            &self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi, &self.oth, &self.k,
        ];
        if private.iter().any(|m| m.0) {
            return Err(ProofFailure::BadJwk);
        }
        match str_member(&self.kty)? {
            "EC" => {
                if str_member(&self.crv)? != "P-256" {
                    return Err(ProofFailure::BadJwk);
                }
                let x = b64_member(&self.x)?;
                let y = b64_member(&self.y)?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(ProofFailure::BadJwk);
                }
                let mut point = [0u8; 65];
                point[0] = 0x04;
                point[1..33].copy_from_slice(&x);
                point[33..].copy_from_slice(&y);
                if point_check == PointCheck::Full && !p256_point_is_valid(&point) {
                    return Err(ProofFailure::BadJwk);
                }
                Ok(PublicKey::P256 { point })
            }
            "RSA" => {
                let n = b64_member(&self.n)?;
                let e = b64_member(&self.e)?;
                if strip_leading_zeros(&e) != RSA_E {
                    return Err(ProofFailure::BadJwk);
                }
                let n = strip_leading_zeros(&n);
                let bits = match n.first() {
                    Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
                    None => return Err(ProofFailure::BadJwk),
                };
                if bits < RSA_MIN_BITS {
                    return Err(ProofFailure::WeakKey);
                }
                // An even modulus is not an RSA modulus; `ring` would refuse it at every
                // verification, better to say so once, here.
                if bits > RSA_MAX_BITS || n.last().is_some_and(|b| b & 1 == 0) {
                    return Err(ProofFailure::BadJwk);
                }
                Ok(PublicKey::Rsa {
                    n: n.into(),
                    e: RSA_E.into(),
                })
            }
            _ => Err(ProofFailure::BadJwk),
        }
    }
}

/// The registration check for a P-256 point. `ring` exposes curve-membership validation only
/// inside its verifiers and key agreement; an ECDH agreement with a throwaway key runs exactly
/// that validation (`agree_ephemeral` refuses a peer point not on the curve) and nothing of
/// ours. Cost: one key generation and one scalar multiplication, at registration only.
fn p256_point_is_valid(point: &[u8; 65]) -> bool {
    let rng = SystemRandom::new();
    // If the OS cannot supply randomness the key is refused: fail closed.
    let Ok(mine) = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng) else {
        return false;
    };
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point[..]);
    agreement::agree_ephemeral(mine, &peer, |_| ()).is_ok()
}

fn str_member(v: &Option<Value>) -> Result<&str, ProofFailure> {
    v.as_ref()
        .and_then(Value::as_str)
        .ok_or(ProofFailure::BadJwk)
}

fn b64_member(v: &Option<Value>) -> Result<Vec<u8>, ProofFailure> {
    URL_SAFE_NO_PAD
        .decode(str_member(v)?)
        .map_err(|_| ProofFailure::BadJwk)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[derive(Serialize)]
struct EcCanonical {
    crv: &'static str,
    kty: &'static str,
    x: String,
    y: String,
}

#[derive(Serialize)]
struct RsaCanonical {
    e: String,
    kty: &'static str,
    n: String,
}

/// Serializes a struct of strings, booleans and sequences thereof, which cannot fail.
pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("structs of strings and booleans always serialize")
}

/// A member whose mere presence matters (private JWK members, `crit`, `authorization`): any
/// value, `null` included, counts. Absent members take the default, `Present(false)`.
#[derive(Default)]
pub(super) struct Present(pub(super) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

/// A JSON object deserialized into `T`. serde's derived structs also accept a JSON array
/// (fields by position); JOSE headers, payloads and JWKs are objects only.
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

/// The `jwk` member of a registration header: the members when it is an object, or the fact
/// that it is something else (a `BadJwk`, not a malformed header).
pub(super) enum JwkField {
    /// An object; its members.
    Members(JwkMembers),
    /// Any other JSON value.
    NotAnObject,
}

impl<'de> Deserialize<'de> for JwkField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = JwkField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<JwkField, A::Error> {
                JwkMembers::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(JwkField::Members)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JwkField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JwkField::NotAnObject)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<JwkField, E> {
                Ok(JwkField::NotAnObject)
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

/// Parses `bytes` as one JSON object into `T` (duplicate known members refused by serde's
/// derive, trailing data refused by `serde_json`).
pub(super) fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<Object<T>>(bytes).map(|Object(t)| t)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    };
    use serde_json::json;

    /// Test-only keys (see `testdata/README.md`).
    pub(crate) const P256_A: &[u8] = include_bytes!("testdata/p256_a.pk8");
    pub(crate) const P256_B: &[u8] = include_bytes!("testdata/p256_b.pk8");
    pub(crate) const RSA_2048: &[u8] = include_bytes!("testdata/rsa2048.pk8");

    /// A 1024-bit RSA modulus (hex), from `openssl genpkey -algorithm RSA -pkeyopt
    /// rsa_keygen_bits:1024`: enough for the weak-key case, which never reaches a signature.
    pub(crate) const RSA_1024_N_HEX: &str = "CB994D5F926EDAFDF03ACE297B369AC71BEE940EE533C25908AA7F3A9F2B118DAF4150F1BF48E58405C69FC87F9210C4E4DB04BF1E6C6E809B460B5108530134518A2E0464A91EAC682EA4EFD6845E7E217A32D0404566A7104F2126F29A3CCD949C2BCAB2DB43F52BEFE07ABB110C1A49A9E5AFE9DE76B0631287DA2D2A741B";

    /// RFC 7638 §3.1's example key and its published thumbprint.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    pub(crate) fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) fn ec_pair(pkcs8: &[u8]) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .unwrap()
    }

    pub(crate) fn rsa_pair() -> RsaKeyPair {
        RsaKeyPair::from_pkcs8(RSA_2048).unwrap()
    }

    /// The public JWK of a P-256 key pair, as Chrome's `ConvertPkeySpkiToJwk` writes it.
    pub(crate) fn ec_jwk(pair: &EcdsaKeyPair) -> Value {
        let point = pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    pub(crate) fn rsa_jwk(pair: &RsaKeyPair) -> Value {
        let c: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
    }

    pub(crate) fn ec_sign(pair: &EcdsaKeyPair, msg: &[u8]) -> Vec<u8> {
        pair.sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    pub(crate) fn rsa_sign(pair: &RsaKeyPair, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .unwrap();
        sig
    }

    #[test]
    fn alg_parses_only_es256_and_rs256_exactly() {
        assert_eq!(Alg::parse("ES256"), Some(Alg::Es256));
        assert_eq!(Alg::parse("RS256"), Some(Alg::Rs256));
        for other in [
            "none", "None", "es256", "ES384", "PS256", "HS256", "EdDSA", "", " ES256",
        ] {
            assert_eq!(Alg::parse(other), None, "{other:?}");
        }
        assert_eq!(Alg::Es256.as_str(), "ES256");
        assert_eq!(Alg::Rs256.to_string(), "RS256");
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let jwk =
            json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        let key = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.alg(), Alg::Rs256);
        assert_eq!(b64(&key.thumbprint()), RFC7638_THUMBPRINT);
        assert_eq!(
            key.to_jwk_json(),
            format!(r#"{{"e":"AQAB","kty":"RSA","n":"{RFC7638_N}"}}"#)
        );
    }

    #[test]
    fn jwk_json_round_trips_for_both_kinds() {
        let ec = PublicKey::from_jwk(&ec_jwk(&ec_pair(P256_A))).unwrap();
        let rsa = PublicKey::from_jwk(&rsa_jwk(&rsa_pair())).unwrap();
        for key in [ec, rsa] {
            let text = key.to_jwk_json();
            assert_eq!(PublicKey::from_jwk_json(&text).unwrap(), key);
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(PublicKey::from_jwk(&value).unwrap(), key);
        }
        let ec = PublicKey::from_jwk(&ec_jwk(&ec_pair(P256_A))).unwrap();
        let text = ec.to_jwk_json();
        assert!(
            text.starts_with(r#"{"crv":"P-256","kty":"EC","x":""#),
            "{text}"
        );
    }

    #[test]
    fn jwk_json_accepts_only_the_canonical_text() {
        let key = PublicKey::from_jwk(&ec_jwk(&ec_pair(P256_A))).unwrap();
        let text = key.to_jwk_json();
        let spaced = text.replace(",", ", ");
        let reordered: Value = serde_json::from_str(&text).unwrap();
        let reordered = format!(
            r#"{{"kty":"EC","crv":"P-256","x":{},"y":{}}}"#,
            reordered["x"], reordered["y"]
        );
        let extra = text.replace(r#""kty":"EC","#, r#""kid":"a","kty":"EC","#);
        for bad in [
            spaced,
            reordered,
            extra,
            String::new(),
            "[]".into(),
            "null".into(),
        ] {
            assert_eq!(
                PublicKey::from_jwk_json(&bad),
                Err(ProofFailure::BadJwk),
                "{bad}"
            );
        }
    }

    #[test]
    fn ec_jwk_rules() {
        let good = ec_jwk(&ec_pair(P256_A));
        assert!(PublicKey::from_jwk(&good).is_ok());
        let with = |k: &str, v: Value| {
            let mut j = good.clone();
            j[k] = v;
            PublicKey::from_jwk(&j)
        };
        assert_eq!(with("crv", json!("P-384")), Err(ProofFailure::BadJwk));
        assert_eq!(with("crv", json!(null)), Err(ProofFailure::BadJwk));
        assert_eq!(with("kty", json!("OKP")), Err(ProofFailure::BadJwk));
        assert_eq!(with("kty", json!(1)), Err(ProofFailure::BadJwk));
        assert_eq!(with("x", json!(b64(&[7u8; 31]))), Err(ProofFailure::BadJwk));
        assert_eq!(with("y", json!(b64(&[7u8; 33]))), Err(ProofFailure::BadJwk));
        assert_eq!(with("x", json!("not base64!")), Err(ProofFailure::BadJwk));
        // Padded base64url is not JWK base64url.
        let x = good["x"].as_str().unwrap();
        assert_eq!(with("x", json!(format!("{x}="))), Err(ProofFailure::BadJwk));
        // x, y of the right length but not a point of P-256.
        assert_eq!(with("y", json!(b64(&[1u8; 32]))), Err(ProofFailure::BadJwk));
        assert_eq!(
            PublicKey::from_jwk(
                &json!({"kty": "EC", "crv": "P-256", "x": b64(&[0; 32]), "y": b64(&[0; 32])})
            ),
            Err(ProofFailure::BadJwk)
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert_eq!(
                with(private, json!("AQAB")),
                Err(ProofFailure::BadJwk),
                "{private}"
            );
            assert_eq!(
                with(private, json!(null)),
                Err(ProofFailure::BadJwk),
                "{private}"
            );
        }
        for not_object in [json!(null), json!([good.clone()]), json!("EC"), json!(1)] {
            assert_eq!(PublicKey::from_jwk(&not_object), Err(ProofFailure::BadJwk));
        }
    }

    #[test]
    fn rsa_jwk_rules() {
        let good = rsa_jwk(&rsa_pair());
        let key = PublicKey::from_jwk(&good).unwrap();
        let n = match &key {
            PublicKey::Rsa { n, .. } => n.to_vec(),
            PublicKey::P256 { .. } => unreachable!(),
        };
        let with = |k: &str, v: Value| {
            let mut j = good.clone();
            j[k] = v;
            PublicKey::from_jwk(&j)
        };
        // Leading zero bytes (a DER habit) are stripped: same key.
        let mut padded = vec![0, 0];
        padded.extend_from_slice(&n);
        assert_eq!(with("n", json!(b64(&padded))), Ok(key.clone()));
        assert_eq!(with("e", json!(b64(&[0, 1, 0, 1]))), Ok(key.clone()));
        assert_eq!(with("e", json!(b64(&[3]))), Err(ProofFailure::BadJwk));
        assert_eq!(
            with("e", json!(b64(&[1, 0, 0, 1]))),
            Err(ProofFailure::BadJwk)
        );
        assert_eq!(with("e", json!(null)), Err(ProofFailure::BadJwk));
        assert_eq!(with("n", json!("")), Err(ProofFailure::BadJwk));
        assert_eq!(
            with("n", json!(b64(&hex(RSA_1024_N_HEX)))),
            Err(ProofFailure::WeakKey)
        );
        // 2047 bits: weak; 4097 bits: refused; even: refused.
        let mut short = n.clone();
        short[0] = 0x7f;
        assert_eq!(with("n", json!(b64(&short))), Err(ProofFailure::WeakKey));
        let mut long = vec![1u8];
        long.extend_from_slice(&[0xff; 512]);
        assert_eq!(with("n", json!(b64(&long))), Err(ProofFailure::BadJwk));
        let mut max = vec![0xffu8; 512];
        max[511] = 0xfd;
        assert!(with("n", json!(b64(&max))).is_ok());
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(with("n", json!(b64(&even))), Err(ProofFailure::BadJwk));
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert_eq!(
                with(private, json!("AQAB")),
                Err(ProofFailure::BadJwk),
                "{private}"
            );
        }
    }

    #[test]
    fn verify_checks_signature_and_length() {
        let ec_pair_a = ec_pair(P256_A);
        let ec = PublicKey::from_jwk(&ec_jwk(&ec_pair_a)).unwrap();
        let sig = ec_sign(&ec_pair_a, b"hello");
        assert_eq!(sig.len(), 64);
        assert_eq!(ec.verify(b"hello", &sig), Ok(()));
        assert_eq!(ec.verify(b"hellO", &sig), Err(ProofFailure::BadSignature));
        assert_eq!(
            ec.verify(b"hello", &sig[..63]),
            Err(ProofFailure::BadSignature)
        );
        assert_eq!(ec.verify(b"hello", &[]), Err(ProofFailure::BadSignature));

        let pair = rsa_pair();
        let rsa = PublicKey::from_jwk(&rsa_jwk(&pair)).unwrap();
        let sig = rsa_sign(&pair, b"hello");
        assert_eq!(rsa.verify(b"hello", &sig), Ok(()));
        assert_eq!(rsa.verify(b"hellO", &sig), Err(ProofFailure::BadSignature));
        let mut longer = vec![0u8];
        longer.extend_from_slice(&sig);
        assert_eq!(
            rsa.verify(b"hello", &longer),
            Err(ProofFailure::BadSignature)
        );
        // A key of one kind never checks the other's signature.
        assert_eq!(ec.verify(b"hello", &sig), Err(ProofFailure::BadSignature));
    }

    #[test]
    fn stored_off_curve_point_fails_at_verify() {
        // from_jwk_json skips the curve check (see its docs); ring's verifier still refuses.
        let text = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(&[1; 32]),
            b64(&[1; 32])
        );
        let key = PublicKey::from_jwk_json(&text).unwrap();
        let sig = ec_sign(&ec_pair(P256_A), b"m");
        assert_eq!(key.verify(b"m", &sig), Err(ProofFailure::BadSignature));
    }
}
