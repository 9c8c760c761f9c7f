//! `Request` and `Response`: the per-request protocol of `tessera::http` with Python types.
//!
//! A framework integration calls `SessionManager.begin(...)` when a request arrives, hands the
//! app's data and user change to `Request.finish(...)` when it answers, and copies
//! `Response.headers()` onto its response. Every rule (cookies, `no-store`, CSRF methods, data
//! diffing, privilege changes) is the core's; this module only converts types.
//!
//! The core's request lives behind a mutex so the frozen Python object can change it. The lock is
//! only ever held for a moment: a call that may touch the store takes the request out (the slot
//! reads "busy"), runs with the GIL released, and puts it back. So nothing waits for the GIL
//! while holding the lock, and a call made meanwhile — from another thread, or from an event
//! listener the store call runs — gets a clear error instead of a deadlock.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use pyo3::exceptions::PyRuntimeError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Value};
use tessera::http::{self, Auth, Changes, CsrfCheck, Expiry, Outcome};

use crate::convert;
use crate::errors::{self, IntoPyResult, InvalidArgument};

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// One HTTP request's session, from `SessionManager.begin` to `finish`. Made for one request and
/// one thread; `finish` may be called once.
#[pyclass(frozen, module = "tessera._native")]
pub struct Request {
    manager: Arc<tessera::SessionManager>,
    state: Mutex<Slot>,
}

/// Where the core's request is.
enum Slot {
    Ready(Box<http::Request>),
    /// Out for a store call.
    Busy,
    Finished,
}

type Guard<'a> = MutexGuard<'a, Slot>;

fn finished() -> PyErr {
    InvalidArgument::new_err("this Request is finished: finish() may be called only once")
}

fn busy() -> PyErr {
    PyRuntimeError::new_err(
        "this Request is in use by another call (a Request belongs to one request and one \
         thread; an event listener cannot use the request whose store call it observes)",
    )
}

/// Why a store call could not run.
enum Unavailable {
    Busy,
    Finished,
}

impl From<Unavailable> for PyErr {
    fn from(u: Unavailable) -> PyErr {
        match u {
            Unavailable::Busy => busy(),
            Unavailable::Finished => finished(),
        }
    }
}

impl Request {
    pub(crate) fn begin(
        py: Python<'_>,
        manager: &Arc<tessera::SessionManager>,
        head: &http::RequestHead<'_>,
    ) -> PyResult<Self> {
        let request = py.detach(|| http::begin(manager, head)).py_err(py)?;
        Ok(Request {
            manager: Arc::clone(manager),
            state: Mutex::new(Slot::Ready(Box::new(request))),
        })
    }

    /// `begin`, then what the glue reads right after it, as one tuple: `(request, data, token,
    /// user, reason, csrf, forked)` (see `SessionManager.open`).
    pub(crate) fn open<'py>(
        py: Python<'py>,
        manager: &Arc<tessera::SessionManager>,
        head: &http::RequestHead<'_>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let request = py.detach(|| http::begin(manager, head)).py_err(py)?;
        let data = convert::dict_from(py, request.data())?;
        let token = request.token().map(tessera::Token::expose);
        let user = request.user().map(str::to_owned);
        let reason = request.reason().map(|reason| reason.code());
        let csrf = csrf_code(request.csrf());
        let forked = manager.forked();
        let request = Bound::new(
            py,
            Request {
                manager: Arc::clone(manager),
                state: Mutex::new(Slot::Ready(Box::new(request))),
            },
        )?;
        (request, data, token, user, reason, csrf, forked).into_pyobject(py)
    }

    /// The lock, taken without waiting while holding the GIL (it is held only for moments).
    fn lock(&self, py: Python<'_>) -> Guard<'_> {
        match self.state.try_lock() {
            Some(guard) => guard,
            None => py.detach(|| self.state.lock()),
        }
    }

    /// Run `f` on the request with the GIL held; for calls that never touch the store.
    fn read<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut http::Request) -> PyResult<R>,
    ) -> PyResult<R> {
        let mut guard = self.lock(py);
        match &mut *guard {
            Slot::Ready(request) => f(request),
            Slot::Busy => Err(busy()),
            Slot::Finished => Err(finished()),
        }
    }

    /// Take the request out of its slot, leaving `then` (busy, or finished).
    fn take(state: &Mutex<Slot>, then: Slot) -> Result<Box<http::Request>, Unavailable> {
        let mut guard = state.lock();
        match std::mem::replace(&mut *guard, then) {
            Slot::Ready(request) => Ok(request),
            other => {
                let why = match other {
                    Slot::Busy => Unavailable::Busy,
                    _ => Unavailable::Finished,
                };
                *guard = other;
                Err(why)
            }
        }
    }

    /// Run `f` on the request with the GIL released and the lock free; for calls that may touch
    /// the store.
    fn store<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut http::Request, &tessera::SessionManager) -> tessera::Result<R> + Send,
    ) -> PyResult<R> {
        let manager = &*self.manager;
        let state = &self.state;
        let result = py.detach(|| {
            let mut request = Self::take(state, Slot::Busy)?;
            let result = f(&mut request, manager);
            *state.lock() = Slot::Ready(request);
            Ok::<_, Unavailable>(result)
        });
        result?.py_err(py)
    }
}

/// A Python expiry (`"policy"`, `"browser_session"`, `("idle", s)`, `("until", epoch_s)`,
/// `("persistent", s | None)`) as the core's.
fn expiry(value: &Bound<'_, PyAny>) -> PyResult<Expiry> {
    const SHAPE: &str = "expiry must be \"policy\", \"browser_session\", (\"idle\", seconds), \
                         (\"until\", epoch_seconds) or (\"persistent\", seconds or None)";
    if let Ok(s) = value.cast::<PyString>() {
        return match &*s.to_cow()? {
            "policy" => Ok(Expiry::Policy),
            "browser_session" => Ok(Expiry::BrowserSession),
            _ => Err(PyValueError::new_err(SHAPE)),
        };
    }
    let Ok(pair) = value.cast::<PyTuple>() else {
        return Err(PyTypeError::new_err(SHAPE));
    };
    if pair.len() != 2 {
        return Err(PyValueError::new_err(SHAPE));
    }
    let kind = pair.get_item(0)?;
    let amount = pair.get_item(1)?;
    let kind = kind
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(SHAPE))?
        .to_cow()?
        .into_owned();
    let duration = |v: &Bound<'_, PyAny>| {
        convert::millis(v, "expiry seconds").map(std::time::Duration::from_millis)
    };
    match kind.as_str() {
        "idle" => {
            let d = duration(&amount)?;
            if d.is_zero() {
                return Err(PyValueError::new_err("an idle expiry must be positive"));
            }
            Ok(Expiry::Idle(d))
        }
        "until" => Ok(Expiry::Until(convert::millis(&amount, "expiry time")?)),
        "persistent" if amount.is_none() => Ok(Expiry::Persistent(None)),
        "persistent" => Ok(Expiry::Persistent(Some(duration(&amount)?))),
        _ => Err(PyValueError::new_err(SHAPE)),
    }
}

fn csrf_code(check: CsrfCheck) -> &'static str {
    match check {
        CsrfCheck::NotNeeded => "not_needed",
        CsrfCheck::Valid => "valid",
        CsrfCheck::Invalid => "invalid",
    }
}

/// A mapping (a dict, or anything with `keys()` and `__getitem__`) as a JSON object.
fn data(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    if value.is_instance_of::<PyDict>() {
        return convert::to_object(value, what);
    }
    match value.cast::<PyMapping>() {
        Ok(mapping) => {
            let dict = PyDict::new(value.py());
            dict.update(mapping)?;
            convert::to_object(dict.as_any(), what)
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a mapping, not {}",
            convert::type_name(value)
        ))),
    }
}

/// The keyword arguments of `finish` and `prepare` as the core's `Outcome`.
#[allow(clippy::too_many_arguments)]
fn outcome(
    data_arg: Option<&Bound<'_, PyAny>>,
    login: Option<&Bound<'_, PyAny>>,
    logout: bool,
    user_known: bool,
    user: Option<&Bound<'_, PyAny>>,
    regenerate: bool,
    expiry_arg: Option<&Bound<'_, PyAny>>,
    expiry_changed: bool,
    error: bool,
    step_up: StepUp<'_, '_>,
) -> PyResult<Outcome> {
    let data = match data_arg {
        Some(d) if !d.is_none() => Some(data(d, "data")?),
        _ => None,
    };
    let login = match login {
        Some(u) if !u.is_none() => Some(convert::text(u, "login")?),
        _ => None,
    };
    let user = match user {
        Some(u) if !u.is_none() => Some(convert::text(u, "user")?),
        _ => None,
    };
    if !user_known && user.is_some() {
        return Err(PyValueError::new_err(
            "user= is only read with user_known=True (user=None then means nobody)",
        ));
    }
    let authn = convert::authn(step_up.level, step_up.amr)?;
    let auth = match (login, logout, user_known, step_up.reauthenticate) {
        (None, false, false, false) => Auth::Unchanged,
        (Some(u), false, false, false) => Auth::LoggedIn(u),
        (None, true, false, false) => Auth::LoggedOut,
        (None, false, true, false) => Auth::User(user),
        (None, false, false, true) => Auth::Reauthenticated(authn.clone().unwrap_or_default()),
        _ => {
            return Err(PyValueError::new_err(
                "login=, logout=True, user_known=True and reauthenticate=True exclude each other",
            ));
        }
    };
    let expiry = match expiry_arg {
        Some(e) if !e.is_none() => Some(expiry(e)?),
        _ => None,
    };
    Ok(Outcome {
        data,
        auth,
        regenerate,
        expiry,
        expiry_changed,
        error,
        authn,
    })
}

/// The step-up keywords of `finish`: `reauthenticate=True` (the signed-in user proved who they
/// are again), and `level`/`amr` (how strongly: of that re-authentication, or of the login in
/// `login=`/`user_known=`).
#[derive(Clone, Copy, Default)]
struct StepUp<'a, 'py> {
    reauthenticate: bool,
    level: Option<&'a Bound<'py, PyAny>>,
    amr: Option<&'a Bound<'py, PyAny>>,
}

#[pymethods]
impl Request {
    /// The session's Tessera user, or None.
    #[getter]
    fn user(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.read(py, |r| Ok(r.user().map(str::to_owned)))
    }

    /// The session's data as the store holds it now (a new dict on each call).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.read(py, |r| convert::dict_from(py, r.data()))
    }

    /// The public id (hex) of the live session, or of the one reserved for a new session.
    #[getter]
    fn id(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.read(py, |r| Ok(r.id().map(|id| id.to_string())))
    }

    /// The token the client holds for the live session (after this response, the new one).
    /// Never log it.
    #[getter]
    fn token(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.read(py, |r| Ok(r.token().map(tessera::Token::expose)))
    }

    /// Why a session cookie gave no session: malformed, unknown, expired_idle,
    /// expired_absolute, or binding_missing (a device-bound session whose bound cookie the
    /// request lacks: hidden from it, its cookie left alone); None otherwise.
    #[getter]
    fn reason(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        self.read(py, |r| Ok(r.reason().map(|reason| reason.code())))
    }

    /// The CSRF verdict of `begin`: "not_needed", "valid" or "invalid".
    #[getter]
    fn csrf(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |r| Ok(csrf_code(r.csrf())))
    }

    /// Whether the session ended under this request (its writes were dropped).
    #[getter]
    fn ended(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |r| Ok(r.ended()))
    }

    /// When the live session ends if unused (seconds since the epoch), or None.
    #[getter]
    fn expires_at(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        self.read(py, |r| Ok(r.session().map(|s| seconds(s.expires_at()))))
    }

    /// When the live session ends however active it is, or None.
    #[getter]
    fn absolute_deadline(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        self.read(py, |r| {
            Ok(r.session().map(|s| seconds(s.absolute_deadline())))
        })
    }

    /// The session's id, reserving one for a new session (nothing is stored for it unless the
    /// app writes data or signs someone in).
    fn ensure_id(&self, py: Python<'_>) -> PyResult<String> {
        let manager = &*self.manager;
        self.read(py, |r| Ok(r.ensure_id(manager).py_err(py)?.to_string()))
    }

    /// A fresh masked CSRF token: the session's, or for a visitor without one, a token bound to
    /// a visitor cookie the response sets (nothing is stored).
    fn csrf_token(&self, py: Python<'_>) -> PyResult<String> {
        let manager = &*self.manager;
        self.read(py, |r| r.csrf_token(manager).py_err(py))
    }

    /// Whether `candidate` is a CSRF token of this request's session (constant time); for a
    /// token found after `begin`, such as a form field. Anything but a str is False.
    fn verify_csrf(&self, py: Python<'_>, candidate: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(Some(candidate)) = convert::token(candidate, "candidate") else {
            return Ok(false);
        };
        self.read(py, |r| Ok(r.verify_csrf(&candidate)))
    }

    /// Whether signing `user` in now would carry the session's data over (core's rule: only
    /// with `login_keeps_data`, from an anonymous session or one of the same user).
    fn login_keeps_data(&self, py: Python<'_>, user: &Bound<'_, PyAny>) -> PyResult<bool> {
        let user = convert::text(user, "user")?;
        let manager = &*self.manager;
        self.read(py, |r| Ok(r.login_keeps_data(manager, &user)))
    }

    /// Sign `user` in now: a new token (the old one dies at once), a new CSRF secret. `level`
    /// and `amr` say how strongly the user authenticated (default: level 1, no `amr`).
    #[pyo3(signature = (user, *, level=None, amr=None))]
    fn login(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let user = convert::text(user, "user")?;
        let authn = convert::authn(level, amr)?.unwrap_or_default();
        self.store(py, |r, m| r.login_with(m, &user, &authn))
    }

    /// The signed-in user proved who they are again (step-up): a new token now, the old one
    /// dead at once, `level`/`amr` recorded as of now; user, data and device binding kept.
    /// Returns False if the session ended meanwhile; raises `InvalidArgument` without a
    /// signed-in session.
    #[pyo3(signature = (*, level=None, amr=None))]
    fn reauthenticate(
        &self,
        py: Python<'_>,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let authn = convert::authn(level, amr)?.unwrap_or_default();
        self.store(py, |r, m| r.reauthenticate(m, &authn))
    }

    /// Offer the signed-in, unbound session a device binding on this response (sign-ins offer
    /// one by themselves). Returns whether an offer was made (device-bound sessions on, HTTPS,
    /// a signed-in session not bound yet).
    fn offer_binding(&self, py: Python<'_>) -> PyResult<bool> {
        self.store(py, |r, m| r.offer_binding(m))
    }

    /// Whether a sensitive operation may go ahead: "allowed", "anonymous" (sign in first),
    /// "stale" (authenticated `max_age` seconds ago or longer) or "level" (below `level`). A
    /// pure read.
    #[pyo3(signature = (max_age, level=None))]
    fn require_recent(
        &self,
        py: Python<'_>,
        max_age: &Bound<'_, PyAny>,
        level: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<&'static str> {
        let max_age_ms = convert::millis(max_age, "max_age")?;
        let min_level = convert::authn(level, None)?.map_or(1, |a| a.level());
        let manager = &*self.manager;
        self.read(py, |r| {
            Ok(r.require_recent(manager, max_age_ms, min_level).code())
        })
    }

    /// How this request proved its session's device (DBSC): "unbound", "pending" or "fresh";
    /// None without a session (a request that did not prove a bound session has none, and
    /// `reason` is "binding_missing").
    #[getter]
    fn binding(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        self.read(py, |r| Ok(r.proof().map(|p| p.code())))
    }

    /// When the user last authenticated (seconds since the epoch), or None.
    #[getter]
    fn authenticated_at(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        self.read(py, |r| {
            Ok(r.session()
                .and_then(tessera::Session::authenticated)
                .map(|a| seconds(a.at)))
        })
    }

    /// How strongly (the app's level), or None without a signed-in session.
    #[getter]
    fn auth_level(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        self.read(py, |r| {
            Ok(r.session()
                .and_then(tessera::Session::authenticated)
                .map(|a| a.level))
        })
    }

    /// The authentication methods (RFC 8176 `amr`) given at sign-in or re-authentication.
    #[getter]
    fn amr(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.read(py, |r| {
            Ok(r.session()
                .and_then(tessera::Session::authenticated)
                .map(|a| a.amr)
                .unwrap_or_default())
        })
    }

    /// End the session now; returns whether a live session ended.
    fn logout(&self, py: Python<'_>) -> PyResult<bool> {
        self.store(py, |r, m| r.logout(m))
    }

    /// A new token now, the old one dead at once, user and data kept; returns whether there was
    /// a live session to cycle.
    fn regenerate(&self, py: Python<'_>) -> PyResult<bool> {
        self.store(py, |r, m| r.regenerate(m))
    }

    /// Set the keys of `set` and remove the keys of `remove` now, in one atomic patch.
    #[pyo3(signature = (set=None, remove=None))]
    fn write(
        &self,
        py: Python<'_>,
        set: Option<&Bound<'_, PyAny>>,
        remove: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let set = match set {
            Some(s) if !s.is_none() => data(s, "set")?,
            _ => Map::new(),
        };
        let mut keys = Vec::new();
        if let Some(remove) = remove.filter(|r| !r.is_none()) {
            if remove.is_instance_of::<PyString>() {
                return Err(PyTypeError::new_err(
                    "remove must be an iterable of keys, not a str",
                ));
            }
            for key in remove.try_iter()? {
                keys.push(convert::text(&key?, "remove key")?);
            }
        }
        let changes = Changes { set, remove: keys };
        self.store(py, |r, m| r.write(m, &changes))
    }

    /// Give the live session its own expiry now (it may shorten the policy, never lengthen it).
    fn set_expiry(&self, py: Python<'_>, expiry: &Bound<'_, PyAny>) -> PyResult<()> {
        let expiry = self::expiry(expiry)?;
        self.store(py, |r, m| r.set_expiry(m, expiry))
    }

    /// The headers the response will carry if `finish` is given the same outcome, for
    /// responses whose headers go out before the app is done (streaming). Tokens minted here
    /// are the ones `finish` stores.
    #[pyo3(signature = (data=None, *, login=None, logout=false, user_known=false, user=None,
                        regenerate=false, expiry=None, expiry_changed=false, error=false,
                        reauthenticate=false, level=None, amr=None))]
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
        login: Option<&Bound<'_, PyAny>>,
        logout: bool,
        user_known: bool,
        user: Option<&Bound<'_, PyAny>>,
        regenerate: bool,
        expiry: Option<&Bound<'_, PyAny>>,
        expiry_changed: bool,
        error: bool,
        reauthenticate: bool,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Response> {
        let outcome = outcome(
            data,
            login,
            logout,
            user_known,
            user,
            regenerate,
            expiry,
            expiry_changed,
            error,
            StepUp {
                reauthenticate,
                level,
                amr,
            },
        )?;
        let manager = &*self.manager;
        let response = self.read(py, |r| r.prepare(manager, &outcome).py_err(py))?;
        Ok(Response::from(response))
    }

    /// Finish the request: make the store writes for what the app did and return the headers
    /// the response must carry. `login=u` signs `u` in (also when already signed in: a new
    /// token); `logout=True` ends the session; `user_known=True` says the framework's user is
    /// `user` (a change is a login, None where there was one a logout); `error=True` for a 5xx
    /// response (nothing saved, nobody signed in). May be called once. If it fails, the
    /// exception's `response` holds the headers the error response must still carry.
    #[pyo3(signature = (data=None, *, login=None, logout=false, user_known=false, user=None,
                        regenerate=false, expiry=None, expiry_changed=false, error=false,
                        reauthenticate=false, level=None, amr=None))]
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        py: Python<'_>,
        data: Option<&Bound<'_, PyAny>>,
        login: Option<&Bound<'_, PyAny>>,
        logout: bool,
        user_known: bool,
        user: Option<&Bound<'_, PyAny>>,
        regenerate: bool,
        expiry: Option<&Bound<'_, PyAny>>,
        expiry_changed: bool,
        error: bool,
        reauthenticate: bool,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Response> {
        let outcome = outcome(
            data,
            login,
            logout,
            user_known,
            user,
            regenerate,
            expiry,
            expiry_changed,
            error,
            StepUp {
                reauthenticate,
                level,
                amr,
            },
        )?;
        let manager = &*self.manager;
        let state = &self.state;
        let result =
            py.detach(|| Self::take(state, Slot::Finished).map(|r| r.finish(manager, outcome)));
        match result? {
            Ok(response) => Ok(Response::from(response)),
            Err(failed) => {
                // The error, carrying the headers its error response must still send (a token
                // rotated by begin, or replaced by a step that completed).
                let (error, response) = failed.into_parts();
                let err = errors::to_py(py, error);
                err.value(py)
                    .setattr("response", Py::new(py, Response::from(response))?)?;
                Err(err)
            }
        }
    }

    /// `finish`, and in the same call what a framework's glue reads from its response:
    /// `(response, response.headers(), response.ended, session_cookie, token)` — whether the
    /// response sets or clears the session cookie, and the token the client holds after it (what
    /// that cookie carries; None when it is cleared). One crossing of the language boundary per
    /// request on the way out. Fails as `finish` does.
    #[pyo3(signature = (data=None, *, login=None, logout=false, user_known=false, user=None,
                        regenerate=false, expiry=None, expiry_changed=false, error=false,
                        reauthenticate=false, level=None, amr=None))]
    #[allow(clippy::too_many_arguments)]
    fn close<'py>(
        &self,
        py: Python<'py>,
        data: Option<&Bound<'_, PyAny>>,
        login: Option<&Bound<'_, PyAny>>,
        logout: bool,
        user_known: bool,
        user: Option<&Bound<'_, PyAny>>,
        regenerate: bool,
        expiry: Option<&Bound<'_, PyAny>>,
        expiry_changed: bool,
        error: bool,
        reauthenticate: bool,
        level: Option<&Bound<'_, PyAny>>,
        amr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let response = self.finish(
            py,
            data,
            login,
            logout,
            user_known,
            user,
            regenerate,
            expiry,
            expiry_changed,
            error,
            reauthenticate,
            level,
            amr,
        )?;
        let headers = PyList::new(py, response.inner.headers())?;
        let ended = response.inner.ended;
        let session_cookie = response.inner.set_cookie.is_some();
        let token = response.inner.token.as_ref().map(tessera::Token::expose);
        (
            Bound::new(py, response)?,
            headers,
            ended,
            session_cookie,
            token,
        )
            .into_pyobject(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let guard = self.lock(py);
        match &*guard {
            Slot::Finished => "<Request finished>".to_owned(),
            Slot::Busy => "<Request busy>".to_owned(),
            Slot::Ready(r) => format!(
                "<Request id={} user={}>",
                r.id().map_or_else(
                    || "None".to_owned(),
                    |id| format!("{}…", &id.to_string()[..12])
                ),
                py_repr(r.user())
            ),
        }
    }
}

/// What a response must carry, from `Request.finish` or `Request.prepare`.
#[pyclass(frozen, module = "tessera._native")]
pub struct Response {
    inner: http::Response,
}

impl From<http::Response> for Response {
    fn from(inner: http::Response) -> Self {
        Response { inner }
    }
}

/// A str-or-None the way Python's repr shows it.
fn py_repr(value: Option<&str>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
}

fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

#[pymethods]
impl Response {
    /// The `Set-Cookie` value for the session cookie, or None (it holds a token: never log it).
    #[getter]
    fn set_cookie(&self) -> Option<&str> {
        self.inner.set_cookie.as_deref()
    }

    /// The `Set-Cookie` value of a visitor CSRF cookie this request made (a CSRF token for a
    /// visitor without a session is bound to it; nothing is stored), or None.
    #[getter]
    fn csrf_cookie(&self) -> Option<&str> {
        self.inner.csrf_cookie.as_deref()
    }

    /// Whether the response must carry `Cache-Control: no-store`.
    #[getter]
    fn no_store(&self) -> bool {
        self.inner.no_store
    }

    /// The public id of the session the client holds after this response, or None.
    #[getter]
    fn session_id(&self) -> Option<String> {
        self.inner.session_id.map(|id| id.to_string())
    }

    /// Its user, or None.
    #[getter]
    fn user(&self) -> Option<&str> {
        self.inner.user.as_deref()
    }

    /// Whether the session ended under this request (its writes were dropped).
    #[getter]
    fn ended(&self) -> bool {
        self.inner.ended
    }

    /// The headers to add to the response, as `(name, value)` pairs, in order.
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.headers())
    }

    fn __repr__(&self) -> String {
        format!(
            "<Response set_cookie={} no_store={} user={} ended={}>",
            if self.inner.set_cookie.is_some() {
                "<redacted>"
            } else {
                "None"
            },
            py_bool(self.inner.no_store),
            py_repr(self.inner.user.as_deref()),
            py_bool(self.inner.ended),
        )
    }
}
