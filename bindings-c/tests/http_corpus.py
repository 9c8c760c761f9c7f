#!/usr/bin/env python3
"""The C runner of the HTTP-level corpus (tests/http/*.json, format in its README).

It drives the example server (bindings-c/examples/server.c) over real HTTP on 127.0.0.1: the
server runs in test mode (a manual clock, the reference app, the /__ controls) with
--trust-proxy (``"https": true`` is sent as ``X-Forwarded-Proto: https``). One server process
serves the whole corpus; each scenario starts with ``POST /__reset`` and its own options (its
``config``, on Redis a key prefix of its own, on SQLite a database file of its own), so every
scenario has a fresh store and a clock
at 1 700 000 000 000 ms. Held requests stop at the server's gate between the app and finish
(``X-Tessera-Test-Hold``); the runner waits until the server says one is there (``/__held``)
before it goes on, and opens it with ``/__release``: nothing here is ordered by a timer.

The checks are those of the Rust runner (tests/tests/http_corpus.rs and tests/src/http_scenario.rs):
the cookie jar kept here, the Set-Cookie lines read as a browser does, the two invariants of every
response, and a strict reading of the scenario (an unknown key fails it). Only the standard
library is used.

Usage: http_corpus.py [--store URL | --sqlite] [--label LABEL] [--log FILE] [--min-scenarios N]
                      CORPUS_DIR -- SERVER [ARGS...]
  --store URL   run on this store (a Redis URL: each scenario gets &prefix=c-http-LABEL-NAME)
  --sqlite      run on SQLite, in a private temporary directory removed at the end: the server
                starts with ``--store sqlite:///DIR/server.db`` and each scenario gets a fresh
                database file, sqlite:///DIR/NAME.db
  --min-scenarios N   fail if the directory holds fewer scenarios (default 45, as the Rust
                runner: the corpus must not shrink unnoticed)
  SERVER ...    the server command, e.g. ``valgrind -q ... target/c/bin/server`` (the runner adds
                ``--test --trust-proxy 0``)
Prints one line per failure, then ``N passed, N failed`` (scenarios, plus the server's clean
shutdown); exits non-zero on any failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# A JSON object as parsed; a scenario's steps and expectations are read from these.
Obj = dict[str, Any]
# A held request's outcome, filled by its thread: a Response, or the exception it met.
Result = list[Any]

START_MS = 1_700_000_000_000
DEFAULT_COOKIE = "__Host-session"
USER_AGENT = "tessera-http-corpus"

# Scenarios this runner cannot pass for a reason inherent to a C server on libmicrohttpd, with
# that reason. Kept as short as possible: every other scenario must pass.
SKIP: dict[str, str] = {}

ROUTES = {
    "/read": "GET",
    "/set": "POST",
    "/delete": "POST",
    "/append": "POST",
    "/flash": "POST",
    "/flashes": "GET",
    "/login": "POST",
    "/logout": "POST",
    "/regenerate": "POST",
    "/expiry": "POST",
    "/csrf": "GET",
    "/protected": None,
    "/error": "POST",
    "/early": "POST",
    "/stream": "POST",
}
STEP_KEYS = {
    "request": {"request", "hold", "expect", "save_cookie", "save_csrf"},
    "release": {"release", "expect", "save_cookie"},
}
REQUEST_KEYS = {"method", "path", "body", "https", "headers", "cookie", "csrf"}
EXPECT_KEYS = {"status", "cookie", "attributes", "no_store", "body"}
ATTRIBUTE_KEYS = {
    "Secure",
    "HttpOnly",
    "SameSite",
    "Path",
    "Domain",
    "Max-Age",
    "Expires",
}
COOKIE_EFFECTS = {"none", "new", "same", "cleared", "set"}


class ScenarioError(Exception):
    """The scenario itself is wrong, or uses a name nothing saved: it cannot be run."""


# ---- Set-Cookie, read as a browser does --------------------------------------------------------


class SetCookie:
    def __init__(self, line: str) -> None:
        parts = line.split(";")
        name, _, value = parts[0].partition("=")
        self.name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        self.value = value
        self.attributes: list[tuple[str, str | None]] = []
        for part in parts[1:]:
            part = part.strip()
            if not part:
                continue
            k, eq, v = part.partition("=")
            self.attributes.append((k.strip(), v.strip() if eq else None))

    def attr(self, name: str) -> tuple[str | None] | None:
        """``None`` if absent, else a 1-tuple with its value (``None`` for a flag)."""
        for k, v in reversed(self.attributes):
            if k.lower() == name.lower():
                return (v,)
        return None

    def removes(self) -> bool:
        max_age = self.attr("Max-Age")
        if max_age is not None:
            try:
                return int((max_age[0] or "").strip()) <= 0
            except ValueError:
                return False
        expires = self.attr("Expires")
        if expires is not None and expires[0]:
            years = [int(n) for n in re.findall(r"\d+", expires[0]) if len(n) == 4]
            return bool(years) and years[0] < 2000
        return False

    def describe(self) -> str:
        return (
            "["
            + "; ".join(k if v is None else f"{k}={v}" for k, v in self.attributes)
            + "]"
        )


class Response:
    def __init__(
        self,
        status: int,
        set_cookies: list[str],
        cache_control: str | None,
        body: Any,
        is_json: bool,
    ) -> None:
        self.status = status
        self.set_cookies = set_cookies
        self.cache_control = cache_control
        self.body = body
        self.is_json = is_json

    def no_store(self) -> bool:
        cc = self.cache_control or ""
        return any(d.strip().lower() == "no-store" for d in cc.split(","))

    def cookies_named(self, name: str) -> list[SetCookie]:
        return [c for c in map(SetCookie, self.set_cookies) if c.name == name]

    def session_cookie(self, name: str) -> SetCookie | None:
        found = self.cookies_named(name)
        return found[-1] if found else None

    def invariant_violations(self, name: str) -> list[str]:
        out = []
        lines = len(self.cookies_named(name))
        if lines > 1:
            out.append(
                f"the response has {lines} Set-Cookie lines for {name} (at most one)"
            )
        if lines and not self.no_store():
            out.append(
                f"the response sets or clears {name} without Cache-Control: no-store "
                f"(got {self.cache_control!r})"
            )
        return out


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: types count (True is not 1, 1 is not 1.0), key order does not."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return bool(a == b)


def show(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


# ---- expectations ------------------------------------------------------------------------------


def mismatches(expect: Obj, r: Response, name: str, sent: list[str]) -> list[str]:
    out = []
    if "status" in expect:
        want = expect["status"]
        ok = r.status // 100 == want if want <= 5 else r.status == want
        if not ok:
            out.append(
                f"status: expected {f'{want}xx' if want <= 5 else want}, got {r.status}"
            )
    session = r.session_cookie(name)
    if "cookie" in expect:
        want = expect["cookie"]
        if session is None:
            got, ok = "no Set-Cookie for the session cookie", want == "none"
        elif session.removes():
            got, ok = "the cookie cleared", want == "cleared"
        else:
            got = "the same value set again" if session.value in sent else "a new value"
            ok = (
                want == "set"
                or (want == "new" and session.value not in sent)
                or (want == "same" and sent == [session.value])
            )
        if not ok:
            out.append(f"cookie: expected {want}, got {got}")
    if "attributes" in expect:
        if session is None:
            out.append("attributes: expected, but no Set-Cookie for the session cookie")
        else:
            out.extend(attribute_mismatches(expect["attributes"], session))
    if "no_store" in expect and expect["no_store"] != r.no_store():
        out.append(
            f"no_store: expected {expect['no_store']}, got {r.no_store()} "
            f"(Cache-Control: {r.cache_control!r})"
        )
    if "body" in expect:
        want = expect["body"]
        if not r.is_json:
            out.append(f"body: expected {show(want)}, got a body that is not JSON")
        elif isinstance(want, dict):
            body: Obj = r.body if isinstance(r.body, dict) else {}
            wrong = [
                f"{k!r}: expected {show(v)}, "
                + (f"got {show(body[k])}" if k in body else "missing")
                for k, v in want.items()
                if k not in body or not same_json(v, body[k])
            ]
            if wrong:
                out.append(f"body: {'; '.join(wrong)} (whole body: {show(r.body)})")
        elif not same_json(want, r.body):
            out.append(f"body: expected {show(want)}, got {show(r.body)}")
    return out


def attribute_mismatches(want: Obj, c: SetCookie) -> list[str]:
    out = []

    def check(name: str, w: str | None, g: str | None, same: bool) -> None:
        if not same:
            out.append(
                f"attribute {name}: expected {w or 'absent'}, got {g or 'absent'} "
                f"(Set-Cookie attributes: {c.describe()})"
            )

    for name in ("Secure", "HttpOnly", "Expires"):
        if name in want:
            present, found = bool(want[name]), c.attr(name) is not None
            check(
                name,
                "present" if present else None,
                "present" if found else None,
                present == found,
            )
    for name, case_blind in (("SameSite", True), ("Path", False), ("Domain", False)):
        if name in want:
            w = want[name]
            a = c.attr(name)
            g = None if a is None else (a[0] or "")
            if w is None or g is None:
                same = w is None and g is None
            else:
                same = w.lower() == g.lower() if case_blind else w == g
            check(name, w, g, same)
    if "Max-Age" in want:
        w = want["Max-Age"]
        a = c.attr("Max-Age")
        g = None if a is None else (a[0] or "")
        if w is None or g is None:
            same = w is None and g is None
        else:
            try:
                n = int(g.strip())
                same = (n == w) if isinstance(w, int) else w["min"] <= n <= w["max"]
            except ValueError:
                same = False
        desc = (
            None
            if w is None
            else (str(w) if isinstance(w, int) else f"{w['min']}..={w['max']}")
        )
        check("Max-Age", desc, g, same)
    return out


# ---- reading a scenario strictly ---------------------------------------------------------------


def problems(s: Obj, stem: str) -> list[str]:
    """What is wrong with a scenario (an unknown key, a name used before it is saved, ...)."""
    out = []
    extra = set(s) - {"name", "description", "config", "steps"}
    if extra:
        out.append(f"unknown keys {sorted(extra)}")
    if s.get("name") != stem:
        out.append(f"name {s.get('name')!r} differs from the file name {stem!r}")
    if not isinstance(s.get("config", {}), dict) or not isinstance(
        s.get("steps"), list
    ):
        return out + ["config is an object and steps a list"]
    cookies: set[str] = set()
    csrf: set[str] = set()
    held: set[str] = set()
    for i, step in enumerate(s["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            out.append(f"{where}: not an object")
            continue
        if "advance_ms" in step or "store_len" in step:
            key = "advance_ms" if "advance_ms" in step else "store_len"
            if len(step) != 1 or not isinstance(step[key], int) or step[key] < 0:
                out.append(f"{where}: a {key} step is a lone whole number")
            continue
        kind = (
            "request" if "request" in step else "release" if "release" in step else None
        )
        if kind is None:
            out.append(f"{where}: a step has request, release, advance_ms or store_len")
            continue
        extra = set(step) - STEP_KEYS[kind]
        if extra:
            out.append(f"{where}: unknown keys {sorted(extra)}")
        if kind == "request":
            out.extend(
                f"{where}: {p}"
                for p in request_problems(step["request"], cookies, csrf)
            )
            if "hold" in step:
                if {"expect", "save_cookie", "save_csrf"} & set(step):
                    out.append(f"{where}: a held request has no expect or save_*")
                if step["hold"] in held:
                    out.append(f"{where}: {step['hold']!r} is already held")
                held.add(step["hold"])
            if "save_csrf" in step:
                csrf.add(step["save_csrf"])
        else:
            if step["release"] not in held:
                out.append(f"{where}: no request is held as {step['release']!r}")
            held.discard(step["release"])
        expect = step.get("expect", {})
        extra = set(expect) - EXPECT_KEYS
        if extra:
            out.append(f"{where}: unknown expect keys {sorted(extra)}")
        if expect.get("cookie", "none") not in COOKIE_EFFECTS:
            out.append(f"{where}: cookie effect {expect['cookie']!r}")
        extra = set(expect.get("attributes", {})) - ATTRIBUTE_KEYS
        if extra:
            out.append(f"{where}: unknown attributes {sorted(extra)}")
        if "save_cookie" in step:
            cookies.add(step["save_cookie"])
    if held:
        out.append(f"held and never released: {sorted(held)}")
    return out


def request_problems(r: Obj, cookies: set[str], csrf: set[str]) -> list[str]:
    out = []
    extra = set(r) - REQUEST_KEYS
    if extra:
        out.append(f"unknown request keys {sorted(extra)}")
    path = r.get("path")
    if path not in ROUTES:
        out.append(f"no route {path!r} in the reference app")
    elif ROUTES[path] is not None and ROUTES[path] != r.get("method"):
        out.append(f"{path} takes {ROUTES[path]}, not {r.get('method')}")
    cookie = r.get("cookie", ...)
    names: list[str] = []
    if isinstance(cookie, str):
        names = [cookie]
    elif isinstance(cookie, dict):
        if len(cookie) != 1 or not ({"raw", "template"} & set(cookie)):
            out.append(f"cookie {cookie!r}")
        names = re.findall(r"\{([^}]*)\}", cookie.get("template", ""))
    out.extend(
        f"cookie {n!r} is not saved by an earlier step"
        for n in names
        if n not in cookies
    )
    c = r.get("csrf")
    if isinstance(c, str) and c not in csrf:
        out.append(f"csrf {c!r} is not saved by an earlier step")
    elif isinstance(c, dict) and set(c) != {"raw"}:
        out.append(f"csrf {c!r}")
    return out


# ---- the server --------------------------------------------------------------------------------


class Server:
    def __init__(self, command: list[str], log: Path) -> None:
        # Open for the server's whole life (closed in stop()), so not a `with` block.
        self.log = open(log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            command + ["--test", "--trust-proxy", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode(errors="replace")
        found = re.match(r"listening on http://127\.0\.0\.1:(\d+)$", line.strip())
        if not found:
            self.proc.kill()
            raise RuntimeError(f"the server did not start (said {line!r}); see {log}")
        self.port = int(found.group(1))

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed, is_json = json.loads(raw), True
            except ValueError:
                parsed, is_json = None, False
            return Response(
                resp.status,
                resp.msg.get_all("Set-Cookie") or [],
                resp.getheader("Cache-Control"),
                parsed,
                is_json,
            )
        finally:
            conn.close()

    def control(self, path: str, body: Any) -> Response:
        r = self.call(
            "POST",
            path,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        if r.status != 200:
            raise ScenarioError(f"{path} answered {r.status}: {show(r.body)}")
        return r

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        return code


# ---- one scenario ------------------------------------------------------------------------------


class Client:
    """The browser side: the jar, saved cookies and CSRF tokens, held requests."""

    def __init__(self, server: Server, cookie_name: str) -> None:
        self.server = server
        self.name = cookie_name
        self.jar: dict[str, str] = {}
        self.saved: dict[str, str] = {}
        self.csrf: dict[str, str] = {}
        self.held: dict[str, tuple[Obj, threading.Thread, Result]] = {}

    def cookie_header(self, arg: Any) -> str | None:
        others = [f"{k}={v}" for k, v in sorted(self.jar.items()) if k != self.name]

        def saved(n: str) -> str:
            if n not in self.saved:
                raise ScenarioError(
                    f"cookie {n!r} holds no cookie (its client had none)"
                )
            return self.saved[n]

        if arg is ...:
            pairs = [f"{k}={v}" for k, v in sorted(self.jar.items())]
        elif arg is None:
            pairs = others
        elif isinstance(arg, str):
            pairs = others + [f"{self.name}={saved(arg)}"]
        elif "raw" in arg:
            pairs = [arg["raw"]]
        else:
            pairs = [
                re.sub(r"\{([^}]*)\}", lambda m: saved(m.group(1)), arg["template"])
            ]
        header = "; ".join(pairs)
        return header or None

    def session_values(self, header: str | None) -> list[str]:
        values = []
        for pair in (header or "").split(";"):
            k, eq, v = pair.strip().partition("=")
            if eq and k.strip() == self.name:
                v = v.strip()
                values.append(v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v)
        return values

    def send(self, r: Obj, hold: str | None) -> tuple[Obj, Any]:
        """Start a request; returns what was sent and a way to get its response."""
        header = self.cookie_header(r.get("cookie", ...))
        sent = {"jar": "cookie" not in r, "values": self.session_values(header)}
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        headers.update(r.get("headers", {}))
        if header is not None:
            headers["Cookie"] = header
        if r.get("https"):
            headers["X-Forwarded-Proto"] = "https"
        c = r.get("csrf")
        if isinstance(c, str):
            if c not in self.csrf:
                raise ScenarioError(f"csrf {c!r} holds no token")
            headers["X-CSRF-Token"] = self.csrf[c]
        elif isinstance(c, dict):
            headers["X-CSRF-Token"] = c["raw"]
        if hold is not None:
            headers["X-Tessera-Test-Hold"] = hold
        body = json.dumps(r["body"]).encode() if "body" in r else None
        result: Result = []

        def run() -> None:
            try:
                result.append(self.server.call(r["method"], r["path"], body, headers))
            except Exception as e:  # noqa: BLE001 - reported by the step that waits for it
                result.append(e)

        if hold is None:
            run()
            return sent, result
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.server.control("/__held", {"name": hold})  # it has reached the gate
        self.held[hold] = (sent, thread, result)
        return sent, None

    def conclude(self, sent: Obj, result: Result, step: Obj) -> list[str]:
        if not result or isinstance(result[0], Exception):
            return [f"the request failed: {result[0] if result else 'no response'}"]
        resp: Response = result[0]
        notes = resp.invariant_violations(self.name)
        if "expect" in step:
            notes += mismatches(step["expect"], resp, self.name, sent["values"])
        session = resp.session_cookie(self.name)
        holds = sent["values"][0] if len(sent["values"]) == 1 else None
        if session is not None:
            holds = None if session.removes() else session.value
        if sent["jar"]:
            for c in map(SetCookie, resp.set_cookies):
                if c.removes():
                    self.jar.pop(c.name, None)
                else:
                    self.jar[c.name] = c.value
        if "save_cookie" in step:
            if holds is None:
                self.saved.pop(step["save_cookie"], None)
            else:
                self.saved[step["save_cookie"]] = holds
        if "save_csrf" in step:
            token = resp.body.get("csrf") if isinstance(resp.body, dict) else None
            if isinstance(token, str):
                self.csrf[step["save_csrf"]] = token
            else:
                self.csrf.pop(step["save_csrf"], None)
                notes.append(
                    f"save_csrf: the response body has no csrf string ({show(resp.body)})"
                )
        return notes

    def step(self, step: Obj) -> list[str]:
        if "advance_ms" in step:
            self.server.control("/__advance", {"ms": step["advance_ms"]})
            return []
        if "store_len" in step:
            got = self.server.call(
                "POST", "/__store_len", b"{}", {"Content-Type": "application/json"}
            )
            if got.status != 200:
                return [
                    f"store_len: expected {step['store_len']}, got the error {show(got.body)}"
                ]
            n = got.body["len"]
            return (
                []
                if n == step["store_len"]
                else [f"store_len: expected {step['store_len']}, got {n}"]
            )
        if "release" in step:
            name = step["release"]
            if name not in self.held:
                raise ScenarioError(f"no request is held as {name!r}")
            sent, thread, result = self.held.pop(name)
            self.server.control("/__release", {"name": name})
            thread.join()
            return self.conclude(sent, result, step)
        sent, result = self.send(step["request"], step.get("hold"))
        return [] if result is None else self.conclude(sent, result, step)


def run_scenario(
    server: Server, s: Obj, store: str | None, label: str, sqlite: Path | None = None
) -> list[str]:
    options = dict(s.get("config", {}))
    if store is not None:
        sep = "&" if "?" in store else "?"
        options["store"] = f"{store}{sep}prefix=c-http-{label}-{s['name']}"
    elif sqlite is not None:
        # A file never used before: the server still holds the previous scenario's until reset.
        db = sqlite / f"{s['name']}.db"
        if db.exists():
            raise ScenarioError(f"{db} exists already: two scenarios named {s['name']}?")
        options["store"] = f"sqlite://{db}"
    server.control("/__reset", options)
    client = Client(server, options.get("cookie_name", DEFAULT_COOKIE))
    failures = []
    try:
        for i, step in enumerate(s["steps"]):
            if "request" in step:
                what = f"{step['request']['method']} {step['request']['path']}"
                what += f", held as {step['hold']!r}" if "hold" in step else ""
            else:
                what = next(f"{k} {v}" for k, v in step.items() if k != "expect")
            try:
                failures += [f"steps[{i}] ({what}): {m}" for m in client.step(step)]
            except ScenarioError as e:
                failures.append(
                    f"steps[{i}] ({what}): {e} (rest of the scenario skipped)"
                )
                break
    finally:
        # Never leave a request at the gate: the next reset would wait for it.
        for name, (_, thread, _) in list(client.held.items()):
            try:
                server.control("/__release", {"name": name})
            except ScenarioError:
                pass
            thread.join()
    return failures


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    ours, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    store = label = log = None
    sqlite = False
    minimum = 45
    rest = []
    it = iter(ours)
    for a in it:
        if a == "--store":
            store = next(it)
        elif a == "--sqlite":
            sqlite = True
        elif a == "--label":
            label = next(it)
        elif a == "--log":
            log = next(it)
        elif a == "--min-scenarios":
            minimum = int(next(it))
        else:
            rest.append(a)
    if len(rest) != 1 or not command or (sqlite and store is not None):
        print(__doc__, file=sys.stderr)
        return 2
    label = label or ("redis" if store else "sqlite" if sqlite else "memory")
    corpus = Path(rest[0])
    files = sorted(corpus.glob("*.json"))
    sqlite_dir = Path(tempfile.mkdtemp(prefix="tessera-http-sqlite-")) if sqlite else None
    try:
        if sqlite_dir is not None:
            # The server itself starts on SQLite (its --store option), before any reset.
            command = command + ["--store", f"sqlite://{sqlite_dir / 'server.db'}"]
        return run_corpus(command, corpus, files, store, label, log, minimum, sqlite_dir)
    finally:
        if sqlite_dir is not None:
            shutil.rmtree(sqlite_dir, ignore_errors=True)


def run_corpus(
    command: list[str],
    corpus: Path,
    files: list[Path],
    store: str | None,
    label: str,
    log: str | None,
    minimum: int,
    sqlite: Path | None,
) -> int:
    server = Server(command, Path(log or os.devnull))
    passed = failed = skipped = 0
    if len(files) < minimum:
        print(
            f"FAIL {corpus} holds {len(files)} scenarios; the corpus has at least {minimum}"
        )
        failed += 1
    start = time.monotonic()
    try:
        for path in files:
            try:
                s = json.loads(path.read_text())
            except ValueError as e:
                print(f"FAIL {path.stem}: not JSON: {e}")
                failed += 1
                continue
            wrong = problems(s, path.stem) if isinstance(s, dict) else ["not an object"]
            if wrong:
                print(f"FAIL {path.stem}: cannot be run: " + "; ".join(wrong))
                failed += 1
                continue
            if path.stem in SKIP:
                print(f"skip {path.stem}: {SKIP[path.stem]}")
                skipped += 1
                continue
            try:
                failures = run_scenario(server, s, store, label, sqlite)
            except (ScenarioError, OSError, http.client.HTTPException) as e:
                failures = [f"the run broke off: {e}"]
            if failures:
                failed += 1
                for f in failures:
                    print(f"FAIL {path.stem}: {f}")
            else:
                passed += 1
    finally:
        code = server.stop()
    if code == 0:
        passed += 1
    else:
        failed += 1
        print(f"FAIL the server did not shut down cleanly (exit {code}); see {log}")
    print(
        f"http corpus ({label}): {len(files)} scenarios, {skipped} skipped, "
        f"in {time.monotonic() - start:.1f}s"
    )
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
