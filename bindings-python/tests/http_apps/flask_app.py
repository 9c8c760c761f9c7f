"""The HTTP corpus's reference app (tests/http/README.md) on Flask, Flask-Login and
tessera.flask, written the way an app uses them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional

import flask_login
from flask import (
    Flask,
    Response,
    flash,
    get_flashed_messages,
    jsonify,
    request,
    session,
    stream_with_context,
)
from tessera import SessionManager
from tessera.flask import (
    TesseraSessionInterface,
    check_csrf,
    csrf_token,
    regenerate,
    set_expiry,
)


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_app(manager: SessionManager, after_action: Optional[Callable[[], None]] = None) -> Flask:
    """The reference app; ``after_action`` runs in every view once its action is done (the
    corpus runner holds requests there)."""
    app = Flask(__name__)
    # Only Flask-Login's remember cookie is signed with it; the session is Tessera's.
    app.secret_key = "reference-app"
    TesseraSessionInterface(manager).init_app(app)
    login_manager = flask_login.LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> User:
        return User(user_id)

    def acted() -> None:
        if after_action is not None:
            after_action()

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    def view() -> Response:
        acted()
        user = flask_login.current_user
        visible = {k: v for k, v in session.items() if not k.startswith("_")}
        return jsonify(user=user.get_id() if user.is_authenticated else None, data=visible)

    def sign_in_or_out(what: dict[str, Any]) -> None:
        if "login" in what:
            flask_login.login_user(User(what["login"]))
        elif what.get("logout"):
            flask_login.logout_user()
        elif "key" in what:
            session[what["key"]] = what.get("value")

    @app.get("/read")
    def read() -> Response:
        return view()

    @app.post("/set")
    def set_() -> Response:
        session[body()["key"]] = body().get("value")
        return view()

    @app.post("/delete")
    def delete() -> Response:
        session.pop(body()["key"], None)
        return view()

    @app.post("/append")
    def append() -> Response:
        key, value = body()["key"], body().get("value")
        current = session.get(key)
        if isinstance(current, list):
            current.append(value)
            session.modified = True
        else:
            session[key] = [value]
        return view()

    @app.post("/flash")
    def flash_() -> Response:
        flash(body()["message"], body()["category"])
        return view()

    @app.get("/flashes")
    def flashes() -> Response:
        shown = get_flashed_messages(with_categories=True)
        acted()
        return jsonify(flashes=[list(item) for item in shown])

    @app.post("/login")
    def login() -> Response:
        flask_login.login_user(User(body()["user"]))
        return view()

    @app.post("/logout")
    def logout() -> Response:
        flask_login.logout_user()
        if "key" in body():
            session[body()["key"]] = body().get("value")
        return view()

    @app.post("/regenerate")
    def regenerate_() -> Response:
        regenerate()
        return view()

    @app.post("/expiry")
    def expiry() -> Response:
        what = body()
        if "permanent" in what:
            session.permanent = bool(what["permanent"])
        else:
            set_expiry(what.get("seconds"))
        return view()

    @app.get("/csrf")
    def csrf() -> Response:
        token = csrf_token()
        acted()
        return jsonify(csrf=token)

    @app.route(
        "/protected",
        methods=["GET", "HEAD", "OPTIONS", "TRACE", "POST", "PUT", "PATCH", "DELETE", "PURGE"],
    )
    def protected() -> Response:
        check_csrf()
        acted()
        return jsonify(ok=True)

    @app.post("/error")
    def error() -> tuple[Response, int]:
        sign_in_or_out(body())
        acted()
        return jsonify(ok=False), 500

    @app.post("/early")
    def early() -> Response:
        sign_in_or_out(body())
        acted()

        def one_chunk() -> Iterator[str]:
            yield '{"ok": true}'

        # Flask sends the status line and headers before the body: the session is saved then.
        return Response(stream_with_context(one_chunk()), mimetype="application/json")

    @app.post("/stream")
    def stream() -> Response:
        sign_in_or_out(body())
        acted()

        def chunks() -> Iterator[str]:
            yield '{"ok"'
            yield ": "
            yield "true}"

        return Response(stream_with_context(chunks()), mimetype="application/json")

    return app
