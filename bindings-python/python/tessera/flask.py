"""Flask integration: a session interface on Tessera's per-request protocol.

::

    from flask import Flask, session
    from tessera import SessionManager
    from tessera.flask import TesseraSessionInterface, login, logout

    app = Flask(__name__)
    TesseraSessionInterface(SessionManager()).init_app(app)

    @app.post("/login")
    def do_login():
        ...  # check the password
        login(user_id)          # a new token when the response goes out; the old one dies
        return redirect("/")

    @app.post("/logout")
    def do_logout():
        logout()                # the server-side session ends, the cookie is cleared
        return redirect("/")

This module is glue only. ``open_session`` is ``manager.begin(...)``; the session object is a
dict view of the session's data; ``save_session`` hands the data, the user change, the expiry
and whether the response is an error to ``Request.finish`` and copies the headers it returns
onto Flask's response. Which cookie to send, ``no-store``, which methods need a CSRF token, which
keys changed and what a user change means are decided by Tessera's core, as in every binding.

Values are converted with Flask's tagged JSON serializer (``TesseraSessionInterface.serializer``,
Flask's own by default) per top-level key, so tuples, ``Markup``, ``bytes``, ``UUID`` and
``datetime`` come back as they went in, as with Flask's cookie session. A value it cannot store
raises ``TypeError`` naming the key when it is assigned.

With Flask-Login, ``login_user``, the "remember me" cookie login and ``logout_user`` become
Tessera logins and logouts (see the README for what is mapped and what is not).

Device-bound sessions and step-up: with the manager's ``dbsc=True``, ``init_app`` registers
the blueprint of the two DBSC endpoints (``POST <dbsc_path_prefix>/register`` and
``/refresh``); :func:`require_bound` and :func:`require_recent` guard views;
``session.binding``, ``session.offer_binding()``, ``session.reauthenticate(level=…, amr=…)``
and ``session.require_recent(max_age, level)`` give the request's state.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union, cast
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, request
from flask import Request as FlaskRequest
from flask import session as flask_session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import NullSession, SessionInterface, SessionMixin, session_json_serializer
from werkzeug.datastructures import CallbackDict
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response as WerkzeugResponse

from tessera._native import (
    DbscResponse,
    Request,
    Response,
    SessionManager,
    StoreFull,
    StoreUnavailable,
    TesseraError,
)
from tessera.deployment import check_request

if TYPE_CHECKING:
    from flask.sansio.app import App

__all__ = [
    "DBSC_BLUEPRINT",
    "TesseraSession",
    "TesseraSessionInterface",
    "UnavailableSession",
    "check_csrf",
    "csrf_protect",
    "csrf_token",
    "current_session",
    "dbsc_blueprint",
    "login",
    "login_user",
    "logout",
    "manager",
    "offer_binding",
    "reauthenticate",
    "regenerate",
    "require_bound",
    "require_recent",
    "set_expiry",
]

#: The name of the blueprint of the two DBSC endpoints (with Flask-WTF:
#: ``csrf.exempt(app.blueprints[DBSC_BLUEPRINT])``).
DBSC_BLUEPRINT = "tessera_dbsc"
_DBSC_ENDPOINTS = frozenset({f"{DBSC_BLUEPRINT}.register", f"{DBSC_BLUEPRINT}.refresh"})
_F = TypeVar("_F", bound=Callable[..., Any])

CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_ENVIRON = "HTTP_" + CSRF_HEADER.upper().replace("-", "_")
#: The data key holding a per-session expiry set with :func:`set_expiry` (Flask keeps
#: ``session.permanent`` in ``_permanent`` the same way).
EXPIRY_KEY = "_tessera_expiry"

_Expiry = Union[str, tuple[str, Any]]
#: Types the tagged serializer passes through as they are (exact types: ``Markup`` is a ``str``
#: subclass and is tagged); checked first because nearly every session value is one of them.
_PLAIN = frozenset({str, int, bool, type(None)})


def _untag(serializer: TaggedJSONSerializer, value: Any) -> Any:
    """A stored JSON value as the tagged serializer's Python value, depth first (what
    ``TaggedJSONSerializer.loads`` does after parsing, with the public ``untag`` only)."""
    if isinstance(value, dict):
        return serializer.untag({k: _untag(serializer, v) for k, v in value.items()})
    if isinstance(value, list):
        return [_untag(serializer, v) for v in value]
    return value


def _on_update(session: CallbackDict[str, Any]) -> None:
    session.modified = True  # type: ignore[attr-defined]
    session.accessed = True  # type: ignore[attr-defined]


class TesseraSession(CallbackDict[str, Any], SessionMixin):
    """One request's session: a dict of its data (as Flask's tagged serializer reads it) in
    front of the ``tessera.Request`` that ``save_session`` finishes."""

    # Per-request state as class-level defaults, so that making a session costs little.
    #: What ``finish`` returned, once the response is saved.
    response: Optional[Response] = None
    modified = False
    accessed = False
    # A user change to hand to finish: ("login", user) or ("logout", None).
    _auth: Optional[tuple[str, Optional[str]]] = None
    _regenerate = False
    # How strongly the user of a login authenticated: (level, amr), for finish.
    _authn: Optional[tuple[Optional[int], Optional[list[str]]]] = None
    # A step-up re-authentication to hand to finish: (level, amr).
    _reauth: Optional[tuple[Optional[int], Optional[list[str]]]] = None
    _done = False
    # What the response must carry once finished (``Response.headers()``).
    _headers: Sequence[tuple[str, str]] = ()

    def __init__(
        self,
        native: Request,
        serializer: TaggedJSONSerializer,
        stored: Optional[dict[str, Any]] = None,
    ) -> None:
        if stored is None:  # not given by SessionManager.open: asked for
            stored = native.data
        # CallbackDict.__init__, inlined (this runs on every request), with the stored data as
        # Flask's tagged serializer reads it (only containers can hold tags). The callback is a
        # module-level function, not a closure over self: no reference cycle per request for the
        # garbage collector to find.
        dict.__init__(self, stored)
        for k, v in stored.items():
            if isinstance(v, (dict, list)):
                dict.__setitem__(self, k, _untag(serializer, v))
        self.on_update = _on_update
        #: The core's request; finished by ``save_session``.
        self.native = native
        self.serializer = serializer
        # The data as begun (a dict of its own, never changed).
        self._stored = stored
        # Keys this request assigned: what survives a logout, or a login that drops the
        # previous data (Tessera's rule: only what the request wrote survives).
        self._assigned: set[str] = set()

    @property
    def _had_data(self) -> bool:
        return bool(self._stored)

    @property
    def _expiry_at_begin(self) -> tuple[Any, Any]:
        return (self._stored.get("_permanent", False), self._stored.get(EXPIRY_KEY))

    # -- reads that may lead to an in-place change count as access (as in Flask's session) --

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return dict.get(self, key, default)

    # -- writes are checked at once, so a bad value fails in the view that assigns it --------

    def __setitem__(self, key: str, value: Any) -> None:
        self._check(key, value)
        self._assigned.add(key)
        # CallbackDict's __setitem__, inlined: the most frequent write of a view.
        dict.__setitem__(self, key, value)
        self.modified = self.accessed = True

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        if key not in self:
            self._check(key, default)
            self._assigned.add(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs)
        for key, value in items.items():
            self._check(key, value)
        self._assigned.update(items)
        super().update(items)

    def _check(self, key: object, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys must be str, not {type(key).__name__}")
        kind = type(value)
        if kind in _PLAIN or (kind is float and math.isfinite(value)):
            return
        try:
            json.dumps(self.serializer.tag(value), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"session[{key!r}]: a {type(value).__name__} cannot be stored in the session "
                f"({e}); Flask's tagged JSON serializer handles dict, list, tuple, str, int, "
                "float, bool, None, bytes, Markup, UUID and datetime"
            ) from None

    # -- Tessera's state ------------------------------------------------------------------------

    @property
    def new(self) -> bool:  # type: ignore[override]
        """Whether the request has no session yet (Flask's ``session.new``)."""
        return self.session_id is None

    @property
    def user(self) -> Optional[str]:
        """The signed-in Tessera user, as it will be once this response is sent."""
        if self.response is not None:
            return self.response.user
        if self._auth is not None:
            return self._auth[1]
        return self.native.user

    @property
    def session_id(self) -> Optional[str]:
        """The public id of the server-side session, or None before anything was stored."""
        if self.response is not None:
            return self.response.session_id
        return self.native.id

    @property
    def token(self) -> Optional[str]:
        """The token the client holds (never log it); None once the response is saved."""
        return None if self.response is not None else self.native.token

    @property
    def expires_at(self) -> Optional[float]:
        """When the session ends if unused (seconds since the epoch)."""
        return None if self.response is not None else self.native.expires_at

    @property
    def absolute_deadline(self) -> Optional[float]:
        """When the session ends however active (seconds since the epoch)."""
        return None if self.response is not None else self.native.absolute_deadline

    # -- device binding and step-up ---------------------------------------------------------

    @property
    def binding(self) -> Optional[str]:
        """How this request proved the session's device (DBSC): ``"unbound"``, ``"pending"``
        (bound seconds ago) or ``"fresh"``; None without a session (also for a device-bound
        session whose bound cookie the request lacks: it is hidden, see :attr:`reason`)."""
        return None if self.response is not None else self.native.binding

    @property
    def reason(self) -> Optional[str]:
        """Why the request's session cookie gave no session (``"binding_missing"`` for a
        device-bound session the request did not prove), or None."""
        return None if self.response is not None else self.native.reason

    @property
    def authenticated_at(self) -> Optional[float]:
        """When the user last signed in or re-authenticated (seconds since the epoch)."""
        return None if self.response is not None else self.native.authenticated_at

    @property
    def auth_level(self) -> Optional[int]:
        """How strongly (the level given at sign-in), or None when anonymous."""
        return None if self.response is not None else self.native.auth_level

    @property
    def amr(self) -> list[str]:
        """The authentication methods given at sign-in (RFC 8176 ``amr``)."""
        return [] if self.response is not None else self.native.amr

    def offer_binding(self) -> bool:
        """Offer this signed-in, unbound session a device binding on this response (sign-ins
        offer one by themselves). Returns whether an offer was made."""
        return self.native.offer_binding()

    def require_recent(self, max_age: Union[int, float, timedelta], level: int = 1) -> str:
        """``"allowed"``, ``"anonymous"``, ``"stale"`` (authenticated ``max_age`` seconds ago
        or longer) or ``"level"`` (authenticated below ``level``). Nothing is written."""
        return self.native.require_recent(max_age, level)

    def reauthenticate(
        self, *, level: Optional[int] = None, amr: Optional[Iterable[str]] = None
    ) -> None:
        """The signed-in user proved who they are again (a password prompt, a second factor):
        when the response is sent, a new token (the old one dead at once) and this
        authentication recorded as of now; user, data and device binding kept. An error
        response (5xx) re-authenticates nobody."""
        if self.user is None:
            raise RuntimeError("reauthenticate() needs a signed-in session (use login())")
        self._reauth = (level, None if amr is None else list(amr))

    def _sign_in(self, user: str) -> None:
        """A login, made when the response is saved (a failed response signs nobody in). The
        session shows at once what the user will see: without the previous data when the login
        drops it (another user, or ``login_keeps_data=False``)."""
        self._auth = ("login", user)
        if not self.native.login_keeps_data(user):
            self._keep_only_assigned()

    def _sign_out(self) -> None:
        """A logout, made when the response is saved; only what this request assigned stays in
        view (and is kept in a new anonymous session)."""
        self._auth = ("logout", None)
        self._keep_only_assigned()

    def _keep_only_assigned(self) -> None:
        for key in [k for k in self if k not in self._assigned]:
            dict.pop(self, key)
        self.modified = True

    def _outcome(self, app: App, *, error: bool) -> dict[str, Any]:
        """The keywords of ``finish`` for what the app did in this request."""
        out: dict[str, Any] = {"error": error, "regenerate": self._regenerate}
        if self._auth is not None:
            kind, user = self._auth
            if kind == "login":
                out["login"] = user
            else:
                out["logout"] = True
        elif self._reauth is not None:
            out["reauthenticate"] = True
            out["level"], out["amr"] = self._reauth
        permanent = bool(dict.get(self, "_permanent", False))
        custom = dict.get(self, EXPIRY_KEY)
        changed = (permanent, custom) != self._expiry_at_begin
        if custom is not None:
            out["expiry"] = _expiry_of(custom)
        elif permanent:
            out["expiry"] = ("persistent", app.permanent_session_lifetime)
        elif changed:
            out["expiry"] = "policy"
        out["expiry_changed"] = changed
        return out

    def _data(self, only: Optional[set[str]] = None) -> Optional[dict[str, Any]]:
        """The data for finish, tagged per key (only the keys in ``only`` if given); None when the
        app cannot have changed it."""
        if not (self.accessed or self.modified):
            return None
        tag = self.serializer.tag
        return {
            k: v if type(v) in _PLAIN or type(v) is float else tag(v)
            for k, v in dict.items(self)
            if only is None or k in only
        }


class UnavailableSession(NullSession):
    """The session of a request that arrived while the store could not be reached: empty and
    anonymous (fail closed); the request is answered 503 before its view runs."""

    def __init__(self, error: StoreUnavailable) -> None:
        super().__init__()
        self.error = error

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse


def _answer_unavailable() -> None:
    current = flask_session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, UnavailableSession):
        raise ServiceUnavailable("The session store is unavailable.") from current.error


def _unavailable_response(app: App, response: WerkzeugResponse, error: StoreUnavailable) -> None:
    """Turn the view's response into a 503: what it wrote to the session was not stored."""
    if isinstance(error, StoreFull):
        app.logger.warning("tessera: the session store is full: %s", error)
        text = "Too many sessions right now; try again shortly."
    else:
        app.logger.error("tessera: the session could not be saved: %s", error)
        text = "The session store cannot be reached; try again shortly."
    response.status_code = 503
    response.set_data(text)
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "no-store"


def _expiry_of(stored: Any) -> _Expiry:
    """A stored per-session expiry as ``finish`` takes it."""
    if stored == "browser_session":
        return "browser_session"
    if isinstance(stored, list) and len(stored) == 2 and stored[0] in ("idle", "until"):
        return (stored[0], stored[1])
    return "policy"


class TesseraSessionInterface(SessionInterface):
    """A Flask ``SessionInterface`` on a :class:`~tessera.SessionManager`."""

    #: Converts values per top-level key; Flask's own instance, so tags an app registers for
    #: Flask's cookie session apply here too.
    serializer: TaggedJSONSerializer = session_json_serializer

    def __init__(
        self,
        manager: Optional[SessionManager] = None,
        *,
        login_url: Optional[str] = None,
        reauthenticate_url: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.manager = manager if manager is not None else SessionManager(**options)
        # Fixed when the manager is built: asked once, not on every request.
        self._store_is_shared = self.manager.store_is_shared
        #: Where :func:`require_bound` and :func:`require_recent` send an anonymous page
        #: request (with ``next=``); None: Flask-Login's ``login_view``, else a plain 401.
        self.login_url = login_url
        #: Where :func:`require_recent` sends a page request that must re-authenticate (with
        #: ``next=``); None: the login URL.
        self.reauthenticate_url = reauthenticate_url
        prefix = self.manager.dbsc_path_prefix
        # The two DBSC endpoints read the session themselves, without touching it: no begin.
        self._dbsc_paths = (
            frozenset({f"{prefix}/register", f"{prefix}/refresh"})
            if prefix is not None
            else frozenset()
        )

    def init_app(self, app: Flask) -> TesseraSessionInterface:
        """Install on ``app`` (and hook Flask-Login's signals when it is installed). With
        device-bound sessions on (``dbsc=True``), register the blueprint of the two DBSC
        endpoints at ``dbsc_path_prefix``."""
        app.session_interface = self
        app.extensions["tessera"] = self
        # First, before any hook of the app's that could act on an anonymous-looking request.
        app.before_request_funcs.setdefault(None, []).insert(0, _answer_unavailable)
        if self.manager.dbsc and DBSC_BLUEPRINT not in app.blueprints:
            app.register_blueprint(dbsc_blueprint(), url_prefix=self.manager.dbsc_path_prefix)
        _connect_flask_login()
        return self

    def open_session(
        self, app: App, request: FlaskRequest
    ) -> Union[TesseraSession, UnavailableSession, None]:
        # From the WSGI environ directly: the server has joined repeated headers there already,
        # and it is several times cheaper than request.headers on every request.
        # One call into the binding: the request and what is read from it right after begin.
        environ = request.environ
        if self._dbsc_paths and request.path in self._dbsc_paths:
            # A DBSC endpoint: the browser's machinery, not the user's activity. Its view reads
            # the session without touching or rotating it; a begin here would do both. (None:
            # Flask's null session.)
            return None
        try:
            native, stored, _, _, reason, _, forked = self.manager.open(
                environ.get("HTTP_COOKIE"),
                method=request.method,
                https=request.is_secure,
                user_agent=environ.get("HTTP_USER_AGENT"),
                csrf=environ.get(_CSRF_ENVIRON),
            )
        except StoreUnavailable as e:
            # Fail closed: no session, and a 503 the app can style with errorhandler(503).
            return UnavailableSession(e)
        if not self._store_is_shared and (forked or environ.get("wsgi.multiprocess")):
            # The memory store under several processes loses sessions: say so (once). Only a
            # fork or a multiprocess server can make check_request warn.
            check_request(self.manager, environ, reason, forked=forked)
        return TesseraSession(native, self.serializer, stored)

    def save_session(self, app: App, session: SessionMixin, response: WerkzeugResponse) -> None:
        if not isinstance(session, TesseraSession):  # pragma: no cover - a foreign session
            return
        if not session._done:
            session._done = True
            self._finish(app, session, response)
        # A second call (on the 500 response Flask builds when the first one raised) adds the
        # same headers: the request is finished once.
        headers = session._headers
        if session.accessed or headers:
            if response.headers.getlist("Vary"):
                response.vary.add("Cookie")
            else:
                # What vary.add gives here, without werkzeug's costly lookup of an absent header
                # (it raises and catches a KeyError, twice).
                response.headers.add("Vary", "Cookie")
        for name, value in headers:
            if name == "Set-Cookie":
                response.headers.add(name, value)
            else:
                response.headers[name] = value

    def _finish(self, app: App, session: TesseraSession, response: WerkzeugResponse) -> None:
        native = session.native
        outcome = session._outcome(app, error=response.status_code >= 500)
        user = outcome.pop("login", None)
        try:
            only = None
            if user is not None and not outcome["error"]:
                # The login is made first, then the data is compared with what it left: when it
                # dropped the previous data, the keys this request assigned are written (also one
                # assigned its old value, such as Flask-Login's "_fresh"), and nothing else.
                level, amr = session._authn or (None, None)
                native.login(user, level=level, amr=amr)
                if session._had_data and not native.data:
                    only = session._assigned
            session.response, session._headers, *_ = native.close(session._data(only), **outcome)
        except TesseraError as e:
            # data_too_large, a refused user id: Flask answers 500, and that response still
            # carries what the request owes the client (a token rotated by begin, or the one a
            # completed login made).
            session.response = e.response or self._failed(native, outcome)
            session._headers = session.response.headers() if session.response is not None else []
            if isinstance(e, StoreUnavailable):
                # The store's condition, not the app's bug, and it passes (the store comes back,
                # or sessions end under max_sessions): 503, as when the request began without
                # a store. Flask's handling of an exception here could only answer 500.
                _unavailable_response(app, response, e)
                return
            raise
        except (TypeError, ValueError) as e:
            # A value changed in place into something the serializer cannot store: nothing is
            # saved, and the error names the key.
            session.response = self._failed(native, outcome)
            session._headers = session.response.headers() if session.response is not None else []
            raise type(e)(f"the session could not be saved: {e}") from e

    @staticmethod
    def _failed(native: Request, outcome: dict[str, Any]) -> Optional[Response]:
        """The headers of an error response for a request finish has not consumed."""
        try:
            return native.finish(None, **{**outcome, "error": True})
        except TesseraError as e:
            return e.response


def manager() -> SessionManager:
    """The manager of the current app's Tessera session interface."""
    interface = current_app.session_interface
    if not isinstance(interface, TesseraSessionInterface):
        raise RuntimeError("the app's session_interface is not a TesseraSessionInterface")
    return interface.manager


def _session() -> TesseraSession:
    current = flask_session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, TesseraSession):
        raise RuntimeError("flask.session is not a Tessera session (call init_app first)")
    return current


def login(
    user_id: object, *, level: Optional[int] = None, amr: Optional[Iterable[str]] = None
) -> None:
    """Sign ``user_id`` in when the response is sent: a new token, the previous one dead at once
    (no fixation), a new CSRF secret — also when that user is already signed in. An error
    response (5xx) signs nobody in. ``level`` (default 1) and ``amr`` (e.g. ``["pwd", "otp"]``)
    say how strongly the user authenticated, for :func:`require_recent`."""
    session = _session()
    session._authn = (level, None if amr is None else list(amr))
    session._sign_in(str(user_id))


def login_user(
    user: Any,
    *args: Any,
    level: Optional[int] = None,
    amr: Optional[Iterable[str]] = None,
    **kwargs: Any,
) -> bool:
    """Flask-Login's ``login_user(user, remember=…, …)`` saying how strongly the user
    authenticated (``level``, ``amr``); the Tessera login it makes records them."""
    from flask_login import login_user as flask_login_user  # type: ignore[import-untyped]

    _session()._authn = (level, None if amr is None else list(amr))
    return bool(flask_login_user(user, *args, **kwargs))


def current_session() -> TesseraSession:
    """``flask.session`` typed as what it is (``session.binding``, ``.auth_level`` …); raises
    ``RuntimeError`` if the app's session is not Tessera's."""
    return _session()


def reauthenticate(*, level: Optional[int] = None, amr: Optional[Iterable[str]] = None) -> None:
    """The signed-in user proved who they are again (step-up): when the response is sent, a
    new token (the old one dead at once) and this authentication recorded as of now; user, data
    and device binding kept. See :meth:`TesseraSession.reauthenticate`."""
    _session().reauthenticate(level=level, amr=amr)


def offer_binding() -> bool:
    """Offer the signed-in, unbound session a device binding on this response (sign-ins offer
    one by themselves); returns whether an offer was made."""
    return _session().offer_binding()


def logout() -> None:
    """End the server-side session when the response is sent, and clear the cookie. What this
    request stored (before or after the call, e.g. a flashed "signed out" message) is kept in a
    new anonymous session; the rest is gone from view at once."""
    _session()._sign_out()


def regenerate() -> None:
    """Give the session a new token when the response is sent (the old one dies at once), user
    and data kept."""
    _session()._regenerate = True


def set_expiry(value: Union[int, float, timedelta, datetime, None]) -> None:
    """Give this session its own expiry (stored in the session, as ``permanent`` is): ``n``
    seconds or a ``timedelta`` — it ends after that long unused, and its cookie gets a
    ``Max-Age``; a ``datetime`` — it ends then; ``0`` — a browser-session cookie; ``None`` —
    back to the configured policy. It can shorten Tessera's timeouts, never lengthen them."""
    session = _session()
    stored: Any
    if value is None:
        session.pop(EXPIRY_KEY, None)
        return
    if isinstance(value, datetime):
        stored = ["until", value.timestamp()]
    elif isinstance(value, timedelta):
        stored = ["idle", value.total_seconds()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        stored = "browser_session" if value == 0 else ["idle", value]
    else:
        raise TypeError(
            f"set_expiry takes seconds, a timedelta, a datetime or None, not {type(value).__name__}"
        )
    if isinstance(stored, list) and not stored[1] > 0:
        raise ValueError("an expiry must be in the future (0 means a browser-session cookie)")
    session[EXPIRY_KEY] = stored


def csrf_token() -> str:
    """A masked CSRF token for the current session, for a form's ``_csrf`` field or the
    ``X-CSRF-Token`` header."""
    return _session().native.csrf_token()


def check_csrf() -> None:
    """Answer 403 unless the request's method needs no CSRF token (Tessera's list) or it carries
    a valid one in the ``X-CSRF-Token`` header or the ``_csrf`` form field."""
    native = _session().native
    if native.csrf != "invalid":
        return
    field = request.form.get(CSRF_FIELD)
    if field is None or not native.verify_csrf(field):
        abort(403, description="CSRF token missing or invalid: reload the page and try again.")


def csrf_protect(app: Flask, exempt: Iterable[str] = ()) -> None:
    """Check every request of ``app`` with :func:`check_csrf`, except the endpoints in
    ``exempt``; ``csrf_token()`` becomes a template global for the forms."""
    skip = frozenset(exempt)

    def check() -> None:
        # The DBSC endpoints carry no CSRF token (Chrome sends none): their single-use
        # challenge is the anti-forgery token.
        if request.endpoint not in skip and request.endpoint not in _DBSC_ENDPOINTS:
            check_csrf()

    app.before_request(check)
    app.jinja_env.globals.setdefault("csrf_token", csrf_token)


# -- Flask-Login --------------------------------------------------------------------------------

_connected = False


def _tessera_session() -> Optional[TesseraSession]:
    current = flask_session._get_current_object()  # type: ignore[attr-defined]
    return current if isinstance(current, TesseraSession) else None


def _on_login(sender: object, user: Any = None, **_: object) -> None:
    # login_user and the "remember me" cookie login alike: a fresh authentication, so a Tessera
    # login (a new token even for the user already signed in, ASVS 5.0 7.2.4).
    session = _tessera_session()
    if session is not None and user is not None:
        session._sign_in(str(user.get_id()))


def _on_logout(sender: object, user: Any = None, **_: object) -> None:
    # Only marked here: Flask-Login has just set session["_remember"] = "clear", which its
    # after_request reads (before save_session) to clear the remember cookie.
    session = _tessera_session()
    if session is not None:
        session._sign_out()


def _on_login_confirmed(sender: object, **_: object) -> None:
    # confirm_login(): the signed-in user re-authenticated (a stale session made fresh again):
    # a Tessera re-authentication — a new token with no grace (ASVS 5.0 7.2.4), the time
    # recorded for require_recent, the device binding kept. A level/amr the app gave with
    # tessera.flask.reauthenticate() in the same request stands.
    session = _tessera_session()
    user = dict.get(session, "_user_id") if session is not None else None
    if session is None or user is None:
        return
    if session.user == str(user) and session._auth is None:
        if session._reauth is None:
            session._reauth = (None, None)
    else:
        session._sign_in(str(user))


def _on_session_protected(sender: object, **_: object) -> None:
    # Flask-Login's "strong" protection found the session used from another client and dropped
    # its user: the server-side session ends too (with "basic" the user stays, marked not fresh).
    session = _tessera_session()
    if session is not None and "_user_id" not in session and session.user is not None:
        session._sign_out()


def _connect_flask_login() -> None:
    """Route Flask-Login's logins and logouts through Tessera's."""
    global _connected
    if _connected:
        return
    try:
        from flask_login import signals
    except ImportError:
        return
    signals.user_logged_in.connect(_on_login)
    signals.user_loaded_from_cookie.connect(_on_login)
    signals.user_logged_out.connect(_on_logout)
    signals.session_protected.connect(_on_session_protected)
    signals.user_login_confirmed.connect(_on_login_confirmed)
    _connected = True


# -- device-bound sessions (DBSC) and step-up -------------------------------------------------


def _send(answer: DbscResponse) -> WerkzeugResponse:
    """A DBSC endpoint's whole response, sent as the core made it."""
    response = current_app.response_class(answer.body, status=answer.status)
    response.headers.clear()  # no default Content-Type: the core's, if any
    for name, value in answer.headers():
        response.headers.add(name, value)
    return response


def _dbsc_call(which: str) -> WerkzeugResponse:
    environ = request.environ
    mgr = manager()
    kwargs: dict[str, Any] = {
        "method": request.method,
        "https": request.is_secure,
        # scheme://host[:port] as Flask resolves it (ProxyFix included); dbsc_origin wins.
        "origin": request.host_url.rstrip("/"),
        "proof": environ.get("HTTP_SECURE_SESSION_RESPONSE"),
    }
    try:
        if which == "register":
            answer = mgr.dbsc_register(environ.get("HTTP_COOKIE"), **kwargs)
        else:
            answer = mgr.dbsc_refresh(
                environ.get("HTTP_COOKIE"),
                session_id=environ.get("HTTP_SEC_SECURE_SESSION_ID"),
                **kwargs,
            )
    except StoreUnavailable as e:
        # Chrome keeps its DBSC session on a 5xx and tries again later.
        current_app.logger.error("tessera: DBSC endpoint without a store: %s", e)
        response = current_app.response_class("", status=503)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _send(answer)


def dbsc_blueprint() -> Blueprint:
    """The blueprint of the two DBSC endpoints (``POST /register``, ``POST /refresh``), which
    :meth:`TesseraSessionInterface.init_app` registers at ``dbsc_path_prefix`` when the manager
    has ``dbsc=True``. With Flask-WTF, exempt it after ``init_app``:
    ``csrf.exempt(app.blueprints[DBSC_BLUEPRINT])`` (Chrome sends no CSRF token; the single-use
    challenge is the anti-forgery token)."""
    bp = Blueprint(DBSC_BLUEPRINT, __name__)

    def register() -> WerkzeugResponse:
        return _dbsc_call("register")

    def refresh() -> WerkzeugResponse:
        return _dbsc_call("refresh")

    bp.add_url_rule("/register", "register", register, methods=["POST"])
    bp.add_url_rule("/refresh", "refresh", refresh, methods=["POST"])
    return bp


def _interface() -> TesseraSessionInterface:
    interface = current_app.session_interface
    if not isinstance(interface, TesseraSessionInterface):
        raise RuntimeError("the app's session_interface is not a TesseraSessionInterface")
    return interface


def _wants_json() -> bool:
    """Whether the client asks for JSON first (``Accept: application/json``, as fetch and XHR
    clients send it), not a page."""
    return request.accept_mimetypes.best == "application/json"


def _redirect_with_next(url: str) -> WerkzeugResponse:
    joiner = "&" if "?" in url else "?"
    target = request.full_path if request.query_string else request.path
    return redirect(f"{url}{joiner}{urlencode({'next': target})}")


def _login_url() -> Optional[str]:
    interface = _interface()
    if interface.login_url is not None:
        return interface.login_url
    login_manager = getattr(current_app, "login_manager", None)
    view = getattr(login_manager, "login_view", None)
    if isinstance(view, str):
        from flask import url_for

        return url_for(view)
    return None


def _refuse(error: str, reason: str, url: Optional[str]) -> WerkzeugResponse:
    """401 JSON for an API client, else a redirect to ``url`` (with ``next=``), else 401."""
    if url is not None and not _wants_json():
        return _redirect_with_next(url)
    response = jsonify({"error": error, "reason": reason})
    response.status_code = 401
    response.headers["Cache-Control"] = "no-store"
    return response


def _anonymous() -> WerkzeugResponse:
    """What an anonymous request to a guarded view gets: the login flow."""
    return _refuse("login_required", "anonymous", _login_url())


def require_bound(view: _F) -> _F:
    """Only a session bound to this device (DBSC) and proved by this request passes: an
    anonymous request (a stolen long-lived cookie alone included) gets the login flow, a
    signed-in session that is not bound a 401 ``{"error": "binding_required", "reason":
    "unbound"}`` (JSON clients) or the login page (signing in again offers a binding)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        session = _session()
        if session.user is None:
            return _anonymous()
        if session.binding not in ("fresh", "pending"):
            return _refuse("binding_required", "unbound", _login_url())
        return view(*args, **kwargs)

    return cast(_F, guarded)


def require_recent(
    max_age: Union[int, float, timedelta], level: int = 1
) -> Callable[[_F], _F]:
    """Only a user who authenticated less than ``max_age`` ago, at ``level`` or above, passes
    (ASVS 5.0 7.5.1/7.5.3: re-authenticate before sensitive changes). Otherwise a page request
    goes to the re-authentication URL (``reauthenticate_url``, else the login URL) with
    ``next=``, and a JSON client gets 401 ``{"error": "reauthentication_required",
    "reason": "stale" | "level"}``; an anonymous request gets the login flow."""

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            verdict = _session().require_recent(max_age, level)
            if verdict == "allowed":
                return view(*args, **kwargs)
            if verdict == "anonymous":
                return _anonymous()
            url = _interface().reauthenticate_url or _login_url()
            return _refuse("reauthentication_required", verdict, url)

        return cast(_F, guarded)

    return decorate
