"""tessera.django below the views: the SessionStore contract, configuration, checks, commands."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings
from tessera import ManualClock, SessionRejected
from tessera.django import SessionStore, get_manager, reset_manager
from tessera.django.conf import manager_options

from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import TEST_OPTIONS, current_manager


def stored(data: dict[str, Any], user: str | None = None) -> str:
    """A live session holding ``data``; returns its token."""
    token = current_manager().create(user, data).new_token
    assert token is not None
    return token


def loaded(token: str) -> SessionStore:
    """A store whose data is loaded, as in a request that has read its session."""
    s = SessionStore(token)
    s.keys()
    return s


# -- load -------------------------------------------------------------------------------------


def test_load_of_a_live_session(dj_clock: ManualClock) -> None:
    token = stored({"a": 1})
    s = SessionStore(token)
    assert s["a"] == 1
    assert s.session_key == token
    assert not s.modified
    assert s.session_id == current_manager().id_of(token)


@pytest.mark.parametrize("cookie", ["", "short", "x" * 43, "é" * 43, "a" * 5000])
def test_load_of_a_bad_cookie_is_an_empty_new_session(dj_clock: ManualClock, cookie: str) -> None:
    s = SessionStore(cookie)
    assert dict(s.items()) == {}
    assert s.session_key is None
    assert s.is_empty()


def test_load_adopts_a_rotated_token_and_marks_modified(dj_clock: ManualClock) -> None:
    token = stored({"a": 1})
    dj_clock.advance(301)
    s = SessionStore(token)
    assert s["a"] == 1
    assert s.session_key not in (None, token)
    assert s.modified


# -- save -------------------------------------------------------------------------------------


def test_first_save_creates_the_session_for_the_user_in_the_data(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s["_auth_user_id"] = "42"
    s["x"] = [1, 2]
    s.save()
    assert s.session_key is not None
    session = current_manager().validate(s.session_key)
    assert session.user == "42"
    assert session.data == {"_auth_user_id": "42", "x": [1, 2]}


def test_save_writes_a_diff_not_the_whole_session(dj_clock: ManualClock) -> None:
    token = stored({"keep": 1, "change": 1, "drop": 1, "flag": 1, "deep": {"a": [1, 2.0]}})
    s = SessionStore(token)
    s["change"] = 2
    del s["drop"]
    s["flag"] = True  # equal to 1 in Python, not in JSON
    s["deep"] = {"a": [True, 2]}  # equal in Python, not in JSON
    s["new"] = {"n": 1.5}
    # A concurrent request changes an untouched key meanwhile: it must survive.
    current_manager().patch(s.session_id or "", {"keep": "theirs"})
    s.save()
    assert current_manager().validate(token).data == {
        "keep": "theirs",
        "change": 2,
        "flag": True,
        "deep": {"a": [True, 2]},
        "new": {"n": 1.5},
    }
    # Saving again writes nothing new.
    current_manager().patch(s.session_id or "", {"change": "theirs"})
    s.save()
    assert current_manager().validate(token).data["change"] == "theirs"


def test_in_place_mutation_is_saved(dj_clock: ManualClock) -> None:
    token = stored({"cart": ["apple"]})
    s = SessionStore(token)
    s["cart"].append("pear")
    s.modified = True
    s.save()
    assert current_manager().validate(token).data["cart"] == ["apple", "pear"]
    s["cart"].append("plum")  # the same list again, after a save
    s.save()
    assert current_manager().validate(token).data["cart"] == ["apple", "pear", "plum"]


def test_every_way_of_changing_the_data_is_saved(dj_clock: ManualClock) -> None:
    token = stored({"a": 1, "b": 2, "c": 3, "d": 4, "cart": ["x"], "testcookie": "worked"})
    s = SessionStore(token)
    s["a"] = 10
    del s["b"]
    assert s.pop("c") == 3
    assert s.pop("missing", None) is None
    s.update([("e", 5)])
    s.update({"f": 6})
    s.setdefault("g", 7)
    s.setdefault("a", 99)
    s["cart"].append("y")  # in place: no assignment
    s.delete_test_cookie()
    s.set_expiry(0)
    s.save()
    assert current_manager().validate(token).data == {
        "a": 10,
        "d": 4,
        "e": 5,
        "f": 6,
        "g": 7,
        "cart": ["x", "y"],
        "_session_expiry": 0,
    }


def test_async_changes_are_saved(dj_clock: ManualClock) -> None:
    token = stored({"a": 1, "b": 2, "testcookie": "worked"})
    s = SessionStore(token)

    async def run() -> None:
        await s.aset("a", 10)
        assert await s.apop("b") == 2
        await s.aupdate({"c": 3})
        await s.asetdefault("d", 4)
        await s.adelete_test_cookie()
        await s.asave()

    asyncio.run(run())
    assert current_manager().validate(token).data == {"a": 10, "c": 3, "d": 4}


def test_an_assignment_of_the_same_value_writes_nothing(dj_clock: ManualClock) -> None:
    token = stored({"k": "v", "other": 1})
    s = SessionStore(token)
    s["k"] = "v"
    current_manager().patch(s.session_id or "", {"k": "theirs"})  # a concurrent request
    s.save()
    assert current_manager().validate(token).data["k"] == "theirs"


def test_two_stores_on_one_session_keep_both_keys(dj_clock: ManualClock) -> None:
    token = stored({"x": 0})
    one, two = loaded(token), loaded(token)
    one["a"] = 1
    two["b"] = 2
    one.save()
    two.save()
    assert current_manager().validate(token).data == {"x": 0, "a": 1, "b": 2}


@pytest.mark.parametrize("end", ["logout", "revoke", "expire"])
def test_save_to_an_ended_session_raises_update_error(dj_clock: ManualClock, end: str) -> None:
    token = stored({"x": 0, "_auth_user_id": "7"}, user="7")
    s = SessionStore(token)
    s["x"] = 1
    end_session(token, end, dj_clock)
    with pytest.raises(UpdateError):
        s.save()
    assert current_manager().list_user("7") == []
    with pytest.raises(SessionRejected):
        current_manager().validate(token)


@pytest.mark.parametrize("end", ["logout", "revoke", "expire"])
def test_signing_out_of_an_ended_session_never_signs_the_user_back_in(
    dj_clock: ManualClock, end: str
) -> None:
    token = stored({"x": 0, "_auth_user_id": "7"}, user="7")
    s = SessionStore(token)
    s["x"] = 1
    del s["_auth_user_id"]
    end_session(token, end, dj_clock)
    s.save()  # a sign-out: what this request wrote lives on in an anonymous session, if anything
    assert current_manager().list_user("7") == []
    if s.session_key is not None:
        assert current_manager().validate(s.session_key).user is None
    with pytest.raises(SessionRejected):
        current_manager().validate(token)


def end_session(token: str, end: str, clock: ManualClock) -> None:
    if end == "logout":
        current_manager().logout(token)
    elif end == "revoke":
        current_manager().revoke_user("7")
    else:
        clock.advance(601)


def test_clear_then_save_empties_the_session(dj_clock: ManualClock) -> None:
    token = stored({"a": 1, "b": 2})
    s = SessionStore(token)
    s.clear()
    s.save()
    key = s.session_key
    assert key is not None
    assert current_manager().validate(key).data == {}


def test_non_json_data_is_a_clear_type_error(dj_clock: ManualClock) -> None:
    s = SessionStore()
    s["when"] = object()
    with pytest.raises(TypeError):
        s.save()


# -- cycle_key, flush, delete, exists ---------------------------------------------------------


def test_cycle_key_with_a_user_is_a_login_with_no_grace(dj_clock: ManualClock) -> None:
    token = stored({"_auth_user_id": "7", "k": "v"}, user="7")
    s = SessionStore(token)
    s.cycle_key()
    new = s.session_key
    assert new not in (None, token)
    assert s.modified
    with pytest.raises(SessionRejected):
        current_manager().validate(token)
    s.save()
    assert current_manager().validate(new or "").data == {"_auth_user_id": "7", "k": "v"}


def test_cycle_key_before_the_user_id_logs_in_at_save(dj_clock: ManualClock) -> None:
    token = stored({"cart": "apple"})
    s = SessionStore(token)
    s.cycle_key()  # what django.contrib.auth.login does first
    s["_auth_user_id"] = "7"  # ... then it stores the user
    s.save()
    new = s.session_key
    assert new not in (None, token)
    with pytest.raises(SessionRejected):
        current_manager().validate(token)
    session = current_manager().validate(new or "")
    assert session.user == "7"
    assert session.data == {"cart": "apple", "_auth_user_id": "7"}


def test_cycle_key_of_an_anonymous_session_gives_a_new_token_at_save(
    dj_clock: ManualClock,
) -> None:
    token = stored({"cart": "apple"})
    s = SessionStore(token)
    s.cycle_key()
    s.save()
    assert s.session_key not in (None, token)
    with pytest.raises(SessionRejected):
        current_manager().validate(token)
    assert current_manager().validate(s.session_key or "").data == {"cart": "apple"}


def test_cycle_key_of_a_revoked_session_does_not_bring_it_back(dj_clock: ManualClock) -> None:
    token = stored({"_auth_user_id": "7"}, user="7")
    s = loaded(token)
    current_manager().revoke_user("7")
    s.cycle_key()  # update_session_auth_hash in a request that started before the revocation
    with pytest.raises(UpdateError):
        s.save()
    assert current_manager().list_user("7") == []


def test_removing_the_user_id_signs_out(dj_clock: ManualClock) -> None:
    token = stored({"_auth_user_id": "7", "k": 1}, user="7")
    s = SessionStore(token)
    del s["_auth_user_id"]
    s["notice"] = "signed out"
    s.save()
    assert s.session_key not in (None, token)
    session = current_manager().validate(s.session_key or "")
    # The core's rule for a sign-out: only what this request wrote survives, anonymously.
    assert session.user is None
    assert session.data == {"notice": "signed out"}
    assert current_manager().list_user("7") == []


def test_flush_destroys_the_server_side_session(dj_clock: ManualClock) -> None:
    token = stored({"_auth_user_id": "7"}, user="7")
    s = loaded(token)
    s.flush()
    assert s.session_key is None
    assert s.is_empty()
    assert current_manager().store_len() == 0
    # A new session may start afterwards (login as someone else after flush).
    s["_auth_user_id"] = "8"
    s.save()
    assert current_manager().validate(s.session_key or "").user == "8"


def test_delete_then_save_raises(dj_clock: ManualClock) -> None:
    token = stored({"a": 1})
    s = loaded(token)
    s.delete()
    with pytest.raises(UpdateError):
        s.save()
    assert current_manager().store_len() == 0


def test_delete_of_another_key(dj_clock: ManualClock) -> None:
    mine, other = stored({"a": 1}), stored({"b": 2})
    s = SessionStore(mine)
    s.delete(other)
    assert not s.exists(other)
    assert s.exists(mine)


def test_exists_does_not_touch_or_rotate(dj_clock: ManualClock) -> None:
    token = stored({"a": 1})
    dj_clock.advance(301)
    assert SessionStore().exists(token)
    # Not rotated by exists(): the first validate still gets the rotation.
    assert current_manager().validate(token).new_token is not None
    assert not SessionStore().exists("nope")


def test_async_cycle_key_and_flush(dj_clock: ManualClock) -> None:
    token = stored({"_auth_user_id": "7"}, user="7")
    s = SessionStore(token)

    async def run() -> None:
        await s.aload()
        await s.acycle_key()
        assert s.session_key not in (None, token)
        await s.aflush()

    asyncio.run(run())
    assert current_manager().store_len() == 0


# -- cookie lifetime --------------------------------------------------------------------------


def test_browser_session_cookie_by_default(dj_clock: ManualClock) -> None:
    s = SessionStore()
    assert s.get_expire_at_browser_close()
    assert s.get_expiry_age() == 600  # the idle timeout, for callers that ask


def test_cookie_max_age_option(dj_clock: ManualClock) -> None:
    with override_settings(
        TESSERA={"clock": dj_clock, **TEST_OPTIONS, "cookie_max_age": timedelta(minutes=15)}
    ):
        s = SessionStore()
        assert not s.get_expire_at_browser_close()
        assert s.get_expiry_age() == 900
        s.set_expiry(0)
        assert s.get_expire_at_browser_close()


# -- configuration ----------------------------------------------------------------------------


def test_one_manager_per_process_reset_on_setting_change(dj_clock: ManualClock) -> None:
    first = get_manager()
    assert get_manager() is first
    with override_settings(TESSERA={"sweep_interval": None, "idle_timeout": 60}):
        assert get_manager() is not first
        assert get_manager().idle_timeout == 60
    reset_manager()
    assert get_manager() is not first


def test_cookie_settings_flow_into_the_manager(dj_clock: ManualClock) -> None:
    options = manager_options()
    assert options["cookie_name"] == "__Host-session"
    assert options["cookie_secure"] is True
    assert options["cookie_same_site"] == "lax"
    assert get_manager().cookie_name == "__Host-session"


@pytest.mark.parametrize(
    "tessera",
    [
        {"idle_timeout": 0},
        {"idle_timeout": 7200, "absolute_timeout": 3600},
        {"no_such_option": 1},
        {"cookie_name": "other"},
        "not a dict",
    ],
)
def test_invalid_options_are_improperly_configured(django_env: None, tessera: Any) -> None:
    with override_settings(TESSERA=tessera), pytest.raises(ImproperlyConfigured):
        get_manager()


# -- system checks ----------------------------------------------------------------------------


def tessera_messages() -> dict[str, checks.CheckMessage]:
    return {
        m.id or "": m
        for m in checks.run_checks(tags=["tessera"])
        if (m.id or "").startswith("tessera.")
    }


def test_no_check_fires_on_secure_settings(django_env: None) -> None:
    assert tessera_messages() == {}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"SESSION_COOKIE_NAME": "sid", "SESSION_COOKIE_SECURE": False}, "tessera.W001"),
        ({"SESSION_COOKIE_HTTPONLY": False}, "tessera.W002"),
        ({"SESSION_COOKIE_SAMESITE": None}, "tessera.W003"),
        ({"SESSION_COOKIE_SAMESITE": False}, "tessera.W003"),
        ({"TESSERA": {"idle_timeout": 0}}, "tessera.E001"),
        ({"TESSERA": {"bogus": True}}, "tessera.E001"),
        ({"TESSERA": ["not", "a", "dict"]}, "tessera.E001"),
        ({"SESSION_COOKIE_SECURE": False}, "tessera.E001"),  # __Host- needs Secure
    ],
)
def test_checks_fire(django_env: None, overrides: dict[str, Any], expected: str) -> None:
    with override_settings(**overrides):
        found = tessera_messages()
    assert expected in found, found
    message = found[expected]
    assert message.level == (checks.ERROR if expected.endswith("E001") else checks.WARNING)
    assert message.hint


def test_invalid_options_are_no_error_with_another_engine(django_env: None) -> None:
    with override_settings(
        SESSION_ENGINE="django.contrib.sessions.backends.cache", TESSERA={"bogus": 1}
    ):
        assert "tessera.E001" not in tessera_messages()


def test_manage_py_check_reports_them(django_env: None) -> None:
    from django.core.management.base import SystemCheckError

    with override_settings(TESSERA={"idle_timeout": 0}), pytest.raises(SystemCheckError):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


# -- clearsessions ----------------------------------------------------------------------------


def test_clearsessions_sweeps_expired_sessions(dj_clock: ManualClock) -> None:
    live, _ = stored({"a": 1}), stored({"b": 2})
    dj_clock.advance(500)
    live = current_manager().validate(live).new_token or live  # touched (and rotated): stays
    dj_clock.advance(200)  # the other one has been idle for 700 s
    assert current_manager().store_len() == 2
    call_command("clearsessions")
    assert current_manager().store_len() == 1
    assert current_manager().validate(live).data == {"a": 1}


def test_the_middleware_refuses_another_engine(django_env: None) -> None:
    from django.conf import settings
    from django.test import Client

    other = override_settings(
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        MIDDLEWARE=list(settings.TESSERA_MIDDLEWARE),
    )
    with other, pytest.raises(ImproperlyConfigured, match="SESSION_ENGINE"):
        Client().get("/whoami/")
