//! Session data: a JSON object with string keys, changed by whole replacement or key by key,
//! under a size cap.
//!
//! Key-by-key changes exist so that two concurrent requests that each set a different key do not
//! overwrite each other, which whole-object saves (Django's, express-session's) do.

use std::io;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// The data of a session: a JSON object.
pub type Data = serde_json::Map<String, Value>;

/// A change to a session's data.
#[derive(Clone, Debug, PartialEq)]
pub enum DataOp {
    /// Set `key` to `value`.
    Set(String, Value),
    /// Remove `key` (no error if absent).
    Remove(String),
    /// Replace the whole object.
    Replace(Data),
    /// Set the keys of the first object and remove the listed keys, atomically: what a
    /// framework's "save" sends, so keys another request changed meanwhile are left alone.
    Patch(Data, Vec<String>),
}

/// Apply `op` to `current` and check the result against `max_bytes`.
///
/// Returns the new data (`None` for the empty object, which is shared rather than allocated).
///
/// # Errors
/// `data_too_large` if the serialized result exceeds `max_bytes`; `invalid_argument` for an
/// empty key. The current data is untouched on error.
pub fn apply(
    current: Option<&Arc<Data>>,
    op: &DataOp,
    max_bytes: usize,
) -> Result<Option<Arc<Data>>> {
    let next: Data = match op {
        DataOp::Set(key, value) => {
            check_key(key)?;
            let mut next = current.map(|d| Data::clone(d)).unwrap_or_default();
            next.insert(key.clone(), value.clone());
            next
        }
        DataOp::Remove(key) => {
            let Some(current) = current else {
                return Ok(None);
            };
            if !current.contains_key(key) {
                return Ok(Some(Arc::clone(current)));
            }
            let mut next = Data::clone(current);
            next.remove(key);
            next
        }
        DataOp::Replace(data) => {
            for key in data.keys() {
                check_key(key)?;
            }
            data.clone()
        }
        DataOp::Patch(set, remove) => {
            for key in set.keys() {
                check_key(key)?;
            }
            let mut next = current.map(|d| Data::clone(d)).unwrap_or_default();
            for key in remove {
                next.remove(key);
            }
            for (key, value) in set {
                next.insert(key.clone(), value.clone());
            }
            next
        }
    };
    check_size(&next, max_bytes)?;
    Ok(if next.is_empty() {
        None
    } else {
        Some(Arc::new(next))
    })
}

/// Check that `data` serializes to at most `max_bytes`.
///
/// # Errors
/// `data_too_large` naming both sizes.
pub fn check_size(data: &Data, max_bytes: usize) -> Result<()> {
    let size = serialized_len(data);
    if size > max_bytes {
        return Err(Error::new(
            ErrorKind::DataTooLarge,
            format!(
                "session data would be {size} bytes of JSON; the limit (max_data_bytes) is {max_bytes}"
            ),
        ));
    }
    Ok(())
}

/// Length of the compact JSON serialization, counted without building the string.
pub fn serialized_len(data: &Data) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing a Map<String, Value> into an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut counter, data);
    counter.0
}

/// Parse JSON text that must be an object (the C ABI and the conformance runners pass text).
///
/// # Errors
/// `invalid_argument` if the text is not JSON or not an object.
pub fn parse_object(text: &str) -> Result<Data> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_argument(
            "session data must be a JSON object",
        )),
        Err(e) => Err(Error::invalid_argument(format!(
            "session data is not valid JSON: {e}"
        ))),
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_argument(
            "a session data key must not be empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn set_remove_replace() {
        let d = apply(None, &DataOp::Set("a".into(), json!(1)), 100).unwrap();
        let d = apply(d.as_ref(), &DataOp::Set("b".into(), json!([true])), 100).unwrap();
        assert_eq!(
            Value::Object(Data::clone(d.as_ref().unwrap())),
            json!({"a": 1, "b": [true]})
        );
        let d = apply(d.as_ref(), &DataOp::Remove("a".into()), 100).unwrap();
        assert_eq!(
            Value::Object(Data::clone(d.as_ref().unwrap())),
            json!({"b": [true]})
        );
        let d = apply(d.as_ref(), &DataOp::Remove("b".into()), 100).unwrap();
        assert!(d.is_none(), "an emptied object is stored as none");
        let replaced = apply(
            None,
            &DataOp::Replace(parse_object(r#"{"x":"y"}"#).unwrap()),
            100,
        )
        .unwrap();
        assert_eq!(replaced.unwrap().get("x"), Some(&json!("y")));
    }

    #[test]
    fn patch_sets_and_removes_in_one_step() {
        let d = apply(None, &DataOp::Set("keep".into(), json!(0)), 100).unwrap();
        let d = apply(d.as_ref(), &DataOp::Set("old".into(), json!(1)), 100).unwrap();
        let set = parse_object(r#"{"new": 2, "keep": 3}"#).unwrap();
        let d = apply(
            d.as_ref(),
            &DataOp::Patch(set, vec!["old".into(), "absent".into()]),
            100,
        )
        .unwrap();
        assert_eq!(
            Value::Object(Data::clone(d.as_ref().unwrap())),
            json!({"keep": 3, "new": 2})
        );
        let bad = parse_object(r#"{"": 1}"#).unwrap();
        assert!(apply(d.as_ref(), &DataOp::Patch(bad, vec![]), 100).is_err());
    }

    #[test]
    fn cap_is_on_the_serialized_size_and_leaves_data_untouched() {
        let d = apply(None, &DataOp::Set("k".into(), json!("v")), 9).unwrap();
        assert_eq!(serialized_len(d.as_ref().unwrap()), 9); // {"k":"v"}
        let err = apply(d.as_ref(), &DataOp::Set("k".into(), json!("vv")), 9).unwrap_err();
        assert_eq!(err.code(), "data_too_large");
        assert!(err.to_string().contains("max_data_bytes"));
        assert_eq!(d.unwrap().get("k"), Some(&json!("v")));
    }

    #[test]
    fn rejects_empty_keys_and_non_objects() {
        assert_eq!(
            apply(None, &DataOp::Set(String::new(), json!(1)), 99)
                .unwrap_err()
                .code(),
            "invalid_argument"
        );
        assert_eq!(parse_object("[1]").unwrap_err().code(), "invalid_argument");
        assert_eq!(parse_object("{").unwrap_err().code(), "invalid_argument");
    }
}
