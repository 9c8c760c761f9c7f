//! `SessionManager`: the core's lifecycle with Python types. Every call that takes a store lock
//! (or, on Redis, waits on the network) runs with the GIL released, so other Python threads keep
//! running.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use tessera::{Config, Context, DataOp, Pepper, Reason, SessionId, Validation};

use crate::clock::ManualClock;
use crate::convert;
use crate::dbsc::{self, DbscResponse, Endpoint};
use crate::errors::{self, IntoPyResult};
use crate::events;
use crate::request::Request;
use crate::session::{Session, SessionInfo};

/// Options given in seconds in Python and in milliseconds to the core.
const SECONDS_OPTIONS: [&str; 10] = [
    "idle_timeout",
    "absolute_timeout",
    "rotation_interval",
    "rotation_grace",
    "cookie_max_age",
    "sweep_interval",
    "dbsc_cookie_ttl",
    "dbsc_challenge_ttl",
    "dbsc_registration_ttl",
    "dbsc_enforce_grace",
];
/// Options passed to the core unchanged.
const PLAIN_OPTIONS: [&str; 17] = [
    "max_sessions_per_user",
    "max_sessions",
    "max_data_bytes",
    "login_keeps_data",
    "cookie_name",
    "cookie_secure",
    "cookie_http_only",
    "cookie_same_site",
    "cookie_path",
    "cookie_domain",
    "store",
    "dbsc",
    "dbsc_algorithms",
    "dbsc_path_prefix",
    "dbsc_origin",
    "dbsc_include_site",
    "dbsc_revoke_on_bad_proof",
];

/// Creates, validates, rotates and ends sessions. Thread-safe: share one per process.
///
/// Keyword arguments (all optional; durations in seconds or as `timedelta`): `idle_timeout`,
/// `absolute_timeout`, `rotation_interval` (None: off), `rotation_grace`,
/// `max_sessions_per_user`, `max_sessions` (None: no cap), `max_data_bytes`, `login_keeps_data`, `pepper` (str or bytes),
/// `cookie_name`, `cookie_secure`, `cookie_http_only`, `cookie_same_site`, `cookie_path`,
/// `cookie_domain`, `cookie_max_age`, `sweep_interval` (None: no background sweeper), `store`
/// (`"memory://"`), `clock` (a `ManualClock`); device-bound sessions: `dbsc` (bool),
/// `dbsc_algorithms`, `dbsc_cookie_ttl`, `dbsc_challenge_ttl`, `dbsc_registration_ttl`,
/// `dbsc_enforce_grace` (seconds), `dbsc_path_prefix`, `dbsc_origin`, `dbsc_include_site`,
/// `dbsc_revoke_on_bad_proof`.
#[pyclass(frozen, module = "tessera._native")]
pub struct SessionManager {
    pub(crate) inner: Arc<tessera::SessionManager>,
    options: Py<PyDict>,
}

fn context(https: bool, user_agent: Option<&str>) -> Context<'_> {
    Context {
        https,
        user_agent,
        ..Context::default()
    }
}

/// The text parts of a request head, decoded from Python values.
struct Head {
    cookie_header: Option<convert::Text>,
    user_agent: Option<convert::Text>,
    csrf: Option<convert::Text>,
}

impl Head {
    fn new(
        cookie_header: Option<&Bound<'_, PyAny>>,
        user_agent: Option<&Bound<'_, PyAny>>,
        csrf: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        // Undecodable text cannot name a session or a token: treated as absent / malformed.
        let optional = |v: Option<&Bound<'_, PyAny>>, what: &str| match v {
            Some(v) if !v.is_none() => convert::token(v, what),
            _ => Ok(None),
        };
        Ok(Head {
            cookie_header: optional(cookie_header, "cookie_header")?,
            user_agent: optional(user_agent, "user_agent")?,
            csrf: optional(csrf, "csrf")?,
        })
    }

    fn of<'a>(&'a self, method: &'a str, https: bool) -> tessera::http::RequestHead<'a> {
        tessera::http::RequestHead {
            cookie_header: self.cookie_header.as_deref(),
            https,
            method,
            user_agent: self.user_agent.as_deref(),
            csrf_candidate: self.csrf.as_deref(),
        }
    }
}

impl SessionManager {
    fn session(&self, py: Python<'_>, s: tessera::Session) -> PyResult<Py<Session>> {
        Py::new(py, Session { inner: s })
    }

    /// A validation verdict as Python sees it: the session, or `SessionRejected`.
    fn verdict(&self, py: Python<'_>, v: tessera::Result<Validation>) -> PyResult<Py<Session>> {
        match v.py_err(py)? {
            Validation::Valid(s) => self.session(py, s),
            Validation::Rejected(reason) => Err(errors::rejected(py, reason)),
        }
    }

    fn session_id(py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<SessionId> {
        let text = convert::text(id, "session_id")?;
        SessionId::parse_hex(&text).py_err(py)
    }
}

#[pymethods]
impl SessionManager {
    #[new]
    #[pyo3(signature = (*, clock=None, **options))]
    fn new(
        py: Python<'_>,
        clock: Option<PyRef<'_, ManualClock>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut core = Map::new();
        let mut pepper = None;
        let kept = PyDict::new(py);
        if let Some(options) = options {
            for (key, value) in options.iter() {
                let name = convert::text(&key, "option name")?;
                // `options` is for showing the configuration: never the secrets in it.
                match name.as_str() {
                    "pepper" if !value.is_none() => kept.set_item(&name, REDACTED)?,
                    "store" if value.is_instance_of::<PyString>() => {
                        kept.set_item(&name, without_password(&convert::text(&value, "store")?))?
                    }
                    _ => kept.set_item(&name, &value)?,
                }
                if SECONDS_OPTIONS.contains(&name.as_str()) {
                    let ms = if value.is_none() {
                        Value::Null
                    } else {
                        Value::from(convert::millis(&value, &name)?)
                    };
                    core.insert(format!("{name}_ms"), ms);
                } else if PLAIN_OPTIONS.contains(&name.as_str()) {
                    core.insert(name, convert::to_json(&value)?);
                } else if name == "pepper" {
                    pepper = if value.is_none() {
                        None
                    } else if let Ok(b) = value.cast::<PyBytes>() {
                        Some(b.as_bytes().to_vec())
                    } else if value.is_instance_of::<PyString>() {
                        Some(convert::text(&value, "pepper")?.into_bytes())
                    } else {
                        return Err(PyTypeError::new_err("pepper must be str or bytes"));
                    };
                } else {
                    return Err(PyTypeError::new_err(format!(
                        "SessionManager() got an unexpected keyword argument '{name}'"
                    )));
                }
            }
        }
        let mut config = Config::default();
        let manager_options = tessera::options::apply(&mut config, &core).py_err(py)?;
        config.pepper = pepper.map(Pepper::new);
        let mut builder = tessera::SessionManager::builder(config);
        if let Some(every) = manager_options.sweep_interval {
            builder = builder.sweep_interval(every);
        }
        if let Some(url) = manager_options.store {
            builder = builder.store(tessera::store::open(&url).py_err(py)?);
        }
        if let Some(clock) = clock {
            builder = builder.clock(clock.inner.clone());
        }
        let inner = builder.build().py_err(py)?;
        // What the operator should hear about the store's configuration, once per process, as
        // a tessera.DeploymentWarning pointing at the code that built the manager.
        let warnings = inner.store_warnings();
        if !warnings.is_empty() {
            let deployment = py.import("tessera.deployment")?;
            for warning in warnings {
                deployment.call_method1("store_warning", (warning,))?;
            }
        }
        Ok(SessionManager {
            inner: Arc::new(inner),
            options: kept.unbind(),
        })
    }

    /// The keyword arguments this manager was built with (defaults not included), with the
    /// pepper and a store URL's password replaced by `"<redacted>"`.
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.options.bind(py).copy()
    }

    /// The session cookie's name.
    #[getter]
    fn cookie_name(&self) -> &str {
        &self.inner.config().cookie_name
    }

    /// The idle timeout, in seconds.
    #[getter]
    fn idle_timeout(&self) -> f64 {
        self.inner.config().idle_timeout.as_secs_f64()
    }

    /// The absolute timeout, in seconds.
    #[getter]
    fn absolute_timeout(&self) -> f64 {
        self.inner.config().absolute_timeout.as_secs_f64()
    }

    /// Whether other processes see this manager's sessions: false for `memory://`, which an
    /// app with several worker processes must not use.
    #[getter]
    fn store_is_shared(&self) -> bool {
        self.inner.store_is_shared()
    }

    /// Whether this manager is used in a process other than the one that built it (a `fork()`
    /// after creation, as gunicorn `--preload` does).
    #[getter]
    fn forked(&self) -> bool {
        self.inner.forked()
    }

    /// Now, by this manager's clock (seconds since the epoch).
    fn now(&self) -> f64 {
        self.inner.now() as f64 / 1000.0
    }

    /// Start a session, optionally for `user` and with initial `data`; its `new_token` is the
    /// cookie value to send.
    #[pyo3(signature = (user=None, data=None, *, https=false, user_agent=None))]
    fn create(
        &self,
        py: Python<'_>,
        user: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        https: bool,
        user_agent: Option<String>,
    ) -> PyResult<Py<Session>> {
        let user = user.map(|u| convert::text(u, "user")).transpose()?;
        let data = data.map(|d| convert::to_object(d, "data")).transpose()?;
        let inner = &self.inner;
        let result = py.detach(|| {
            inner.create(
                user.as_deref(),
                data,
                &context(https, user_agent.as_deref()),
            )
        });
        let s = result.py_err(py)?;
        self.session(py, s)
    }

    /// The session of `token`, touched; raises `SessionRejected` (with `.reason`) if there is
    /// none. If the session was rotated, `session.new_token` must be sent as the new cookie.
    #[pyo3(signature = (token, *, https=false, user_agent=None))]
    fn validate(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        https: bool,
        user_agent: Option<String>,
    ) -> PyResult<Py<Session>> {
        let Some(token) = convert::token(token, "token")? else {
            return Err(errors::rejected(py, Reason::Malformed));
        };
        let inner = &self.inner;
        let v = py.detach(|| inner.validate(&token, &context(https, user_agent.as_deref())));
        self.verdict(py, v)
    }

    /// Begin an HTTP request: find the session cookie in `cookie_header` (the `Cookie` header as
    /// received; several joined with `"; "`), validate it (rotating on schedule), and check
    /// `csrf` (the header's candidate) if `method` needs one. Returns the request's `Request`;
    /// raises `StoreUnavailable` / `InternalError` (fail closed: the request is not
    /// authenticated).
    #[pyo3(signature = (cookie_header, *, method="GET", https=false, user_agent=None, csrf=None))]
    fn begin(
        &self,
        py: Python<'_>,
        cookie_header: Option<&Bound<'_, PyAny>>,
        method: &str,
        https: bool,
        user_agent: Option<&Bound<'_, PyAny>>,
        csrf: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Request> {
        let head = Head::new(cookie_header, user_agent, csrf)?;
        Request::begin(py, &self.inner, &head.of(method, https))
    }

    /// `begin`, and in the same call what a framework's glue reads from the begun request:
    /// `(request, data, token, user, reason, csrf, forked)` — `request.data`, `.token`, `.user`,
    /// `.reason`, `.csrf` as they are right after `begin`, and `self.forked`. One crossing of the language
    /// boundary per request on the way in, instead of one per attribute.
    #[pyo3(signature = (cookie_header, *, method="GET", https=false, user_agent=None, csrf=None))]
    fn open<'py>(
        &self,
        py: Python<'py>,
        cookie_header: Option<&Bound<'_, PyAny>>,
        method: &str,
        https: bool,
        user_agent: Option<&Bound<'_, PyAny>>,
        csrf: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let head = Head::new(cookie_header, user_agent, csrf)?;
        Request::open(py, &self.inner, &head.of(method, https))
    }

    /// Give the session a new token now (the old one stays valid for `rotation_grace`).
    #[pyo3(signature = (token, *, https=false))]
    fn rotate(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        https: bool,
    ) -> PyResult<Py<Session>> {
        let Some(token) = convert::token(token, "token")? else {
            return Err(errors::rejected(py, Reason::Malformed));
        };
        let inner = &self.inner;
        let v = py.detach(|| inner.rotate(&token, &context(https, None)));
        self.verdict(py, v)
    }

    /// Log `user` in: the session of `token` (if live) gets a new token at once and the old one
    /// dies; without a live session a new one is created. `level` and `amr` say how strongly
    /// the user authenticated (default: level 1, no `amr`), for `require_recent`.
    #[pyo3(signature = (user, token=None, *, https=false, user_agent=None, level=None, amr=None))]
    #[allow(clippy::too_many_arguments)]
    fn login(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        token: Option<&Bound<'_, PyAny>>,
        https: bool,
        user_agent: Option<String>,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Session>> {
        let user = convert::text(user, "user")?;
        let token = match token {
            Some(t) if !t.is_none() => convert::token(t, "token")?,
            _ => None,
        };
        let authn = convert::authn(level, amr)?.unwrap_or_default();
        let inner = &self.inner;
        let result = py.detach(|| {
            inner.login_with(
                token.as_deref(),
                &user,
                &authn,
                &context(https, user_agent.as_deref()),
            )
        });
        let s = result.py_err(py)?;
        self.session(py, s)
    }

    /// The signed-in user of the session of `token` proved who they are again (step-up): a new
    /// token now (the old one dies at once), `level`/`amr` recorded as of now; user, data and
    /// device binding kept. Raises `SessionRejected` for a dead token, `InvalidArgument` for an
    /// anonymous session.
    #[pyo3(signature = (token, *, level=None, amr=None, https=false, user_agent=None))]
    fn reauthenticate(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
        https: bool,
        user_agent: Option<String>,
    ) -> PyResult<Py<Session>> {
        let Some(token) = convert::token(token, "token")? else {
            return Err(errors::rejected(py, Reason::Malformed));
        };
        let authn = convert::authn(level, amr)?.unwrap_or_default();
        let inner = &self.inner;
        let v = py.detach(|| {
            inner.reauthenticate(&token, &authn, &context(https, user_agent.as_deref()))
        });
        self.verdict(py, v)
    }

    /// Whether the session of `token` may do something sensitive now: "allowed", "anonymous"
    /// (no live signed-in session: sign in first), "stale" (authenticated `max_age` seconds ago
    /// or longer) or "level" (below `level`, default 1). A pure read: nothing is touched. (In a
    /// request, use `Request.require_recent`, which also judges the device binding.)
    #[pyo3(signature = (token, max_age, level=None, *, https=false))]
    fn require_recent(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        max_age: &Bound<'_, PyAny>,
        level: Option<&Bound<'_, PyAny>>,
        https: bool,
    ) -> PyResult<&'static str> {
        let max_age_ms = convert::millis(max_age, "max_age")?;
        let min_level = convert::authn(level, None)?.map_or(1, |a| a.level());
        let Some(token) = convert::token(token, "token")? else {
            return Ok(tessera::Freshness::Anonymous.code());
        };
        let inner = &self.inner;
        let verdict = py
            .detach(|| inner.require_recent(&token, max_age_ms, min_level, &context(https, None)));
        Ok(verdict.py_err(py)?.code())
    }

    /// End the device binding of the session `session_id` ("forget this device"); the session
    /// lives on, and the browser's DBSC session ends at its next refresh. Returns whether there
    /// was a binding (or an offer) to end.
    fn unbind(&self, py: Python<'_>, session_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = Self::session_id(py, session_id)?;
        let inner = &self.inner;
        py.detach(|| inner.unbind(&id)).py_err(py)
    }

    /// Whether device-bound sessions (DBSC) are on.
    #[getter]
    fn dbsc(&self) -> bool {
        self.inner.config().dbsc.is_some()
    }

    /// Where the two DBSC endpoints live (`<prefix>/register`, `<prefix>/refresh`), or None
    /// when device-bound sessions are off.
    #[getter]
    fn dbsc_path_prefix(&self) -> Option<&str> {
        self.inner
            .config()
            .dbsc
            .as_ref()
            .map(|d| d.path_prefix.as_str())
    }

    /// The bound cookie's name (`<cookie_name>-bound`).
    #[getter]
    fn bound_cookie_name(&self) -> String {
        self.inner.bound_cookie_name().to_owned()
    }

    /// The DBSC registration endpoint (`POST <dbsc_path_prefix>/register`): the request's
    /// `Cookie` header, transport, method, origin (`scheme://host[:port]` as the framework
    /// resolves it; the `dbsc_origin` option wins) and `Secure-Session-Response` header in, the
    /// whole response out. Raises `ConfigError` when device-bound sessions are off or no
    /// origin is known (neither given nor the `dbsc_origin` option), `StoreUnavailable`
    /// (answer 503).
    #[pyo3(signature = (cookie_header, *, method="POST", https=false, origin=None, proof=None))]
    fn dbsc_register(
        &self,
        py: Python<'_>,
        cookie_header: Option<&Bound<'_, PyAny>>,
        method: &str,
        https: bool,
        origin: Option<&Bound<'_, PyAny>>,
        proof: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DbscResponse> {
        let head = dbsc::Head::new(cookie_header, origin, None, proof)?;
        dbsc::call(py, &self.inner, Endpoint::Register, &head, method, https)
    }

    /// The DBSC refresh endpoint (`POST <dbsc_path_prefix>/refresh`): as `dbsc_register`, plus
    /// the `Sec-Secure-Session-Id` header (`session_id`).
    #[pyo3(signature = (cookie_header, *, method="POST", https=false, origin=None,
                        session_id=None, proof=None))]
    #[allow(clippy::too_many_arguments)]
    fn dbsc_refresh(
        &self,
        py: Python<'_>,
        cookie_header: Option<&Bound<'_, PyAny>>,
        method: &str,
        https: bool,
        origin: Option<&Bound<'_, PyAny>>,
        session_id: Option<&Bound<'_, PyAny>>,
        proof: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<DbscResponse> {
        let head = dbsc::Head::new(cookie_header, origin, session_id, proof)?;
        dbsc::call(py, &self.inner, Endpoint::Refresh, &head, method, https)
    }

    /// End the session of `token`. Returns whether a live session was ended.
    fn logout(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Some(token) = convert::token(token, "token")? else {
            return Ok(false);
        };
        let inner = &self.inner;
        py.detach(|| inner.logout(&token)).py_err(py)
    }

    /// End the session with public id `session_id`. Returns whether one was ended.
    fn revoke(&self, py: Python<'_>, session_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = Self::session_id(py, session_id)?;
        let inner = &self.inner;
        py.detach(|| inner.revoke(&id)).py_err(py)
    }

    /// End every session of `user`; returns how many.
    fn revoke_user(&self, py: Python<'_>, user: &Bound<'_, PyAny>) -> PyResult<usize> {
        let user = convert::text(user, "user")?;
        let inner = &self.inner;
        py.detach(|| inner.revoke_user(&user)).py_err(py)
    }

    /// End every session of `user` except the one of `token`; returns how many.
    fn revoke_user_except(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        token: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let user = convert::text(user, "user")?;
        let token = convert::token(token, "token")?.unwrap_or_default();
        let inner = &self.inner;
        py.detach(|| inner.revoke_user_except(&user, &token))
            .py_err(py)
    }

    /// End every session; returns how many were alive.
    fn revoke_all(&self, py: Python<'_>) -> PyResult<usize> {
        let inner = &self.inner;
        py.detach(|| inner.revoke_all()).py_err(py)
    }

    /// The live sessions of `user`, most recently seen first.
    fn list_user<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let user = convert::text(user, "user")?;
        let inner = &self.inner;
        let list = py.detach(|| inner.list_user(&user)).py_err(py)?;
        let items = list
            .into_iter()
            .map(|i| Py::new(py, SessionInfo::from(i)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Set one data key of the session `session_id`. Raises `SessionRejected` if it has ended
    /// (it is never re-created), `DataTooLarge` past `max_data_bytes`, `TypeError` for values
    /// that are not JSON.
    fn set(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = Self::session_id(py, session_id)?;
        let op = DataOp::Set(convert::text(key, "key")?, convert::to_json(value)?);
        self.apply(py, &id, op).map(drop)
    }

    /// Remove one data key of the session `session_id`.
    fn remove_key(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = Self::session_id(py, session_id)?;
        let op = DataOp::Remove(convert::text(key, "key")?);
        self.apply(py, &id, op).map(drop)
    }

    /// Replace all data of the session `session_id`.
    fn replace_data(
        &self,
        py: Python<'_>,
        session_id: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let id = Self::session_id(py, session_id)?;
        let op = DataOp::Replace(convert::to_object(data, "data")?);
        self.apply(py, &id, op).map(drop)
    }

    /// Set the keys of `set` and remove the keys in `remove`, atomically; returns the data after.
    /// Keys changed by other requests meanwhile are left alone.
    #[pyo3(signature = (session_id, set=None, remove=None))]
    fn patch<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'_, PyAny>,
        set: Option<&Bound<'_, PyAny>>,
        remove: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let id = Self::session_id(py, session_id)?;
        let set = set
            .map(|s| convert::to_object(s, "set"))
            .transpose()?
            .unwrap_or_default();
        let mut keys = Vec::new();
        if let Some(remove) = remove {
            for key in remove.try_iter()? {
                keys.push(convert::text(&key?, "remove key")?);
            }
        }
        let data = self.apply(py, &id, DataOp::Patch(set, keys))?;
        convert::dict_from(py, &data)
    }

    /// A fresh masked CSRF token for the session of `token`.
    fn csrf_token(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<String> {
        let Some(token) = convert::token(token, "token")? else {
            return Err(errors::rejected(py, Reason::Malformed));
        };
        let inner = &self.inner;
        py.detach(|| inner.csrf_token(&token)).py_err(py)
    }

    /// Whether `candidate` is a CSRF token of the live session of `token`.
    fn verify_csrf(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        candidate: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let (Some(token), Some(candidate)) = (
            convert::token(token, "token")?,
            convert::token(candidate, "candidate")?,
        ) else {
            return Ok(false);
        };
        let inner = &self.inner;
        py.detach(|| inner.verify_csrf(&token, &candidate))
            .py_err(py)
    }

    /// Remove expired sessions now; returns how many.
    fn sweep(&self, py: Python<'_>) -> PyResult<usize> {
        let inner = &self.inner;
        py.detach(|| inner.sweep()).py_err(py)
    }

    /// Number of sessions in the store.
    fn store_len(&self, py: Python<'_>) -> PyResult<usize> {
        let inner = &self.inner;
        py.detach(|| inner.store_len()).py_err(py)
    }

    /// The public id a token stands for; raises `SessionRejected('malformed')` for a bad token.
    fn id_of(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<String> {
        let token = convert::token(token, "token")?;
        match token.map(|t| self.inner.id_of(&t)) {
            Some(Ok(id)) => Ok(id.to_string()),
            _ => Err(errors::rejected(py, Reason::Malformed)),
        }
    }

    /// The `Set-Cookie` value that hands `token` to the browser.
    fn set_cookie(&self, py: Python<'_>, token: &Bound<'_, PyAny>) -> PyResult<String> {
        match convert::token(token, "token")?.map(|t| tessera::Token::parse(&t)) {
            Some(Ok(t)) => Ok(self.inner.set_cookie(&t)),
            _ => Err(errors::rejected(py, Reason::Malformed)),
        }
    }

    /// The `Set-Cookie` value that removes the session cookie.
    fn clear_cookie(&self) -> String {
        self.inner.clear_cookie()
    }

    /// The session token in a `Cookie` request header, or None. Two cookies with the session's
    /// name (cookie tossing) raise `SessionRejected('malformed')`: treat the request as
    /// anonymous and clear the cookie.
    fn cookie_token(&self, py: Python<'_>, header: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        let header = convert::token(header, "header")?.unwrap_or_default();
        match self.inner.token_from_cookie_header(&header) {
            tessera::CookieToken::Absent => Ok(None),
            tessera::CookieToken::One(v) => Ok(Some(v.to_owned())),
            tessera::CookieToken::Ambiguous => Err(errors::rejected(py, Reason::Malformed)),
        }
    }

    /// Call `listener(event)` after every lifecycle transition. An exception it raises is logged
    /// on the `tessera` logger and never reaches the request.
    fn add_listener(&self, listener: Bound<'_, PyAny>) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(PyTypeError::new_err("listener must be callable"));
        }
        self.inner
            .add_listener(events::forwarder(listener.unbind()));
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "SessionManager(cookie_name={:?})",
            self.inner.config().cookie_name
        )
    }
}

impl SessionManager {
    fn apply(&self, py: Python<'_>, id: &SessionId, op: DataOp) -> PyResult<Map<String, Value>> {
        let inner = &self.inner;
        py.detach(|| inner.update_data(id, op)).py_err(py)
    }
}

/// What `options` shows in place of a secret.
const REDACTED: &str = "<redacted>";

/// A store URL with the password of its `user:password@` part, if any, redacted.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let password = if userinfo.contains(':') {
                format!(":{REDACTED}")
            } else {
                String::new()
            };
            format!("{scheme}://{user}{password}@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn store_passwords_are_redacted() {
        for (url, shown) in [
            (
                "redis://:s3cret@h:6379/0?prefix=a",
                "redis://:<redacted>@h:6379/0?prefix=a",
            ),
            (
                "rediss://app:s3cret@h:6380",
                "rediss://app:<redacted>@h:6380",
            ),
            (
                "redis+cluster://u:p@a:1,b:2?prefix=x",
                "redis+cluster://u:<redacted>@a:1,b:2?prefix=x",
            ),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("sqlite:///var/lib/s.db", "sqlite:///var/lib/s.db"),
            ("memory://", "memory://"),
        ] {
            assert_eq!(without_password(url), shown);
        }
    }
}
