"""The language-neutral conformance corpus (tests/conformance/*.json), run through the Python API,
on the memory store and on SQLite (Redis: test_redis.py).

Each scenario is one test. Unknown ops, arguments or expectation fields fail the run, so a typo
in the corpus cannot pass silently. The format is documented in tests/conformance/README.md.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Callable, Optional

import pytest
from tessera import (
    Event,
    ManualClock,
    Session,
    SessionInfo,
    SessionManager,
    SessionRejected,
    TesseraError,
)

from .conftest import CONFORMANCE

START_SECONDS = 1_700_000_000
MIN_SCENARIOS = 30

SESSION_FIELDS = {
    "result", "user", "data", "same_session_as", "secure", "expires_in_ms", "absolute_in_ms",
    "auth_level", "authenticated_ago_ms",
}
OPS: dict[str, tuple[set[str], set[str]]] = {
    # op: (allowed arguments, allowed expect fields)
    "create": ({"user", "data", "https", "user_agent", "as"}, SESSION_FIELDS),
    "validate": ({"token", "raw", "https", "as"}, SESSION_FIELDS | {"rotated"}),
    "rotate": ({"token", "raw", "https", "as"}, SESSION_FIELDS),
    "login": (
        {"token", "raw", "user", "level", "amr", "https", "user_agent", "as"}, SESSION_FIELDS
    ),
    "reauthenticate": ({"token", "raw", "level", "amr", "https", "as"}, SESSION_FIELDS),
    "require_recent": (
        {"token", "raw", "max_age_ms", "min_level", "https"}, {"result", "freshness"}
    ),
    "logout": ({"token", "raw"}, {"result", "ended"}),
    "revoke": ({"id_of", "raw_id"}, {"result", "ended"}),
    "revoke_user": ({"user"}, {"result", "count"}),
    "revoke_user_except": ({"user", "token", "raw"}, {"result", "count"}),
    "revoke_all": (set(), {"result", "count"}),
    "list_user": ({"user"}, {"result", "count", "ids_of"}),
    "set": ({"token", "key", "value"}, {"result"}),
    "remove_key": ({"token", "key"}, {"result"}),
    "replace_data": ({"token", "data"}, {"result"}),
    "csrf_token": ({"token", "raw", "as"}, {"result"}),
    "verify_csrf": ({"token", "raw", "csrf", "raw_csrf"}, {"result", "valid"}),
    "advance": ({"ms"}, set()),
    "sweep": (set(), {"result", "count"}),
    "store_len": (set(), {"result", "count"}),
    "events": (set(), {"result", "events"}),
}
SECONDS_KEYS = {
    "idle_timeout_ms", "absolute_timeout_ms", "rotation_interval_ms", "rotation_grace_ms",
    "cookie_max_age_ms",
}


def scenario_files() -> list[str]:
    return sorted(glob.glob(os.path.join(CONFORMANCE, "*.json")))


def test_the_corpus_is_large_enough() -> None:
    assert len(scenario_files()) >= MIN_SCENARIOS


def python_options(config: dict[str, Any]) -> dict[str, Any]:
    """The scenario's config as SessionManager keyword arguments (seconds, not ms)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECONDS_KEYS:
            out[key[: -len("_ms")]] = None if value is None else value / 1000
        else:
            out[key] = value
    return out


class Failure(Exception):
    """A step whose outcome differs from its expectation."""


class Runner:
    def __init__(self, config: dict[str, Any], store: str) -> None:
        self.clock = ManualClock(START_SECONDS)
        self.manager = SessionManager(
            clock=self.clock, sweep_interval=None, store=store, **python_options(config)
        )
        self.events: list[Event] = []
        self.manager.add_listener(self.events.append)
        self.tokens: dict[str, str] = {}
        self.csrf: dict[str, str] = {}

    def token(self, step: dict[str, Any]) -> str:
        if "token" in step:
            return self.named(step["token"])
        if "raw" in step:
            raw: str = step["raw"]
            return raw
        raise Failure("no token given")

    def named(self, name: str) -> str:
        if name not in self.tokens:
            raise Failure(f"token name {name!r} is not bound by an earlier `as`")
        return self.tokens[name]

    def id_of(self, name: str) -> str:
        return self.manager.id_of(self.named(name))

    def bind(self, name: Optional[str], outcome: object, sent: Optional[str]) -> None:
        if name is None:
            return
        held = None
        if isinstance(outcome, Session):
            held = outcome.new_token or sent
        if held is None:
            self.tokens.pop(name, None)
        else:
            self.tokens[name] = held

    def run(self, step: dict[str, Any]) -> tuple[str, object]:
        """Execute a step: (result code, outcome)."""
        op = step["op"]
        m = self.manager
        ctx = {"https": step.get("https", False)}

        def attempt(call: Callable[[], object]) -> tuple[str, object]:
            try:
                return "ok", call()
            except SessionRejected as e:
                return e.reason, None
            except TesseraError as e:
                return str(e.code), None

        if op == "create":
            code, out = attempt(
                lambda: m.create(
                    step.get("user"), step.get("data"), user_agent=step.get("user_agent"), **ctx
                )
            )
            self.bind(step["as"], out, None)
        elif op == "validate":
            sent = self.token(step)
            code, out = attempt(lambda: m.validate(sent, **ctx))
            self.bind(step.get("as"), out, sent)
        elif op == "rotate":
            sent = self.token(step)
            code, out = attempt(lambda: m.rotate(sent, **ctx))
            self.bind(step.get("as"), out, None)
        elif op == "login":
            prior = self.token(step) if ("token" in step or "raw" in step) else None
            code, out = attempt(
                lambda: m.login(
                    step["user"],
                    prior,
                    user_agent=step.get("user_agent"),
                    level=step.get("level"),
                    amr=step.get("amr"),
                    **ctx,
                )
            )
            self.bind(step.get("as"), out, None)
        elif op == "reauthenticate":
            sent = self.token(step)
            code, out = attempt(
                lambda: m.reauthenticate(sent, level=step["level"], amr=step.get("amr"), **ctx)
            )
            self.bind(step.get("as"), out, None)
        elif op == "require_recent":
            sent = self.token(step)
            code, out = attempt(
                lambda: m.require_recent(
                    sent, step["max_age_ms"] / 1000, step["min_level"], **ctx
                )
            )
        elif op == "logout":
            code, out = attempt(lambda: m.logout(self.token(step)))
        elif op == "revoke":
            target = self.id_of(step["id_of"]) if "id_of" in step else step["raw_id"]
            code, out = attempt(lambda: m.revoke(target))
        elif op == "revoke_user":
            code, out = attempt(lambda: m.revoke_user(step["user"]))
        elif op == "revoke_user_except":
            code, out = attempt(lambda: m.revoke_user_except(step["user"], self.token(step)))
        elif op == "revoke_all":
            code, out = attempt(m.revoke_all)
        elif op == "list_user":
            code, out = attempt(lambda: m.list_user(step["user"]))
        elif op == "set":
            sid = self.id_of(step["token"])
            code, out = attempt(lambda: m.set(sid, step["key"], step["value"]))
        elif op == "remove_key":
            sid = self.id_of(step["token"])
            code, out = attempt(lambda: m.remove_key(sid, step["key"]))
        elif op == "replace_data":
            sid = self.id_of(step["token"])
            code, out = attempt(lambda: m.replace_data(sid, step["data"]))
        elif op == "csrf_token":
            code, out = attempt(lambda: m.csrf_token(self.token(step)))
            if "as" in step:
                if isinstance(out, str):
                    self.csrf[step["as"]] = out
                else:
                    self.csrf.pop(step["as"], None)
        elif op == "verify_csrf":
            if "csrf" in step:
                if step["csrf"] not in self.csrf:
                    raise Failure(f"csrf name {step['csrf']!r} is not bound")
                candidate = self.csrf[step["csrf"]]
            else:
                candidate = step["raw_csrf"]
            code, out = attempt(lambda: m.verify_csrf(self.token(step), candidate))
        elif op == "advance":
            self.clock.advance(step["ms"] / 1000)
            code, out = "ok", None
        elif op == "sweep":
            code, out = attempt(m.sweep)
        elif op == "store_len":
            code, out = attempt(m.store_len)
        elif op == "events":
            out, self.events[:] = list(self.events), []
            code = "ok"
        else:  # pragma: no cover - rejected by the schema check
            raise Failure(f"unknown op {op!r}")
        return code, out

    def check(self, step: dict[str, Any], code: str, out: object) -> list[str]:
        expect: dict[str, Any] = step.get("expect", {})
        wrong: list[str] = []

        def differs(field: str, want: object, got: object) -> None:
            if want != got:
                wrong.append(f"{field}: expected {want!r}, got {got!r}")

        if "result" in expect:
            differs("result", expect["result"], code)
        session = out if isinstance(out, Session) else None
        now_ms = round(self.clock.now() * 1000)
        for field in SESSION_FIELDS - {"result"}:
            if field not in expect:
                continue
            if session is None:
                wrong.append(f"{field}: expected {expect[field]!r}, but no session ({code})")
                continue
            if field == "user":
                differs(field, expect[field], session.user)
            elif field == "data":
                differs(field, expect[field], session.data)
            elif field == "same_session_as":
                differs(field, self.id_of(expect[field]), session.id)
            elif field == "secure":
                differs(field, expect[field], session.secure)
            elif field == "expires_in_ms":
                differs(field, expect[field], round(session.expires_at * 1000) - now_ms)
            elif field == "absolute_in_ms":
                differs(field, expect[field], round(session.absolute_deadline * 1000) - now_ms)
            elif field == "auth_level":
                differs(field, expect[field], session.auth_level)
            elif field == "authenticated_ago_ms":
                at = session.authenticated_at
                differs(field, expect[field], None if at is None else now_ms - round(at * 1000))
        if "rotated" in expect:
            differs("rotated", expect["rotated"], session is not None and session.rotated)
        if "ended" in expect:
            differs("ended", expect["ended"], out)
        if "count" in expect:
            differs("count", expect["count"], len(out) if isinstance(out, list) else out)
        if "ids_of" in expect:
            want = [self.id_of(n) for n in expect["ids_of"]]
            got = [i.id for i in out] if isinstance(out, list) else None
            differs("ids_of", want, got)
        if "valid" in expect:
            differs("valid", expect["valid"], out)
        if "freshness" in expect:
            differs("freshness", expect["freshness"], out)
        if "events" in expect:
            wrong.extend(self.check_events(expect["events"], out))
        return wrong

    def check_events(self, want: list[dict[str, Any]], got: object) -> list[str]:
        assert isinstance(got, list)
        shown = [(e.kind, e.reason, e.user) for e in got]
        if len(want) != len(got):
            return [f"events: expected {len(want)}, got {len(got)}: {shown}"]
        wrong = []
        for i, (w, e) in enumerate(zip(want, got)):
            assert isinstance(e, Event)
            unknown = set(w) - {"kind", "reason", "user", "same_session_as"}
            if unknown:
                raise Failure(f"events[{i}] has unknown fields {sorted(unknown)}")
            if w["kind"] != e.kind:
                wrong.append(f"events[{i}].kind: expected {w['kind']}, got {e.kind} in {shown}")
            if "reason" in w and w["reason"] != e.reason:
                wrong.append(f"events[{i}].reason: expected {w['reason']}, got {e.reason}")
            if "user" in w and w["user"] != e.user:
                wrong.append(f"events[{i}].user: expected {w['user']}, got {e.user}")
            if "same_session_as" in w and self.id_of(w["same_session_as"]) != e.id:
                wrong.append(f"events[{i}]: not the session of {w['same_session_as']}")
        return wrong


def check_schema(scenario: dict[str, Any]) -> None:
    unknown = set(scenario) - {"name", "description", "config", "config_error", "steps"}
    assert not unknown, f"unknown scenario fields {sorted(unknown)}"
    for i, step in enumerate(scenario.get("steps", [])):
        op = step.get("op")
        assert op in OPS, f"steps[{i}]: unknown op {op!r}"
        args, fields = OPS[op]
        extra = set(step) - args - {"op", "expect"}
        assert not extra, f"steps[{i}] ({op}): unknown arguments {sorted(extra)}"
        extra = set(step.get("expect", {})) - fields
        assert not extra, f"steps[{i}] ({op}): unknown expect fields {sorted(extra)}"


def run_scenario(path: str, store: str = "memory://") -> None:
    with open(path, encoding="utf-8") as f:
        scenario = json.load(f)
    check_schema(scenario)
    assert scenario["name"] == os.path.basename(path)[: -len(".json")]
    config = scenario.get("config", {})
    if "config_error" in scenario:
        with pytest.raises(TesseraError) as raised:
            Runner(config, store)
        assert raised.value.code == scenario["config_error"]
        return
    runner = Runner(config, store)
    failures: list[str] = []
    for i, step in enumerate(scenario["steps"]):
        try:
            code, out = runner.run(step)
            failures += [f"steps[{i}] ({step['op']}): {w}" for w in runner.check(step, code, out)]
        except Failure as e:
            failures.append(f"steps[{i}] ({step['op']}): {e} (rest skipped)")
            break
    assert not failures, "\n".join([scenario["name"], *failures])


@pytest.mark.parametrize(
    "path", scenario_files(), ids=lambda p: os.path.basename(p)[: -len(".json")]
)
def test_scenario(path: str) -> None:
    run_scenario(path)


@pytest.mark.parametrize(
    "path", scenario_files(), ids=lambda p: os.path.basename(p)[: -len(".json")]
)
def test_scenario_on_sqlite(sqlite_url: str, path: str) -> None:
    """The same corpus on the embedded shared store, a fresh database file per scenario."""
    run_scenario(path, store=sqlite_url)


def test_the_runner_catches_a_wrong_expectation(tmp_path: Any) -> None:
    """A runner that cannot fail proves nothing: feed it a false claim."""
    path = tmp_path / "false_claim.json"
    path.write_text(
        json.dumps(
            {
                "name": "false_claim",
                "steps": [
                    {"op": "create", "as": "a"},
                    {"op": "validate", "raw": "nope", "expect": {"result": "ok"}},
                ],
            }
        )
    )
    with pytest.raises(AssertionError, match="result: expected 'ok', got 'malformed'"):
        run_scenario(str(path))
    path.write_text(json.dumps({"name": "false_claim", "steps": [{"op": "creat"}]}))
    with pytest.raises(AssertionError, match="unknown op"):
        run_scenario(str(path))


def test_session_info_is_listed(manager: SessionManager) -> None:
    s = manager.login("li")
    [info] = manager.list_user("li")
    assert isinstance(info, SessionInfo) and info.id == s.id
