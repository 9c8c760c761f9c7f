//! The two DBSC endpoints (registration, refresh) with Python types: headers in, the whole
//! response out. The core decides everything; a framework's view sends `DbscResponse` as is.

use pyo3::prelude::*;
use pyo3::types::PyList;
use tessera::dbsc::{self, DbscHead, EndpointResponse};

use crate::convert;
use crate::errors::IntoPyResult;

/// The response of a DBSC endpoint, to send verbatim: `status`, `headers()` (several
/// `Set-Cookie` lines possible), `body` (JSON text, or empty). Its repr never shows a cookie.
#[pyclass(frozen, module = "tessera._native")]
pub struct DbscResponse {
    inner: EndpointResponse,
}

#[pymethods]
impl DbscResponse {
    /// The HTTP status code.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }

    /// The body (JSON text, or empty).
    #[getter]
    fn body(&self) -> &str {
        &self.inner.body
    }

    /// The headers, as `(name, value)` pairs in order (bound cookies in `Set-Cookie`: never log
    /// them).
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs: Vec<(&str, &str)> = self
            .inner
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        PyList::new(py, pairs)
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self.inner.headers.iter().map(|(n, _)| *n).collect();
        format!(
            "<DbscResponse status={} headers={:?}>",
            self.inner.status, names
        )
    }
}

/// Which endpoint.
#[derive(Clone, Copy)]
pub enum Endpoint {
    Register,
    Refresh,
}

/// The text parts of an endpoint request, decoded from Python values. Undecodable text (lone
/// surrogates, non-UTF-8 bytes) cannot be a cookie, an id or a proof: treated as absent.
pub struct Head {
    cookie_header: Option<convert::Text>,
    origin: Option<convert::Text>,
    session_id: Option<convert::Text>,
    proof: Option<convert::Text>,
}

impl Head {
    pub fn new(
        cookie_header: Option<&Bound<'_, PyAny>>,
        origin: Option<&Bound<'_, PyAny>>,
        session_id: Option<&Bound<'_, PyAny>>,
        proof: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let optional = |v: Option<&Bound<'_, PyAny>>, what: &str| match v {
            Some(v) if !v.is_none() => convert::token(v, what),
            _ => Ok(None),
        };
        Ok(Head {
            cookie_header: optional(cookie_header, "cookie_header")?,
            origin: optional(origin, "origin")?,
            session_id: optional(session_id, "session_id")?,
            proof: optional(proof, "proof")?,
        })
    }
}

/// Run `endpoint` with the GIL released.
pub fn call(
    py: Python<'_>,
    manager: &tessera::SessionManager,
    endpoint: Endpoint,
    head: &Head,
    method: &str,
    https: bool,
) -> PyResult<DbscResponse> {
    let head = DbscHead {
        cookie_header: head.cookie_header.as_deref(),
        https,
        method,
        origin: head.origin.as_deref(),
        session_id: head.session_id.as_deref(),
        proof: head.proof.as_deref(),
    };
    let result = py.detach(|| match endpoint {
        Endpoint::Register => dbsc::register(manager, &head),
        Endpoint::Refresh => dbsc::refresh(manager, &head),
    });
    Ok(DbscResponse {
        inner: result.py_err(py)?,
    })
}
