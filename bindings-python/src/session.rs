//! The objects the manager hands back: `Session`, `SessionInfo` and `Event`. None of them ever
//! holds or prints a token, except `Session.new_token`, the value the response must set.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;
use crate::errors::IntoPyResult;

/// A str-or-None the way Python's repr shows it.
fn py_repr(value: Option<&str>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// A live session as seen by one request.
///
/// If `new_token` is not None the session got a new token during this call (rotation, HTTPS
/// upgrade, login): send it with `manager.set_cookie(new_token)`.
#[pyclass(frozen, module = "tessera._native")]
pub struct Session {
    pub(crate) inner: tessera::Session,
}

#[pymethods]
impl Session {
    /// The public id (64 hex digits): safe to log and to show; `revoke(id)` ends it.
    #[getter]
    fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The signed-in user, or None.
    #[getter]
    fn user(&self) -> Option<&str> {
        self.inner.user()
    }

    /// A copy of the data as a dict.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::dict_from(py, self.inner.data())
    }

    /// One data value, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.get(key) {
            Some(v) => convert::to_py(py, v),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// The token to send now if it changed during this call, else None.
    #[getter]
    fn new_token(&self) -> Option<String> {
        self.inner.new_token().map(|t| t.expose())
    }

    /// Whether a new token was issued during this call.
    #[getter]
    fn rotated(&self) -> bool {
        self.inner.new_token().is_some()
    }

    /// When it was created or last logged in (seconds since the epoch).
    #[getter]
    fn created_at(&self) -> f64 {
        seconds(self.inner.created_at())
    }

    /// When it was last seen (seconds since the epoch).
    #[getter]
    fn last_seen(&self) -> f64 {
        seconds(self.inner.last_seen())
    }

    /// When it ends if unused: the idle deadline, or the absolute one if sooner.
    #[getter]
    fn expires_at(&self) -> f64 {
        seconds(self.inner.expires_at())
    }

    /// When it ends however active it is.
    #[getter]
    fn absolute_deadline(&self) -> f64 {
        seconds(self.inner.absolute_deadline())
    }

    /// Whether its token has only travelled over HTTPS.
    #[getter]
    fn secure(&self) -> bool {
        self.inner.secure()
    }

    /// The user agent recorded at creation or login.
    #[getter]
    fn user_agent(&self) -> Option<&str> {
        self.inner.user_agent()
    }

    /// How the call proved the session's device (DBSC): "unbound", "pending" (bound moments
    /// ago) or "fresh" (a current bound cookie).
    #[getter]
    fn binding(&self) -> &'static str {
        self.inner.proof().code()
    }

    /// When the user last authenticated (sign-in or re-authentication; seconds since the
    /// epoch), or None for an anonymous session.
    #[getter]
    fn authenticated_at(&self) -> Option<f64> {
        self.inner.authenticated().map(|a| seconds(a.at))
    }

    /// How strongly (the app's level), or None for an anonymous session.
    #[getter]
    fn auth_level(&self) -> Option<u8> {
        self.inner.authenticated().map(|a| a.level)
    }

    /// The authentication methods (RFC 8176 `amr`) the app gave at sign-in.
    #[getter]
    fn amr(&self) -> Vec<String> {
        self.inner
            .authenticated()
            .map(|a| a.amr)
            .unwrap_or_default()
    }

    /// A fresh masked CSRF token for a form or header of this session.
    fn csrf_token(&self, py: Python<'_>) -> PyResult<String> {
        self.inner.csrf_token().py_err(py)
    }

    /// Whether `candidate` is a CSRF token of this session (constant time). Non-str is False.
    fn verify_csrf(&self, candidate: &Bound<'_, PyAny>) -> bool {
        match convert::token(candidate, "candidate") {
            Ok(Some(c)) => self.inner.verify_csrf(&c),
            _ => false,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<Session id={}… user={} rotated={}>",
            &self.id()[..12],
            py_repr(self.inner.user()),
            if self.rotated() { "True" } else { "False" }
        )
    }
}

/// Public information about one of a user's sessions, for "your devices" pages.
#[pyclass(frozen, get_all, module = "tessera._native")]
pub struct SessionInfo {
    /// Its public id.
    pub id: String,
    /// Created or last logged in (seconds since the epoch).
    pub created_at: f64,
    /// Last seen.
    pub last_seen: f64,
    /// Ends if unused.
    pub expires_at: f64,
    /// Ends however active.
    pub absolute_deadline: f64,
    /// The recorded user agent.
    pub user_agent: Option<String>,
    /// Whether it has only used HTTPS.
    pub secure: bool,
    /// When its user last authenticated (seconds since the epoch), None if anonymous.
    pub authenticated_at: Option<f64>,
    /// How strongly (None: anonymous).
    pub auth_level: Option<u8>,
    /// The authentication methods given at sign-in.
    pub amr: Vec<String>,
    /// Whether it is bound to a device key (DBSC).
    pub bound: bool,
    /// When it was bound, or None.
    pub bound_at: Option<f64>,
    /// The bound key's RFC 7638 thumbprint (base64url), or None.
    pub key_thumbprint: Option<String>,
}

impl From<tessera::SessionInfo> for SessionInfo {
    fn from(i: tessera::SessionInfo) -> Self {
        let (authenticated_at, auth_level, amr) = match i.authenticated {
            Some(a) => (Some(seconds(a.at)), Some(a.level), a.amr),
            None => (None, None, Vec::new()),
        };
        SessionInfo {
            authenticated_at,
            auth_level,
            amr,
            bound: i.bound_at.is_some(),
            bound_at: i.bound_at.map(seconds),
            key_thumbprint: i.key_thumbprint,
            id: i.id.to_string(),
            created_at: seconds(i.created_at),
            last_seen: seconds(i.last_seen),
            expires_at: seconds(i.expires_at),
            absolute_deadline: seconds(i.absolute_deadline),
            user_agent: i.user_agent,
            secure: i.secure,
        }
    }
}

#[pymethods]
impl SessionInfo {
    fn __repr__(&self) -> String {
        format!(
            "<SessionInfo id={}… last_seen={} bound={}>",
            &self.id[..12],
            self.last_seen,
            if self.bound { "True" } else { "False" }
        )
    }
}

/// A lifecycle event, for audit logs and metrics. Carries the public id, never a token.
#[pyclass(frozen, get_all, module = "tessera._native")]
pub struct Event {
    /// created, rotated, login, logout, revoked, expired, rejected, evicted, registered,
    /// refreshed, proof_failed, binding_missing, unbound or reauthenticated.
    pub kind: &'static str,
    /// The session's public id (None for a malformed token, or revoke_all).
    pub id: Option<String>,
    /// For rotations and logins, the id before.
    pub previous_id: Option<String>,
    /// The user, if known.
    pub user: Option<String>,
    /// For expired and rejected: why.
    pub reason: Option<&'static str>,
    /// When (seconds since the epoch, by the manager's clock).
    pub at: f64,
    /// More about what happened, as a stable code (never a secret): the algorithm of
    /// `registered`, the refusal of `proof_failed`, `absent`/`expired`/`mismatch`/`ambiguous`
    /// for `binding_missing`, `login`/`app` for `unbound`.
    pub detail: Option<&'static str>,
}

impl From<&tessera::Event> for Event {
    fn from(e: &tessera::Event) -> Self {
        Event {
            kind: e.kind.code(),
            id: e.id.map(|i| i.to_string()),
            previous_id: e.previous_id.map(|i| i.to_string()),
            user: e.user.as_deref().map(str::to_owned),
            reason: e.reason.map(|r| r.code()),
            at: seconds(e.at),
            detail: e.detail,
        }
    }
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        format!(
            "<Event kind={} id={} user={} reason={} detail={}>",
            py_repr(Some(self.kind)),
            py_repr(self.id.as_deref().map(|i| &i[..12])),
            py_repr(self.user.as_deref()),
            py_repr(self.reason),
            py_repr(self.detail)
        )
    }
}
