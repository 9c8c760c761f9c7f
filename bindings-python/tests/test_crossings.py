"""Calls into the native module per request (issue 10: at most one on the way in, one out).

The manager handed to the framework glue is wrapped so that every attribute read or method call
on it, and on the ``Request``/``Response`` objects it returns, is recorded; requests then go
through the frameworks' real test clients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from flask import Flask, session
from tessera import ManualClock, Request, Response, SessionManager
from tessera.flask import TesseraSessionInterface

from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import COOKIE


class Counting:
    """``target`` with every use recorded in ``calls`` (its own name, in order)."""

    def __init__(self, target: Any, calls: list[str]) -> None:
        self._target = target
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            self._calls.append(name)
            return _wrap(value, self._calls)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return _wrap(value(*args, **kwargs), self._calls)

        return call


def _wrap(value: Any, calls: list[str]) -> Any:
    if isinstance(value, (Request, Response)):
        return Counting(value, calls)
    if isinstance(value, tuple):
        return tuple(_wrap(v, calls) for v in value)
    return value


# -- Flask ----------------------------------------------------------------------------------------


def test_flask_request_crosses_once_in_and_once_out() -> None:
    calls: list[str] = []
    manager = SessionManager(
        clock=ManualClock(), sweep_interval=None, cookie_secure=False, cookie_name="sid"
    )
    app = Flask(__name__)
    app.config["TESTING"] = True
    TesseraSessionInterface(Counting(manager, calls)).init_app(app)  # type: ignore[arg-type]

    @app.get("/")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    calls.clear()  # what init_app asked once (store_is_shared) is not per request
    for expected in (1, 2, 3):
        assert client.get("/").text == str(expected)
        assert calls == ["open", "close"], calls
        calls.clear()


# -- Django ---------------------------------------------------------------------------------------


@pytest.fixture
def counted(dj_clock: ManualClock) -> Iterator[list[str]]:
    """The engine's manager, counted, under tessera.django.middleware."""
    from django.conf import settings
    from tessera.django import conf

    calls: list[str] = []
    with override_settings(MIDDLEWARE=list(settings.TESSERA_MIDDLEWARE)):
        state = conf.get_state()
        conf._state = dataclasses.replace(state, manager=Counting(state.manager, calls))
        yield calls


def test_django_request_crosses_once_in_and_once_out(counted: list[str]) -> None:
    client = Client()
    for value in ("a", "b", "c"):
        counted.clear()
        response = client.get(f"/set/k/{value}/", secure=True)
        assert response.status_code == 200
        assert COOKIE in client.cookies
        assert counted == ["open", "close"], counted


def test_django_untouched_session_crosses_once_in_and_once_out(counted: list[str]) -> None:
    """A request with a session cookie whose view never ran (a 404) is still begun and
    finished (a token rotated at begin must be sent)."""
    client = Client()
    client.get("/set/k/v/", secure=True)
    counted.clear()
    assert client.get("/no-such-page/", secure=True).status_code == 404
    assert counted == ["open", "close"], counted
