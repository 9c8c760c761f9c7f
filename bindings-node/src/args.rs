//! Checking what JavaScript passes in: every argument arrives as an untyped value and is turned
//! into Rust here, with a clear `TypeError` for the wrong type and a `RangeError` for a string or
//! number no real caller would send. Nothing here can abort the process.

use std::borrow::Cow;

use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, Object, Unknown};
use napi::{JsString, JsValue, ValueType, sys};
use serde_json::{Map, Value};

use crate::errors::{Fail, Outcome};

/// Longest string accepted for a token, a CSRF token, a session id, a key or a cookie header.
/// Well above anything legitimate (a token is 43 characters, Node caps headers at 16 KiB) and
/// far below what would cost real memory to copy.
pub const MAX_SHORT: usize = 64 * 1024;

/// What kind of JavaScript value this is, for messages.
pub fn describe(value: &Unknown) -> &'static str {
    match value.get_type() {
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Boolean) => "a boolean",
        Ok(ValueType::Number) => "a number",
        Ok(ValueType::String) => "a string",
        Ok(ValueType::Symbol) => "a symbol",
        Ok(ValueType::Object) => "an object",
        Ok(ValueType::Function) => "a function",
        Ok(ValueType::BigInt) => "a bigint",
        _ => "an unsupported value",
    }
}

fn type_is(value: &Unknown, ty: ValueType) -> bool {
    value.get_type().is_ok_and(|t| t == ty)
}

/// Whether the argument was left out (`undefined`) or is `null`.
pub fn is_nullish(value: Option<&Unknown>) -> bool {
    value.is_none_or(|v| type_is(v, ValueType::Undefined) || type_is(v, ValueType::Null))
}

fn napi_fail(what: &str, e: napi::Error) -> Fail {
    Fail::Type(format!("{what}: {}", e.reason))
}

/// A string of at most `max` UTF-8 bytes.
pub fn string(value: Option<Unknown>, what: &str, max: usize) -> Outcome<String> {
    match value {
        Some(v) => read_string(v, what, max),
        None => Err(not_a_string(what, None)),
    }
}

/// A string, or `None` for `undefined`/`null`.
pub fn opt_string(value: Option<Unknown>, what: &str, max: usize) -> Outcome<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    // One type query per argument: each is a call into Node (the per-request path reads five).
    match v.get_type() {
        Ok(ValueType::Undefined | ValueType::Null) => Ok(None),
        Ok(ValueType::String) => read_string(v, what, max).map(Some),
        _ => Err(not_a_string(what, Some(&v))),
    }
}

fn not_a_string(what: &str, value: Option<&Unknown>) -> Fail {
    Fail::Type(format!(
        "{what} must be a string, got {}",
        value.map_or("undefined", describe)
    ))
}

/// Strings shorter than this (in UTF-8) are read with one copy into the stack (a cookie
/// header, a method, a token): napi-rs's own conversion asks Node three times (UTF-16 length,
/// UTF-8 length, the bytes) and copies twice, ~1.3k instructions per string on the request path.
pub const SHORT: usize = 512;

/// The JavaScript string `value` (known to be one) as UTF-8, at most `max` bytes.
fn read_string(value: Unknown, what: &str, max: usize) -> Outcome<String> {
    str_in(value, what, max, &mut [0u8; SHORT]).map(Cow::into_owned)
}

/// The string `value` as UTF-8, at most `max` bytes: borrowed from `buf` when it fits there
/// (no allocation), else copied out of V8 in full. A value that is not a string is a
/// `TypeError`; the type is asked only then (each query is a call into Node).
pub fn str_in<'b, const N: usize>(
    value: Unknown,
    what: &str,
    max: usize,
    buf: &'b mut [u8; N],
) -> Outcome<Cow<'b, str>> {
    let mut written = 0usize;
    let raw = value.value();
    // SAFETY: `env` and `value` are the live handles napi-rs passed in for this call; the buffer
    // pointer and length describe `buf`, which Node writes at most `N` bytes into.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            raw.env,
            raw.value,
            buf.as_mut_ptr().cast(),
            N,
            &mut written,
        )
    };
    if status == sys::Status::napi_string_expected {
        return Err(not_a_string(what, Some(&value)));
    }
    // Node writes only whole characters (≤ 4 bytes) into N - 1 bytes: a string it had to cut
    // leaves fewer than 4 bytes unused, so one that leaves more is complete.
    if status == sys::Status::napi_ok && written + 4 < N && written <= max {
        return std::str::from_utf8(&buf[..written])
            .map(Cow::Borrowed)
            .map_err(|e| Fail::Type(format!("{what}: {e}")));
    }
    let js = JsString::from_unknown(value).map_err(|e| napi_fail(what, e))?;
    // UTF-16 length is O(1) and never exceeds the UTF-8 length: refuse huge strings uncopied.
    let units = js.utf16_len().map_err(|e| napi_fail(what, e))?;
    if units > max {
        return Err(too_long(what, units, max));
    }
    let s = js
        .into_utf8()
        .and_then(|s| s.into_owned())
        .map_err(|e| napi_fail(what, e))?;
    if s.len() > max {
        return Err(too_long(what, s.len(), max));
    }
    Ok(Cow::Owned(s))
}

/// A boolean, read without a type query unless it is not one (then `default` for `undefined`).
pub fn bool_or(value: Unknown, what: &str, default: bool) -> Outcome<bool> {
    let mut out = false;
    let raw = value.value();
    // SAFETY: `env` and `value` are the live handles napi-rs passed in for this call; `out` is
    // a valid place for the result.
    let status = unsafe { sys::napi_get_value_bool(raw.env, raw.value, &mut out) };
    if status == sys::Status::napi_ok {
        Ok(out)
    } else {
        opt_bool(Some(value), what, default)
    }
}

fn too_long(what: &str, len: usize, max: usize) -> Fail {
    Fail::Range(format!(
        "{what} is too long ({len} characters; at most {max})"
    ))
}

/// A boolean, or `default` for `undefined`.
pub fn opt_bool(value: Option<Unknown>, what: &str, default: bool) -> Outcome<bool> {
    let Some(v) = value else { return Ok(default) };
    match v.get_type() {
        Ok(ValueType::Undefined) => Ok(default),
        Ok(ValueType::Boolean) => bool::from_unknown(v).map_err(|e| napi_fail(what, e)),
        _ => Err(Fail::Type(format!(
            "{what} must be a boolean, got {}",
            describe(&v)
        ))),
    }
}

/// A whole number of milliseconds in `0 ..= 2^53 - 1`.
pub fn millis(value: Option<Unknown>, what: &str) -> Outcome<u64> {
    let Some(v) = value.filter(|v| type_is(v, ValueType::Number)) else {
        return Err(Fail::Type(format!(
            "{what} must be a number of milliseconds, got {}",
            value.as_ref().map_or("undefined", describe)
        )));
    };
    let n = f64::from_unknown(v).map_err(|e| napi_fail(what, e))?;
    whole(n).ok_or_else(|| {
        Fail::Range(format!(
            "{what} must be a whole number of milliseconds between 0 and 2^53 - 1, got {n}"
        ))
    })
}

/// `n` as an integer if it is one in `0 ..= 2^53 - 1`.
pub fn whole(n: f64) -> Option<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    // The range check comes first, so the cast below is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (n.is_finite() && n.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&n)).then_some(n as u64)
}

/// A plain object, or `None` for `undefined`/`null`.
pub fn opt_object<'a>(value: Option<Unknown<'a>>, what: &str) -> Outcome<Option<Object<'a>>> {
    match value {
        v if is_nullish(v.as_ref()) => Ok(None),
        Some(v) if type_is(&v, ValueType::Object) && !v.is_array().unwrap_or(false) => {
            Object::from_unknown(v)
                .map(Some)
                .map_err(|e| napi_fail(what, e))
        }
        Some(v) => Err(Fail::Type(format!(
            "{what} must be an object, got {}",
            describe(&v)
        ))),
        None => Ok(None),
    }
}

/// A property of an options object (`None` when absent or `undefined`).
pub fn prop<'a>(obj: &Object<'a>, name: &str) -> Outcome<Option<Unknown<'a>>> {
    let v: Unknown = obj
        .get_named_property(name)
        .map_err(|e| napi_fail(name, e))?;
    Ok((!type_is(&v, ValueType::Undefined)).then_some(v))
}

/// Any JSON-compatible value (plain objects, arrays, strings, finite numbers, booleans, null).
pub fn json(value: Option<Unknown>, what: &str) -> Outcome<Value> {
    let Some(value) = value.filter(|v| !type_is(v, ValueType::Undefined)) else {
        return Err(Fail::Type(format!(
            "{what} must be a JSON-compatible value, got undefined"
        )));
    };
    Value::from_unknown(value)
        .map_err(|e| Fail::Type(format!("{what} must be JSON-compatible: {}", e.reason)))
}

/// Session data: a plain object of JSON-compatible values, or `None` for `undefined`/`null`.
pub fn opt_data(value: Option<Unknown>, what: &str) -> Outcome<Option<Map<String, Value>>> {
    if is_nullish(value.as_ref()) {
        return Ok(None);
    }
    match json(value, what)? {
        Value::Object(map) => Ok(Some(map)),
        other => Err(Fail::Type(format!(
            "{what} must be a plain object, got {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An array of strings (each at most [`MAX_SHORT`] bytes), or empty for `undefined`/`null`.
pub fn opt_strings(value: Option<Unknown>, what: &str) -> Outcome<Vec<String>> {
    if is_nullish(value.as_ref()) {
        return Ok(Vec::new());
    }
    let Some(v) = value.filter(|v| v.is_array().unwrap_or(false)) else {
        return Err(Fail::Type(format!(
            "{what} must be an array of strings, got {}",
            value.as_ref().map_or("undefined", describe)
        )));
    };
    let arr = Object::from_unknown(v).map_err(|e| napi_fail(what, e))?;
    let len = arr.get_array_length().map_err(|e| napi_fail(what, e))?;
    let mut out = Vec::with_capacity(len.min(1024) as usize);
    for i in 0..len {
        let item: Unknown = arr.get_element(i).map_err(|e| napi_fail(what, e))?;
        out.push(string(Some(item), &format!("{what}[{i}]"), MAX_SHORT)?);
    }
    Ok(out)
}
