//! Session hashes in Redis ↔ [`Record`]s. Field names and formats are the schema documented in
//! `docs/redis-schema.md`; every hash this version writes carries `v` = [`SCHEMA_VERSION`], and
//! hashes of version 1 (written before `auth` and `bind` existed) read as having neither.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Value;

use crate::authn::Authn;
use crate::binding::BindingState;
use crate::csrf::CsrfSecret;
use crate::data::Data;
use crate::error::{Error, Reason, Result};
use crate::id::SessionId;
use crate::record::Record;

/// The schema version written into every session hash.
pub const SCHEMA_VERSION: &str = "2";

/// The older version still read: 2 only added the optional `auth` and `bind` fields.
const OLDEST_READ: &str = "1";

/// The hash fields of a new record.
pub(super) fn encode(r: &Record) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("v", SCHEMA_VERSION.to_owned()),
        ("created", r.created_at.to_string()),
        ("seen", r.last_seen.to_string()),
        ("deadline", r.deadline.to_string()),
        ("rotated", r.rotated_at.to_string()),
        ("secure", if r.secure { "1" } else { "0" }.to_owned()),
        ("csrf", hex_bytes(r.csrf.as_bytes())),
        ("ver", "0".to_owned()),
    ];
    if let Some(user) = &r.user {
        out.push(("user", user.to_string()));
    }
    if let Some(ua) = &r.user_agent {
        out.push(("ua", ua.to_string()));
    }
    if let Some(data) = &r.data {
        out.push(("data", serde_json::to_string(&**data).unwrap_or_default()));
    }
    // Written only when set, so a session without its own expiry reads the same as before.
    if let Some(max_idle) = r.max_idle_ms {
        out.push(("maxidle", max_idle.to_string()));
    }
    if let Some(auth) = &r.auth {
        out.push(("auth", auth.to_stored()));
    }
    if let Some(binding) = &r.binding {
        out.push(("bind", binding.to_stored()));
    }
    out
}

/// A record from a flat HGETALL reply (its `id` is filled in by the caller when not known).
pub(super) fn decode(value: Option<&Value>, what: &str) -> Result<Record> {
    let parts = array(value.unwrap_or(&Value::Nil), what)?;
    let mut h: HashMap<&str, &[u8]> = HashMap::with_capacity(parts.len() / 2);
    for pair in parts.chunks(2) {
        if let (Some(Value::BulkString(k)), Some(Value::BulkString(v))) =
            (pair.first(), pair.get(1))
        {
            h.insert(std::str::from_utf8(k).map_err(|_| bad(what))?, v);
        }
    }
    match h.get("v") {
        Some(v) if *v == SCHEMA_VERSION.as_bytes() || *v == OLDEST_READ.as_bytes() => {}
        Some(v) => {
            return Err(Error::internal(format!(
                "redis: session schema version {} is not supported (this Tessera reads {SCHEMA_VERSION})",
                String::from_utf8_lossy(v)
            )));
        }
        None => return Err(bad(what)),
    }
    let text = |k: &str| {
        h.get(k)
            .map(|v| std::str::from_utf8(v).map_err(|_| bad(what)))
            .transpose()
    };
    let number = |k: &str| -> Result<u64> {
        text(k)?
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad(what))
    };
    let mut csrf = [0u8; 32];
    let csrf_hex = text("csrf")?.ok_or_else(|| bad(what))?;
    if !unhex(csrf_hex, &mut csrf) {
        return Err(bad(what));
    }
    let data = match h.get("data") {
        Some(raw) if !raw.is_empty() => Some(Arc::new(parse_data(raw)?)),
        _ => None,
    };
    Ok(Record {
        id: SessionId::from_bytes([0; 32]),
        user: text("user")?.map(Arc::from),
        user_agent: text("ua")?.map(Arc::from),
        created_at: number("created")?,
        last_seen: number("seen")?,
        deadline: number("deadline")?,
        rotated_at: number("rotated")?,
        secure: text("secure")? == Some("1"),
        csrf: CsrfSecret::from_bytes(csrf),
        data,
        predecessor: text("pred")?.map(SessionId::parse_hex).transpose()?,
        // Absent in sessions written before per-session expiry existed: the configured idle.
        max_idle_ms: match text("maxidle")? {
            Some(t) => Some(t.parse().map_err(|_| bad(what))?),
            None => None,
        },
        auth: text("auth")?.map(Authn::from_stored).transpose()?,
        binding: text("bind")?
            .map(BindingState::from_stored)
            .transpose()?
            .map(Arc::new),
    })
}

fn parse_data(raw: &[u8]) -> Result<Data> {
    serde_json::from_slice(raw).map_err(|e| {
        Error::internal(format!(
            "redis: stored session data is not a JSON object: {e}"
        ))
    })
}

/// The data field of a `read_data` reply (`""` = empty).
pub(super) fn data(value: Option<&Value>) -> Result<Option<Arc<Data>>> {
    match value {
        Some(Value::BulkString(raw)) if !raw.is_empty() => Ok(Some(Arc::new(parse_data(raw)?))),
        _ => Ok(None),
    }
}

/// The value of `name` in a flat field/value array (an `HGETALL` reply), if present.
pub(super) fn field<'v>(hash: &'v Value, name: &str) -> Option<&'v [u8]> {
    let Value::Array(parts) = hash else {
        return None;
    };
    parts
        .chunks(2)
        .find_map(|pair| match (pair.first(), pair.get(1)) {
            (Some(Value::BulkString(k)), Some(Value::BulkString(v))) if k == name.as_bytes() => {
                Some(v.as_slice())
            }
            _ => None,
        })
}

/// A RESP3 map reply as the flat field/value array RESP2 gives (a URL may ask for
/// `protocol=resp3`); other replies unchanged.
pub(super) fn flatten(value: Value) -> Value {
    match value {
        Value::Map(pairs) => Value::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        other => other,
    }
}

pub(super) fn array<'v>(value: &'v Value, what: &str) -> Result<&'v [Value]> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(unexpected(what, other)),
    }
}

pub(super) fn int(value: Option<&Value>, what: &str) -> Result<i64> {
    match value {
        Some(Value::Int(n)) => Ok(*n),
        other => Err(unexpected(what, other.unwrap_or(&Value::Nil))),
    }
}

pub(super) fn text(value: Option<&Value>, what: &str) -> Result<String> {
    match value {
        Some(Value::BulkString(raw)) => String::from_utf8(raw.clone()).map_err(|_| bad(what)),
        other => Err(unexpected(what, other.unwrap_or(&Value::Nil))),
    }
}

pub(super) fn id(value: Option<&Value>) -> Result<SessionId> {
    SessionId::parse_hex(&text(value, "id")?)
}

pub(super) fn user(value: Option<&Value>) -> Result<Option<Arc<str>>> {
    let u = text(value, "user")?;
    Ok(if u.is_empty() {
        None
    } else {
        Some(Arc::from(u))
    })
}

/// An expiry reason field: `""` means the session was alive.
pub(super) fn reason(value: Option<&Value>) -> Result<Option<Reason>> {
    let r = text(value, "reason")?;
    if r.is_empty() {
        return Ok(None);
    }
    r.parse::<Reason>().map(Some).map_err(|()| bad("reason"))
}

pub(super) fn unexpected(what: &str, value: &Value) -> Error {
    Error::internal(format!("redis: unexpected reply to {what}: {value:?}"))
}

fn bad(what: &str) -> Error {
    Error::internal(format!("redis: a stored session is malformed ({what})"))
}

pub(super) fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str, out: &mut [u8; 32]) -> bool {
    text.len() == 64
        && text
            .as_bytes()
            .chunks(2)
            .zip(out.iter_mut())
            .all(|(pair, byte)| {
                match std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                {
                    Some(b) => {
                        *byte = b;
                        true
                    }
                    None => false,
                }
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_hash_fields() {
        let mut r = Record::new(
            SessionId::from_bytes([7; 32]),
            Some(Arc::from("alice")),
            1_700_000_000_123,
            60_000,
            true,
            CsrfSecret::generate().unwrap(),
        );
        r.data = Some(Arc::new(
            crate::data::parse_object(r#"{"big": 18446744073709551615, "f": 0.1}"#).unwrap(),
        ));
        r.user_agent = Some(Arc::from("ua/1"));
        r.max_idle_ms = Some(300_000);
        r.auth = Some(crate::authn::Authn::new(2, ["pwd", "otp"]).unwrap());
        r.binding = Some(Arc::new(BindingState::Offered(crate::binding::Slot {
            hash: crate::binding::challenge_digest("C0"),
            until: 1_700_000_060_000,
        })));
        let flat: Vec<Value> = encode(&r)
            .into_iter()
            .flat_map(|(k, v)| {
                [
                    Value::BulkString(k.into()),
                    Value::BulkString(v.into_bytes()),
                ]
            })
            .collect();
        let mut back = decode(Some(&Value::Array(flat)), "test").unwrap();
        back.id = r.id;
        assert_eq!(back, r);
    }

    #[test]
    fn a_session_without_its_own_idle_decodes_with_none() {
        let r = Record::new(
            SessionId::from_bytes([8; 32]),
            None,
            1_700_000_000_000,
            60_000,
            false,
            CsrfSecret::generate().unwrap(),
        );
        let fields = encode(&r);
        assert!(fields.iter().all(|(k, _)| *k != "maxidle"));
        let flat: Vec<Value> = fields
            .into_iter()
            .flat_map(|(k, v)| {
                [
                    Value::BulkString(k.into()),
                    Value::BulkString(v.into_bytes()),
                ]
            })
            .collect();
        let back = decode(Some(&Value::Array(flat)), "test").unwrap();
        assert_eq!(back.max_idle_ms, None);
    }

    #[test]
    fn unreadable_authentication_or_binding_fails_closed() {
        for (field, junk) in [("auth", "{\"at\":1}"), ("bind", "{\"x\":1}")] {
            let r = Record::new(
                SessionId::from_bytes([9; 32]),
                Some(Arc::from("bob")),
                1_700_000_000_000,
                60_000,
                true,
                CsrfSecret::generate().unwrap(),
            );
            let flat: Vec<Value> = encode(&r)
                .into_iter()
                .chain([(field, junk.to_owned())])
                .flat_map(|(k, v)| {
                    [
                        Value::BulkString(k.into()),
                        Value::BulkString(v.into_bytes()),
                    ]
                })
                .collect();
            let e = decode(Some(&Value::Array(flat)), "test").unwrap_err();
            assert_eq!(e.code(), "store_unavailable", "{field}");
        }
    }

    #[test]
    fn a_newer_schema_is_refused_not_misread() {
        let flat = vec![
            Value::BulkString(b"v".to_vec()),
            Value::BulkString(b"3".to_vec()),
        ];
        let e = decode(Some(&Value::Array(flat)), "test").unwrap_err();
        assert!(e.to_string().contains("schema version 3"));
    }
}
