"""The flood of issue 13 through Flask end to end, at a smaller count than the core's run
(tests/src/bin/flood.rs): cookieless requests to a login page, a ``csrf_token()`` endpoint and a
page that stores a visitor's cart, while signed-in users keep making requests, on a store capped
by ``max_sessions``. Every request goes through Flask's real request cycle (the test client),
Flask-Login and tessera.flask's session interface.
"""

from __future__ import annotations

from collections import Counter

import flask_login
import pytest
from flask import Flask, jsonify, render_template_string, session
from tessera import Event, ManualClock, SessionManager
from tessera.flask import TesseraSessionInterface, csrf_token

COOKIE = "session"
COOKIELESS = 6_000
USERS = 200
MAX_SESSIONS = 500
#: One signed-in request after this many cookieless ones.
EVERY = 9


class User(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def make_app(manager: SessionManager) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": "only-for-flask-login"})
    TesseraSessionInterface(manager).init_app(app)
    login_manager = flask_login.LoginManager(app)

    @login_manager.user_loader
    def load(user_id: str) -> User:
        return User(user_id)

    @app.get("/login")
    def login_page() -> str:
        return render_template_string(
            '<form method="post"><input name="csrf" value="{{ token }}"></form>',
            token=csrf_token(),
        )

    @app.get("/csrf")
    def csrf() -> object:
        return jsonify(csrf=csrf_token())

    @app.get("/cart")
    def cart() -> str:
        session["cart"] = ["apples"]
        return "added"

    @app.get("/sign-in/<user>")
    def sign_in(user: str) -> str:
        flask_login.login_user(User(user))
        return "ok"

    @app.get("/me")
    def me() -> str:
        user = flask_login.current_user
        return user.get_id() if user.is_authenticated else ""

    return app


def test_a_flood_of_visitors_keeps_the_store_bounded_and_signs_nobody_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = ManualClock()
    manager = SessionManager(
        clock=clock,
        sweep_interval=None,
        cookie_name=COOKIE,
        cookie_secure=False,
        max_sessions=MAX_SESSIONS,
    )
    events: Counter[str] = Counter()

    def count(event: Event) -> None:
        events[event.kind] += 1

    manager.add_listener(count)
    app = make_app(manager)
    users = []
    for i in range(USERS):
        client = app.test_client()
        assert client.get(f"/sign-in/user{i}").status_code == 200
        users.append((f"user{i}", client))
    created_by_sign_ins = events["created"] + events["login"]

    pages = ["/login", "/csrf", "/cart"]
    writes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    not_recognised = 0
    signed_in_requests = 0
    sent = 0
    while sent < COOKIELESS:
        for _ in range(EVERY):
            if sent == COOKIELESS:
                break
            page = pages[sent % 3]
            before = events["created"]
            response = app.test_client().get(page)
            statuses[response.status_code] += 1
            writes[page] += events["created"] - before
            sent += 1
            clock.advance(0.001)
        user, client = users[signed_in_requests % USERS]
        signed_in_requests += 1
        if client.get("/me").get_data(as_text=True) != user:
            not_recognised += 1
        clock.advance(0.001)
    lost = sum(1 for user, client in users if client.get("/me").get_data(as_text=True) != user)
    sessions = manager.store_len()

    with capsys.disabled():
        print(
            f"\nflood through Flask: {COOKIELESS} cookieless requests, {signed_in_requests} "
            f"signed-in requests of {USERS} users; max_sessions {MAX_SESSIONS}, {sessions} "
            f"sessions at the end, {events['evicted']} evicted; store writes: login page "
            f"{writes['/login']}, csrf_token() {writes['/csrf']}, cart {writes['/cart']} "
            f"(the sign-ins {created_by_sign_ins}); responses {dict(statuses)}; signed-in "
            f"requests not recognised {not_recognised}, sessions lost {lost} of {USERS}"
        )
    assert writes["/login"] == 0 and writes["/csrf"] == 0, "a form page wrote to the store"
    assert writes["/cart"] == COOKIELESS // 3
    assert sessions <= MAX_SESSIONS
    assert events["evicted"] == writes["/cart"] - (MAX_SESSIONS - USERS)
    assert statuses == Counter({200: COOKIELESS}), "nobody refused: anonymous sessions made room"
    assert not_recognised == 0 and lost == 0
