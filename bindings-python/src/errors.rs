//! Tessera's exception hierarchy and the one mapping from core errors to it.
//!
//! `TesseraError` is the root; each core error kind has its own subclass with a class attribute
//! `code`, and `SessionRejected` carries the rejection `reason` as an instance attribute.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, Python, create_exception};
use tessera::{Error, ErrorKind, Reason};

create_exception!(
    tessera._native,
    TesseraError,
    PyException,
    "Base class of every Tessera error; `code` is the stable error code."
);
create_exception!(
    tessera._native,
    ConfigError,
    TesseraError,
    "A configuration value or combination is not allowed (code `invalid_config`)."
);
create_exception!(
    tessera._native,
    InvalidArgument,
    TesseraError,
    "An argument is not acceptable (code `invalid_argument`)."
);
create_exception!(
    tessera._native,
    DataTooLarge,
    TesseraError,
    "Session data would exceed `max_data_bytes` (code `data_too_large`)."
);
create_exception!(
    tessera._native,
    StoreUnavailable,
    TesseraError,
    "The session store cannot be reached; treat the request as not authenticated (code `store_unavailable`)."
);
create_exception!(
    tessera._native,
    StoreFull,
    StoreUnavailable,
    "The store holds `max_sessions` sessions and none may make room for a new anonymous one; answered 503 like `StoreUnavailable`, which it extends (code `store_full`)."
);
create_exception!(
    tessera._native,
    InternalError,
    TesseraError,
    "A bug in Tessera, reported instead of crashing (code `internal`)."
);
create_exception!(
    tessera._native,
    SessionRejected,
    TesseraError,
    "The token gives no live session; `reason` is malformed, unknown, expired_idle, expired_absolute or binding_missing."
);

/// Register the classes on the module and give each its `code`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes = [
        ("TesseraError", py.get_type::<TesseraError>(), None),
        (
            "ConfigError",
            py.get_type::<ConfigError>(),
            Some("invalid_config"),
        ),
        (
            "InvalidArgument",
            py.get_type::<InvalidArgument>(),
            Some("invalid_argument"),
        ),
        (
            "DataTooLarge",
            py.get_type::<DataTooLarge>(),
            Some("data_too_large"),
        ),
        (
            "StoreUnavailable",
            py.get_type::<StoreUnavailable>(),
            Some("store_unavailable"),
        ),
        ("StoreFull", py.get_type::<StoreFull>(), Some("store_full")),
        (
            "InternalError",
            py.get_type::<InternalError>(),
            Some("internal"),
        ),
        (
            "SessionRejected",
            py.get_type::<SessionRejected>(),
            Some("rejected"),
        ),
    ];
    for (name, class, code) in classes {
        class.setattr("code", code)?;
        // Set on the instance by `Request.finish`: the headers the error response must carry.
        class.setattr("response", py.None())?;
        m.add(name, class)?;
    }
    Ok(())
}

/// A rejection as the exception Python code sees.
pub fn rejected(py: Python<'_>, reason: Reason) -> PyErr {
    to_py(py, Error::rejected(reason))
}

/// Map a core error to its exception class, with the core message.
pub fn to_py(py: Python<'_>, err: Error) -> PyErr {
    let message = err.message().to_owned();
    match err.kind() {
        ErrorKind::InvalidConfig => ConfigError::new_err(message),
        ErrorKind::InvalidArgument => InvalidArgument::new_err(message),
        ErrorKind::DataTooLarge => DataTooLarge::new_err(message),
        ErrorKind::StoreUnavailable => StoreUnavailable::new_err(message),
        ErrorKind::StoreFull => StoreFull::new_err(message),
        ErrorKind::Rejected(reason) => {
            let e = SessionRejected::new_err(format!("{}: {message}", reason.code()));
            // Instance attributes: `reason` for matching, `code` equal to it as in every binding.
            let value = e.value(py);
            let _ = value.setattr("reason", reason.code());
            let _ = value.setattr("code", reason.code());
            e
        }
        _ => InternalError::new_err(message),
    }
}

/// Extension to turn core results into Python results in one call.
pub trait IntoPyResult<T> {
    /// Map the error with [`to_py`].
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
