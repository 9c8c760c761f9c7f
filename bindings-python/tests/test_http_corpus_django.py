"""The HTTP conformance corpus (tests/http/*.json) through Django's real request cycle.

The reference app is tests/django_project/corpus.py behind ``tessera.django.middleware``, driven
by Django's test client, on the memory store, on Redis and on SQLite (a fresh database file per
scenario), with a manual clock. The runner keeps the cookie jar itself (tests/http/README.md,
"Cookies"). A scenario that cannot pass for a Django-inherent reason is in ``SKIP`` with that
reason.
"""

from __future__ import annotations

import email.utils
import glob
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import Client, override_settings
from tessera import ManualClock
from tessera.django import get_manager

from tests.conftest import REPO
from tests.conftest_django import *  # noqa: F403
from tests.django_project import corpus
from tests.redis_server import RedisCluster, RedisServer

CORPUS = os.path.join(REPO, "tests", "http")
SCENARIOS = sorted(glob.glob(os.path.join(CORPUS, "*.json")))

#: Scenarios Django cannot pass, with the Django-inherent reason.
SKIP: dict[str, str] = {
    "error_response_after_login_does_not_log_in": (
        "django.contrib.auth.login() calls session.cycle_key() for an anonymous session, and "
        "cycle_key() promises a new key at once (the old one no longer exists()): a view that "
        "answers 500 after login() has already replaced the pre-login token (the 500 delivers "
        "its successor, still anonymous; the login itself is not performed)"
    ),
    "permanent_cookie_lives_no_longer_than_the_session": (
        "Django has no session.permanent (Flask's); its set_expiry() is the /expiry route"
    ),
    "permanent_false_is_a_browser_session_cookie_again": (
        "Django has no session.permanent (Flask's); its set_expiry() is the /expiry route"
    ),
}

START = 1_700_000_000  # the corpus's manual clock, in seconds

SCENARIO_KEYS = {"name", "description", "config", "config_error", "steps"}
STEP_KEYS = {
    "request", "expect", "save_cookie", "save_csrf", "hold", "release", "advance_ms", "store_len",
}
REQUEST_KEYS = {"method", "path", "body", "https", "headers", "cookie", "csrf"}
EXPECT_KEYS = {"status", "cookie", "attributes", "no_store", "body"}
ATTRIBUTES = {"secure", "httponly", "samesite", "path", "domain", "max-age", "expires"}

#: Corpus config keys that are Django settings (Django's middleware conventions own the cookie).
COOKIE_SETTINGS = {
    "cookie_name": "SESSION_COOKIE_NAME",
    "cookie_secure": "SESSION_COOKIE_SECURE",
    "cookie_http_only": "SESSION_COOKIE_HTTPONLY",
    "cookie_path": "SESSION_COOKIE_PATH",
    "cookie_domain": "SESSION_COOKIE_DOMAIN",
    "cookie_same_site": "SESSION_COOKIE_SAMESITE",
}
MANAGER_OPTIONS = {
    "idle_timeout_ms", "absolute_timeout_ms", "rotation_interval_ms", "rotation_grace_ms",
    "max_sessions_per_user", "max_sessions", "max_data_bytes", "login_keeps_data",
    "cookie_max_age_ms",
}


# -- JSON equality with types ------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """JSON equality: types count (``True`` is not ``1``, ``1`` is not ``1.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


# -- cookies -----------------------------------------------------------------------------------


@dataclass
class SetCookie:
    name: str
    value: str
    attributes: dict[str, Any]  # lowercase name -> value (True for a flag)

    @classmethod
    def parse(cls, line: str) -> SetCookie:
        first, *rest = [part.strip() for part in line.split(";")]
        name, _, value = first.partition("=")
        attributes: dict[str, Any] = {}
        for part in rest:
            if not part:
                continue
            key, eq, val = part.partition("=")
            attributes[key.strip().lower()] = val.strip() if eq else True
        return cls(name.strip(), value.strip().strip('"'), attributes)

    @property
    def clears(self) -> bool:
        if self.attributes.get("max-age") == "0":
            return True
        expires = self.attributes.get("expires")
        if isinstance(expires, str):
            when = email.utils.parsedate_to_datetime(expires)
            return when.timestamp() <= 0 or when.year < 2000
        return False


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def session_values(header: Optional[str], name: str) -> list[str]:
    if not header:
        return []
    found = []
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            found.append(value)
    return found


# -- the runner --------------------------------------------------------------------------------


@dataclass
class Sent:
    """What one request sent, and whose client it was."""

    jar_client: bool
    header: Optional[str]
    session_cookies: list[str]


@dataclass
class Held:
    gate: corpus.Gate
    thread: threading.Thread
    sent: Sent
    result: dict[str, Any] = field(default_factory=dict)


class Runner:
    def __init__(self, name: str, clock: ManualClock) -> None:
        self.name = name
        self.clock = clock
        self.cookie_name: str = settings.SESSION_COOKIE_NAME
        self.jar: dict[str, str] = {}
        self.saved_cookies: dict[str, Optional[str]] = {}
        self.saved_csrf: dict[str, str] = {}
        self.held: dict[str, Held] = {}

    def fail(self, where: str, message: str) -> None:
        pytest.fail(f"{self.name}, {where}: {message}")

    # -- requests --

    def saved(self, where: str, name: str) -> str:
        if name not in self.saved_cookies:
            self.fail(where, f"cookie {name!r} used before it was saved")
        value = self.saved_cookies[name]
        if value is None:
            self.fail(where, f"saved cookie {name!r} holds no cookie")
        assert value is not None
        return value

    def header_for(self, where: str, spec: Any, present: bool) -> tuple[bool, Optional[str]]:
        others = {k: v for k, v in self.jar.items() if k != self.cookie_name}
        if not present:
            return True, cookie_header(self.jar) or None
        if spec is None:
            return False, cookie_header(others) or None
        if isinstance(spec, str):
            return False, cookie_header({**others, self.cookie_name: self.saved(where, spec)})
        if isinstance(spec, dict) and set(spec) == {"raw"}:
            return False, spec["raw"]
        if isinstance(spec, dict) and set(spec) == {"template"}:
            header: str = spec["template"]
            for name in self.saved_cookies:
                if "{" + name + "}" in header:
                    header = header.replace("{" + name + "}", self.saved(where, name))
            if "{" in header:
                self.fail(where, f"template {header!r} names an unsaved cookie")
            return False, header
        self.fail(where, f"bad cookie spec {spec!r}")
        raise AssertionError

    def prepare(self, where: str, spec: dict[str, Any]) -> tuple[Sent, dict[str, Any]]:
        unknown = set(spec) - REQUEST_KEYS
        if unknown:
            self.fail(where, f"unknown request keys {unknown}")
        jar_client, header = self.header_for(where, spec.get("cookie"), "cookie" in spec)
        extra: dict[str, Any] = {}
        if header:
            extra["HTTP_COOKIE"] = header
        csrf = spec.get("csrf")
        if isinstance(csrf, str):
            if csrf not in self.saved_csrf:
                self.fail(where, f"csrf {csrf!r} used before it was saved")
            extra["HTTP_X_CSRF_TOKEN"] = self.saved_csrf[csrf]
        elif isinstance(csrf, dict) and set(csrf) == {"raw"}:
            extra["HTTP_X_CSRF_TOKEN"] = csrf["raw"]
        elif csrf is not None:
            self.fail(where, f"bad csrf spec {csrf!r}")
        body = spec.get("body")
        kwargs: dict[str, Any] = {
            "method": spec["method"],
            "path": spec["path"],
            "data": json.dumps(body) if body is not None else "",
            "content_type": "application/json",
            "secure": bool(spec.get("https", False)),
            "headers": dict(spec.get("headers", {})),
            **extra,
        }
        sent = Sent(jar_client, header, session_values(header, self.cookie_name))
        return sent, kwargs

    @staticmethod
    def perform(kwargs: dict[str, Any]) -> Any:
        client = Client()  # an empty jar: the runner sends the Cookie header itself
        return client.generic(**kwargs)

    # -- responses --

    def check(self, where: str, sent: Sent, response: Any, expect: dict[str, Any]) -> SetCookie:
        unknown = set(expect) - EXPECT_KEYS
        if unknown:
            self.fail(where, f"unknown expect keys {unknown}")
        lines = [m.OutputString() for m in response.cookies.values()]
        raw = response.headers.get("Set-Cookie")
        if raw:
            lines.append(raw)
        cookies = [SetCookie.parse(line) for line in lines]
        ours = [c for c in cookies if c.name == self.cookie_name]
        if len(ours) > 1:
            self.fail(where, f"{len(ours)} Set-Cookie lines for the session cookie")
        mine = ours[0] if ours else None
        no_store = "no-store" in response.headers.get("Cache-Control", "")
        if mine is not None and not no_store:
            self.fail(where, "a response that sets or clears the session cookie lacks no-store")

        status = expect.get("status")
        if status is not None:
            got = response.status_code
            ok = got // 100 == status if status < 10 else got == status
            if not ok:
                self.fail(where, f"status {got}, expected {status}")
        verdict = expect.get("cookie")
        if verdict is not None:
            self.check_cookie(where, verdict, mine, sent)
        attributes = expect.get("attributes")
        if attributes is not None:
            if mine is None:
                self.fail(where, "attributes expected but no Set-Cookie for the session cookie")
            assert mine is not None
            self.check_attributes(where, attributes, mine)
        if "no_store" in expect and expect["no_store"] != no_store:
            self.fail(where, f"no-store is {no_store}, expected {expect['no_store']}")
        if "body" in expect:
            self.check_body(where, expect["body"], response)
        # The client's cookies after the response.
        for c in cookies:
            if sent.jar_client:
                if c.clears:
                    self.jar.pop(c.name, None)
                else:
                    self.jar[c.name] = c.value
        return mine or SetCookie("", "", {})

    def check_cookie(
        self, where: str, verdict: str, mine: Optional[SetCookie], sent: Sent
    ) -> None:
        if verdict == "none":
            ok = mine is None
        elif verdict == "cleared":
            ok = mine is not None and mine.clears
        elif verdict == "new":
            ok = mine is not None and not mine.clears and mine.value not in sent.session_cookies
        elif verdict == "same":
            ok = mine is not None and not mine.clears and mine.value in sent.session_cookies
        elif verdict == "set":
            ok = mine is not None and not mine.clears
        else:
            self.fail(where, f"unknown cookie verdict {verdict!r}")
            return
        if not ok:
            got = "none" if mine is None else ("cleared" if mine.clears else "a value")
            self.fail(where, f"cookie: expected {verdict!r}, the response set {got}")

    def check_attributes(self, where: str, expected: dict[str, Any], mine: SetCookie) -> None:
        for name, want in expected.items():
            key = name.lower()
            if key not in ATTRIBUTES:
                self.fail(where, f"unknown attribute {name!r}")
            got = mine.attributes.get(key)
            if key in ("secure", "httponly"):
                ok = (got is not None) == bool(want)
            elif key == "samesite":
                ok = (got is None and want is None) or (
                    isinstance(got, str) and isinstance(want, str) and got.lower() == want.lower()
                )
            elif key in ("path", "domain"):
                ok = got == want
            elif key == "expires":
                ok = (got is not None) == bool(want)
            else:  # max-age
                if want is None:
                    ok = got is None
                elif got is None or not isinstance(got, str):
                    ok = False
                elif isinstance(want, dict):
                    ok = want["min"] <= int(got) <= want["max"]
                else:
                    ok = int(got) == want
            if not ok:
                self.fail(where, f"attribute {name}: got {got!r}, expected {want!r}")

    def check_body(self, where: str, want: Any, response: Any) -> None:
        if response.streaming:
            content = b"".join(response.streaming_content)
        else:
            content = response.content
        try:
            body = json.loads(content)
        except ValueError:
            self.fail(where, f"body is not JSON: {content[:200]!r}")
            return
        if isinstance(want, dict):
            for key, value in want.items():
                if not isinstance(body, dict) or key not in body or not same(body[key], value):
                    self.fail(where, f"body {body!r} does not contain {key!r}: {value!r}")
        elif not same(body, want):
            self.fail(where, f"body {body!r}, expected {want!r}")

    def after(
        self, where: str, step: dict[str, Any], sent: Sent, mine: SetCookie, response: Any
    ) -> None:
        if "save_cookie" in step:
            if sent.jar_client:
                held: Optional[str] = self.jar.get(self.cookie_name)
            else:
                held = sent.session_cookies[0] if len(sent.session_cookies) == 1 else None
                if mine.name:
                    held = None if mine.clears else mine.value
            self.saved_cookies[step["save_cookie"]] = held
        if "save_csrf" in step:
            self.saved_csrf[step["save_csrf"]] = json.loads(response.content)["csrf"]

    # -- steps --

    def run(self, steps: list[dict[str, Any]]) -> None:
        for i, step in enumerate(steps):
            where = f"step {i + 1}"
            unknown = set(step) - STEP_KEYS
            if unknown:
                self.fail(where, f"unknown step keys {unknown}")
            if "advance_ms" in step:
                self.clock.advance(step["advance_ms"] / 1000)
            elif "store_len" in step:
                got = get_manager().store_len()
                if got != step["store_len"]:
                    self.fail(where, f"store holds {got} sessions, expected {step['store_len']}")
            elif "hold" in step:
                self.hold(where, step)
            elif "release" in step:
                self.release(where, step)
            elif "request" in step:
                sent, kwargs = self.prepare(where, step["request"])
                response = self.perform(kwargs)
                mine = self.check(where, sent, response, step.get("expect", {}))
                self.after(where, step, sent, mine, response)
            else:
                self.fail(where, f"unknown step {step!r}")
        if self.held:
            self.fail("end", f"requests still held: {sorted(self.held)}")

    def hold(self, where: str, step: dict[str, Any]) -> None:
        if set(step) != {"request", "hold"}:
            self.fail(where, "a held request has no expect, save_cookie or save_csrf")
        sent, kwargs = self.prepare(where, step["request"])
        gate = corpus.hold_next()
        held = Held(gate, threading.Thread(target=lambda: None), sent)

        def serve() -> None:
            try:
                held.result["response"] = self.perform(kwargs)
            except BaseException as e:  # reported by release()
                held.result["error"] = e
            finally:
                gate.reached.set()
                connections.close_all()

        held.thread = threading.Thread(target=serve, name=f"held {step['hold']}")
        held.thread.start()
        if not gate.reached.wait(timeout=30):
            self.fail(where, "the held request never reached its gate")
        self.held[step["hold"]] = held

    def release(self, where: str, step: dict[str, Any]) -> None:
        name = step["release"]
        held = self.held.pop(name, None)
        if held is None:
            self.fail(where, f"release of {name!r}, which is not held")
        assert held is not None
        held.gate.go.set()
        held.thread.join(timeout=30)
        if held.thread.is_alive():
            self.fail(where, f"held request {name!r} did not finish")
        if "error" in held.result:
            raise held.result["error"]
        response = held.result["response"]
        mine = self.check(where, held.sent, response, step.get("expect", {}))
        self.after(where, step, held.sent, mine, response)


# -- configuration -----------------------------------------------------------------------------


def django_settings(
    config: dict[str, Any], clock: ManualClock, store: Optional[str]
) -> dict[str, Any]:
    tessera: dict[str, Any] = {"clock": clock, "sweep_interval": None}
    if store is not None:
        tessera["store"] = store
    overrides: dict[str, Any] = {}
    for key, value in config.items():
        if key in COOKIE_SETTINGS:
            if key == "cookie_same_site":
                value = value.capitalize()
            overrides[COOKIE_SETTINGS[key]] = value
        elif key in MANAGER_OPTIONS:
            if key.endswith("_ms"):
                tessera[key[:-3]] = None if value is None else value / 1000
            else:
                tessera[key] = value
        else:
            raise AssertionError(f"unknown config key {key!r}")
    return {
        **overrides,
        "TESSERA": tessera,
        "ROOT_URLCONF": "tests.django_project.corpus",
        "MIDDLEWARE": list(settings.TESSERA_MIDDLEWARE),
    }


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    yield cluster
    cluster.stop()


_prefixes = iter(range(1 << 30))


@pytest.mark.parametrize("store", ["memory", "redis", "redis-cluster", "sqlite"])
@pytest.mark.parametrize(
    "path", SCENARIOS, ids=[os.path.basename(p)[: -len(".json")] for p in SCENARIOS]
)
def test_http_corpus(
    path: str, store: str, django_env: None, request: pytest.FixtureRequest
) -> None:
    with open(path, encoding="utf-8") as f:
        scenario = json.load(f)
    name = os.path.basename(path)[: -len(".json")]
    unknown = set(scenario) - SCENARIO_KEYS
    assert not unknown, f"{name}: unknown keys {unknown}"
    assert scenario["name"] == name
    if name in SKIP:
        pytest.skip(SKIP[name])
    url = None
    if store == "redis":
        server: RedisServer = request.getfixturevalue("redis")
        url = server.url(prefix=f"dj{next(_prefixes)}:")
    elif store == "redis-cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url = cluster.url(prefix=f"djcl{next(_prefixes)}:")
    elif store == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    clock = ManualClock(START)
    with override_settings(**django_settings(scenario.get("config", {}), clock, url)):
        if "config_error" in scenario:
            with pytest.raises(ImproperlyConfigured) as e:
                get_manager()
            assert getattr(e.value.__cause__, "code", None) == scenario["config_error"]
            return
        Runner(name, clock).run(scenario["steps"])


def test_the_corpus_is_there() -> None:
    assert len(SCENARIOS) >= 40
    assert set(SKIP) <= {os.path.basename(p)[: -len(".json")] for p in SCENARIOS}
