//! Property tests: no input to the token, id, cookie, CSRF, data or DBSC parsers panics, and only
//! canonical tokens are accepted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use tessera::cookie::{CookieToken, find_session_cookie};
use tessera::csrf::CsrfSecret;
use tessera::dbsc::wire::token_value;
use tessera::dbsc::{Alg, PublicKey, verify_refresh, verify_registration};
use tessera::{Config, Context, ManualClock, Reason, SessionId, SessionManager, Token, Validation};

fn manager() -> SessionManager {
    SessionManager::builder(Config::default())
        .clock(ManualClock::default())
        .sweep_interval(None)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn token_parsing_never_panics_and_accepts_only_canonical_text(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(t) = Token::parse_bytes(&bytes) {
            // Whatever was accepted is exactly the canonical spelling of its value.
            let text = t.expose();
            prop_assert_eq!(text.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn token_like_strings_round_trip_or_are_malformed(s in "[A-Za-z0-9_+/=-]{40,46}") {
        match Token::parse(&s) {
            Ok(t) => prop_assert_eq!(t.expose(), s),
            Err(reason) => prop_assert_eq!(reason, Reason::Malformed),
        }
    }

    #[test]
    fn cookie_header_parsing_never_panics(header in any::<String>(), name in "[!-~]{0,12}") {
        match find_session_cookie(&header, &name) {
            CookieToken::One(v) => prop_assert!(header.contains(v)),
            CookieToken::Absent | CookieToken::Ambiguous => {}
        }
    }

    #[test]
    fn cookie_headers_built_from_pairs_find_the_session_value(
        others in proptest::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9]{0,10}"), 0..6),
        value in "[A-Za-z0-9_-]{1,43}",
    ) {
        let mut parts: Vec<String> = others
            .iter()
            .filter(|(k, _)| k != "sid")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.insert(parts.len() / 2, format!("sid={value}"));
        let header = parts.join("; ");
        prop_assert_eq!(find_session_cookie(&header, "sid"), CookieToken::One(&value));
        let tossed = format!("{header}; sid=other");
        prop_assert_eq!(find_session_cookie(&tossed, "sid"), CookieToken::Ambiguous);
    }

    #[test]
    fn ids_and_csrf_candidates_never_panic(s in any::<String>()) {
        let _ = SessionId::parse_hex(&s);
        let secret = CsrfSecret::generate().unwrap();
        prop_assert!(!secret.verify(&s));
    }

    #[test]
    fn session_data_json_never_panics(s in any::<String>()) {
        let _ = tessera::data::parse_object(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn validate_rejects_arbitrary_text_without_panicking(s in any::<String>()) {
        let m = manager();
        match m.validate(&s, &Context::default()).unwrap() {
            Validation::Rejected(Reason::Malformed | Reason::Unknown) => {}
            other => prop_assert!(false, "arbitrary input gave {:?}", other),
        }
        prop_assert!(!m.logout(&s).unwrap());
    }
}

/// RFC 7638 §3.1's example key, in Tessera's canonical JWK text: a stored RSA binding key.
const STORED_KEY: &str = r#"{"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;

const BOTH: &[Alg] = &[Alg::Es256, Alg::Rs256];

/// JSON-ish object texts built from the members the DBSC verifier reads, so that generated
/// proofs get past base64 and into the header, key and payload checks.
fn dbsc_json_object() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("alg"),
        Just("typ"),
        Just("jwk"),
        Just("crit"),
        Just("jti"),
        Just("authorization"),
        Just("kty"),
        Just("crv"),
        Just("x"),
        Just("y"),
        Just("n"),
        Just("e"),
        Just("d"),
    ];
    let leaf = prop_oneof![
        Just("\"ES256\"".to_string()),
        Just("\"RS256\"".to_string()),
        Just("\"none\"".to_string()),
        Just("\"dbsc+jwt\"".to_string()),
        Just("\"EC\"".to_string()),
        Just("\"RSA\"".to_string()),
        Just("\"P-256\"".to_string()),
        Just("\"AQAB\"".to_string()),
        Just("null".to_string()),
        Just("[]".to_string()),
        Just("1".to_string()),
        "\"[A-Za-z0-9_=-]{0,48}\"",
    ];
    let value = leaf.prop_recursive(2, 16, 6, move |inner| {
        proptest::collection::vec((name.clone(), inner), 0..6).prop_map(|members| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    });
    value.prop_filter("an object", |v| v.starts_with('{'))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn dbsc_token_value_never_panics_and_returns_a_part_of_its_input(s in any::<String>()) {
        if let Some(v) = token_value(&s) {
            prop_assert!(!v.is_empty() && s.contains(v));
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)));
        }
    }

    #[test]
    fn dbsc_proof_text_never_panics_and_is_refused(s in any::<String>(), jws in "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}") {
        let key = PublicKey::from_jwk_json(STORED_KEY).unwrap();
        for text in [&s, &jws] {
            prop_assert!(verify_registration(text, BOTH).is_err());
            prop_assert!(verify_refresh(text, &key).is_err());
        }
    }

    #[test]
    fn dbsc_proofs_of_arbitrary_json_never_panic(
        header in prop_oneof![any::<String>(), dbsc_json_object()],
        payload in prop_oneof![any::<String>(), dbsc_json_object()],
        signature in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let key = PublicKey::from_jwk_json(STORED_KEY).unwrap();
        let text = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(&header),
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&signature),
        );
        // No generated signature verifies, so every one of these is refused, never accepted.
        prop_assert!(verify_registration(&text, BOTH).is_err());
        prop_assert!(verify_refresh(&text, &key).is_err());
    }

    #[test]
    fn dbsc_jwk_parsing_never_panics(s in prop_oneof![any::<String>(), dbsc_json_object()]) {
        if let Ok(key) = PublicKey::from_jwk_json(&s) {
            prop_assert_eq!(key.to_jwk_json(), s.clone());
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&s)
            && let Ok(key) = PublicKey::from_jwk(&value)
        {
            prop_assert_eq!(PublicKey::from_jwk_json(&key.to_jwk_json()), Ok(key));
        }
    }
}
