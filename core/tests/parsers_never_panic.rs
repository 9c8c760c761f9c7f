//! Property tests: no input to the token, id, cookie, CSRF or data parsers panics, and only
//! canonical tokens are accepted.

use proptest::prelude::*;
use tessera::cookie::{CookieToken, find_session_cookie};
use tessera::csrf::CsrfSecret;
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
