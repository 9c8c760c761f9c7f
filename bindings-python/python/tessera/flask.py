"""Flask integration: a session interface backed by Tessera.

::

    from flask import Flask, session
    from tessera import SessionManager
    from tessera.flask import TesseraSessionInterface, login, logout

    app = Flask(__name__)
    TesseraSessionInterface(SessionManager()).init_app(app)

    @app.post("/login")
    def do_login():
        ...  # check the password
        login(user_id)          # new token, the pre-login one dies at once
        return redirect("/")

    @app.post("/logout")
    def do_logout():
        logout()                # the server-side session is destroyed, the cookie cleared
        return redirect("/")

``session`` behaves like Flask's own (a dict with ``modified``); only changed keys are written
back, so two concurrent requests that set different keys keep both. Idle and absolute timeouts,
rotation and the cookie's attributes come from the :class:`~tessera.SessionManager`, not from
Flask's ``SESSION_COOKIE_*`` or ``PERMANENT_SESSION_LIFETIME`` settings. With Flask-Login,
``login_user`` and ``logout_user`` call :func:`login` and :func:`logout` through its signals.

The token is read from the ``Cookie`` header only. Two cookies with the session's name (cookie
tossing) make the request anonymous and clear the cookie.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from flask import Flask, Request, Response, abort, current_app, request
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from tessera._native import Session, SessionManager, SessionRejected

if TYPE_CHECKING:
    from flask.sansio.app import App

__all__ = [
    "TesseraSession",
    "TesseraSessionInterface",
    "csrf_protect",
    "csrf_token",
    "login",
    "logout",
    "manager",
]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"


class TesseraSession(CallbackDict[str, Any], SessionMixin):
    """The session of one request: a dict of the session's data plus its Tessera state."""

    def __init__(
        self,
        initial: Optional[dict[str, Any]] = None,
        *,
        native: Optional[Session] = None,
        token: Optional[str] = None,
        clear_cookie: bool = False,
    ) -> None:
        def on_update(_: CallbackDict[str, Any]) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial or {}, on_update)
        self.native = native
        #: The token the client holds (or will hold once the response is sent).
        self.token = token
        #: A token the response must send in ``Set-Cookie`` (new session, rotation, login).
        self.send_token: Optional[str] = native.new_token if native is not None else None
        #: Whether the response must clear the cookie (logout, a dead or tossed cookie).
        self.clear_cookie = clear_cookie
        self.original: dict[str, Any] = dict(initial or {})
        self.modified = False
        self.accessed = False
        self.new = native is None

    @property
    def session_id(self) -> Optional[str]:
        """The public id of the server-side session, or None before anything was stored."""
        return self.native.id if self.native is not None else None

    @property
    def user(self) -> Optional[str]:
        """The signed-in user, or None."""
        return self.native.user if self.native is not None else None

    @property
    def expires_at(self) -> Optional[float]:
        """When the session ends if unused (seconds since the epoch)."""
        return self.native.expires_at if self.native is not None else None

    @property
    def absolute_deadline(self) -> Optional[float]:
        """When the session ends however active (seconds since the epoch)."""
        return self.native.absolute_deadline if self.native is not None else None

    def pending(self) -> tuple[dict[str, Any], list[str]]:
        """The changes since the session was loaded: keys to set and keys to remove."""
        sets = {k: v for k, v in self.items() if k not in self.original or self.original[k] != v}
        removed = [k for k in self.original if k not in self]
        return sets, removed

    def adopt(self, native: Session, token: Optional[str]) -> None:
        """Take over a session the manager just created or re-keyed, keeping local changes."""
        sets, removed = self.pending()
        base = native.data
        self.native = native
        self.token = token
        self.send_token = token
        self.clear_cookie = False
        self.original = dict(base)
        dict.clear(self)
        dict.update(self, base)
        for key in removed:
            dict.pop(self, key, None)
        dict.update(self, sets)
        self.modified = bool(sets or removed)
        self.new = False


def _context() -> dict[str, Any]:
    return {"https": request.is_secure, "user_agent": request.user_agent.string or None}


class TesseraSessionInterface(SessionInterface):
    """A Flask ``SessionInterface`` on a :class:`~tessera.SessionManager`."""

    def __init__(self, manager: Optional[SessionManager] = None, **options: Any) -> None:
        self.manager = manager if manager is not None else SessionManager(**options)

    def init_app(self, app: Flask) -> TesseraSessionInterface:
        """Install on ``app`` (and hook Flask-Login's signals when it is installed)."""
        app.session_interface = self
        app.extensions["tessera"] = self
        _connect_flask_login()
        return self

    def open_session(self, app: App, request: Request) -> TesseraSession:
        try:
            token = self.manager.cookie_token(request.headers.get("Cookie", ""))
        except SessionRejected:
            return TesseraSession(clear_cookie=True)
        if token is None:
            return TesseraSession()
        try:
            native = self.manager.validate(
                token, https=request.is_secure, user_agent=request.user_agent.string or None
            )
        except SessionRejected:
            # A cookie that no longer names a session: anonymous, and the browser forgets it.
            return TesseraSession(clear_cookie=True)
        return TesseraSession(native.data, native=native, token=native.new_token or token)

    def save_session(self, app: App, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, TesseraSession):  # pragma: no cover - foreign session object
            return
        if session.accessed:
            response.vary.add("Cookie")
        if session.modified:
            self._write(session)
        if session.send_token is not None:
            response.headers.add("Set-Cookie", self.manager.set_cookie(session.send_token))
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        elif session.clear_cookie:
            response.headers.add("Set-Cookie", self.manager.clear_cookie())
            response.headers["Cache-Control"] = "no-store"

    def _write(self, session: TesseraSession) -> None:
        sets, removed = session.pending()
        if session.native is None:
            if not session:
                return
            native = self.manager.create(data=dict(session), **_context())
            session.adopt(native, native.new_token)
            session.original = dict(session)
            return
        if not sets and not removed:
            return
        try:
            data = self.manager.patch(session.native.id, sets, removed)
        except SessionRejected:
            # Ended while this request ran (logout elsewhere, revocation): never resurrect it.
            session.native = None
            session.send_token = None
            session.clear_cookie = True
            return
        session.original = data


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


def login(user_id: object) -> None:
    """Sign ``user_id`` in: a new token now, the previous one dead at once (no fixation)."""
    session = _session()
    native = manager().login(str(user_id), session.token, **_context())
    session.adopt(native, native.new_token)


def logout() -> None:
    """Destroy the server-side session and clear the cookie."""
    session = _session()
    if session.token is not None:
        manager().logout(session.token)
    dict.clear(session)
    session.original = {}
    session.native = None
    session.token = None
    session.send_token = None
    session.clear_cookie = True
    session.modified = False


def csrf_token() -> str:
    """A masked CSRF token for the current session (creating the session if needed)."""
    session = _session()
    if session.native is None:
        native = manager().create(data=dict(session), **_context())
        session.adopt(native, native.new_token)
        session.original = dict(session)
    assert session.native is not None
    return session.native.csrf_token()


def csrf_protect(app: Flask, exempt: Iterable[str] = ()) -> None:
    """Reject unsafe requests (POST, PUT, PATCH, DELETE) without a valid CSRF token with 403.

    The token comes from the ``_csrf`` form field or the ``X-CSRF-Token`` header; put
    ``csrf_token()`` in every form (the demo registers it as a template global).
    """
    skip = frozenset(exempt)

    def check() -> None:
        if request.method not in UNSAFE_METHODS or request.endpoint in skip:
            return
        candidate = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
        session = _session()
        if session.native is None or not candidate or not session.native.verify_csrf(candidate):
            abort(403, description="CSRF token missing or invalid: reload the page and try again.")

    app.before_request(check)
    app.jinja_env.globals.setdefault("csrf_token", csrf_token)


_connected = False


def _uses_tessera() -> bool:
    return isinstance(current_app.session_interface, TesseraSessionInterface)


def _on_user_logged_in(sender: object, user: Any, **_: object) -> None:
    if _uses_tessera():
        login(user.get_id())


def _on_user_logged_out(sender: object, user: Any = None, **_: object) -> None:
    if _uses_tessera():
        logout()


def _connect_flask_login() -> None:
    """Route Flask-Login's login_user/logout_user through Tessera's login/logout."""
    global _connected
    if _connected:
        return
    try:
        from flask_login import signals  # type: ignore[import-untyped]
    except ImportError:
        return
    signals.user_logged_in.connect(_on_user_logged_in)
    signals.user_logged_out.connect(_on_user_logged_out)
    _connected = True
