//! The properties the core fuzz targets check, one function per target.
//!
//! Shared by the libFuzzer targets (fuzz/fuzz_targets/*.rs) and by
//! core/tests/fuzz_regressions.rs, which includes this file by path and replays every committed
//! corpus and regression input through the same functions under plain `cargo test`. Each
//! function panics (fails the test, or is a crash to libFuzzer) when a property does not hold.

use serde_json::Value;
use tessera::cookie::{CookieToken, find_session_cookie};
use tessera::token::{TOKEN_LEN, Token};
use tessera::{Config, Context, Data, DataOp, ManualClock, Reason, SessionManager, Validation};

/// The base64url alphabet; a character's value is its index.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `token_parse`: [`Token::parse_bytes`] and [`Token::parse`] on arbitrary bytes.
///
/// Never panics; accepts exactly the canonical spellings (43 characters of the alphabet, the
/// last of which carries no bits beyond the 256, so its value is a multiple of 4); whatever
/// parses re-encodes (`expose` and `encode_into`) to exactly the input; the text and byte entry
/// points agree; a refusal is always `malformed`.
pub fn token_parse(data: &[u8]) {
    let parsed = Token::parse_bytes(data);
    let canonical = data.len() == TOKEN_LEN
        && data.iter().all(|b| ALPHABET.contains(b))
        && ALPHABET
            .iter()
            .position(|c| *c == data[TOKEN_LEN - 1])
            .is_some_and(|value| value % 4 == 0);
    assert_eq!(
        parsed.is_ok(),
        canonical,
        "accepted a non-canonical spelling or refused a canonical one: {data:?}"
    );
    match &parsed {
        Ok(token) => {
            assert_eq!(token.expose().as_bytes(), data, "re-encoding differs");
            let mut buf = [0u8; TOKEN_LEN];
            token.encode_into(&mut buf);
            assert_eq!(&buf[..], data, "encode_into differs");
        }
        Err(reason) => assert_eq!(*reason, Reason::Malformed),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(
            Token::parse(text).ok(),
            parsed.ok(),
            "parse and parse_bytes disagree"
        );
    }
}

/// The session cookie name [`cookie_header`] looks for when the input names none.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session";

/// `cookie_header`: [`find_session_cookie`] on arbitrary UTF-8 with an arbitrary name.
///
/// Input: `name '\n' header`, or a bare header (no newline) searched for
/// [`DEFAULT_COOKIE_NAME`]; non-UTF-8 input is skipped.
///
/// Never panics; a `One(value)` borrows from the header (it is a substring, at a position
/// inside it) and holds no `;`; and the answer is the one a plain reading of the header gives:
/// split on `;`, split each pair at its first `=`, compare the name with spaces and tabs trimmed,
/// trim the value the same way and strip one pair of double quotes — none → `Absent`, one →
/// `One(value)`, more → `Ambiguous`.
pub fn cookie_header(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (name, header) = text.split_once('\n').unwrap_or((DEFAULT_COOKIE_NAME, text));
    let found = find_session_cookie(header, name);

    let blank = |c: char| c == ' ' || c == '\t';
    let mut values = header.split(';').filter_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key.trim_matches(blank) != name {
            return None;
        }
        let value = value.trim_matches(blank);
        Some(
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value),
        )
    });
    let expected = match (values.next(), values.next()) {
        (None, _) => CookieToken::Absent,
        (Some(value), None) => CookieToken::One(value),
        (Some(_), Some(_)) => CookieToken::Ambiguous,
    };
    assert_eq!(found, expected, "name {name:?}, header {header:?}");

    if let CookieToken::One(value) = found {
        let outer = header.as_bytes().as_ptr_range();
        let inner = value.as_bytes().as_ptr_range();
        assert!(
            outer.start <= inner.start && inner.end <= outer.end,
            "the value is not a substring of the header"
        );
        assert!(!value.contains(';'), "the value {value:?} holds a ';'");
    }
}

/// How many data operations one `session_data` input may make.
const MAX_DATA_SEGMENTS: usize = 16;

/// `session_data`: [`tessera::data::parse_object`] on arbitrary text, then the parsed objects
/// as data operations through a [`SessionManager`] on the memory store with a small cap.
///
/// Input: one byte that sets `max_data_bytes` (2 + 4 × byte: 2 to 1022 bytes), then UTF-8 text
/// split on NUL into segments; non-UTF-8 input is skipped. A segment is an operation letter and
/// JSON text: `s` sets each key of the object in turn, `d` removes each key, `p` patches (keys
/// whose value is `null` are removed, the others set), `r` replaces the whole object, `c` creates
/// a new session with the object as its initial data (later segments write to it); any other
/// segment is only parsed.
///
/// Never panics; a refusal to parse is `invalid_argument`; every write's outcome (`create`'s
/// included) is the one a plain model predicts (`invalid_argument` for an empty key,
/// `data_too_large` when the compact JSON of the result would exceed the cap, else the model's
/// new data); and after every call the session, read back through `validate`, holds exactly the
/// model's data — so a successful write reads back equal and a refused one (`data_too_large`
/// included) leaves the data unchanged.
pub fn session_data(data: &[u8]) {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let max = 2 + usize::from(cap) * 4;
    let config = Config {
        max_data_bytes: max,
        ..Config::default()
    };
    let manager = SessionManager::builder(config)
        .clock(ManualClock::default())
        .sweep_interval(None)
        .build()
        .expect("a valid configuration");
    let mut live = Live::create(&manager, None).expect("an empty session always fits");

    for segment in text.split('\0').take(MAX_DATA_SEGMENTS) {
        let (op, json) = match segment.as_bytes().first() {
            Some(c @ (b's' | b'd' | b'p' | b'r' | b'c')) => (*c, &segment[1..]),
            _ => (b'?', segment),
        };
        let object = match tessera::data::parse_object(json) {
            Ok(object) => object,
            Err(e) => {
                assert_eq!(e.code(), "invalid_argument", "{e}");
                continue;
            }
        };
        match op {
            b's' => {
                for (key, value) in &object {
                    live.write(&manager, DataOp::Set(key.clone(), value.clone()), max);
                }
            }
            b'd' => {
                for key in object.keys() {
                    live.write(&manager, DataOp::Remove(key.clone()), max);
                }
            }
            b'p' => {
                let (removed, set): (Data, Data) =
                    object.into_iter().partition(|(_, v)| v.is_null());
                let removed = removed.into_iter().map(|(k, _)| k).collect();
                live.write(&manager, DataOp::Patch(set, removed), max);
            }
            b'r' => live.write(&manager, DataOp::Replace(object), max),
            b'c' => {
                let fits = json_len(&object) <= max;
                // create checks keys like every other write: an empty key is invalid_argument.
                let empty_key = object.keys().any(String::is_empty);
                match Live::create(&manager, Some(object)) {
                    Ok(created) => {
                        assert!(fits, "created a session with data over the cap");
                        assert!(!empty_key, "created a session with an empty data key");
                        live = created;
                    }
                    Err(e) if empty_key => assert_eq!(e.code(), "invalid_argument", "{e}"),
                    Err(e) => {
                        assert!(!fits, "refused data that fits: {e}");
                        assert_eq!(e.code(), "data_too_large", "{e}");
                    }
                }
            }
            _ => {}
        }
        assert_eq!(
            live.read_back(&manager),
            live.model,
            "the data read back differs"
        );
    }
}

/// The session `session_data` writes to, and the data it must hold.
struct Live {
    token: String,
    id: tessera::SessionId,
    model: Data,
}

impl Live {
    fn create(manager: &SessionManager, data: Option<Data>) -> tessera::Result<Live> {
        let model = data.clone().unwrap_or_default();
        let session = manager.create(None, data, &Context::HTTPS)?;
        let live = Live {
            token: session.new_token().expect("a new session").expose(),
            id: *session.id(),
            model,
        };
        assert_eq!(session.data(), &live.model, "create returned other data");
        assert_eq!(
            live.read_back(manager),
            live.model,
            "created data reads back differently"
        );
        Ok(live)
    }

    /// The session's data, by the path every request takes.
    fn read_back(&self, manager: &SessionManager) -> Data {
        match manager.validate(&self.token, &Context::HTTPS) {
            Ok(Validation::Valid(session)) => session.data().clone(),
            Ok(Validation::Rejected(reason)) => panic!("the live session was rejected: {reason}"),
            Err(e) => panic!("the memory store failed: {e}"),
        }
    }

    /// Apply `op` and check the outcome against the model's prediction.
    fn write(&mut self, manager: &SessionManager, op: DataOp, max: usize) {
        let expected = predict(&self.model, &op, max);
        let result = manager.update_data(&self.id, op.clone());
        match (result, expected) {
            (Ok(after), Ok(expected)) => {
                assert_eq!(after, expected, "{op:?} gave other data than the model");
                self.model = expected;
            }
            (Err(e), Err(code)) => assert_eq!(e.code(), code, "{op:?}: {e}"),
            (got, want) => panic!("{op:?} with cap {max}: got {got:?}, the model says {want:?}"),
        }
        assert_eq!(self.read_back(manager), self.model, "after {op:?}");
    }
}

/// What `op` should do to `model` under a cap of `max` bytes: the new data or the error code.
fn predict(model: &Data, op: &DataOp, max: usize) -> Result<Data, &'static str> {
    let mut next = model.clone();
    match op {
        DataOp::Set(key, value) => {
            if key.is_empty() {
                return Err("invalid_argument");
            }
            next.insert(key.clone(), value.clone());
        }
        DataOp::Remove(key) => {
            next.remove(key);
        }
        DataOp::Replace(data) => {
            if data.keys().any(String::is_empty) {
                return Err("invalid_argument");
            }
            next = data.clone();
        }
        DataOp::Patch(set, remove) => {
            if set.keys().any(String::is_empty) {
                return Err("invalid_argument");
            }
            for key in remove {
                next.remove(key);
            }
            for (key, value) in set {
                next.insert(key.clone(), value.clone());
            }
        }
    }
    if json_len(&next) > max {
        return Err("data_too_large");
    }
    Ok(next)
}

/// Length of the compact JSON text of `data`, by serializing it (independently of the core's
/// byte counter).
fn json_len(data: &Data) -> usize {
    serde_json::to_vec(&Value::Object(data.clone()))
        .expect("a JSON object serializes")
        .len()
}
