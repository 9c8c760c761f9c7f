"""The memory store under several processes warns, once per process, naming the fix.

A real ``os.fork()`` for the forked case (the child reports through a pipe and leaves with
``os._exit``), the test clients with ``wsgi.multiprocess=True`` for the multi-worker case, and
``manage.py check --deploy`` for Django's system check.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from flask import Flask, session
from tessera import DeploymentWarning, SessionManager, deployment
from tessera.flask import TesseraSessionInterface

from tests.conftest_django import *  # noqa: F403
from tests.conftest_django import COOKIE

GUNICORN: dict[str, Any] = {"wsgi.multiprocess": True, "SERVER_SOFTWARE": "gunicorn/23.0.0"}
PEPPER = "tests-deployment-pepper-0123456789"


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process that has warned about nothing yet."""
    monkeypatch.setattr(deployment, "_issued", {})


def flask_app(manager: SessionManager) -> Flask:
    app = Flask(__name__)
    TesseraSessionInterface(manager).init_app(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"]}

    return app


def foreign_token() -> str:
    """A well-formed token of a session that another process's memory store holds."""
    token = SessionManager(sweep_interval=None).create("alice").new_token
    assert token is not None
    return token


def deployment_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DeploymentWarning)]


def in_child(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a forked child; its JSON result (or its error) comes back by a pipe."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ deprecates fork() in a process with threads (another test's sweeper).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read)
            try:
                payload = {"ok": work()}
            except BaseException as e:
                payload = {"error": f"{type(e).__name__}: {e}"}
                status = 1
            with os.fdopen(write, "w") as out:
                json.dump(payload, out)
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    result = json.loads(text)
    assert "error" not in result, result["error"]
    assert os.waitstatus_to_exitcode(status) == 0
    return result["ok"]


def test_store_is_shared_and_forked_are_exposed(tmp_path: Path) -> None:
    memory = SessionManager(sweep_interval=None)
    sqlite = SessionManager(store=f"sqlite:///{tmp_path / 's.db'}", sweep_interval=None)
    assert memory.store_is_shared is False
    assert sqlite.store_is_shared is True
    assert memory.forked is False
    assert in_child(lambda: [memory.forked, sqlite.forked]) == [True, True]
    assert memory.forked is False


def test_a_memory_manager_used_after_fork_warns_once_in_the_child() -> None:
    app = flask_app(SessionManager(sweep_interval=None, pepper=PEPPER))
    parent = app.test_client()
    assert parent.get("/").json == {"visits": 1}  # no warning here (filterwarnings = error)

    def child() -> list[str]:
        client = app.test_client()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            for expected in (1, 2, 3):
                assert client.get("/").json == {"visits": expected}
        return deployment_warnings(record)

    messages = in_child(child)
    assert len(messages) == 1, messages
    assert "fork()" in messages[0]
    assert 'store="sqlite:///' in messages[0] and "redis://" in messages[0]
    assert str(os.getpid()) not in messages[0]  # the child names itself


def test_a_shared_store_used_after_fork_does_not_warn(tmp_path: Path) -> None:
    manager = SessionManager(store=f"sqlite:///{tmp_path / 's.db'}", sweep_interval=None)
    app = flask_app(manager)

    def child() -> list[str]:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert app.test_client().get("/").status_code == 200
        return deployment_warnings(record)

    assert in_child(child) == []


def test_a_token_from_another_worker_is_named_as_such_after_fork() -> None:
    manager = SessionManager(sweep_interval=None)
    app = flask_app(manager)
    token = foreign_token()

    def child() -> list[str]:
        client = app.test_client()
        client.set_cookie(manager.cookie_name, token)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            client.get("/")
        return deployment_warnings(record)

    messages = in_child(child)
    assert len(messages) == 2, messages
    unknown = messages[1]
    assert "another worker process" in unknown and "CSRF" in unknown
    assert token not in unknown and token not in messages[0]


def test_flask_under_several_workers_warns_once() -> None:
    app = flask_app(SessionManager(sweep_interval=None))
    client = app.test_client()
    with pytest.warns(DeploymentWarning) as record:
        client.get("/", environ_overrides=GUNICORN)
        client.get("/", environ_overrides=GUNICORN)
    messages = deployment_warnings(record.list)
    assert len(messages) == 1, messages
    assert "wsgi.multiprocess" in messages[0] and 'store="sqlite:///' in messages[0]


def test_flask_unknown_token_under_several_workers_says_another_worker() -> None:
    manager = SessionManager(sweep_interval=None)
    client = flask_app(manager).test_client()
    token = foreign_token()
    client.set_cookie(manager.cookie_name, token)
    with pytest.warns(DeploymentWarning) as record:
        client.get("/", environ_overrides=GUNICORN)
    messages = deployment_warnings(record.list)
    assert any("issued by another worker process" in m for m in messages), messages
    assert all(token not in m for m in messages)


def test_flask_without_a_multiprocess_signal_does_not_warn(tmp_path: Path) -> None:
    # filterwarnings = error: any DeploymentWarning here fails the test.
    memory = flask_app(SessionManager(sweep_interval=None)).test_client()
    memory.get("/")  # Werkzeug's test client: wsgi.multiprocess False
    # wsgiref (Django's runserver) says multiprocess whatever runs: not trusted.
    memory.get("/", environ_overrides={"wsgi.multiprocess": True,
                                       "SERVER_SOFTWARE": "WSGIServer/0.2 CPython/3.11"})
    shared = SessionManager(store=f"sqlite:///{tmp_path / 's.db'}", sweep_interval=None)
    flask_app(shared).test_client().get("/", environ_overrides=GUNICORN)


@pytest.fixture
def memory_django(tessera_middleware: None) -> Iterator[None]:
    with override_settings(TESSERA={"sweep_interval": None}):
        yield


@pytest.mark.usefixtures("memory_django")
def test_django_under_several_workers_warns_once() -> None:
    client = Client()  # Django's test client sets wsgi.multiprocess=True already
    with pytest.warns(DeploymentWarning) as record:
        client.get("/whoami/", secure=True, **GUNICORN)
        client.get("/whoami/", secure=True, **GUNICORN)
    messages = deployment_warnings(record.list)
    assert len(messages) == 1, messages
    assert "several worker processes" in messages[0] and "redis://" in messages[0]


@pytest.mark.usefixtures("memory_django")
def test_django_unknown_token_under_several_workers_says_another_worker() -> None:
    client = Client()
    token = foreign_token()
    client.cookies[COOKIE] = token
    with pytest.warns(DeploymentWarning) as record:
        client.get("/whoami/", secure=True, **GUNICORN)
    messages = deployment_warnings(record.list)
    assert any("issued by another worker process" in m for m in messages), messages
    assert all(token not in m for m in messages)


@pytest.mark.usefixtures("memory_django")
def test_django_test_client_alone_does_not_warn() -> None:
    # wsgi.multiprocess=True without a server that names itself: the test client, not gunicorn.
    assert Client().get("/whoami/", secure=True).status_code == 200


def run_check_deploy() -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("check", "--deploy", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.usefixtures("django_env")
def test_check_deploy_warns_about_the_memory_store(tmp_path: Path) -> None:
    with override_settings(TESSERA={"sweep_interval": None}):
        report = run_check_deploy()
    assert "tessera.W004" in report
    assert 'store="sqlite:///' in report
    with override_settings(TESSERA={"sweep_interval": None, "store": "memory://"}):
        assert "tessera.W004" in run_check_deploy()
    shared = f"sqlite:///{tmp_path / 's.db'}"
    with override_settings(TESSERA={"sweep_interval": None, "store": shared}):
        assert "tessera.W004" not in run_check_deploy()
    # Only with --deploy: a plain check stays quiet about it.
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err)
    assert "tessera.W004" not in out.getvalue() + err.getvalue()
