"""Security requirements of docs/security.md that the other suites did not yet prove.

- The token is read from the ``Cookie`` header only: never from the URL, a form field or another
  header (ASVS 4.0.3 V3.1.1, WSTG-SESS-04), in tessera.flask and tessera.django.
- Every protected page of the demo carries a working sign-out (ASVS 5.0 V7.4.4).
- Error pages never show the token (ASVS 4.0.3 V3.1.1 and the issue's "never in URLs, error
  messages or logs").
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from flask import Flask, jsonify, session
from flask.testing import FlaskClient
from tessera import ManualClock, SessionManager
from tessera.flask import TesseraSession, TesseraSessionInterface, login
from werkzeug.wrappers import Response

from demo.app import create_app
from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import COOKIE as DJANGO_COOKIE
from tests.conftest_django import PASSWORD

FLASK_COOKIE = "sid"
DEMO_COOKIE = "tessera_demo"


# -- the token comes from the Cookie header only --------------------------------------------


def flask_app(clock: ManualClock) -> Flask:
    manager = SessionManager(
        clock=clock, sweep_interval=None, cookie_name=FLASK_COOKIE, cookie_secure=False
    )
    app = Flask(__name__)
    app.config["TESTING"] = True
    TesseraSessionInterface(manager).init_app(app)

    @app.route("/login/<user>", methods=["POST"])
    def do_login(user: str) -> str:
        login(user)
        return "signed in"

    @app.route("/whoami", methods=["GET", "POST"])
    def whoami() -> Response:
        current = session
        assert isinstance(current, TesseraSession)
        return jsonify(user=current.user)

    return app


def token_elsewhere(token: str, name: str) -> list[dict[str, Any]]:
    """Requests that carry `token` anywhere but in the Cookie header."""
    return [
        {"query_string": {name: token}},
        {"query_string": {"session": token, "token": token, "sessionid": token}},
        {"path": f"/whoami;{name}={token}"},
        {"method": "POST", "data": {name: token, "session": token}},
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"X-Session-Token": token, "X-Cookie": f"{name}={token}"}},
        {"headers": {"Referer": f"http://127.0.0.1/?{name}={token}"}},
    ]


def test_flask_reads_the_token_from_the_cookie_only(clock: ManualClock) -> None:
    app = flask_app(clock)
    browser: FlaskClient = app.test_client()
    browser.post("/login/alice")
    cookie = browser.get_cookie(FLASK_COOKIE)
    assert cookie is not None
    token = cookie.value
    assert browser.get("/whoami").get_json() == {"user": "alice"}, "the cookie works"

    stranger = app.test_client(use_cookies=False)
    for request in token_elsewhere(token, FLASK_COOKIE):
        path = request.pop("path", "/whoami")
        method = request.pop("method", "GET")
        response = stranger.open(path, method=method, **request)
        if response.status_code == 404:  # a path parameter is not even routed
            continue
        assert response.get_json() == {"user": None}, request
        assert token not in response.get_data(as_text=True)
        assert token not in response.headers.get("Set-Cookie", "")


@pytest.mark.usefixtures("users", "tessera_middleware")
def test_django_reads_the_token_from_the_cookie_only() -> None:
    browser = Client()
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.cookies[DJANGO_COOKIE].value
    assert browser.get("/whoami/").json()["user"] == "alice", "the cookie works"

    stranger = Client()
    attempts: list[Any] = [
        stranger.get("/whoami/", {DJANGO_COOKIE: token, "sessionid": token}),
        stranger.post("/whoami/", {DJANGO_COOKIE: token, "sessionid": token}),
        stranger.get("/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}"),
        stranger.get("/whoami/", HTTP_X_SESSION_TOKEN=token),
        stranger.get("/whoami/", HTTP_REFERER=f"http://testserver/?sessionid={token}"),
    ]
    for response in attempts:
        assert response.json()["user"] is None
        assert token not in response.content.decode()
        assert token not in str(response.cookies)


# -- the demo: a sign-out on every protected page; no token on error pages --------------------


@pytest.fixture
def demo(clock: ManualClock) -> Flask:
    manager = SessionManager(
        clock=clock,
        sweep_interval=None,
        cookie_name=DEMO_COOKIE,
        cookie_secure=False,
    )
    app = create_app(manager=manager)
    app.config["TESTING"] = True
    return app


def csrf_of(page: str) -> str:
    match = re.search(r'name="_csrf" value="([A-Za-z0-9_-]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(browser: FlaskClient, user: str, password: str) -> str:
    page = browser.get("/login").get_data(as_text=True)
    response = browser.post(
        "/login", data={"user": user, "password": password, "_csrf": csrf_of(page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = browser.get_cookie(DEMO_COOKIE)
    assert cookie is not None
    return cookie.value


SIGN_OUT_FORM = re.compile(
    r'<form[^>]*method="post"[^>]*action="/logout"[^>]*>\s*'
    r'<input type="hidden" name="_csrf" value="([A-Za-z0-9_-]+)">'
)


@pytest.mark.parametrize("page", ["/account", "/admin"])
def test_every_protected_demo_page_has_a_working_sign_out(demo: Flask, page: str) -> None:
    browser = demo.test_client()
    token = sign_in(browser, "admin", "admin-demo")
    response = browser.get(page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    form = SIGN_OUT_FORM.search(html)
    assert form, f"{page} has no sign-out form"

    # Submitting the page's own form ends the session on the server and in the browser.
    out = browser.post("/logout", data={"_csrf": form.group(1)})
    assert out.status_code == 302
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    assert browser.get_cookie(DEMO_COOKIE) is None
    replay = demo.test_client(use_cookies=False)
    response = replay.get(page, headers={"Cookie": f"{DEMO_COOKIE}={token}"})
    assert response.status_code == 302, "the old cookie no longer opens the page"


def test_the_demo_lists_its_protected_pages_in_the_navigation(demo: Flask) -> None:
    """The pages the test above visits are all the protected pages the demo links to."""
    browser = demo.test_client()
    sign_in(browser, "admin", "admin-demo")
    html = browser.get("/account").get_data(as_text=True)
    linked = set(re.findall(r'<a href="(/[a-z]*)"', html))
    assert linked == {"/account", "/admin"}, linked


def test_error_pages_never_show_the_token(demo: Flask) -> None:
    browser = demo.test_client()
    token = sign_in(browser, "alice", "alice-demo")
    responses = [
        browser.post("/logout", data={}),  # no CSRF token: 403
        browser.post("/logout", data={"_csrf": token}),  # the session token as a CSRF token
        browser.get("/admin"),  # not an administrator: 403
        browser.get(f"/nowhere/{token}"),  # 404, with the token in the path
        browser.get(f"/account?{DEMO_COOKIE}={token}"),
        browser.post("/sessions/" + "0" * 64 + "/end", data={"_csrf": "forged"}),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [403, 403, 403, 404, 200, 403], statuses
    for response in responses:
        assert token not in response.get_data(as_text=True)
        assert token not in response.headers.get("Location", "")
