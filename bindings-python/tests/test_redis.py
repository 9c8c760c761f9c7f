"""The Redis store through Python: the conformance corpus again, Flask on Redis, the GIL while
Redis stalls, a crash under load and recovery, AUTH, and two processes racing on one user."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tessera import ManualClock, SessionManager, SessionRejected, StoreUnavailable

from .redis_server import RedisCluster, RedisServer
from .test_conformance import run_scenario, scenario_files

_prefixes = itertools.count()


def prefix() -> str:
    return f"py{os.getpid()}-{next(_prefixes)}"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "path", scenario_files(), ids=lambda p: os.path.basename(p)[: -len(".json")]
)
def test_scenario_on_redis(redis_server: RedisServer, path: str) -> None:
    run_scenario(path, store=redis_server.url(prefix()))


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    yield cluster
    cluster.stop()


@pytest.mark.parametrize(
    "path", scenario_files(), ids=lambda p: os.path.basename(p)[: -len(".json")]
)
def test_scenario_on_redis_cluster(redis_cluster: RedisCluster, path: str) -> None:
    run_scenario(path, store=redis_cluster.url(prefix()))


def test_flask_flows_on_redis(redis_server: RedisServer) -> None:
    from .test_flask import COOKIE, make_app, make_manager

    clock = ManualClock()
    manager = make_manager(clock, store=redis_server.url(prefix()))
    client = make_app(manager).test_client()
    client.post("/set/cart/book")
    client.post("/login/alice")
    token = client.get_cookie(COOKIE)
    assert token is not None
    assert client.get("/private").get_data(as_text=True) == "hello alice"
    assert client.get("/").get_json()["data"] == {"cart": "book"}
    client.post("/logout")
    client.set_cookie(COOKIE, token.value)
    assert client.get("/private").status_code == 401
    assert manager.store_len() == 0


def test_the_gil_is_released_while_redis_stalls(redis_server: RedisServer) -> None:
    manager = SessionManager(store=redis_server.url(prefix(), command_timeout_ms=700),
                             sweep_interval=None)
    token = manager.login("stall").new_token
    assert token is not None
    outcome: dict[str, Any] = {}

    def call() -> None:
        started = time.monotonic()
        try:
            manager.validate(token)
            outcome["result"] = "valid"
        except StoreUnavailable as e:
            outcome["result"] = e.code
        outcome["seconds"] = time.monotonic() - started

    redis_server.pause()
    try:
        worker = threading.Thread(target=call)
        worker.start()
        ticks = 0
        while worker.is_alive():
            ticks += 1
            time.sleep(0.001)
        worker.join()
    finally:
        redis_server.resume()
    assert outcome["result"] == "store_unavailable", "never valid while Redis is unreachable"
    assert outcome["seconds"] < 3, "bounded by command_timeout_ms"
    assert ticks > 100, "other Python threads ran while Tessera waited on Redis"
    assert manager.validate(token).user == "stall", "service resumes without a new manager"


def test_a_crash_under_load_fails_closed_and_service_resumes() -> None:
    server = RedisServer()
    try:
        url = server.url(prefix(), command_timeout_ms=300)
        manager = SessionManager(store=url, sweep_interval=None)
        tokens = [manager.login(f"u{i}").new_token for i in range(20)]
        outage = threading.Event()
        stop = threading.Event()
        during: list[str] = []

        def load(worker: int) -> int:
            done = 0
            while not stop.is_set() and done < 5000:
                token = tokens[(worker + done) % len(tokens)]
                assert token is not None
                in_outage = outage.is_set()
                try:
                    manager.validate(token)
                    if in_outage:
                        during.append("valid")
                except StoreUnavailable:
                    if in_outage:
                        during.append("unavailable")
                except SessionRejected:
                    if in_outage:
                        during.append("rejected")
                done += 1
            return done

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(load, w) for w in range(4)]
            time.sleep(0.2)
            server.kill()
            time.sleep(0.05)
            outage.set()
            time.sleep(0.5)
            outage.clear()
            server.start()
            time.sleep(0.2)
            stop.set()
            total = sum(f.result() for f in futures)
        assert total > 0
        assert during, "the load kept running through the outage"
        assert "valid" not in during, "no validate succeeded while Redis was down"
        # Redis came back empty (no persistence): old sessions are gone, new ones work.
        with pytest.raises(SessionRejected):
            manager.validate(tokens[0] or "")
        fresh = manager.login("after").new_token
        assert fresh is not None and manager.validate(fresh).user == "after"
    finally:
        server.stop()


def test_requirepass() -> None:
    server = RedisServer(password="py-s3cret")
    try:
        manager = SessionManager(store=server.url(prefix()), sweep_interval=None)
        token = manager.create().new_token
        assert token is not None and manager.validate(token).user is None
        wrong = SessionManager(store=server.url(prefix()).replace("py-s3cret", "nope"),
                               sweep_interval=None)
        with pytest.raises(StoreUnavailable) as e:
            wrong.validate(token)
        assert "nope" not in str(e.value)
    finally:
        server.stop()


def _racer(url: str, seed: int, rounds: int, queue: Any) -> None:
    """One process's share of the race: login, rotate, logout on one shared user."""
    manager = SessionManager(store=url, sweep_interval=None, rotation_grace=0.2)
    ended: list[str] = []
    rotated_away: list[tuple[str, float]] = []
    live: list[str] = []
    for i in range(rounds):
        op = (seed * 7 + i * 13) % 5
        try:
            if op in (0, 1) or not live:
                s = manager.login("racer", live[-1] if live and op == 1 else None)
                assert s.new_token is not None
                if op == 1 and live:
                    ended.append(live.pop())  # login with grace 0: the old token is dead
                live.append(s.new_token)
            elif op == 2:
                old = live.pop()
                s = manager.rotate(old)
                assert s.new_token is not None
                rotated_away.append((old, time.monotonic() + 0.2))
                live.append(s.new_token)
            elif op == 3:
                token = live.pop()
                if manager.logout(token):
                    ended.append(token)
            else:
                manager.validate(live[-1])
        except SessionRejected:
            # The other process revoked the user meanwhile: that session is over.
            if live:
                ended.append(live.pop())
        if i % 25 == 24:
            manager.revoke_user_except("racer", live[-1] if live else "")
    queue.put((ended, rotated_away, live))


def test_two_processes_racing_on_one_user(redis_server: RedisServer) -> None:
    url = redis_server.url(prefix())
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_racer, args=(url, seed, 150, queue)) for seed in (1, 2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    manager = SessionManager(store=url, sweep_interval=None, rotation_grace=0.2)
    time.sleep(0.25)  # every rotation grace has passed
    for ended, rotated_away, _live in results:
        for token in ended:
            with pytest.raises(SessionRejected):
                manager.validate(token)
        for token, _until in rotated_away:
            with pytest.raises(SessionRejected):
                manager.validate(token)
    listed = {i.id for i in manager.list_user("racer")}
    alive = set()
    for _, _, live in results:
        for token in live:
            try:
                alive.add(manager.validate(token).id)
            except SessionRejected:
                pass
    assert alive <= listed, "every live session is in the user's index"
    manager.revoke_user("racer")
    for _, _, live in results:
        for token in live:
            with pytest.raises(SessionRejected):
                manager.validate(token)
    assert manager.list_user("racer") == []
