"""Device-bound sessions and step-up in Flask over real HTTP (tests/dbsc_cases.py), on the
memory store, on a private redis-server and on SQLite."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator

import pytest
from tessera import Event, ManualClock, SessionManager
from werkzeug.serving import make_server

from tests.dbsc_cases import *  # noqa: F403 - the shared cases
from tests.dbsc_cases import Gate, Site
from tests.http_apps.dbsc_flask_app import create_app
from tests.redis_server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis", "sqlite"])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        store = redis.url(f"dbscflask{os.getpid()}-{next(_prefixes)}")
    elif request.param == "sqlite":
        store = request.getfixturevalue("sqlite_url")
    else:
        store = "memory://"
    clock = ManualClock()
    manager = SessionManager(
        clock=clock, sweep_interval=None, dbsc=True, store=store
    )
    events: list[Event] = []
    manager.add_listener(events.append)
    gate = Gate()
    server = make_server("127.0.0.1", 0, create_app(manager, gate), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", manager, clock, events, gate)
    finally:
        gate.go.set()
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_blueprint_is_registered_only_with_dbsc_on() -> None:
    from tessera.flask import DBSC_BLUEPRINT

    on = create_app(SessionManager(sweep_interval=None, dbsc=True, dbsc_path_prefix="/dbsc"))
    rules = {
        r.rule: r.methods
        for r in on.url_map.iter_rules()
        if r.endpoint.startswith(DBSC_BLUEPRINT)
    }
    assert set(rules) == {"/dbsc/register", "/dbsc/refresh"}
    assert all("POST" in (m or ()) for m in rules.values())
    off = create_app(SessionManager(sweep_interval=None))
    assert DBSC_BLUEPRINT not in off.blueprints


def test_flask_login_confirm_login_is_a_reauthentication_that_keeps_the_binding(
    site: Site,
) -> None:
    from tests import dbsc_client as dc
    from tests.dbsc_cases import BOUND, COOKIE, JSON, cleared

    b, key = site.bound_browser()
    site.clock.advance(301)
    assert b.get("/sensitive", headers=JSON).json()["reason"] == "stale"
    old = b.jar.cookies[COOKIE]
    r = b.post("/confirm")
    assert r.status == 200 and not cleared(r, BOUND)
    assert b.jar.cookies[COOKIE] != old
    # docs/dbsc.md §2.9 gives the level as this event's detail; the core sends none (reported).
    assert len(site.take("reauthenticated")) == 1
    assert b.get("/sensitive", headers=JSON).status == 200
    assert site.account(b)["binding"] == "fresh"
    site.secrets.add(old)
    assert site.account(site.browser(jar=dc.CookieJar({COOKIE: old})))["user"] is None
    assert site.listed(key)[0].bound
