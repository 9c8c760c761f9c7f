//! Verification of the `dbsc+jwt` proof a browser sends in `Secure-Session-Response`
//! (`docs/dbsc.md` §1.5 and §2.7).
//!
//! The proof is a compact JWS: `b64url(header) "." b64url(payload) "." b64url(signature)`.
//! Checks, in this order (the first failure is the answer):
//!
//! 1. syntax — the value is at most [`MAX_PROOF_LEN`] bytes, a bare token or an sf-string
//!    ([`super::wire::token_value`]), three non-empty base64url parts (strict: no padding, no
//!    non-zero trailing bits), header and payload each one JSON object without a duplicate of a
//!    member Tessera reads → [`ProofFailure::Malformed`];
//! 2. header — any `crit` → `Malformed`; `typ` exactly `"dbsc+jwt"` → else `BadTyp`; `alg`
//!    missing or not a string → `Malformed`, not `ES256`/`RS256` (so `none`) or not offered →
//!    `AlgNotAllowed`;
//! 3. key — registration: the header's `jwk` ([`PublicKey::from_jwk`]: `BadJwk`, `WeakKey`), its
//!    kind must match `alg` (`AlgMismatch`); refresh: the stored key, `alg` must equal its
//!    algorithm (`AlgMismatch`), and a `jwk` in the header is ignored — never read;
//! 4. payload — `jti` a string (`Malformed`); `authorization` present → `AuthorizationMismatch`
//!    (Tessera never sends one); any other claim (`aud`, `iat`, legacy `key`, …) ignored;
//! 5. signature over the ASCII `b64url(header) "." b64url(payload)` exactly as received
//!    ([`PublicKey::verify`]) → `BadSignature`.
//!
//! Whether the `jti` names a live, unused challenge of this session is the caller's check.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::key::{Alg, JwkField, PointCheck, Present, PublicKey, parse_json_object};
use super::wire::{MAX_HEADER_LEN, token_value};

/// Longest `Secure-Session-Response` value read (8 KiB: a 4096-bit RSA registration proof is
/// about 1.5 KiB).
pub const MAX_PROOF_LEN: usize = MAX_HEADER_LEN;

/// Why a proof was refused. [`ProofFailure::code`] is the stable text used in events and in the
/// registration endpoint's 403 body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofFailure {
    /// `malformed`: not a compact JWS Tessera can read — too long, bad base64url, not JSON
    /// objects, a duplicate member, `crit`, no `alg`, no string `jti`.
    Malformed,
    /// `bad_typ`: the header's `typ` is not exactly `dbsc+jwt`.
    BadTyp,
    /// `alg_not_allowed`: `alg` is `none`, unknown, or not one the server offered.
    AlgNotAllowed,
    /// `alg_mismatch`: `alg` does not match the key (registration: the `jwk`'s kind; refresh:
    /// the algorithm pinned at registration).
    AlgMismatch,
    /// `bad_jwk`: the registration `jwk` is missing or not an acceptable public key.
    BadJwk,
    /// `weak_key`: an RSA key under 2048 bits.
    WeakKey,
    /// `bad_signature`: the signature has the wrong length or does not verify.
    BadSignature,
    /// `authorization_mismatch`: the payload carries an `authorization` claim, and Tessera never
    /// sends an `authorization` parameter.
    AuthorizationMismatch,
}

impl ProofFailure {
    /// The stable code: `malformed`, `bad_typ`, `alg_not_allowed`, `alg_mismatch`, `bad_jwk`,
    /// `weak_key`, `bad_signature` or `authorization_mismatch`. Never renamed.
    pub fn code(self) -> &'static str {
        match self {
            ProofFailure::Malformed => "malformed",
            ProofFailure::BadTyp => "bad_typ",
            ProofFailure::AlgNotAllowed => "alg_not_allowed",
            ProofFailure::AlgMismatch => "alg_mismatch",
            ProofFailure::BadJwk => "bad_jwk",
            ProofFailure::WeakKey => "weak_key",
            ProofFailure::BadSignature => "bad_signature",
            ProofFailure::AuthorizationMismatch => "authorization_mismatch",
        }
    }
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for ProofFailure {}

/// A verified registration proof: the key to store and the challenge it answers.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// The browser's public key, from the proof's `jwk`; its algorithm is pinned from now on.
    pub key: PublicKey,
    /// The proof's `jti`: must equal the registration challenge the server offered this session.
    pub jti: String,
}

impl fmt::Debug for Registration {
    // The jti is a challenge: kept out of logs like every other session secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("jti", &"<redacted>")
            .finish()
    }
}

/// Verifies the proof sent to the registration endpoint: the key comes from the JOSE header's
/// `jwk`, and `alg` must be one of `offered` (the algorithms listed in the
/// `Secure-Session-Registration` header).
///
/// # Errors
/// The first failed check, in the order of the module documentation.
pub fn verify_registration(
    header_value: &str,
    offered: &[Alg],
) -> Result<Registration, ProofFailure> {
    let jws = Jws::<JwkField>::parse(header_value)?;
    let alg = jws.alg()?;
    if !offered.contains(&alg) {
        return Err(ProofFailure::AlgNotAllowed);
    }
    let key = match jws.header.jwk {
        Some(JwkField::Members(members)) => members.into_key(PointCheck::Full)?,
        Some(JwkField::NotAnObject) | None => return Err(ProofFailure::BadJwk),
    };
    if key.alg() != alg {
        return Err(ProofFailure::AlgMismatch);
    }
    let jti = jws.payload.jti()?;
    key.verify(jws.signing_input, &jws.signature)?;
    Ok(Registration { key, jti })
}

/// Verifies the proof sent to the refresh endpoint with the **stored** key and its pinned
/// algorithm. A `jwk` in the header (the draft forbids it, Chrome does not send it) is ignored:
/// it is never read, so it can neither help nor hurt.
///
/// Returns the proof's `jti`, which the caller must match against the binding's live challenges.
///
/// # Errors
/// The first failed check, in the order of the module documentation.
pub fn verify_refresh(header_value: &str, key: &PublicKey) -> Result<String, ProofFailure> {
    let jws = Jws::<Present>::parse(header_value)?;
    if jws.alg()? != key.alg() {
        return Err(ProofFailure::AlgMismatch);
    }
    let jti = jws.payload.jti()?;
    key.verify(jws.signing_input, &jws.signature)?;
    Ok(jti)
}

/// The JOSE header members Tessera reads; `J` is how `jwk` is read (its members at registration,
/// mere presence at refresh). Loosely typed so that a wrong type gives the specific failure;
/// serde's derive refuses a duplicate of any of these members.
#[derive(Deserialize)]
#[serde(bound = "J: Deserialize<'de>")]
struct Header<J> {
    typ: Option<Value>,
    alg: Option<Value>,
    #[serde(default)]
    crit: Present,
    jwk: Option<J>,
}

/// The claims Tessera reads.
#[derive(Deserialize)]
struct Payload {
    jti: Option<Value>,
    #[serde(default)]
    authorization: Present,
}

impl Payload {
    fn jti(self) -> Result<String, ProofFailure> {
        if self.authorization.0 {
            return Err(ProofFailure::AuthorizationMismatch);
        }
        match self.jti {
            Some(Value::String(jti)) => Ok(jti),
            _ => Err(ProofFailure::Malformed),
        }
    }
}

/// A syntactically valid proof whose header passed the checks common to both endpoints.
struct Jws<'a, J> {
    header: Header<J>,
    payload: Payload,
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

impl<'a, J: DeserializeOwned> Jws<'a, J> {
    fn parse(header_value: &'a str) -> Result<Self, ProofFailure> {
        if header_value.len() > MAX_PROOF_LEN {
            return Err(ProofFailure::Malformed);
        }
        let token = token_value(header_value).ok_or(ProofFailure::Malformed)?;
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProofFailure::Malformed);
        };
        // An empty part would decode to nothing without complaint (a JWS with `alg: none` has
        // an empty signature); Tessera reads signed proofs only.
        if h.is_empty() || p.is_empty() || s.is_empty() {
            return Err(ProofFailure::Malformed);
        }
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| ProofFailure::Malformed)
        };
        let header: Header<J> =
            parse_json_object(&decode(h)?).map_err(|_| ProofFailure::Malformed)?;
        let payload: Payload =
            parse_json_object(&decode(p)?).map_err(|_| ProofFailure::Malformed)?;
        let signature = decode(s)?;
        if header.crit.0 {
            // No extension is understood, so every critical one must be refused (RFC 7515 §4.1.11).
            return Err(ProofFailure::Malformed);
        }
        if header.typ.as_ref().and_then(Value::as_str) != Some("dbsc+jwt") {
            return Err(ProofFailure::BadTyp);
        }
        Ok(Jws {
            header,
            payload,
            signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
            signature,
        })
    }

    fn alg(&self) -> Result<Alg, ProofFailure> {
        match &self.header.alg {
            Some(Value::String(alg)) => Alg::parse(alg).ok_or(ProofFailure::AlgNotAllowed),
            _ => Err(ProofFailure::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbsc::key::tests::{
        P256_A, P256_B, RSA_1024_N_HEX, b64, ec_jwk, ec_pair, ec_sign, hex, rsa_jwk, rsa_pair,
        rsa_sign,
    };
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    use serde_json::json;

    const BOTH: &[Alg] = &[Alg::Es256, Alg::Rs256];

    /// A compact JWS over the header and payload texts as given (so duplicates and odd spellings
    /// can be tested), signed by `sign`.
    fn jws(header: &str, payload: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = sign(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    fn es_a(msg: &[u8]) -> Vec<u8> {
        ec_sign(&ec_pair(P256_A), msg)
    }

    fn rs(msg: &[u8]) -> Vec<u8> {
        rsa_sign(&rsa_pair(), msg)
    }

    fn reg_header_es(jwk: &Value) -> String {
        json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk}).to_string()
    }

    fn key_a() -> PublicKey {
        PublicKey::from_jwk(&ec_jwk(&ec_pair(P256_A))).unwrap()
    }

    fn key_rsa() -> PublicKey {
        PublicKey::from_jwk(&rsa_jwk(&rsa_pair())).unwrap()
    }

    const REFRESH_ES: &str = r#"{"alg":"ES256","typ":"dbsc+jwt"}"#;
    const C1: &str = r#"{"jti":"C1"}"#;

    #[test]
    fn good_es256_registration_gives_the_key_and_jti() {
        let pair = ec_pair(P256_A);
        let proof = jws(&reg_header_es(&ec_jwk(&pair)), r#"{"jti":"C0"}"#, es_a);
        let reg = verify_registration(&proof, BOTH).unwrap();
        assert_eq!(reg.key, key_a());
        assert_eq!(reg.key.alg(), Alg::Es256);
        assert_eq!(reg.jti, "C0");
        assert!(!format!("{reg:?}").contains("C0"), "jti kept out of Debug");
        // The draft's sf-string form and surrounding whitespace are read too.
        assert_eq!(
            verify_registration(&format!(" \"{proof}\"\t"), BOTH),
            Ok(reg)
        );
    }

    #[test]
    fn good_rs256_registration_gives_the_key_and_jti() {
        let header = json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": rsa_jwk(&rsa_pair())});
        let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, rs);
        let reg = verify_registration(&proof, &[Alg::Rs256]).unwrap();
        assert_eq!(reg.key, key_rsa());
        assert_eq!(reg.jti, "C0");
    }

    #[test]
    fn unknown_claims_are_ignored_and_never_a_key_source() {
        // The legacy payload: aud, iat and a `key` that is not the header's jwk.
        let other = ec_jwk(&ec_pair(P256_B));
        let payload = json!({"aud": "https://a.example/reg", "jti": "C0", "iat": 1, "key": other, "sub": "x"});
        let proof = jws(
            &reg_header_es(&ec_jwk(&ec_pair(P256_A))),
            &payload.to_string(),
            es_a,
        );
        assert_eq!(verify_registration(&proof, BOTH).unwrap().key, key_a());
        // Extra header members (kid) are ignored too.
        let header = r#"{"alg":"ES256","typ":"dbsc+jwt","kid":"k1"}"#;
        assert_eq!(
            verify_refresh(&jws(header, C1, es_a), &key_a()).as_deref(),
            Ok("C1")
        );
    }

    #[test]
    fn r2_typ_other_than_dbsc_jwt_is_bad_typ() {
        let jwk = ec_jwk(&ec_pair(P256_A));
        for typ in [
            json!("jwt"),
            json!("JWT"),
            json!("DBSC+JWT"),
            json!("dbsc+jwt "),
            json!(1),
        ] {
            let header = json!({"alg": "ES256", "typ": typ, "jwk": jwk});
            let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, es_a);
            assert_eq!(
                verify_registration(&proof, BOTH),
                Err(ProofFailure::BadTyp),
                "{typ}"
            );
        }
        let no_typ = json!({"alg": "ES256", "jwk": jwk}).to_string();
        let proof = jws(&no_typ, r#"{"jti":"C0"}"#, es_a);
        assert_eq!(verify_registration(&proof, BOTH), Err(ProofFailure::BadTyp));
        let proof = jws(r#"{"alg":"ES256","typ":"jwt"}"#, C1, es_a);
        assert_eq!(verify_refresh(&proof, &key_a()), Err(ProofFailure::BadTyp));
    }

    #[test]
    fn r3_alg_none_or_unknown_or_not_offered_is_alg_not_allowed() {
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"dbsc+jwt"}"#),
            b64(br#"{"jti":"C0"}"#)
        );
        // An empty signature part is not a compact JWS Tessera reads.
        assert_eq!(
            verify_registration(&none, BOTH),
            Err(ProofFailure::Malformed)
        );
        let none = format!("{none}AA");
        assert_eq!(
            verify_registration(&none, BOTH),
            Err(ProofFailure::AlgNotAllowed)
        );
        assert_eq!(
            verify_refresh(&none, &key_a()),
            Err(ProofFailure::AlgNotAllowed)
        );
        let jwk = ec_jwk(&ec_pair(P256_A));
        for alg in ["none", "HS256", "ES384", "es256", "PS256"] {
            let header = json!({"alg": alg, "typ": "dbsc+jwt", "jwk": jwk}).to_string();
            let proof = jws(&header, r#"{"jti":"C0"}"#, es_a);
            assert_eq!(
                verify_registration(&proof, BOTH),
                Err(ProofFailure::AlgNotAllowed)
            );
        }
        let proof = jws(&reg_header_es(&jwk), r#"{"jti":"C0"}"#, es_a);
        assert_eq!(
            verify_registration(&proof, &[Alg::Rs256]),
            Err(ProofFailure::AlgNotAllowed)
        );
        assert_eq!(
            verify_registration(&proof, &[]),
            Err(ProofFailure::AlgNotAllowed)
        );
        // No alg at all, or not a string: not a JWS.
        let header = json!({"typ": "dbsc+jwt", "jwk": jwk}).to_string();
        let proof = jws(&header, r#"{"jti":"C0"}"#, es_a);
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::Malformed)
        );
        let proof = jws(r#"{"alg":["ES256"],"typ":"dbsc+jwt"}"#, C1, es_a);
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::Malformed)
        );
    }

    #[test]
    fn r4_jwk_kind_not_matching_alg_is_alg_mismatch() {
        let header = json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": rsa_jwk(&rsa_pair())});
        let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, rs);
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::AlgMismatch)
        );
        let header = json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": ec_jwk(&ec_pair(P256_A))});
        let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, es_a);
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::AlgMismatch)
        );
    }

    #[test]
    fn r5_rsa_1024_is_weak_key() {
        let jwk = json!({"kty": "RSA", "n": b64(&hex(RSA_1024_N_HEX)), "e": "AQAB"});
        let header = json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": jwk});
        // Any 128-byte signature: the key is refused before the signature is looked at.
        let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, |_| vec![1; 128]);
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::WeakKey)
        );
    }

    #[test]
    fn r6_der_signature_is_bad_signature() {
        let der_pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            P256_A,
            &SystemRandom::new(),
        )
        .unwrap();
        let sign_der = |m: &[u8]| {
            der_pair
                .sign(&SystemRandom::new(), m)
                .unwrap()
                .as_ref()
                .to_vec()
        };
        let proof = jws(
            &reg_header_es(&ec_jwk(&ec_pair(P256_A))),
            r#"{"jti":"C0"}"#,
            sign_der,
        );
        let sig_len = URL_SAFE_NO_PAD
            .decode(proof.rsplit('.').next().unwrap())
            .unwrap()
            .len();
        assert!(
            (68..=72).contains(&sig_len),
            "DER signature, {sig_len} bytes"
        );
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::BadSignature)
        );
        let proof = jws(REFRESH_ES, C1, sign_der);
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::BadSignature)
        );
    }

    #[test]
    fn r7_one_flipped_signature_bit_is_bad_signature() {
        let flip = |sig: Vec<u8>, bit: usize| {
            let mut sig = sig;
            sig[bit / 8] ^= 1 << (bit % 8);
            sig
        };
        let header = reg_header_es(&ec_jwk(&ec_pair(P256_A)));
        for bit in [0, 255, 256, 511] {
            let proof = jws(&header, r#"{"jti":"C0"}"#, |m| flip(es_a(m), bit));
            assert_eq!(
                verify_registration(&proof, BOTH),
                Err(ProofFailure::BadSignature)
            );
            let proof = jws(REFRESH_ES, C1, |m| flip(es_a(m), bit));
            assert_eq!(
                verify_refresh(&proof, &key_a()),
                Err(ProofFailure::BadSignature)
            );
        }
        let header = json!({"alg": "RS256", "typ": "dbsc+jwt", "jwk": rsa_jwk(&rsa_pair())});
        let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, |m| {
            flip(rs(m), 1000)
        });
        assert_eq!(
            verify_registration(&proof, BOTH),
            Err(ProofFailure::BadSignature)
        );
        // A signature over another payload than the one sent.
        let good = jws(REFRESH_ES, C1, es_a);
        let swapped = format!(
            "{}.{}.{}",
            b64(REFRESH_ES.as_bytes()),
            b64(br#"{"jti":"C2"}"#),
            good.rsplit('.').next().unwrap()
        );
        assert_eq!(
            verify_refresh(&swapped, &key_a()),
            Err(ProofFailure::BadSignature)
        );
    }

    #[test]
    fn r12_private_member_other_curve_or_off_curve_point_is_bad_jwk() {
        let jwk = ec_jwk(&ec_pair(P256_A));
        let with = |k: &str, v: Value| {
            let mut j = jwk.clone();
            j[k] = v;
            let proof = jws(&reg_header_es(&j), r#"{"jti":"C0"}"#, es_a);
            verify_registration(&proof, BOTH)
        };
        assert_eq!(with("d", json!(b64(&[9; 32]))), Err(ProofFailure::BadJwk));
        assert_eq!(with("crv", json!("P-384")), Err(ProofFailure::BadJwk));
        assert_eq!(with("x", json!(b64(&[1; 32]))), Err(ProofFailure::BadJwk));
        assert_eq!(with("y", json!(b64(&[1; 32]))), Err(ProofFailure::BadJwk));
        // jwk missing, null or not an object.
        for jwk in [
            None,
            Some(json!(null)),
            Some(json!("k")),
            Some(json!([1, {}])),
            Some(json!(7)),
        ] {
            let mut header = json!({"alg": "ES256", "typ": "dbsc+jwt"});
            if let Some(jwk) = jwk {
                header["jwk"] = jwk;
            }
            let proof = jws(&header.to_string(), r#"{"jti":"C0"}"#, es_a);
            assert_eq!(verify_registration(&proof, BOTH), Err(ProofFailure::BadJwk));
        }
    }

    #[test]
    fn r13_crit_padding_and_duplicate_members_are_malformed() {
        let jwk = ec_jwk(&ec_pair(P256_A)).to_string();
        let reg =
            |header: &str, payload: &str| verify_registration(&jws(header, payload, es_a), BOTH);
        let ok_header = format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","jwk":{jwk}}}"#);
        assert!(reg(&ok_header, r#"{"jti":"C0"}"#).is_ok());
        let crit = format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","crit":["exp"],"jwk":{jwk}}}"#);
        assert_eq!(reg(&crit, r#"{"jti":"C0"}"#), Err(ProofFailure::Malformed));
        let dup_jti = r#"{"jti":"C0","jti":"C9"}"#;
        assert_eq!(reg(&ok_header, dup_jti), Err(ProofFailure::Malformed));
        for dup in [
            format!(r#"{{"alg":"ES256","alg":"ES256","typ":"dbsc+jwt","jwk":{jwk}}}"#),
            format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","typ":"dbsc+jwt","jwk":{jwk}}}"#),
            format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","jwk":{jwk},"jwk":{jwk}}}"#),
            format!(r#"{{"alg":"ES256","typ":"dbsc+jwt","jwk":{jwk},"crit":1,"crit":2}}"#),
            ok_header.replace(r#""kty":"EC""#, r#""kty":"EC","kty":"EC""#),
        ] {
            assert_eq!(
                reg(&dup, r#"{"jti":"C0"}"#),
                Err(ProofFailure::Malformed),
                "{dup}"
            );
        }
        let dup_auth = r#"{"jti":"C0","authorization":"a","authorization":"a"}"#;
        assert_eq!(reg(&ok_header, dup_auth), Err(ProofFailure::Malformed));
        // Header and payload must be JSON objects (serde would read a struct from an array).
        let array = r#"[null,"ES256",null,null]"#;
        assert_eq!(reg(array, r#"{"jti":"C0"}"#), Err(ProofFailure::Malformed));
        assert_eq!(reg(&ok_header, r#"["C0"]"#), Err(ProofFailure::Malformed));
        assert_eq!(reg(&ok_header, r#""C0""#), Err(ProofFailure::Malformed));
        assert_eq!(
            reg(&ok_header, r#"{"jti":"C0"} {}"#),
            Err(ProofFailure::Malformed)
        );
        assert_eq!(
            reg(&format!("{ok_header}x"), r#"{"jti":"C0"}"#),
            Err(ProofFailure::Malformed)
        );
        assert_eq!(
            reg("not json", r#"{"jti":"C0"}"#),
            Err(ProofFailure::Malformed)
        );
        // jti missing or not a string.
        for payload in [
            r#"{}"#,
            r#"{"jti":null}"#,
            r#"{"jti":5}"#,
            r#"{"jti":["C0"]}"#,
        ] {
            assert_eq!(
                reg(&ok_header, payload),
                Err(ProofFailure::Malformed),
                "{payload}"
            );
        }

        // Base64url: padding, the standard alphabet, non-zero trailing bits.
        let good = jws(&ok_header, r#"{"jti":"C0"}"#, es_a);
        let parts: Vec<&str> = good.split('.').collect();
        let padded_header = b64(ok_header.as_bytes()) + "=";
        let padded = format!("{padded_header}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            verify_registration(&padded, BOTH),
            Err(ProofFailure::Malformed)
        );
        let std_alphabet = good.replace('-', "+").replace('_', "/");
        if std_alphabet != good {
            assert_eq!(
                verify_registration(&std_alphabet, BOTH),
                Err(ProofFailure::Malformed)
            );
        }
        // 64 signature bytes are 86 base64url characters (516 bits): the last character's
        // 4 low bits are unused and must be zero.
        let sig = parts[2];
        assert_eq!(sig.len(), 86);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet
            .iter()
            .position(|&c| c == sig.as_bytes()[85])
            .unwrap();
        assert_eq!(idx & 0xf, 0);
        let dirty = alphabet[idx | 1] as char;
        let trailing = format!("{}.{}.{}{dirty}", parts[0], parts[1], &sig[..85]);
        assert_eq!(
            verify_registration(&trailing, BOTH),
            Err(ProofFailure::Malformed)
        );

        // Shape: part counts, empty parts, junk characters, too long.
        for bad in [
            String::new(),
            parts[0].to_string(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{good}.{}", parts[2]),
            format!(".{}.{}", parts[1], parts[2]),
            format!("{}..{}", parts[0], parts[2]),
            format!("{good} x"),
            format!("\"{good}"),
            good.replacen('.', ",", 1),
            format!("{}.{}.{}", parts[0], parts[1], "A".repeat(MAX_PROOF_LEN)),
        ] {
            assert_eq!(
                verify_registration(&bad, BOTH),
                Err(ProofFailure::Malformed),
                "{bad:.40}"
            );
            assert_eq!(verify_refresh(&bad, &key_a()), Err(ProofFailure::Malformed));
        }
    }

    #[test]
    fn authorization_claim_is_authorization_mismatch() {
        let header = reg_header_es(&ec_jwk(&ec_pair(P256_A)));
        for payload in [
            r#"{"jti":"C0","authorization":"abc"}"#,
            r#"{"jti":"C0","authorization":null}"#,
            r#"{"jti":"C0","authorization":""}"#,
        ] {
            let proof = jws(&header, payload, es_a);
            assert_eq!(
                verify_registration(&proof, BOTH),
                Err(ProofFailure::AuthorizationMismatch)
            );
        }
        let proof = jws(REFRESH_ES, r#"{"jti":"C1","authorization":"a"}"#, es_a);
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::AuthorizationMismatch)
        );
    }

    #[test]
    fn good_refresh_returns_the_jti_for_both_algorithms() {
        let proof = jws(REFRESH_ES, C1, es_a);
        assert_eq!(verify_refresh(&proof, &key_a()).as_deref(), Ok("C1"));
        // Chrome's bare value and the draft's sf-string.
        assert_eq!(
            verify_refresh(&format!("\"{proof}\""), &key_a()).as_deref(),
            Ok("C1")
        );
        let proof = jws(r#"{"alg":"RS256","typ":"dbsc+jwt"}"#, C1, rs);
        assert_eq!(verify_refresh(&proof, &key_rsa()).as_deref(), Ok("C1"));
        // A stored key read back from its canonical text verifies the same.
        let stored = PublicKey::from_jwk_json(&key_rsa().to_jwk_json()).unwrap();
        assert_eq!(verify_refresh(&proof, &stored).as_deref(), Ok("C1"));
    }

    #[test]
    fn f4_refresh_signed_by_another_key_is_bad_signature() {
        let other = |m: &[u8]| ec_sign(&ec_pair(P256_B), m);
        let proof = jws(REFRESH_ES, C1, other);
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::BadSignature)
        );
    }

    #[test]
    fn f5_refresh_alg_other_than_the_pinned_one_is_alg_mismatch() {
        let proof = jws(r#"{"alg":"RS256","typ":"dbsc+jwt"}"#, C1, rs);
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::AlgMismatch)
        );
        let proof = jws(REFRESH_ES, C1, es_a);
        assert_eq!(
            verify_refresh(&proof, &key_rsa()),
            Err(ProofFailure::AlgMismatch)
        );
    }

    #[test]
    fn f9_refresh_never_uses_a_jwk_from_the_header() {
        // Registration-style proof by key B carrying B's jwk, against A's binding.
        let pair_b = ec_pair(P256_B);
        let header = reg_header_es(&ec_jwk(&pair_b));
        let proof = jws(&header, C1, |m| ec_sign(&pair_b, m));
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::BadSignature)
        );
        // And a jwk, even a broken one, does not stop a good proof by the stored key.
        for jwk in [
            ec_jwk(&pair_b),
            json!("junk"),
            json!({"kty": "EC", "d": "x"}),
        ] {
            let header = json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": jwk}).to_string();
            let proof = jws(&header, C1, es_a);
            assert_eq!(verify_refresh(&proof, &key_a()).as_deref(), Ok("C1"));
        }
        // A duplicated jwk member is still a duplicate.
        let proof = jws(
            r#"{"alg":"ES256","typ":"dbsc+jwt","jwk":1,"jwk":2}"#,
            C1,
            es_a,
        );
        assert_eq!(
            verify_refresh(&proof, &key_a()),
            Err(ProofFailure::Malformed)
        );
    }

    #[test]
    fn failure_codes_are_the_documented_stable_strings() {
        let all = [
            (ProofFailure::Malformed, "malformed"),
            (ProofFailure::BadTyp, "bad_typ"),
            (ProofFailure::AlgNotAllowed, "alg_not_allowed"),
            (ProofFailure::AlgMismatch, "alg_mismatch"),
            (ProofFailure::BadJwk, "bad_jwk"),
            (ProofFailure::WeakKey, "weak_key"),
            (ProofFailure::BadSignature, "bad_signature"),
            (
                ProofFailure::AuthorizationMismatch,
                "authorization_mismatch",
            ),
        ];
        for (failure, code) in all {
            assert_eq!(failure.code(), code);
            assert_eq!(failure.to_string(), code);
        }
    }
}
