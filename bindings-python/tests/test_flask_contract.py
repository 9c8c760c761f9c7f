"""Flask's and Flask-Login's documented session contract, through Flask's real request cycle
(issue 10's Flask list): each test fails on the interface that came before the request
protocol."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import flask_login
import pytest
from flask import (
    Flask,
    flash,
    get_flashed_messages,
    jsonify,
    request,
    session,
    stream_with_context,
)
from flask.testing import FlaskClient
from markupsafe import Markup
from tessera import ManualClock, SessionManager
from tessera.flask import (
    TesseraSession,
    TesseraSessionInterface,
    csrf_protect,
    csrf_token,
    set_expiry,
)
from werkzeug.wrappers import Response

COOKIE = "sid"
REMEMBER = "remember_token"


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def make_app(manager: SessionManager, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"TESTING": True, "SECRET_KEY": "only-for-the-remember-cookie", **config})
    TesseraSessionInterface(manager).init_app(app)
    login_manager = flask_login.LoginManager(app)

    @login_manager.user_loader
    def load(user_id: str) -> User:
        return User(user_id)

    @app.get("/whoami")
    def whoami() -> Response:
        user = flask_login.current_user
        s = session
        assert isinstance(s, TesseraSession)
        return jsonify(
            user=user.get_id() if user.is_authenticated else None,
            tessera_user=s.user,
            data={k: v for k, v in s.items() if not k.startswith("_")},
        )

    @app.post("/login/<user>")
    def login(user: str) -> str:
        flask_login.login_user(User(user), remember=request.args.get("remember") == "1")
        return "ok"

    @app.post("/logout")
    def logout() -> str:
        flask_login.logout_user()
        return "bye"

    @app.get("/private")
    @flask_login.login_required
    def private() -> str:
        return f"hello {flask_login.current_user.get_id()}"

    return app


@pytest.fixture
def m(clock: ManualClock) -> SessionManager:
    return SessionManager(clock=clock, sweep_interval=None, cookie_name=COOKIE, cookie_secure=False)


@pytest.fixture
def app(m: SessionManager) -> Flask:
    return make_app(m)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def cookie(client: FlaskClient, name: str = COOKIE) -> Optional[str]:
    c = client.get_cookie(name)
    return c.value if c is not None else None


def session_set_cookie(response: Any) -> Optional[str]:
    lines = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{COOKIE}=")]
    assert len(lines) <= 1
    return lines[0] if lines else None


# -- data: what Flask's session contract promises ---------------------------------------------


def test_in_place_mutation_with_modified_is_saved(app: Flask, client: FlaskClient) -> None:
    @app.post("/cart/<item>")
    def add(item: str) -> str:
        session.setdefault("cart", [])
        session["cart"].append(item)
        session.modified = True
        return "ok"

    client.post("/cart/book")
    client.post("/cart/pen")
    assert client.get("/whoami").get_json()["data"] == {"cart": ["book", "pen"]}


def test_two_flashes_in_two_requests_are_both_shown_once(app: Flask, client: FlaskClient) -> None:
    @app.post("/flash/<category>/<message>")
    def do_flash(category: str, message: str) -> str:
        flash(message, category)
        return "ok"

    @app.get("/flashes")
    def flashes() -> Response:
        shown = get_flashed_messages(with_categories=True)
        return jsonify(shown=[[c, m] for c, m in shown], types=[type(x).__name__ for x in shown])

    client.post("/flash/info/Saved")
    client.post("/flash/warning/Full")
    shown = client.get("/flashes").get_json()
    assert shown == {"shown": [["info", "Saved"], ["warning", "Full"]], "types": ["tuple"] * 2}
    assert client.get("/flashes").get_json()["shown"] == []


def test_one_to_true_and_zero_to_false_are_saved(app: Flask, client: FlaskClient) -> None:
    @app.post("/flags/<int:n>")
    def flags(n: int) -> str:
        if n == 1:
            session["on"], session["off"] = 1, 0
        else:
            session["on"], session["off"] = True, False
        return "ok"

    @app.get("/flags")
    def read() -> Response:
        return jsonify(on=repr(session["on"]), off=repr(session["off"]))

    client.post("/flags/1")
    assert client.get("/flags").get_json() == {"on": "1", "off": "0"}
    client.post("/flags/2")
    assert client.get("/flags").get_json() == {"on": "True", "off": "False"}


def test_tagged_values_round_trip(app: Flask, client: FlaskClient) -> None:
    when = datetime(2026, 12, 6, 1, 2, 3, tzinfo=timezone.utc)
    ident = uuid.uuid4()
    values: dict[str, Any] = {
        "pair": ("a", 1),
        "html": Markup("<b>bold</b>"),
        "raw": b"\x00\xff",
        "id": ident,
        "when": when,
        "nested": {"t": [("x",)], " t": "a key that looks like a tag"},
    }

    @app.post("/store")
    def store() -> str:
        for key, value in values.items():
            session[key] = value
        return "ok"

    @app.get("/check")
    def check() -> Response:
        same = {key: session[key] == value for key, value in values.items()}
        types = {key: type(session[key]).__name__ for key in values}
        return jsonify(same=same, types=types)

    client.post("/store")
    result = client.get("/check").get_json()
    assert all(result["same"].values()), result
    assert result["types"] == {
        "pair": "tuple",
        "html": "Markup",
        "raw": "bytes",
        "id": "UUID",
        "when": "datetime",
        "nested": "dict",
    }


def test_a_value_the_serializer_cannot_store_fails_where_it_is_assigned(
    app: Flask, client: FlaskClient
) -> None:
    @app.post("/mixed")
    def mixed() -> str:
        session["kept"] = "yes"
        try:
            session["bad"] = object()
        except TypeError as e:
            assert "'bad'" in str(e), "the error names the key"
            return "refused"
        return "stored?"

    @app.post("/update")
    def update() -> str:
        session.update({"fine": 1, "worse": {1, 2}})
        return "stored?"

    assert client.post("/mixed").get_data(as_text=True) == "refused"
    assert client.get("/whoami").get_json()["data"] == {"kept": "yes"}, "other changes saved"
    with pytest.raises(TypeError, match="'worse'"):
        client.post("/update")


def test_a_value_spoiled_in_place_fails_before_the_response_naming_the_key(
    m: SessionManager, clock: ManualClock
) -> None:
    app = make_app(m, TESTING=False)

    @app.post("/spoil")
    def spoil() -> str:
        session["box"] = []
        return "ok"

    @app.post("/spoil-again")
    def spoil_again() -> str:
        session["other"] = 1
        session["box"].append(object())
        session.modified = True
        return "ok"

    client = app.test_client()
    client.post("/spoil")
    before = cookie(client)
    clock.advance(16 * 60)  # the next request rotates the token
    errors: list[BaseException] = []
    from flask import got_request_exception

    def record(sender: object, exception: BaseException, **_: object) -> None:
        errors.append(exception)

    got_request_exception.connect(record, app)
    response = client.post("/spoil-again")
    assert response.status_code == 500
    assert errors and "box" in str(errors[0]) and isinstance(errors[0], TypeError)
    rotated = session_set_cookie(response)
    assert rotated is not None and before not in rotated, "the rotated token is still sent"
    assert client.get("/whoami").get_json()["data"] == {"box": []}, "nothing half-saved"


# -- permanent sessions ---------------------------------------------------------------------------


def test_permanent_decides_between_a_browser_session_cookie_and_max_age(
    m: SessionManager, clock: ManualClock
) -> None:
    app = make_app(m, PERMANENT_SESSION_LIFETIME=timedelta(hours=1))

    @app.post("/permanent/<int:on>")
    def permanent(on: int) -> str:
        session["k"] = "v"
        session.permanent = bool(on)
        return "ok"

    client = app.test_client()
    first = session_set_cookie(client.post("/permanent/0"))
    assert first is not None and "Max-Age" not in first and "Expires" not in first
    made = session_set_cookie(client.post("/permanent/1"))
    assert made is not None and "Max-Age=3600" in made, "permanent: the app's lifetime"
    assert session_set_cookie(client.post("/permanent/1")) is None, "unchanged: not re-sent"
    clock.advance(16 * 60)
    rotated = session_set_cookie(client.get("/whoami"))
    assert rotated is not None and "Max-Age=3600" in rotated, "a rotated cookie stays permanent"
    back = session_set_cookie(client.post("/permanent/0"))
    assert back is not None and "Max-Age" not in back, "not permanent: a browser-session cookie"


def test_permanent_lifetime_is_capped_by_the_absolute_timeout(
    m: SessionManager, clock: ManualClock
) -> None:
    app = make_app(m, PERMANENT_SESSION_LIFETIME=timedelta(days=31))

    @app.post("/remember-me")
    def remember() -> str:
        session.permanent = True
        return "ok"

    client = app.test_client()
    client.post("/login/alice")
    for _ in range(3):
        clock.advance(20 * 60)  # active: well inside the idle timeout
        assert client.get("/private").status_code == 200
    line = session_set_cookie(client.post("/remember-me"))
    assert line is not None and "Max-Age=39600" in line, "12 h absolute, one hour used"


def test_set_expiry_shortens_the_session(
    app: Flask, client: FlaskClient, clock: ManualClock
) -> None:
    @app.post("/short")
    def short() -> str:
        set_expiry(60)
        return "ok"

    client.post("/login/alice")
    line = session_set_cookie(client.post("/short"))
    assert line is not None and "Max-Age" in line
    clock.advance(61)
    assert client.get("/private").status_code == 401


# -- Flask-Login ----------------------------------------------------------------------------------


def test_login_user_is_a_tessera_login(client: FlaskClient, m: SessionManager) -> None:
    client.post("/login/carol")
    token = cookie(client)
    assert token is not None
    assert client.get("/whoami").get_json()["tessera_user"] == "carol"
    assert [i.id for i in m.list_user("carol")] == [m.id_of(token)]
    assert m.revoke_user("carol") == 1
    assert client.get("/private").status_code == 401


def test_login_again_as_the_same_user_gives_a_new_token(client: FlaskClient) -> None:
    client.post("/login/carol")
    first = cookie(client)
    client.post("/login/carol")
    second = cookie(client)
    assert first is not None and second is not None and first != second
    client.set_cookie(COOKIE, first)
    assert client.get("/private").status_code == 401, "the first token died at the re-login"
    client.set_cookie(COOKIE, second)
    assert client.get("/private").get_data(as_text=True) == "hello carol"


def test_confirm_login_is_a_re_authentication(app: Flask, client: FlaskClient) -> None:
    @app.post("/reauth")
    def reauth() -> str:
        flask_login.confirm_login()  # after the app checked the password again
        return "fresh"

    client.post("/login/kim")
    before = cookie(client)
    client.post("/reauth")
    after = cookie(client)
    assert after is not None and after != before, "a new token at re-authentication"
    assert client.get("/whoami").get_json()["tessera_user"] == "kim"
    client.set_cookie(COOKIE, before or "")
    assert client.get("/private").status_code == 401


def test_remember_cookie_login_is_a_tessera_login(client: FlaskClient, m: SessionManager) -> None:
    client.post("/login/dave?remember=1")
    assert cookie(client, REMEMBER) is not None
    browser_closed = cookie(client)
    client.delete_cookie(COOKIE)  # the browser session ended; the remember cookie stays
    response = client.get("/private")
    assert response.get_data(as_text=True) == "hello dave"
    fresh = cookie(client)
    assert fresh is not None and fresh != browser_closed, "a new Tessera session, a new token"
    assert client.get("/whoami").get_json()["tessera_user"] == "dave"
    assert m.id_of(fresh) in {i.id for i in m.list_user("dave")}
    assert m.revoke_user("dave") == 2, "revoke_user sees the remember-cookie session"


def test_logout_user_signs_out_and_clears_the_remember_cookie(
    client: FlaskClient, m: SessionManager
) -> None:
    client.post("/login/erin?remember=1")
    token = cookie(client)
    assert token is not None and cookie(client, REMEMBER) is not None
    response = client.post("/logout")
    cleared = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER)]
    assert cleared and "Expires=Thu, 01 Jan 1970" in cleared[0], "remember cookie cleared"
    assert cookie(client, REMEMBER) is None and cookie(client) is None
    assert m.list_user("erin") == [], "the server-side session ended"
    assert client.get("/private").status_code == 401, "the next request is anonymous"
    assert client.get("/whoami").get_json()["user"] is None
    client.set_cookie(COOKIE, token)
    assert client.get("/private").status_code == 401, "the old token is dead"


def test_a_flash_after_logout_survives_in_a_new_anonymous_session(
    app: Flask, client: FlaskClient, m: SessionManager
) -> None:
    @app.post("/logout-notice")
    def logout_notice() -> str:
        session["cart"] = ["kept?"]
        flask_login.logout_user()
        flash("You are signed out.")
        return "bye"

    @app.get("/flashes")
    def flashes() -> Response:
        return jsonify(get_flashed_messages())

    client.post("/login/frank")
    client.post("/logout-notice")
    assert m.list_user("frank") == []
    assert client.get("/flashes").get_json() == ["You are signed out."]
    assert client.get("/whoami").get_json() == {
        "user": None,
        "tessera_user": None,
        "data": {"cart": ["kept?"]},
    }, "what the request wrote survives the logout, nothing else"


# -- CSRF, errors, streaming ----------------------------------------------------------------------


def test_csrf_protect_uses_the_core_verdict(m: SessionManager) -> None:
    app = make_app(m)
    csrf_protect(app)

    @app.route("/act", methods=["GET", "POST", "PATCH", "PURGE"])
    def act() -> str:
        return "done"

    @app.get("/token")
    def token() -> str:
        return csrf_token()

    client = app.test_client()
    assert client.get("/act").status_code == 200
    for method in ("POST", "PATCH", "PURGE"):
        assert client.open("/act", method=method).status_code == 403, method
    t = client.get("/token").get_data(as_text=True)
    assert client.open("/act", method="PURGE", headers={"X-CSRF-Token": t}).status_code == 200
    assert client.post("/act", data={"_csrf": t}).status_code == 200
    assert client.post("/act", data={"_csrf": "forged"}).status_code == 403


def test_an_error_response_saves_nothing_but_delivers_a_rotation(
    m: SessionManager, clock: ManualClock
) -> None:
    app = make_app(m, TESTING=False)

    @app.post("/set/<value>")
    def set_value(value: str) -> str:
        session["k"] = value
        return "ok"

    @app.post("/fail/<value>")
    def fail(value: str) -> tuple[str, int]:
        session["k"] = value
        flask_login.login_user(User("mallory"))
        return "failed", 500

    client = app.test_client()
    client.post("/set/before")
    old = cookie(client)
    clock.advance(16 * 60)
    response = client.post("/fail/after")
    assert response.status_code == 500
    assert cookie(client) != old, "the token rotated by begin is still sent"
    assert client.get("/whoami").get_json() == {
        "user": None,
        "tessera_user": None,
        "data": {"k": "before"},
    }
    assert m.list_user("mallory") == []


def test_a_streamed_response_saves_what_the_view_did_before_it(
    app: Flask, client: FlaskClient, m: SessionManager
) -> None:
    @app.post("/stream/<user>")
    def stream(user: str) -> Response:
        session["k"] = "written before streaming"
        flask_login.login_user(User(user))

        def body() -> Iterator[str]:
            yield "one "
            yield f"two {session['k']}"

        return Response(stream_with_context(body()))

    response = client.post("/stream/gina")
    assert response.get_data(as_text=True) == "one two written before streaming"
    assert session_set_cookie(response) is not None
    assert client.get("/whoami").get_json() == {
        "user": "gina",
        "tessera_user": "gina",
        "data": {"k": "written before streaming"},
    }
    assert len(m.list_user("gina")) == 1


def test_an_unreachable_store_fails_closed_with_503(clock: ManualClock) -> None:
    from .redis_server import RedisServer

    server = RedisServer()
    try:
        m = SessionManager(
            clock=clock,
            sweep_interval=None,
            cookie_name=COOKIE,
            cookie_secure=False,
            store=server.url("flask-down"),
        )
        app = make_app(m)
        seen: list[Optional[str]] = []

        @app.before_request
        def app_hook() -> None:
            seen.append(request.path)

        client = app.test_client()
        client.post("/login/hank")
        assert client.get("/private").status_code == 200
        server.kill()
        response = client.get("/private")
        assert response.status_code == 503
        assert session_set_cookie(response) is None, "the cookie is left alone"
        assert seen == ["/login/hank", "/private"], "no hook of the app's ran on the 503"
    finally:
        server.stop()


def test_a_user_id_tessera_refuses_fails_the_response_not_the_session(
    m: SessionManager, clock: ManualClock
) -> None:
    app = make_app(m, TESTING=False)
    client = app.test_client()
    client.post("/login/ivan")
    before = cookie(client)
    clock.advance(16 * 60)  # the next request rotates the token
    response = client.post("/login/" + "x" * 5000)
    assert response.status_code == 500
    assert cookie(client) not in (None, before), "the rotated token still reaches the client"
    assert client.get("/whoami").get_json()["tessera_user"] == "ivan"


def test_strong_session_protection_ends_the_tessera_session(m: SessionManager) -> None:
    app = make_app(m, SESSION_PROTECTION="strong")
    client = app.test_client()
    client.post("/login/judy", headers={"User-Agent": "laptop"})
    token = cookie(client)
    assert client.get("/private", headers={"User-Agent": "laptop"}).status_code == 200
    response = client.get("/private", headers={"User-Agent": "somewhere else"})
    assert response.status_code == 401
    line = session_set_cookie(response)
    assert line is not None and "Max-Age=0" in line, "the session cookie is cleared"
    assert m.list_user("judy") == [], "the server-side session ended"
    client.set_cookie(COOKIE, token or "")
    assert client.get("/private", headers={"User-Agent": "laptop"}).status_code == 401


def test_a_full_store_answers_503_to_a_new_visitor_and_signs_nobody_out(clock: ManualClock) -> None:
    m = SessionManager(
        clock=clock, sweep_interval=None, cookie_name=COOKIE, cookie_secure=False, max_sessions=1
    )
    app = make_app(m, TESTING=False)

    @app.post("/remember")
    def remember() -> str:
        session["seen"] = True
        return "remembered"

    evicted: list[str] = []
    m.add_listener(lambda e: evicted.append(e.kind) if e.kind == "evicted" else None)
    visitor = app.test_client()
    assert visitor.post("/remember").status_code == 200
    alice = app.test_client()
    alice.post("/login/alice")
    assert evicted == ["evicted"], "the sign-in made room by ending the anonymous session"
    bot = app.test_client()
    refused = bot.post("/remember")
    assert refused.status_code == 503
    assert b"remembered" not in refused.data, "the view's answer is not sent as if it was saved"
    assert session_set_cookie(refused) is None
    assert alice.get("/whoami").get_json()["tessera_user"] == "alice"
