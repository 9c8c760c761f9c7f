"""Django's ``SessionBase`` contract, method by method (sync and async), on ``tessera.django``.

The behaviours Django's own session tests check for every backend, in our words, plus the
Django items of issue 10: each through the ``SessionBase`` API as Django documents it, or
through Django's test client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from django.test import AsyncClient, Client, override_settings
from tessera import InvalidArgument, ManualClock, SessionRejected
from tessera.django import SessionStore

from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import COOKIE, PASSWORD, TEST_OPTIONS, current_manager
from tests.redis_server import RedisServer

T = TypeVar("T")

_prefixes = iter(range(1 << 30))


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def dj_clock(request: pytest.FixtureRequest, django_env: None) -> Iterator[ManualClock]:
    """This module's tests run on the memory store and on Redis."""
    clock = ManualClock()
    options: dict[str, Any] = {"clock": clock, **TEST_OPTIONS}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        options["store"] = server.url(prefix=f"djsb{next(_prefixes)}:")
    with override_settings(TESSERA=options):
        yield clock


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def saved(data: dict[str, Any]) -> SessionStore:
    """A store whose session holds ``data``, saved."""
    s = SessionStore()
    s.update(data)
    s.save()
    assert s.session_key is not None
    return s


def alive(key: str | None) -> bool:
    return key is not None and SessionStore().exists(key)


def at(clock: ManualClock, seconds: float = 0) -> datetime:
    return datetime.fromtimestamp(clock.now() + seconds, tz=timezone.utc)


# -- a new session -----------------------------------------------------------------------------


def test_a_new_store_is_untouched_and_empty(dj_clock: ManualClock) -> None:
    s = SessionStore()
    assert not s.modified and not s.accessed
    assert s.session_key is None
    assert s.is_empty()
    assert s.get("cat") is None
    assert current_manager().store_len() == 0


@pytest.mark.parametrize("key", [None, "", "1", "x" * 43, "a;b=c" * 9])
def test_loading_a_missing_or_bad_key_is_an_empty_new_session(
    dj_clock: ManualClock, key: str | None
) -> None:
    s = SessionStore(key)
    assert s.load() == {}
    assert run(SessionStore(key).aload()) == {}
    assert dict(s.items()) == {}
    assert s.session_key is None
    assert current_manager().store_len() == 0


def test_saving_under_an_unknown_key_mints_a_new_one(dj_clock: ManualClock) -> None:
    s = SessionStore("1" * 43)
    s["cat"] = "dog"
    s.save()
    assert s.session_key not in (None, "1" * 43)
    assert SessionStore(s.session_key)["cat"] == "dog"
    assert not alive("1" * 43)


def test_session_key_is_read_only(dj_clock: ManualClock) -> None:
    s = SessionStore()
    with pytest.raises(AttributeError):
        s.session_key = "chosen-by-the-client"  # type: ignore[misc]


# -- the mapping -------------------------------------------------------------------------------


def test_item_access_marks_accessed_and_modified(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s["cat"] = "dog"
    assert s.modified and s.accessed
    assert s["cat"] == "dog"
    with pytest.raises(KeyError):
        s["nope"]
    del s["cat"]
    assert "cat" not in s


def test_pop_with_and_without_default(dj_clock: ManualClock) -> None:
    s = saved({"some key": "exists"})
    s = SessionStore(s.session_key)
    assert s.pop("some key") == "exists"
    assert s.accessed and s.modified
    assert s.get("some key") is None
    fresh = SessionStore(saved({"k": 1}).session_key)
    assert fresh.pop("missing", "positional") == "positional"
    assert fresh.pop("missing", default="keyword") == "keyword"
    assert fresh.pop("missing", default=None) is None
    assert fresh.accessed and not fresh.modified
    with pytest.raises(KeyError):
        fresh.pop("missing")


def test_apop_with_and_without_default(dj_clock: ManualClock) -> None:
    s = SessionStore(saved({"k": "v"}).session_key)

    async def go() -> None:
        assert await s.apop("missing", default="keyword") == "keyword"
        assert not s.modified
        assert await s.apop("k") == "v"
        assert s.modified
        with pytest.raises(KeyError):
            await s.apop("k")

    run(go())
    s.save()
    assert dict(SessionStore(s.session_key).items()) == {}


def test_setdefault_update_and_has_key(dj_clock: ManualClock) -> None:
    s = SessionStore()
    assert s.setdefault("foo", "bar") == "bar"
    assert s.setdefault("foo", "baz") == "bar"
    s.update({"update key": 1})
    assert s.get("update key") == 1
    s.save()
    s = SessionStore(s.session_key)
    assert s.has_key("foo") and "foo" in s and "nope" not in s
    assert s.accessed and not s.modified


def test_async_setdefault_update_has_key(dj_clock: ManualClock) -> None:
    s = SessionStore()

    async def go() -> None:
        assert await s.asetdefault("foo", "bar") == "bar"
        assert await s.asetdefault("foo", "baz") == "bar"
        await s.aupdate({"n": 1})
        await s.aset("x", [1])
        assert await s.aget("x") == [1]
        assert await s.aget("nope", "d") == "d"
        assert await s.ahas_key("foo")
        assert not await s.ahas_key("nope")
        await s.asave()

    run(go())
    assert dict(SessionStore(s.session_key).items()) == {"foo": "bar", "n": 1, "x": [1]}


def test_keys_values_items_sync_and_async(dj_clock: ManualClock) -> None:
    key = saved({"x": 1}).session_key
    s = SessionStore(key)
    assert list(s.keys()) == ["x"]
    assert s.accessed and not s.modified
    assert list(s.values()) == [1]
    assert list(s.items()) == [("x", 1)]

    async def go() -> None:
        a = SessionStore(key)
        assert list(await a.akeys()) == ["x"]
        assert list(await a.avalues()) == [1]
        assert list(await a.aitems()) == [("x", 1)]
        assert a.accessed and not a.modified

    run(go())


def test_clear_empties_the_saved_session(dj_clock: ManualClock) -> None:
    s = SessionStore(saved({"x": 1}).session_key)
    s.clear()
    assert list(s.items()) == []
    assert s.accessed and s.modified
    s.save()
    assert dict(SessionStore(s.session_key).items()) == {}


def test_in_place_changes_and_json_types_are_saved(dj_clock: ManualClock) -> None:
    s = SessionStore(saved({"cart": ["apple"], "flag": 1}).session_key)
    s["cart"].append("pear")
    s["flag"] = True  # equal to 1 in Python, not in JSON
    s.modified = True
    s.save()
    stored = current_manager().validate(s.session_key or "").data
    assert stored == {"cart": ["apple", "pear"], "flag": True}
    assert stored["flag"] is True


def test_the_test_cookie_sync_and_async(dj_clock: ManualClock) -> None:
    s = SessionStore()
    assert not s.test_cookie_worked()
    s.set_test_cookie()
    s.save()
    s = SessionStore(s.session_key)
    assert s.test_cookie_worked()
    s.delete_test_cookie()
    assert not s.test_cookie_worked()

    async def go() -> None:
        a = SessionStore()
        assert not await a.atest_cookie_worked()
        await a.aset_test_cookie()
        assert await a.atest_cookie_worked()
        await a.adelete_test_cookie()
        assert not await a.atest_cookie_worked()

    run(go())


def test_encode_and_decode(dj_clock: ManualClock) -> None:
    s = SessionStore()
    data = {"a test key": "a test value"}
    assert s.decode(s.encode(data)) == data
    assert s.decode("garbage") == {}


# -- storage: save, exists, create, load, delete, flush, cycle_key --------------------------------


def test_save_of_an_empty_session_stores_it(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s.save()
    assert alive(s.session_key)
    a = SessionStore()
    run(a.asave())
    assert alive(a.session_key) and a.session_key != s.session_key


def test_exists_sync_and_async(dj_clock: ManualClock) -> None:
    key = saved({"k": 1}).session_key
    assert SessionStore().exists(key)
    assert run(SessionStore().aexists(key))
    assert not SessionStore().exists("nope")
    assert not run(SessionStore().aexists("x" * 43))


def test_create_makes_a_new_stored_session_and_leaves_the_old_one(dj_clock: ManualClock) -> None:
    old = saved({"k": 1})
    old_key = old.session_key
    old.create()
    assert old.session_key not in (None, old_key)
    assert alive(old.session_key) and alive(old_key)
    a = SessionStore()
    run(a.acreate())
    assert alive(a.session_key)


def test_load_sync_and_async(dj_clock: ManualClock) -> None:
    key = saved({"k": [1, 2]}).session_key
    assert SessionStore(key).load() == {"k": [1, 2]}
    assert run(SessionStore(key).aload()) == {"k": [1, 2]}


@pytest.mark.parametrize("use_async", [False, True])
def test_delete_ends_the_session_now(dj_clock: ManualClock, use_async: bool) -> None:
    s = saved({"k": 1})
    key = s.session_key
    other = saved({"o": 1}).session_key
    if use_async:
        run(s.adelete(other))
        run(s.adelete())
    else:
        s.delete(other)
        s.delete(key)
    assert not alive(key) and not alive(other)
    assert current_manager().store_len() == 0


@pytest.mark.parametrize("use_async", [False, True])
def test_flush_ends_the_session_now_and_drops_the_key(
    dj_clock: ManualClock, use_async: bool
) -> None:
    s = saved({"foo": "bar"})
    prev = s.session_key
    if use_async:
        run(s.aflush())
    else:
        s.flush()
    assert not alive(prev)
    assert s.session_key != prev and s.session_key is None
    assert s.modified and s.accessed
    assert s.is_empty()
    # A new session may start afterwards, with keys equal to the old ones.
    s["foo"] = "bar"
    s.save()
    assert alive(s.session_key) and s.session_key != prev
    assert dict(SessionStore(s.session_key).items()) == {"foo": "bar"}


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("loaded", [True, False])
def test_cycle_key_changes_the_key_at_once_and_kills_the_old_one(
    dj_clock: ManualClock, use_async: bool, loaded: bool
) -> None:
    prev = saved({"a": "c", "b": "d"}).session_key
    s = SessionStore(prev)
    if loaded:
        assert list(s.items()) == [("a", "c"), ("b", "d")]
    if use_async:
        run(s.acycle_key())
    else:
        s.cycle_key()
    # Before any save: Django's contract is an immediate change.
    assert s.session_key not in (None, prev)
    assert not s.exists(prev)
    assert alive(s.session_key)
    assert sorted(s.items()) == [("a", "c"), ("b", "d")]
    assert s.modified
    s.save()
    assert dict(SessionStore(s.session_key).items()) == {"a": "c", "b": "d"}


def test_cycle_key_keeps_the_user(dj_clock: ManualClock) -> None:
    s = saved({"_auth_user_id": "7"})
    assert current_manager().list_user("7") != []
    s.cycle_key()
    s.save()
    assert current_manager().validate(s.session_key or "").user == "7"
    assert len(current_manager().list_user("7")) == 1


def test_a_write_after_a_concurrent_logout_is_never_saved(dj_clock: ManualClock) -> None:
    from django.contrib.sessions.backends.base import UpdateError

    key = saved({"_auth_user_id": "7", "k": 1}).session_key
    s = SessionStore(key)
    s["k"] = 2
    current_manager().logout(key or "")  # another request signed out meanwhile
    with pytest.raises(UpdateError):
        s.save()
    assert current_manager().store_len() == 0


def test_clear_expired_sync_and_async(dj_clock: ManualClock) -> None:
    saved({"a": 1})
    saved({"b": 2})
    dj_clock.advance(601)
    assert current_manager().store_len() == 2
    SessionStore.clear_expired()
    assert current_manager().store_len() == 0
    saved({"c": 3})
    dj_clock.advance(601)
    run(SessionStore.aclear_expired())
    assert current_manager().store_len() == 0


# -- expiry ------------------------------------------------------------------------------------


def test_default_expiry_is_tessera_policy(dj_clock: ManualClock) -> None:
    s = SessionStore()
    # Tessera's counterpart of SESSION_COOKIE_AGE: the idle timeout (600 s in these tests).
    assert s.get_session_cookie_age() == 600
    assert s.get_expiry_age() == 600
    assert s.get_expiry_date() == at(dj_clock, 600)
    assert s.get_expire_at_browser_close()
    s.set_expiry(0)  # browser close: the age stays the policy's
    assert s.get_expiry_age() == 600
    assert s.get_expire_at_browser_close()


def test_custom_expiry_seconds_timedelta_datetime(dj_clock: ManualClock) -> None:
    modification = at(dj_clock)
    for value in (10, timedelta(seconds=10), modification + timedelta(seconds=10)):
        s = SessionStore()
        s.set_expiry(value)
        assert s.get_expiry_date(modification=modification) == modification + timedelta(seconds=10)
        assert s.get_expiry_age(modification=modification) == 10
        assert not s.get_expire_at_browser_close()


def test_custom_expiry_reset(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s.set_expiry(None)
    s.set_expiry(10)
    s.set_expiry(None)
    assert s.get_expiry_age() == 600
    assert "_session_expiry" not in s


@pytest.mark.parametrize("cookie_max_age", [None, 900])
def test_expire_at_browser_close(dj_clock: ManualClock, cookie_max_age: int | None) -> None:
    options = {"clock": dj_clock, **TEST_OPTIONS, "cookie_max_age": cookie_max_age}
    with override_settings(TESSERA=options):
        s = SessionStore()
        s.set_expiry(10)
        assert not s.get_expire_at_browser_close()
        s.set_expiry(0)
        assert s.get_expire_at_browser_close()
        s.set_expiry(None)
        # No per-session expiry: a browser-session cookie unless cookie_max_age is set.
        assert s.get_expire_at_browser_close() is (cookie_max_age is None)
        assert s.get_expiry_age() == (cookie_max_age or 600)


def test_expiry_never_lengthens_the_policy(dj_clock: ManualClock) -> None:
    modification = at(dj_clock)
    s = SessionStore()
    s.set_expiry(86400)  # a day of inactivity: Tessera's idle timeout (600 s) still applies
    assert s.get_expiry_age(modification=modification) == 600
    s.set_expiry(timedelta(days=30))  # a date past the absolute timeout (3600 s)
    assert s.get_expiry_age(modification=modification) == 3600
    assert s.get_expiry_date(modification=modification) == modification + timedelta(hours=1)


def test_async_expiry_methods(dj_clock: ManualClock) -> None:
    s = SessionStore()
    modification = at(dj_clock)

    async def go() -> None:
        await s.aset_expiry(timedelta(seconds=10))
        assert await s.aget_expiry_age(modification=modification) == 10
        assert await s.aget_expiry_date(modification=modification) == modification + timedelta(
            seconds=10
        )
        assert not await s.aget_expire_at_browser_close()
        await s.aset_expiry(0)
        assert await s.aget_expire_at_browser_close()
        await s.aset_expiry(None)
        assert await s.aget_expiry_age() == 600

    run(go())


def test_expiry_seconds_ends_the_session_after_that_much_inactivity(
    dj_clock: ManualClock,
) -> None:
    s = saved({"k": 1})
    s.set_expiry(100)
    s.save()
    key = s.session_key
    dj_clock.advance(99)
    assert SessionStore(key).get("k") == 1  # used: the 100 s start again
    dj_clock.advance(99)
    assert alive(key)
    dj_clock.advance(101)
    with pytest.raises(SessionRejected):
        current_manager().validate(key or "")


def test_expiry_seconds_beyond_the_idle_timeout_do_not_lengthen_it(
    dj_clock: ManualClock,
) -> None:
    s = saved({"k": 1})
    s.set_expiry(86400)
    s.save()
    dj_clock.advance(601)  # the configured idle timeout (600 s) still ends it
    with pytest.raises(SessionRejected) as e:
        current_manager().validate(s.session_key or "")
    assert e.value.reason == "expired_idle"


def test_expiry_datetime_ends_the_session_then_even_if_busy(dj_clock: ManualClock) -> None:
    s = saved({"k": 1})
    s.set_expiry(timedelta(seconds=500))
    s.save()
    key = s.session_key
    for _ in range(4):
        dj_clock.advance(120)
        busy = SessionStore(key)
        assert busy.get("k") == 1
        key = busy.session_key  # rotated on the way, as the middleware would send it
    dj_clock.advance(30)  # 510 s after set_expiry
    assert SessionStore(key).get("k") is None


def test_expiry_in_the_past_ends_the_session_at_once(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s["foo"] = "bar"
    s.set_expiry(-10)
    s.save()
    again = SessionStore(s.session_key)
    assert "foo" not in again


# -- through Django's test client ----------------------------------------------------------------


def sign_in(client: Client, name: str = "alice") -> Any:
    response = client.post("/login/", {"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response


def test_signing_in_again_as_the_same_user_renews_token_csrf_and_deadline(
    middleware: str, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    client = Client()
    first = sign_in(client).cookies[COOKIE].value
    manager = current_manager()
    csrf = manager.csrf_token(first)
    deadline = manager.validate(first).absolute_deadline
    dj_clock.advance(100)
    response = sign_in(client)  # Django's login() neither flushes nor cycles the key here
    second = response.cookies[COOKIE].value
    assert second != first
    with pytest.raises(SessionRejected):
        manager.validate(first)
    session = manager.validate(second)
    assert session.user == str(users["alice"].pk)
    assert not manager.verify_csrf(second, csrf), "a new CSRF secret at each sign-in"
    assert session.absolute_deadline == deadline + 100
    assert len(manager.list_user(str(users["alice"].pk))) == 1


def test_a_rotation_is_delivered_by_a_5xx(
    tessera_middleware: None, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    client = Client()
    first = sign_in(client).cookies[COOKIE].value
    dj_clock.advance(301)  # past the rotation interval: begin rotates the token
    response = client.get("/boom/")
    assert response.status_code == 500
    rotated = response.cookies[COOKIE].value
    assert rotated not in ("", first)
    assert response["Cache-Control"] == "no-store"
    dj_clock.advance(11)  # the grace of the old token is over
    assert client.get("/private/").status_code == 200
    assert "boom" not in current_manager().validate(rotated).data  # the 5xx saved nothing


def test_the_https_upgrade_is_delivered_by_a_5xx(
    tessera_middleware: None, dj_clock: ManualClock
) -> None:
    client = Client()
    client.get("/set/k/v/")
    response = client.get("/boom/", secure=True)
    assert response.status_code == 500
    assert COOKIE in response.cookies
    assert client.get("/whoami/", secure=True).json()["data"] == {"k": "v"}


@pytest.mark.parametrize("create", [False, True])
def test_a_key_made_in_a_view_reaches_the_client(middleware: str, create: bool) -> None:
    client = Client()
    response = client.get("/save-now/", {"create": "1"} if create else {})
    key = response.json()["key"]
    assert alive(key)
    assert response.cookies[COOKIE].value == key
    assert client.get("/save-now/").json()["key"] == key  # the next request has it


def test_async_views_sign_in_and_out(
    middleware: str, users: dict[str, Any], dj_clock: ManualClock
) -> None:
    async def go() -> None:
        client = AsyncClient()
        anonymous = (await client.get("/save-now/")).cookies[COOKIE].value
        response = await client.post(
            "/async-login/", {"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 200
        token = response.cookies[COOKIE].value
        assert token != anonymous and not alive(anonymous)
        session = current_manager().validate(token)
        assert session.user == str(users["alice"].pk)
        assert session.data["via"] == "async"
        response = await client.post("/async-logout/")
        assert response.cookies[COOKIE].value == ""
        assert not alive(token)

    run(go())


def test_a_refused_key_is_a_clear_error_not_a_traceback(
    tessera_middleware: None, dj_clock: ManualClock
) -> None:
    response = Client().get("/bad-key/")
    assert response.status_code == 400
    assert COOKIE not in response.cookies
    assert current_manager().store_len() == 0
    s = SessionStore()
    s[""] = 1
    with pytest.raises(InvalidArgument):
        s.save()


def test_an_unreachable_store_answers_503(tessera_middleware: None) -> None:
    unreachable = {
        "store": "redis://127.0.0.1:1/0?prefix=unreachable&connect_timeout_ms=100",
        "sweep_interval": None,
    }
    with override_settings(TESSERA=unreachable):
        client = Client()
        client.cookies[COOKIE] = "A" * 43
        response = client.get("/whoami/")
        assert response.status_code == 503
        assert response["Cache-Control"] == "no-store"
        assert COOKIE not in response.cookies  # the user's cookie is kept for when it is back
        # A view that uses the session for the first time when the store fails: 503 as well.
        assert Client().get("/set/k/v/").status_code == 503
