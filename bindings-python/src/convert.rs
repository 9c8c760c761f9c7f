//! Conversions between Python values and the core's types: JSON data, durations, tokens.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::keys::Keys;

/// Nesting deeper than this is refused rather than risking the interpreter's stack.
const MAX_DEPTH: usize = 128;

/// A Python value as JSON, with a `TypeError` naming the offending value's type and path.
pub fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json_at(value, &Path::Root("value"), 0)
}

/// A Python mapping as a JSON object.
pub fn to_object(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    match value.cast::<PyDict>() {
        Ok(dict) => match to_json_at(dict.as_any(), &Path::Root(what), 0)? {
            Value::Object(map) => Ok(map),
            _ => unreachable_object(),
        },
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a dict, not {}",
            type_name(value)
        ))),
    }
}

fn unreachable_object() -> PyResult<Map<String, Value>> {
    Err(PyTypeError::new_err("session data must be a JSON object"))
}

/// Where a value sits in what is converted (`data["cart"][0]`), rendered only for an error
/// message: formatting it for every value cost more than converting the value.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(what) => f.write_str(what),
            Path::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn to_json_at(value: &Bound<'_, PyAny>, path: &Path<'_>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path} is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is a subclass of int.
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{path}: integer does not fit in 64 bits"
        )));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err(format!("{path}: NaN and infinity are not JSON"))
            });
    }
    if let Ok(s) = value.cast::<PyString>() {
        let text = s.to_cow().map_err(|_| {
            PyValueError::new_err(format!("{path}: str is not valid Unicode (lone surrogate)"))
        })?;
        return Ok(Value::String(text.into_owned()));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{path}: keys must be str, not {}",
                    type_name(&k)
                )));
            };
            let key = key.to_cow()?;
            let converted = to_json_at(&v, &Path::Key(path, &key), depth + 1)?;
            map.insert(key.into_owned(), converted);
        }
        return Ok(Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            out.push(to_json_at(&item?, &Path::Index(path, i), depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{path}: object of type {} is not JSON serializable (session data holds dict, list, tuple, str, int, float, bool and None)",
        type_name(value)
    )))
}

/// A JSON value as a fresh Python object.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    value_in(py, value, &mut Keys::take())
}

/// A JSON object as a fresh `dict` (its keys' `str` objects may be shared: see [`crate::keys`]).
pub fn dict_from<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    dict_in(py, map, &mut Keys::take())
}

// The key table is taken once per conversion, not once per key: each lock is an atomic
// read-modify-write.
fn value_in<'py>(py: Python<'py>, value: &Value, keys: &mut Keys) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            // Made at its final length (appending grows it); an item that cannot be made leaves
            // None in its place until the error is returned.
            let mut failed = None;
            let list = PyList::new(
                py,
                items.iter().map(|item| {
                    value_in(py, item, keys).unwrap_or_else(|e| {
                        failed.get_or_insert(e);
                        py.None().into_bound(py)
                    })
                }),
            )?;
            if let Some(e) = failed {
                return Err(e);
            }
            list.into_any()
        }
        Value::Object(map) => dict_in(py, map, keys)?.into_any(),
    })
}

fn dict_in<'py>(
    py: Python<'py>,
    map: &Map<String, Value>,
    keys: &mut Keys,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(keys.get(py, k), value_in(py, v, keys)?)?;
    }
    Ok(dict)
}

/// Seconds (int, float or `timedelta`) as whole milliseconds.
pub fn millis(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    let seconds: f64 = if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a number of seconds or a timedelta, not bool"
        )));
    } else if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        value.extract()?
    } else if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a number of seconds or a timedelta, not {}",
            type_name(value)
        )));
    };
    if !seconds.is_finite() || !(0.0..=1e15).contains(&seconds) {
        return Err(PyValueError::new_err(format!(
            "{what} must be a finite, non-negative number of seconds"
        )));
    }
    Ok((seconds * 1000.0).round() as u64)
}

/// A token argument: `str` (or `bytes`, which may hold anything). Non-UTF-8 bytes cannot be a
/// token, so they come back as `None` and are rejected as malformed by the caller.
pub fn token(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<Text>> {
    if let Ok(s) = value.cast::<PyString>() {
        // Lone surrogates cannot be encoded: such a string is not a token either.
        return Ok(PyBackedStr::try_from(s.clone()).ok().map(Text::Python));
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(std::str::from_utf8(b.as_bytes())
            .ok()
            .map(|t| Text::Rust(t.to_owned())));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be str, not {}",
        type_name(value)
    )))
}

/// Text read from a Python argument. A `str` is read in place from its UTF-8 form (kept by the
/// `str` itself, or by one `bytes` object under the 3.9 stable ABI) rather than copied into a
/// `String`: an allocation, a copy and a free fewer for every token and cookie header.
pub enum Text {
    /// A `str`'s own text.
    Python(PyBackedStr),
    /// Text decoded from `bytes`.
    Rust(String),
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Python(s) => s,
            Text::Rust(s) => s,
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::Rust(String::new())
    }
}

/// A required text argument.
pub fn text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(s
            .to_cow()
            .map_err(|_| {
                PyValueError::new_err(format!("{what} must be valid Unicode (no lone surrogates)"))
            })?
            .into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            type_name(value)
        ))),
    }
}

/// The type's name for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// How strongly a user authenticated (`level`, `amr`) as the core's `Authn`; `None` when neither
/// is given (the core's default: level 1, no `amr`). A level outside 1..=255, a bare `str` for
/// `amr`, or an `amr` value the core refuses is `InvalidArgument` / `TypeError`.
pub fn authn(
    level: Option<&Bound<'_, PyAny>>,
    amr: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<tessera::Authn>> {
    let level = level.filter(|l| !l.is_none());
    let amr = amr.filter(|a| !a.is_none());
    if level.is_none() && amr.is_none() {
        return Ok(None);
    }
    let level = match level {
        None => 1,
        Some(l) if l.is_instance_of::<PyBool>() || !l.is_instance_of::<PyInt>() => {
            return Err(PyTypeError::new_err(format!(
                "level must be an int, not {}",
                type_name(l)
            )));
        }
        Some(l) => match l.extract::<i64>().ok().and_then(|v| u8::try_from(v).ok()) {
            Some(v) => v,
            None => {
                return Err(crate::errors::InvalidArgument::new_err(
                    "level must be between 1 and 255",
                ));
            }
        },
    };
    let mut methods = Vec::new();
    if let Some(amr) = amr {
        if amr.is_instance_of::<PyString>() || amr.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(
                "amr must be a sequence of str (e.g. [\"pwd\", \"otp\"]), not a single str",
            ));
        }
        for value in amr.try_iter()? {
            methods.push(text(&value?, "amr value")?);
            if methods.len() > tessera::authn::MAX_AMR {
                break; // the core refuses it below, without reading an endless iterable
            }
        }
    }
    tessera::Authn::new(level, methods)
        .map(Some)
        .map_err(|e| crate::errors::InvalidArgument::new_err(e.message().to_owned()))
}
