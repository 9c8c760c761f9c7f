"""Device-bound sessions and step-up in Django over real HTTP (tests/dbsc_cases.py), with
tessera.django.middleware, on the memory store, on a private redis-server and on SQLite."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connections
from django.test import override_settings
from django.test.testcases import QuietWSGIRequestHandler
from tessera import Event, ManualClock
from tessera.django import get_manager

from tests.conftest_django import *  # noqa: F403
from tests.dbsc_cases import *  # noqa: F403 - the shared cases
from tests.dbsc_cases import Gate, Site
from tests.django_project import dbsc as dbsc_app
from tests.redis_server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


class _Server:
    """Django's threaded WSGI server on 127.0.0.1:0, sharing the test database's in-memory
    connection with its request threads (as LiveServerTestCase does)."""

    def __init__(self) -> None:
        shared = {
            c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()
        }
        for conn in shared.values():
            conn.inc_thread_sharing()
        self.shared = shared
        self.httpd = ThreadedWSGIServer(
            ("127.0.0.1", 0),
            QuietWSGIRequestHandler,
            allow_reuse_address=False,
            connections_override=shared,
        )
        self.httpd.set_app(WSGIHandler())
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
        for conn in self.shared.values():
            conn.dec_thread_sharing()


@pytest.fixture(params=["memory", "redis", "sqlite"])
def site(request: pytest.FixtureRequest, django_env: None) -> Iterator[Site]:
    options: dict[str, Any] = {"sweep_interval": None, "dbsc": True}
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        options["store"] = redis.url(f"dbscdjango{os.getpid()}-{next(_prefixes)}")
    elif request.param == "sqlite":
        options["store"] = request.getfixturevalue("sqlite_url")
    clock = ManualClock()
    with override_settings(
        TESSERA={"clock": clock, **options},
        ROOT_URLCONF="tests.django_project.dbsc",
        MIDDLEWARE=list(settings.TESSERA_MIDDLEWARE),
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        LOGIN_URL="/login",
        TESSERA_REAUTHENTICATE_URL="/reauth",
    ):
        manager = get_manager()
        events: list[Event] = []
        manager.add_listener(events.append)
        gate = Gate()
        dbsc_app.HOLD = gate
        server = _Server()
        try:
            yield Site(f"http://127.0.0.1:{server.port}", manager, clock, events, gate)
        finally:
            gate.go.set()
            server.stop()
            dbsc_app.HOLD = dbsc_app._go_on


def _tessera_check_ids() -> set[str]:
    from django.core import checks

    return {m.id or "" for m in checks.run_checks(tags=["tessera"])}


def test_dbsc_without_tesseras_middleware_is_a_check_error(django_env: None) -> None:
    with override_settings(TESSERA={"dbsc": True, "sweep_interval": None}):
        assert "tessera.E002" in _tessera_check_ids()
        with override_settings(MIDDLEWARE=list(settings.TESSERA_MIDDLEWARE)):
            assert "tessera.E002" not in _tessera_check_ids()
    assert "tessera.E002" not in _tessera_check_ids()


def test_dbsc_urls_match_the_default_prefix(django_env: None) -> None:
    from django.urls import reverse

    with override_settings(ROOT_URLCONF="tests.django_project.dbsc"):
        assert reverse("tessera_dbsc:register") == "/_tessera/dbsc/register"
        assert reverse("tessera_dbsc:refresh") == "/_tessera/dbsc/refresh"
