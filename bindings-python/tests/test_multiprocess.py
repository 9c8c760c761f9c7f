"""Django and Flask under ``gunicorn -w 4``, as deployed, on the SQLite and the Redis store.

One visitor signs in (with a visitor CSRF token minted by whichever worker answered: the
configured pepper lets every worker verify it), then 200 requests spread over the workers all
see the same session, a regeneration kills the old token on every worker, and after the sign-out
neither old cookie is accepted by any worker (replayed until every worker has answered).
``--preload`` (the manager built in the master, used after the fork) runs once on SQLite.

Select with ``pytest -m multiprocess``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.conftest import free_port
from tests.redis_server import RedisServer

pytestmark = pytest.mark.multiprocess

HERE = Path(__file__).resolve().parent
WORKERS = 4
PEPPER = "multiprocess-tests-pepper-0123456789abcdef"
APPS = {
    "django": "tests.multiprocess_apps.django_app:application",
    "flask": "tests.multiprocess_apps.flask_app:app",
}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    #: What the response's ``Set-Cookie`` lines set, by name ("" for a cookie it clears).
    cookies: dict[str, str]

    @property
    def cookie(self) -> Optional[str]:
        """The session cookie (``sid``) the response sets, if it does."""
        return self.cookies.get("sid")


def _cookies(lines: list[str]) -> dict[str, str]:
    jar = {}
    for line in lines:
        name, _, value = line.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip().strip('"')
    return jar


class Gunicorn:
    """``gunicorn -w 4`` on a free loopback port; always stopped by :meth:`stop`."""

    def __init__(self, app: str, store: str, preload: bool, log: Path) -> None:
        binary = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
        assert binary is not None, "gunicorn is missing (bindings-python/requirements-dev.txt)"
        self.port = free_port()
        env = {
            **os.environ,
            "TESSERA_MP_STORE": store,
            "TESSERA_MP_PEPPER": PEPPER,
            "PYTHONPATH": str(HERE.parent),
        }
        if preload:
            env["TESSERA_MP_PRELOAD_MANAGER"] = "1"
        args = [binary, "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}",
                "--graceful-timeout", "5", "--log-level", "warning"]
        if preload:
            args.append("--preload")
        self.log = log
        self.log_file = open(log, "wb")  # closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - the venv's gunicorn
            [*args, APPS[app]], cwd=HERE.parent, env=env,
            stdout=self.log_file, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Bounded poll of /health until a worker answers and all the workers are forked (the
        master forks them one after the other)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{self.log.read_text()}")
            try:
                if (self.request("GET", "/health").status == 200
                        and len(self.workers()) == WORKERS):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn not ready in {timeout}s:\n{self.log.read_text()}")
            time.sleep(0.05)

    def workers(self) -> set[int]:
        """The pids of the master's worker processes."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(p) for p in path.read_text().split()}

    def request(self, method: str, path: str, cookie: Optional[str] = None,
                csrf: Optional[str] = None, others: Optional[dict[str, str]] = None) -> Answer:
        """One request on a new connection; ``cookie`` is the session cookie, ``others`` the
        rest of the browser's cookies (the visitor CSRF cookie)."""
        headers = {"Connection": "close"}
        jar = {**(others or {}), **({"sid": cookie} if cookie else {})}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            set_cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
            body = json.loads(raw) if response.status == 200 else {"text": raw.decode()}
            return Answer(response.status, body, _cookies(set_cookies))
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


def spread(server: Gunicorn, count: int, method: str, path: str,
           cookie: Optional[str]) -> list[Answer]:
    """``count`` requests, eight at a time, so that busy workers leave some to the others."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: server.request(method, path, cookie), range(count)))


def replay_until_every_worker(server: Gunicorn, cookie: str, workers: set[int]) -> list[Answer]:
    """The same request until every worker has answered it (bounded)."""
    answers: list[Answer] = []
    for _ in range(25):
        answers += spread(server, 16, "GET", "/whoami", cookie)
        if {a.body.get("pid") for a in answers} >= workers:
            break
    return answers


def run_scenario(server: Gunicorn) -> None:
    workers = server.workers()
    assert len(workers) == WORKERS

    # A visitor CSRF token from one worker, the sign-in POST (likely) on another.
    visitor = server.request("GET", "/csrf")
    assert visitor.status == 200 and visitor.body["user"] is None
    login = server.request("POST", "/login", csrf=visitor.body["csrf"], others=visitor.cookies)
    assert login.status == 200, login.body
    first = login.cookie
    assert first, "the sign-in sends the session cookie"
    marker = login.body["marker"]

    # 200 requests over the workers: every one sees the same signed-in session.
    answers = spread(server, 200, "GET", "/whoami", first)
    assert all(a.status == 200 for a in answers)
    assert {(a.body["user"], a.body["marker"]) for a in answers} == {("alice", marker)}
    pids = {a.body["pid"] for a in answers}
    assert pids <= workers
    assert len(pids) >= 2, f"only {pids} answered 200 requests"
    # And until every worker has answered it (bounded): each one serves the same session.
    everyone = replay_until_every_worker(server, first, workers)
    assert {a.body["pid"] for a in everyone} == workers
    assert {(a.status, a.body["user"], a.body["marker"]) for a in everyone} == {
        (200, "alice", marker)
    }

    # A regeneration: a new token; the old one is dead on every worker at once.
    token = server.request("GET", "/csrf", first).body["csrf"]
    regenerated = server.request("POST", "/regenerate", first, csrf=token)
    assert regenerated.status == 200, regenerated.body
    second = regenerated.cookie
    assert second and second != first
    assert regenerated.body["user"] == "alice"
    for a in spread(server, 40, "GET", "/whoami", second):
        assert (a.status, a.body["user"], a.body["marker"]) == (200, "alice", marker)
    stale = replay_until_every_worker(server, first, workers)
    assert {a.body["pid"] for a in stale} == workers, "every worker answered the old token"
    assert all(a.status == 200 and a.body["user"] is None for a in stale)

    # Sign out; both old cookies are refused by every worker.
    token = server.request("GET", "/csrf", second).body["csrf"]
    logout = server.request("POST", "/logout", second, csrf=token)
    assert logout.status == 200, logout.body
    assert logout.cookie == "", "the sign-out clears the cookie"
    for cookie in (second, first):
        replayed = replay_until_every_worker(server, cookie, workers)
        assert {a.body["pid"] for a in replayed} == workers, "every worker answered the replay"
        assert all(a.status == 200 and a.body["user"] is None for a in replayed)
        assert all(a.body["marker"] is None for a in replayed)


def serve(app: str, store: str, tmp_path: Path, preload: bool = False) -> None:
    server = Gunicorn(app, store, preload, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        run_scenario(server)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    assert "DeploymentWarning" not in log, log


@pytest.mark.parametrize("app", ["django", "flask"])
def test_gunicorn_four_workers_on_sqlite(app: str, tmp_path: Path) -> None:
    serve(app, f"sqlite:///{tmp_path / 'sessions.db'}", tmp_path)


@pytest.mark.parametrize("app", ["django", "flask"])
def test_gunicorn_four_workers_on_redis(app: str, tmp_path: Path, redis: RedisServer) -> None:
    serve(app, redis.url(f"mp-{app}-{os.getpid()}"), tmp_path)


@pytest.mark.parametrize("app", ["django", "flask"])
def test_gunicorn_preload_on_sqlite(app: str, tmp_path: Path) -> None:
    serve(app, f"sqlite:///{tmp_path / 'sessions.db'}", tmp_path, preload=True)


def test_gunicorn_memory_store_warns_in_each_worker(tmp_path: Path) -> None:
    """The failure the warnings exist for, for real: each worker that serves a request with the
    memory store says so on stderr, once."""
    server = Gunicorn("flask", "memory://", False, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        workers = server.workers()
        replay_until_every_worker(server, "", workers)
    finally:
        server.stop()
    log = server.log.read_text()
    warned = [line for line in log.splitlines() if "DeploymentWarning" in line]
    assert len(warned) == WORKERS, log
    assert all('store="sqlite:///' in line for line in warned)
