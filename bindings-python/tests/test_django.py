"""tessera.django driven through a real Django project (tests/django_project) and its test client.

Most flows run twice: with Django's own SessionMiddleware and with tessera.django.middleware's.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.test import Client, override_settings
from tessera import ManualClock, SessionRejected, StoreUnavailable

from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import COOKIE, PASSWORD, TEST_OPTIONS, current_manager
from tests.django_project import views


def sign_in(client: Client, name: str = "alice", **extra: Any) -> str:
    response = client.post("/login/", {"username": name, "password": PASSWORD}, **extra)
    assert response.status_code == 200, response.content
    assert COOKIE in response.cookies, "login must send a new cookie"
    token: str = response.cookies[COOKIE].value
    return token


def replay(token: str) -> Client:
    """A fresh browser holding only ``token`` as its session cookie."""
    client = Client()
    client.cookies[COOKIE] = token
    return client


def whoami(client: Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/whoami/").json()
    return data


def reason(token: str) -> str:
    with pytest.raises(SessionRejected) as e:
        current_manager().validate(token)
    return e.value.reason


# -- sign in, protected page, sign out ----------------------------------------------------------


def test_login_protected_view_logout(middleware: str, users: dict[str, Any]) -> None:
    client = Client()
    response = client.get("/private/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

    token = sign_in(client)
    session = current_manager().validate(token)
    assert session.user == str(users["alice"].pk)
    assert session.data["_auth_user_id"] == str(users["alice"].pk)

    assert client.get("/private/").json() == {"user": "alice", "visits": 1}
    assert client.get("/private/").json() == {"user": "alice", "visits": 2}
    assert current_manager().store_len() == 1

    response = client.post("/logout/")
    assert response.status_code == 200
    cleared = response.cookies[COOKIE]
    assert cleared.value == ""
    assert str(cleared["max-age"]) == "0"
    # The server-side session is gone, not just the cookie.
    assert current_manager().store_len() == 0
    assert reason(token) == "unknown"
    assert client.get("/private/").status_code == 302


def test_old_key_is_rejected_after_logout(middleware: str, users: dict[str, Any]) -> None:
    client = Client()
    token = sign_in(client)
    client.post("/logout/")
    stolen = replay(token)
    assert stolen.get("/private/").status_code == 302
    assert whoami(stolen) == {"user": None, "data": {}}


def test_key_changes_at_login_and_pre_login_key_dies_at_once(
    middleware: str, users: dict[str, Any]
) -> None:
    client = Client()
    response = client.get("/set/cart/apple/")
    anonymous = response.cookies[COOKIE].value
    assert current_manager().validate(anonymous).user is None

    token = sign_in(client)
    assert token != anonymous
    # The pre-login token died at once (no grace): replaying it gives an anonymous session.
    assert reason(anonymous) == "unknown"
    planted = replay(anonymous)
    assert whoami(planted) == {"user": None, "data": {}}
    assert planted.get("/private/").status_code == 302
    # The anonymous session's data was carried into the signed-in one.
    me = whoami(client)
    assert me["user"] == "alice"
    assert me["data"]["cart"] == "apple"
    assert current_manager().store_len() == 1


def test_signing_in_as_someone_else_ends_the_first_session(
    middleware: str, users: dict[str, Any]
) -> None:
    client = Client()
    alice = sign_in(client, "alice")
    client.get("/set/theme/dark/")
    bob = sign_in(client, "bob")
    assert bob != alice
    assert reason(alice) == "unknown"
    me = whoami(client)
    assert me["user"] == "bob"
    assert "theme" not in me["data"], "alice's data must not leak into bob's session"
    assert current_manager().validate(bob).user == str(users["bob"].pk)


def test_wrong_password_keeps_the_visitor_anonymous(middleware: str, users: dict[str, Any]) -> None:
    client = Client()
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 403
    assert COOKIE not in response.cookies
    assert current_manager().store_len() == 0


# -- timeouts and rotation on a manual clock ----------------------------------------------------


def test_idle_expiry(middleware: str, users: dict[str, Any], dj_clock: ManualClock) -> None:
    client = Client()
    token = sign_in(client)
    dj_clock.advance(599)
    assert client.get("/private/").status_code == 200  # touched: idle restarts
    dj_clock.advance(599)
    assert client.get("/private/").status_code == 200
    dj_clock.advance(600)
    assert reason(client.cookies[COOKIE].value) == "expired_idle"
    assert client.get("/private/").status_code == 302
    assert reason(token) in ("unknown", "expired_idle")


def test_absolute_expiry(middleware: str, users: dict[str, Any], dj_clock: ManualClock) -> None:
    client = Client()
    sign_in(client)
    for _ in range(7):  # active every 500 s: never idle, rotated along the way
        dj_clock.advance(500)
        assert client.get("/private/").status_code == 200
    dj_clock.advance(500)  # 4000 s after login
    assert reason(client.cookies[COOKIE].value) == "expired_absolute"
    assert client.get("/private/").status_code == 302


def test_rotation_during_a_request_sends_a_new_cookie(
    middleware: str, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    client = Client()
    first = sign_in(client)
    dj_clock.advance(301)
    response = client.get("/whoami/")  # reads the session, writes nothing
    assert response.json()["user"] == "alice"
    assert COOKIE in response.cookies, "a rotated token must be sent"
    second = response.cookies[COOKIE].value
    assert second != first
    if middleware == "tessera":
        assert response["Cache-Control"] == "no-store"
    # The previous token is an alias for the grace period, then dies.
    assert current_manager().validate(first).user == str(users["alice"].pk)
    dj_clock.advance(11)
    assert reason(first) in ("unknown", "expired_idle")
    assert whoami(client)["user"] == "alice"


def test_a_request_that_does_not_rotate_sends_no_cookie(
    middleware: str, users: dict[str, Any]
) -> None:
    client = Client()
    sign_in(client)
    response = client.get("/whoami/")
    assert COOKIE not in response.cookies
    assert "Cookie" in response["Vary"]


# -- revocation ---------------------------------------------------------------------------------


def test_revoke_user_ends_every_session_of_the_user(middleware: str, users: dict[str, Any]) -> None:
    from tessera.django import list_sessions, revoke_user

    laptop, phone, bobs = Client(), Client(), Client()
    sign_in(laptop)
    sign_in(phone)
    sign_in(bobs, "bob")
    assert len(list_sessions(users["alice"])) == 2
    assert revoke_user(users["alice"]) == 2
    assert laptop.get("/private/").status_code == 302
    assert phone.get("/private/").status_code == 302
    assert bobs.get("/private/").status_code == 200
    assert list_sessions(users["alice"]) == []
    # By primary key too.
    assert revoke_user(users["bob"].pk) == 1
    assert bobs.get("/private/").status_code == 302


def test_revoke_all(middleware: str, users: dict[str, Any]) -> None:
    a, b = Client(), Client()
    sign_in(a)
    sign_in(b, "bob")
    assert current_manager().revoke_all() == 2
    assert a.get("/private/").status_code == 302
    assert b.get("/private/").status_code == 302


def test_password_change_keeps_this_session_and_ends_the_others(
    middleware: str, users: dict[str, Any]
) -> None:
    here, elsewhere = Client(), Client()
    before = sign_in(here)
    sign_in(elsewhere)
    response = here.post("/password/", {"new_password": "a new long passphrase"})
    assert response.json() == {"ended": 1}
    # update_session_auth_hash cycled the key: a Tessera login, the old token dead at once.
    after = response.cookies[COOKIE].value
    assert after != before
    assert reason(before) == "unknown"
    assert here.get("/private/").status_code == 200
    assert elsewhere.get("/private/").status_code == 302
    assert [s.id for s in current_manager().list_user(str(users["alice"].pk))] == [
        current_manager().id_of(after)
    ]


# -- concurrent requests ------------------------------------------------------------------------


def test_concurrent_requests_keep_each_others_keys(middleware: str) -> None:
    first = Client()
    first.get("/set/x/0/")
    token = first.cookies[COOKIE].value
    views.BARRIER = threading.Barrier(2)
    results: dict[str, int] = {}

    def hit(key: str, value: str) -> None:
        results[key] = replay(token).get(f"/set/{key}/{value}/").status_code

    try:
        threads = [threading.Thread(target=hit, args=kv) for kv in (("a", "1"), ("b", "2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    finally:
        views.BARRIER = None
    assert results == {"a": 200, "b": 200}
    assert current_manager().validate(token).data == {"x": "0", "a": "1", "b": "2"}


def test_a_save_after_a_concurrent_logout_is_interrupted_not_resurrected(
    middleware: str, users: dict[str, Any]
) -> None:
    client = Client()
    token = sign_in(client)
    views.BARRIER = threading.Barrier(2)
    results: dict[str, Any] = {}

    def write() -> None:
        results["response"] = replay(token).get("/set/late/write/")

    try:
        thread = threading.Thread(target=write)
        thread.start()
        views.BARRIER.wait(timeout=10)
        # The request has loaded the session and waits; sign out in another "tab" meanwhile.
        client.post("/logout/")
        views.BARRIER.wait(timeout=10)
        thread.join(timeout=20)
    finally:
        views.BARRIER = None
    response = results["response"]
    if middleware == "django":
        assert response.status_code == 400  # Django's save() raised SessionInterrupted
    else:
        # The core drops the write and clears the cookie: the session is not re-created.
        assert response.status_code == 200
        assert response.cookies[COOKIE].value == ""
        assert response["Cache-Control"] == "no-store"
    assert current_manager().store_len() == 0
    assert reason(token) == "unknown"


# -- cookies ------------------------------------------------------------------------------------


def test_the_cookie_is_a_browser_session_cookie_with_django_attributes(
    middleware: str, users: dict[str, Any]
) -> None:
    response = Client().post("/login/", {"username": "alice", "password": PASSWORD})
    morsel = response.cookies[COOKIE]
    assert morsel["max-age"] == ""
    assert morsel["expires"] == ""
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert len(morsel.value) == 43


def test_cookie_max_age_when_configured(users: dict[str, Any], dj_clock: ManualClock) -> None:
    with override_settings(TESSERA={"clock": dj_clock, **TEST_OPTIONS, "cookie_max_age": 900}):
        morsel = sign_in_response(Client()).cookies[COOKIE]
    assert str(morsel["max-age"]) == "900"
    assert morsel["expires"] != ""


def sign_in_response(client: Client) -> Any:
    return client.post("/login/", {"username": "alice", "password": PASSWORD})


def test_a_rejected_cookie_is_cleared(middleware: str) -> None:
    client = replay("x" * 43)
    response = client.get("/whoami/")
    assert response.json() == {"user": None, "data": {}}
    assert response.cookies[COOKIE].value == ""
    if middleware == "tessera":
        assert response["Cache-Control"] == "no-store"


def test_no_store_on_responses_that_set_or_clear_the_cookie(
    tessera_middleware: None, users: dict[str, Any]
) -> None:
    client = Client()
    response = sign_in_response(client)
    assert response["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/whoami/")
    assert client.post("/logout/")["Cache-Control"] == "no-store"


def test_cookie_tossing_is_anonymous_and_clears_the_cookie(
    tessera_middleware: None, users: dict[str, Any]
) -> None:
    victim = Client()
    token = sign_in(victim)
    attacker = Client().get("/set/planted/1/").cookies[COOKIE].value
    # Two cookies of the session's name, in either order: neither is used.
    for header in (
        f"{COOKIE}={token}; {COOKIE}={attacker}",
        f"{COOKIE}={attacker}; {COOKIE}={token}",
    ):
        response = Client().get("/whoami/", HTTP_COOKIE=header)
        assert response.json() == {"user": None, "data": {}}
        assert response.cookies[COOKIE].value == ""
        assert str(response.cookies[COOKIE]["max-age"]) == "0"
        assert response["Cache-Control"] == "no-store"
    # Both sessions are untouched; only the tossed request was anonymous.
    assert current_manager().validate(token).user == str(users["alice"].pk)


def test_https_upgrade_gives_a_new_token_without_grace(
    tessera_middleware: None, users: dict[str, Any]
) -> None:
    client = Client()
    over_http = client.get("/set/k/v/").cookies[COOKIE].value
    response = client.get("/whoami/", secure=True)
    assert response.json()["data"] == {"k": "v"}
    over_https = response.cookies[COOKIE].value
    assert over_https != over_http
    assert reason(over_http) == "unknown"
    assert current_manager().validate(over_https, https=True).secure is True


def test_user_agent_is_recorded_for_the_sessions_page(
    tessera_middleware: None, users: dict[str, Any]
) -> None:
    client = Client(HTTP_USER_AGENT="Firefox/140 test")
    sign_in(client)
    sessions = client.get("/sessions/").json()["sessions"]
    assert [s["user_agent"] for s in sessions] == ["Firefox/140 test"]
    assert len(sessions[0]["id"]) == 64


def test_an_error_after_login_still_kills_the_pre_login_token(
    tessera_middleware: None, users: dict[str, Any]
) -> None:
    client = Client()
    anonymous = client.get("/set/cart/apple/").cookies[COOKIE].value
    response = client.post("/login-then-fail/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 500
    # login() cycled the key at once (Django's cycle_key() contract): the pre-login token is
    # dead, and the 5xx still delivers its successor; the login itself did not happen.
    assert reason(anonymous) == "unknown"
    successor = response.cookies[COOKIE].value
    assert current_manager().validate(successor).user is None
    assert whoami(client) == {"user": None, "data": {"cart": "apple"}}
    assert current_manager().list_user(str(users["alice"].pk)) == []


def test_an_unreachable_store_fails_closed(django_env: None) -> None:
    unreachable = {
        "store": "redis://127.0.0.1:1/0?prefix=unreachable&connect_timeout_ms=100",
        "sweep_interval": None,
    }
    token = "A" * 43
    with override_settings(TESSERA=unreachable):
        # The request is not treated as authenticated: it fails, it does not go on anonymously
        # (which would also clear the cookie and sign the user out over a transient outage).
        with pytest.raises(StoreUnavailable):
            replay(token).get("/whoami/")
        response = Client(raise_request_exception=False)
        response.cookies[COOKIE] = token
        assert response.get("/whoami/").status_code == 500


def test_login_keeps_data_false(
    middleware: str, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    options = {"clock": dj_clock, **TEST_OPTIONS, "login_keeps_data": False}
    with override_settings(TESSERA=options):
        client = Client()
        client.get("/set/cart/apple/")
        sign_in(client)
        me = whoami(client)
        assert me["user"] == "alice"
        assert "cart" not in me["data"], "pre-login data must not cross the login"
        # A same-user key cycle (password change) keeps the user signed in all the same.
        response = client.post("/password/", {"new_password": "another long passphrase"})
        assert response.status_code == 200
        assert client.get("/private/").status_code == 200


def test_max_sessions_per_user_evicts_the_oldest_device(
    middleware: str, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    with override_settings(TESSERA={"clock": dj_clock, **TEST_OPTIONS, "max_sessions_per_user": 1}):
        laptop, phone = Client(), Client()
        sign_in(laptop)
        dj_clock.advance(1)
        sign_in(phone)
        assert laptop.get("/private/").status_code == 302
        assert phone.get("/private/").status_code == 200


def test_a_full_store_answers_503_to_a_new_visitor_and_signs_nobody_out(
    tessera_middleware: None, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    with override_settings(TESSERA={"clock": dj_clock, **TEST_OPTIONS, "max_sessions": 1}):
        alice = Client()
        sign_in(alice)
        response = Client().get("/set/cart/apples/")
        assert response.status_code == 503
        assert b"Too many sessions" in response.content
        assert alice.get("/private/").status_code == 200
