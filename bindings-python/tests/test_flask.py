"""tessera.flask driven through real Flask apps and Flask's test client."""

from __future__ import annotations

from typing import Any, Optional

import flask_login
import pytest
from flask import Flask, jsonify, request, session
from flask.testing import FlaskClient
from tessera import ManualClock, SessionManager
from tessera.flask import (
    TesseraSession,
    TesseraSessionInterface,
    csrf_protect,
    csrf_token,
    login,
    logout,
)
from werkzeug.wrappers import Response

COOKIE = "sid"


def make_manager(clock: ManualClock, **options: Any) -> SessionManager:
    base: dict[str, Any] = {
        "cookie_name": COOKIE,
        "cookie_secure": False,  # the test client speaks plain HTTP
        "idle_timeout": 600,
        "absolute_timeout": 3600,
        "rotation_interval": 300,
        "rotation_grace": 10,
    }
    base.update(options)
    return SessionManager(clock=clock, sweep_interval=None, **base)


def make_app(manager: SessionManager, *, protect: bool = False) -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = True
    TesseraSessionInterface(manager).init_app(app)
    if protect:
        csrf_protect(app)

    @app.get("/")
    def home() -> Response:
        s = session
        assert isinstance(s, TesseraSession)
        return jsonify(user=s.user, data=dict(s), id=s.session_id)

    @app.post("/set/<key>/<value>")
    def set_key(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.post("/login/<user>")
    def do_login(user: str) -> str:
        login(user)
        return "signed in"

    @app.post("/logout")
    def do_logout() -> str:
        logout()
        return "signed out"

    @app.get("/private")
    def private() -> tuple[str, int]:
        s = session
        assert isinstance(s, TesseraSession)
        return (f"hello {s.user}", 200) if s.user else ("sign in first", 401)

    @app.get("/csrf")
    def token() -> str:
        return csrf_token()

    @app.post("/transfer")
    def transfer() -> str:
        return "transferred"

    return app


@pytest.fixture
def app_manager(clock: ManualClock) -> SessionManager:
    return make_manager(clock)


@pytest.fixture
def client(app_manager: SessionManager) -> FlaskClient:
    return make_app(app_manager).test_client()


def cookie(client: FlaskClient) -> Optional[str]:
    c = client.get_cookie(COOKIE)
    return c.value if c is not None else None


def test_login_protected_logout(client: FlaskClient, app_manager: SessionManager) -> None:
    assert client.get("/private").status_code == 401
    client.post("/set/cart/book")
    anonymous = cookie(client)
    assert anonymous is not None
    assert client.post("/login/alice").status_code == 200
    signed_in = cookie(client)
    assert signed_in is not None and signed_in != anonymous, "the key changes at login"
    assert client.get("/private").get_data(as_text=True) == "hello alice"
    assert client.get("/").get_json()["data"] == {"cart": "book"}, "data survives login"

    # The pre-login key is dead at once.
    client.set_cookie(COOKIE, anonymous)
    assert client.get("/private").status_code == 401
    client.set_cookie(COOKIE, signed_in)

    response = client.post("/logout")
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert response.headers["Cache-Control"] == "no-store"
    assert cookie(client) is None
    assert app_manager.store_len() == 0, "logout destroyed the server-side session"
    client.set_cookie(COOKIE, signed_in)
    response = client.get("/private")
    assert response.status_code == 401, "the old key is rejected after logout"
    assert "Max-Age=0" in response.headers["Set-Cookie"], "a dead cookie is cleared"


def test_cookie_attributes_and_no_store(client: FlaskClient) -> None:
    response = client.post("/login/alice")
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in set_cookie
    assert "Max-Age" not in set_cookie and "Expires" not in set_cookie
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]


def test_secure_defaults_over_https(clock: ManualClock) -> None:
    manager = SessionManager(clock=clock, sweep_interval=None)
    client = make_app(manager).test_client()
    response = client.post("/login/alice", base_url="https://localhost")
    assert response.headers["Set-Cookie"].startswith("__Host-session=")
    assert "Secure" in response.headers["Set-Cookie"]
    page = client.get("/private", base_url="https://localhost")
    assert page.get_data(as_text=True) == "hello alice"
    assert manager.list_user("alice")[0].secure


def test_anonymous_visitors_store_nothing_until_they_write(
    client: FlaskClient, app_manager: SessionManager
) -> None:
    response = client.get("/")
    assert "Set-Cookie" not in response.headers
    assert app_manager.store_len() == 0
    client.post("/set/theme/dark")
    assert app_manager.store_len() == 1
    assert client.get("/").get_json()["data"] == {"theme": "dark"}


def test_idle_and_absolute_expiry(client: FlaskClient, clock: ManualClock) -> None:
    client.post("/login/alice")
    clock.advance(599)
    assert client.get("/private").status_code == 200
    clock.advance(600)
    assert client.get("/private").status_code == 401, "idle for the whole idle timeout"

    client.post("/login/bob")
    for _ in range(12):
        clock.advance(299)
        assert client.get("/private").status_code == 200
    clock.advance(299)
    assert client.get("/private").status_code == 401, "absolute timeout, however active"


def test_rotation_sends_a_new_cookie_and_keeps_a_grace(
    client: FlaskClient, clock: ManualClock
) -> None:
    client.post("/login/alice")
    old = cookie(client)
    clock.advance(301)
    response = client.get("/private")
    assert response.status_code == 200
    new = cookie(client)
    assert new is not None and new != old
    assert response.headers["Cache-Control"] == "no-store"
    assert old is not None
    client.set_cookie(COOKIE, old)
    assert client.get("/private").status_code == 200, "in-flight requests survive the grace"
    clock.advance(11)
    client.set_cookie(COOKIE, old)
    assert client.get("/private").status_code == 401


def test_revoke_user_signs_out_every_device(
    app_manager: SessionManager, clock: ManualClock
) -> None:
    app = make_app(app_manager)
    phone, laptop = app.test_client(), app.test_client()
    phone.post("/login/alice")
    laptop.post("/login/alice")
    assert len(app_manager.list_user("alice")) == 2
    assert app_manager.revoke_user("alice") == 2
    assert phone.get("/private").status_code == 401
    assert laptop.get("/private").status_code == 401


def test_concurrent_requests_keep_each_others_keys(app_manager: SessionManager) -> None:
    app = make_app(app_manager)
    client = app.test_client()
    client.post("/set/base/1")
    header = f"{COOKIE}={cookie(client)}"
    interface = app.session_interface
    # Two requests load the same session, each changes its own key, then both save.
    with app.test_request_context("/", headers={"Cookie": header}):
        first = interface.open_session(app, request)
    with app.test_request_context("/", headers={"Cookie": header}):
        second = interface.open_session(app, request)
    assert isinstance(first, TesseraSession) and isinstance(second, TesseraSession)
    first["a"] = 1
    second["b"] = 2
    del second["base"]
    with app.test_request_context("/"):
        interface.save_session(app, first, Response())
        interface.save_session(app, second, Response())
    assert client.get("/").get_json()["data"] == {"a": 1, "b": 2}


def test_a_write_after_logout_elsewhere_does_not_resurrect(
    app_manager: SessionManager,
) -> None:
    app = make_app(app_manager)
    client = app.test_client()
    client.post("/login/alice")
    token = cookie(client)
    assert token is not None
    with app.test_request_context("/", headers={"Cookie": f"{COOKIE}={token}"}):
        loaded = app.session_interface.open_session(app, request)
        assert isinstance(loaded, TesseraSession)
        app_manager.logout(token)  # another request signs out meanwhile
        loaded["late"] = True
        response = Response()
        app.session_interface.save_session(app, loaded, response)
    assert app_manager.store_len() == 0
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_two_session_cookies_make_the_request_anonymous(client: FlaskClient) -> None:
    client.post("/login/alice")
    token = cookie(client)
    assert client.get("/private").status_code == 200
    raw = client.application.test_client(use_cookies=False)
    response = raw.get(
        "/private", headers={"Cookie": f"{COOKIE}={token}; {COOKIE}=planted-by-a-subdomain"}
    )
    assert response.status_code == 401
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_values_that_are_not_json_fail_clearly(client: FlaskClient) -> None:
    app = client.application

    @app.post("/bad")
    def bad() -> str:
        session["when"] = object()
        return "never saved"

    with pytest.raises(TypeError, match="not JSON serializable"):
        client.post("/bad")


def test_csrf_protection(app_manager: SessionManager) -> None:
    client = make_app(app_manager, protect=True).test_client()
    response = client.post("/transfer")
    assert response.status_code == 403
    assert "CSRF" in response.get_data(as_text=True)
    token = client.get("/csrf").get_data(as_text=True)
    assert client.post("/transfer", data={"_csrf": token}).status_code == 200
    assert client.post("/transfer", headers={"X-CSRF-Token": token}).status_code == 200
    assert client.post("/transfer", data={"_csrf": token[:-2] + "AA"}).status_code == 403
    other = make_app(app_manager, protect=True).test_client()
    other.get("/csrf")
    assert other.post("/transfer", data={"_csrf": token}).status_code == 403


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def test_flask_login_login_user_and_logout_user(
    app_manager: SessionManager, clock: ManualClock
) -> None:
    app = make_app(app_manager)
    app.secret_key = "only-for-flask-login-flash-messages"
    login_manager = flask_login.LoginManager(app)

    @login_manager.user_loader
    def load(user_id: str) -> Optional[User]:
        return User(user_id)

    @app.post("/fl/login/<user>")
    def fl_login(user: str) -> str:
        flask_login.login_user(User(user))
        return "ok"

    @app.post("/fl/logout")
    def fl_logout() -> str:
        flask_login.logout_user()
        return "bye"

    @app.get("/fl/private")
    @flask_login.login_required
    def fl_private() -> str:
        return f"hello {flask_login.current_user.id}"

    client = app.test_client()
    client.post("/set/cart/book")
    before = cookie(client)
    client.post("/fl/login/carol")
    after = cookie(client)
    assert after is not None and after != before, "login_user rotates the token"
    assert client.get("/fl/private").get_data(as_text=True) == "hello carol"
    assert [i.id for i in app_manager.list_user("carol")] == [app_manager.id_of(after)]
    assert before is not None
    client.set_cookie(COOKIE, before)
    assert client.get("/fl/private").status_code == 401, "the pre-login token is dead"
    client.set_cookie(COOKIE, after)
    client.post("/fl/logout")
    assert app_manager.list_user("carol") == []
    client.set_cookie(COOKIE, after)
    assert client.get("/fl/private").status_code == 401
