"""The HTTP conformance corpus (tests/http/*.json) through Flask's real request cycle: the
reference app of tests/http_apps/flask_app.py, driven with Flask's test client, on the memory
store, on Redis (a private redis-server; under CI=true a missing one fails) and on SQLite. The
runner keeps the cookie jar itself (tests/http/README.md, "Cookies")."""

from __future__ import annotations

import glob
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Optional

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from tessera import ManualClock, SessionManager
from werkzeug.test import TestResponse

from .conftest import REPO
from .http_apps.flask_app import create_app
from .redis_server import RedisCluster, RedisServer

CORPUS = os.path.join(REPO, "tests", "http")
START_SECONDS = 1_700_000_000
#: How long a held request may take to reach its gate before the scenario fails (a hang guard,
#: not a timing assumption: the runner waits on events it controls).
GATE_TIMEOUT = 30

#: Scenarios Flask cannot run as written, with the reason (keep it short).
SKIP: dict[str, str] = {}

_STEP_KEYS = {
    "request",
    "expect",
    "save_cookie",
    "save_csrf",
    "advance_ms",
    "store_len",
    "hold",
    "release",
}
_REQUEST_KEYS = {"method", "path", "body", "https", "headers", "cookie", "csrf"}
_EXPECT_KEYS = {"status", "cookie", "attributes", "no_store", "body"}
_prefixes = itertools.count()


def scenario_files() -> list[str]:
    return sorted(glob.glob(os.path.join(CORPUS, "*.json")))


def manager_options(config: dict[str, Any]) -> dict[str, Any]:
    """A scenario's config (tests/conformance/README.md names) as SessionManager keywords."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith("_ms"):
            out[key[: -len("_ms")]] = None if value is None else value / 1000
        else:
            out[key] = value
    return out


# -- checks --------------------------------------------------------------------------------------


def same_json(want: Any, got: Any) -> bool:
    """JSON equality with the types: true is not 1, 1 is not 1.0."""
    if type(want) is not type(got):
        return False
    if isinstance(want, dict):
        return want.keys() == got.keys() and all(same_json(want[k], got[k]) for k in want)
    if isinstance(want, list):
        return len(want) == len(got) and all(same_json(a, b) for a, b in zip(want, got))
    return bool(want == got)


@dataclass
class SetCookie:
    value: str
    attributes: dict[str, Optional[str]]  # lower-case name -> value (None for a flag)

    @property
    def cleared(self) -> bool:
        if self.attributes.get("max-age") is not None:
            return int(self.attributes["max-age"] or 0) <= 0
        expires = self.attributes.get("expires")
        if expires is not None:
            return parsedate_to_datetime(expires).timestamp() <= time.time()
        return False


def parse_set_cookie(line: str) -> tuple[str, SetCookie]:
    first, *rest = line.split(";")
    name, _, value = first.strip().partition("=")
    attributes: dict[str, Optional[str]] = {}
    for part in rest:
        key, sep, val = part.strip().partition("=")
        attributes[key.lower()] = val if sep else None
    return name, SetCookie(value, attributes)


def check_attributes(want: dict[str, Any], got: SetCookie) -> list[str]:
    errors = []
    for name, expected in want.items():
        present = name.lower() in got.attributes
        actual = got.attributes.get(name.lower())
        if name in ("Secure", "HttpOnly"):
            ok = present == bool(expected)
        elif name == "Expires":
            ok = present == (expected is not None and expected is not False)
        elif expected is None:
            ok = not present
        elif name == "Max-Age":
            if not present or actual is None:
                ok = False
            elif isinstance(expected, dict):
                ok = expected["min"] <= int(actual) <= expected["max"]
            else:
                ok = int(actual) == expected
        elif name == "SameSite":
            ok = actual is not None and actual.lower() == str(expected).lower()
        else:
            ok = actual == expected
        if not ok:
            errors.append(
                f"attribute {name}: expected {expected!r}, got {actual!r} "
                f"({'present' if present else 'absent'})"
            )
    return errors


# -- the runner ----------------------------------------------------------------------------------


@dataclass
class Held:
    """A request stopped at the app's gate, in its own thread."""

    sent: list[str]
    jar_client: bool
    reached: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    response: Optional[TestResponse] = None
    error: Optional[BaseException] = None
    thread: Optional[threading.Thread] = None


class Runner:
    def __init__(self, scenario: dict[str, Any], store: str) -> None:
        self.name = scenario["name"]
        self.clock = ManualClock(START_SECONDS)
        self.manager = SessionManager(
            clock=self.clock,
            sweep_interval=None,
            store=store,
            **manager_options(scenario.get("config", {})),
        )
        self.cookie = self.manager.cookie_name
        self.gates: dict[str, Held] = {}
        self.app: Flask = create_app(self.manager, after_action=self.after_action)
        self.client: FlaskClient = self.app.test_client(use_cookies=False)
        self.jar: dict[str, str] = {}
        self.saved_cookies: dict[str, str] = {}
        self.saved_csrf: dict[str, str] = {}
        self.held: dict[str, Held] = {}

    def after_action(self) -> None:
        held = self.gates.get(request.environ.get("corpus.hold", ""))
        if held is not None:
            held.reached.set()
            held.gate.wait()

    # -- a request ---------------------------------------------------------------------------

    def cookie_header(self, spec: Any) -> tuple[Optional[str], list[str]]:
        """The Cookie header for a request step, and the session cookie values it carries."""
        others = [f"{k}={v}" for k, v in self.jar.items() if k != self.cookie]
        session: Optional[str]
        if spec is _ABSENT:
            session = self.jar.get(self.cookie)
        elif spec is None:
            session = None
        elif isinstance(spec, str):
            if spec not in self.saved_cookies:
                raise AssertionError(f"cookie {spec!r} used before it was saved")
            session = self.saved_cookies[spec]
        elif isinstance(spec, dict) and set(spec) == {"raw"}:
            raw = spec["raw"]
            return raw, self.session_values(raw)
        elif isinstance(spec, dict) and set(spec) == {"template"}:
            text = spec["template"]
            for name, value in self.saved_cookies.items():
                text = text.replace("{" + name + "}", value)
            if "{" in text:
                raise AssertionError(f"template {spec['template']!r} uses an unsaved name")
            return text, self.session_values(text)
        else:
            raise AssertionError(f"bad cookie spec {spec!r}")
        pairs = others + ([f"{self.cookie}={session}"] if session is not None else [])
        return ("; ".join(pairs) or None), ([session] if session is not None else [])

    def session_values(self, header: str) -> list[str]:
        values = []
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                values.append(value)
        return values

    def open(self, spec: dict[str, Any], hold: Optional[str] = None) -> tuple[Any, list[str]]:
        unknown = set(spec) - _REQUEST_KEYS
        assert not unknown, f"unknown request keys {unknown}"
        header, sent = self.cookie_header(spec.get("cookie", _ABSENT))
        headers = dict(spec.get("headers", {}))
        if header is not None:
            headers["Cookie"] = header
        if "csrf" in spec:
            csrf = spec["csrf"]
            if isinstance(csrf, dict):
                headers["X-CSRF-Token"] = csrf["raw"]
            else:
                if csrf not in self.saved_csrf:
                    raise AssertionError(f"csrf {csrf!r} used before it was saved")
                headers["X-CSRF-Token"] = self.saved_csrf[csrf]
        kwargs: dict[str, Any] = {
            "method": spec["method"],
            "headers": headers,
            "base_url": "https://localhost" if spec.get("https") else "http://localhost",
            "environ_overrides": {"corpus.hold": hold or ""},
        }
        if "body" in spec:
            kwargs["json"] = spec["body"]
        return kwargs, sent

    def run_request(self, path: str, kwargs: dict[str, Any]) -> TestResponse:
        response = self.client.open(path, **kwargs)
        # Streamed bodies are read here, as a server would, before the next step.
        response.get_data()
        return response

    # -- checks and the jar --------------------------------------------------------------------

    def conclude(
        self, step: dict[str, Any], response: TestResponse, sent: list[str], jar_client: bool
    ) -> None:
        expect = step.get("expect", {})
        unknown = set(expect) - _EXPECT_KEYS
        assert not unknown, f"unknown expect keys {unknown}"
        errors: list[str] = []
        session_cookie: Optional[SetCookie] = None
        for line in response.headers.getlist("Set-Cookie"):
            name, parsed = parse_set_cookie(line)
            if name == self.cookie:
                if session_cookie is not None:
                    errors.append("two Set-Cookie lines for the session cookie")
                session_cookie = parsed
            elif not jar_client:
                continue
            elif parsed.cleared:
                self.jar.pop(name, None)
            else:
                self.jar[name] = parsed.value
        no_store = "no-store" in response.headers.get("Cache-Control", "")
        if session_cookie is not None and not no_store:
            errors.append("the session cookie is set or cleared without Cache-Control: no-store")
        if "status" in expect:
            want = expect["status"]
            got = response.status_code
            ok = got // 100 == want if want < 10 else got == want
            if not ok:
                errors.append(f"status: expected {want}, got {got}")
        if "cookie" in expect:
            want = expect["cookie"]
            if session_cookie is None:
                got_kind = "none"
            elif session_cookie.cleared:
                got_kind = "cleared"
            elif session_cookie.value in sent:
                got_kind = "same"
            else:
                got_kind = "new"
            ok = got_kind == want or (want == "set" and got_kind in ("new", "same"))
            if not ok:
                errors.append(f"cookie: expected {want}, got {got_kind}")
        if "attributes" in expect:
            if session_cookie is None:
                errors.append("attributes: no Set-Cookie for the session cookie")
            else:
                errors += check_attributes(expect["attributes"], session_cookie)
        if "no_store" in expect:
            if no_store != expect["no_store"]:
                errors.append(f"no_store: expected {expect['no_store']}, got {no_store}")
        body = response.get_json(silent=True)
        if "body" in expect:
            want = expect["body"]
            if isinstance(want, dict):
                if not isinstance(body, dict):
                    errors.append(f"body: expected an object with {want}, got {body!r}")
                else:
                    for key, value in want.items():
                        if key not in body or not same_json(value, body[key]):
                            errors.append(
                                f"body[{key!r}]: expected {value!r}, got "
                                f"{body.get(key, '<absent>')!r}"
                            )
            elif not same_json(want, body):
                errors.append(f"body: expected {want!r}, got {body!r}")
        # What this step's client holds now: the session cookie it sent, changed by the response.
        held: Optional[str] = sent[0] if len(sent) == 1 else None
        if session_cookie is not None:
            held = None if session_cookie.cleared else session_cookie.value
        if jar_client:
            if held is None:
                self.jar.pop(self.cookie, None)
            else:
                self.jar[self.cookie] = held
        if "save_cookie" in step:
            assert held is not None, "save_cookie: the client holds no session cookie"
            self.saved_cookies[step["save_cookie"]] = held
        if "save_csrf" in step:
            assert isinstance(body, dict) and "csrf" in body, "save_csrf: no csrf in the body"
            self.saved_csrf[step["save_csrf"]] = body["csrf"]
        assert not errors, "; ".join(errors)

    # -- steps ---------------------------------------------------------------------------------

    def step(self, index: int, step: dict[str, Any]) -> None:
        unknown = set(step) - _STEP_KEYS
        assert not unknown, f"unknown step keys {unknown}"
        if "advance_ms" in step:
            self.clock.advance(step["advance_ms"] / 1000)
        elif "store_len" in step:
            got = self.manager.store_len()
            assert got == step["store_len"], f"store_len: expected {step['store_len']}, got {got}"
        elif "hold" in step:
            self.hold(step["hold"], step["request"])
        elif "release" in step:
            self.release(step)
        else:
            spec = step["request"]
            kwargs, sent = self.open(spec)
            response = self.run_request(spec["path"], kwargs)
            self.conclude(step, response, sent, jar_client="cookie" not in spec)

    def hold(self, name: str, spec: dict[str, Any]) -> None:
        kwargs, sent = self.open(spec, hold=name)
        held = Held(sent, jar_client="cookie" not in spec)
        self.gates[name] = held
        self.held[name] = held

        def run() -> None:
            try:
                held.response = self.run_request(spec["path"], kwargs)
            except BaseException as e:  # reported by release
                held.error = e
            finally:
                held.reached.set()

        held.thread = threading.Thread(target=run, name=f"held {name}")
        held.thread.start()
        assert held.reached.wait(GATE_TIMEOUT), f"held request {name!r} never reached its gate"

    def release(self, step: dict[str, Any]) -> None:
        name = step["release"]
        held = self.held.pop(name, None)
        assert held is not None, f"release of {name!r}, which is not held"
        held.gate.set()
        assert held.thread is not None
        held.thread.join(GATE_TIMEOUT)
        assert not held.thread.is_alive(), f"held request {name!r} did not finish"
        if held.error is not None:
            raise held.error
        assert held.response is not None
        self.conclude(step, held.response, held.sent, held.jar_client)

    def run(self, steps: list[dict[str, Any]]) -> None:
        try:
            for index, step in enumerate(steps):
                try:
                    self.step(index, step)
                except AssertionError as e:
                    raise AssertionError(f"{self.name}, step {index + 1}: {e}") from None
            assert not self.held, f"held requests never released: {sorted(self.held)}"
        finally:
            for held in self.held.values():
                held.gate.set()


class _Absent:
    pass


_ABSENT = _Absent()


def run_scenario(path: str, store: str) -> None:
    with open(path, encoding="utf-8") as f:
        scenario = json.load(f)
    unknown = set(scenario) - {"name", "description", "config", "steps"}
    assert not unknown, f"unknown scenario keys {unknown}"
    reason = SKIP.get(scenario["name"])
    if reason is not None:
        pytest.skip(reason)
    Runner(scenario, store).run(scenario["steps"])


def scenario_id(path: str) -> str:
    return os.path.basename(path)[: -len(".json")]


def test_the_corpus_is_there() -> None:
    assert len(scenario_files()) >= 40
    unknown = set(SKIP) - {scenario_id(p) for p in scenario_files()}
    assert not unknown, f"the skip table names scenarios that do not exist: {unknown}"


@pytest.mark.parametrize("path", scenario_files(), ids=scenario_id)
def test_flask_memory(path: str) -> None:
    run_scenario(path, "memory://")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.mark.parametrize("path", scenario_files(), ids=scenario_id)
def test_flask_redis(redis_server: RedisServer, path: str) -> None:
    run_scenario(path, redis_server.url(f"flaskhttp{os.getpid()}-{next(_prefixes)}"))


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    yield cluster
    cluster.stop()


@pytest.mark.parametrize("path", scenario_files(), ids=scenario_id)
def test_flask_redis_cluster(redis_cluster: RedisCluster, path: str) -> None:
    run_scenario(path, redis_cluster.url(f"flaskcl{os.getpid()}-{next(_prefixes)}"))


@pytest.mark.parametrize("path", scenario_files(), ids=scenario_id)
def test_flask_sqlite(tmp_path: Any, path: str) -> None:
    run_scenario(path, f"sqlite:///{tmp_path}/sessions.db")
