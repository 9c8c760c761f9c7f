"""The device-binding (DBSC) and step-up test app on Flask, Flask-Login and tessera.flask,
written the way an app uses them (tests/dbsc_cases.py drives it over real HTTP)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import flask_login
from flask import Flask, jsonify, request, session
from tessera import SessionManager
from tessera.flask import (
    TesseraSession,
    TesseraSessionInterface,
    login_user,
    require_bound,
    require_recent,
)
from werkzeug.middleware.proxy_fix import ProxyFix


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def _current() -> TesseraSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(current, TesseraSession)
    return current


def _level(form: Any) -> Optional[int]:
    value = form.get("level")
    return int(value) if value else None


def _amr(form: Any) -> Optional[list[str]]:
    value = form.get("amr")
    return value.split(",") if value else None


def create_app(manager: SessionManager, hold: Callable[[], None] = lambda: None) -> Flask:
    """The app; ``/write-held`` calls ``hold()`` after writing, before the session is saved."""
    app = Flask(__name__)
    app.secret_key = "dbsc-tests"  # Flask-Login's remember cookie only; the session is Tessera's
    TesseraSessionInterface(manager, reauthenticate_url="/reauth").init_app(app)
    login_manager = flask_login.LoginManager(app)
    login_manager.login_view = "login_page"
    # The tests speak HTTPS through a proxy that says so (X-Forwarded-Proto).
    app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1)  # type: ignore[method-assign]

    @login_manager.user_loader
    def load_user(user_id: str) -> User:
        return User(user_id)

    @app.get("/login")
    def login_page() -> str:
        return "sign in"

    @app.post("/login")
    def do_login() -> Any:
        user = request.form["user"]
        login_user(User(user), level=_level(request.form), amr=_amr(request.form))
        return jsonify(user=user)

    @app.post("/logout")
    def do_logout() -> Any:
        flask_login.logout_user()
        return jsonify(ok=True)

    @app.get("/account")
    def account() -> Any:
        s = _current()
        return jsonify(
            user=s.user,
            binding=s.binding,
            reason=s.reason,
            level=s.auth_level,
            amr=s.amr,
            authenticated_at=s.authenticated_at,
        )

    @app.get("/private")
    @flask_login.login_required
    def private() -> Any:
        return jsonify(user=flask_login.current_user.get_id())

    @app.get("/bound")
    @require_bound
    def bound() -> Any:
        return jsonify(user=_current().user)

    @app.get("/sensitive")
    @require_recent(max_age=300)
    def sensitive() -> Any:
        return jsonify(user=_current().user)

    @app.get("/sensitive-mfa")
    @require_recent(max_age=300, level=2)
    def sensitive_mfa() -> Any:
        return jsonify(user=_current().user)

    @app.get("/reauth")
    def reauth_page() -> str:
        return "confirm your password"

    @app.post("/reauth")
    def reauth() -> Any:
        _current().reauthenticate(level=_level(request.form), amr=_amr(request.form))
        return jsonify(ok=True)

    @app.post("/confirm")
    def confirm() -> Any:
        flask_login.confirm_login()  # after the app checked the password again
        return jsonify(ok=True)

    @app.post("/offer")
    def offer() -> Any:
        return jsonify(offered=_current().offer_binding())

    @app.post("/write")
    def write() -> Any:
        session["k"] = request.form["v"]
        return jsonify(ok=True)

    @app.post("/write-held")
    def write_held() -> Any:
        session["k"] = request.form["v"]
        hold()
        return jsonify(ok=True)

    @app.get("/read")
    def read() -> Any:
        return jsonify(k=session.get("k"))

    return app
