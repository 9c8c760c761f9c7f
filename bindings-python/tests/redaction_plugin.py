"""pytest plugin for `make test-redaction`: the most verbose logging, every token recorded.

Loaded with ``-p tests.redaction_plugin`` by mk/redaction.mk; it does nothing unless the
environment names its output directory, ``TESSERA_REDACTION_DIR``. Then, for the whole run:

- the root and ``tessera`` loggers are at DEBUG (pytest's ``--log-level=DEBUG`` and ``-rA``
  print each test's captured log; ``--log-file`` keeps all of it);
- ``tessera.SessionManager`` (also as ``tessera._native.SessionManager``, which
  ``tessera.flask`` and ``tessera.django`` import) is replaced by a thin recording stand-in
  built before any test module or framework glue is imported. Each manager it builds gets an
  event listener that logs every event at DEBUG (``tessera.redaction`` logger); each call is
  delegated unchanged, after which the returned session is logged (its ``repr``), an exception
  is logged with its traceback and re-raised, and every token seen — minted (``new_token``),
  passed in, or inside a returned string — is recorded. (Past 20,000 such records in one test
  the rest are counted instead of logged: see ``Budget``.);
- tokens the demo process hands out over HTTP (``test_demo`` runs it as a subprocess) are
  recorded from the ``Set-Cookie`` headers ``http.client`` receives, and tokens the request
  protocol hands out to Flask's and Django's test clients from the cookies those receive.

At the end the recorded tokens are written to ``$TESSERA_REDACTION_DIR/tokens/python/<pid>.txt``
(outside the scanned logs), for ``scripts/redaction-scan`` to look for in everything captured.
The stand-in never logs an argument or a token.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Any, Callable

import pytest

OUT = os.environ.get("TESSERA_REDACTION_DIR")

log = logging.getLogger("tessera.redaction")

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_RUN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def canonical(text: str) -> bool:
    """Whether `text` is a token Tessera would accept (43 base64url characters, canonical)."""
    return (
        len(text) == 43
        and _RUN.fullmatch(text) is not None
        and (_ALPHABET.index(text[-1]) % 4 == 0)
    )


class Recorder:
    """The set of tokens seen, shared by every thread of the run."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.lock = threading.Lock()

    def add(self, value: object) -> None:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str) or len(value) < 43:
            return
        found = [value] if canonical(value) else _RUN.findall(value)
        found = [t for t in found if canonical(t)]
        if found:
            with self.lock:
                self.tokens.update(found)

    def add_all(self, values: Iterable[object]) -> None:
        for v in values:
            self.add(v)

    def write(self, path: str) -> int:
        with self.lock:
            tokens = sorted(self.tokens)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="ascii") as f:
            f.writelines(t + "\n" for t in tokens)
        return len(tokens)


recorder = Recorder()


class Budget:
    """At most LIMIT of the stand-in's own records per test: one test creates 200,000 sessions
    to time the GIL, and 400,000 identical lines would only slow the run. Beyond the limit the
    records are counted, and the count is logged when the test ends."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self.logged = 0
        self.skipped: dict[str, int] = {}

    def spend(self, what: str) -> bool:
        if self.logged < self.LIMIT:
            self.logged += 1
            return True
        self.skipped[what] = self.skipped.get(what, 0) + 1
        return False

    def settle(self) -> None:
        if self.skipped:
            log.debug(
                "and %s more records not logged (limit %d per test)", self.skipped, self.LIMIT
            )
        self.logged = 0
        self.skipped = {}


budget = Budget()


def log_event(event: Any) -> None:
    """The listener every recording manager gets: each event, at DEBUG."""
    if not budget.spend(f"event {event.kind}"):
        return
    log.debug(
        "event %s id=%s previous_id=%s user=%s reason=%s at=%s %r",
        event.kind,
        event.id,
        event.previous_id,
        event.user,
        event.reason,
        event.at,
        event,
    )


def recording_manager_class(native: Any) -> type:
    """A stand-in for ``native.SessionManager`` that records and logs, as described above."""

    original = native.SessionManager
    session_type = native.Session

    def call(name: str, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        recorder.add_all(args)
        recorder.add_all(kwargs.values())
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            log.debug("SessionManager.%s raised %s", name, type(exc).__name__, exc_info=True)
            raise
        if isinstance(result, session_type):
            recorder.add(result.new_token)
            if budget.spend(f"{name} result"):
                log.debug("SessionManager.%s returned %r", name, result)
        else:
            recorder.add(result)
        return result

    class SessionManager:
        __slots__ = ("_native",)
        __doc__ = original.__doc__

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            recorder.add_all(kwargs.values())
            try:
                manager = original(*args, **kwargs)
            except Exception as exc:
                log.debug("SessionManager() raised %s", type(exc).__name__, exc_info=True)
                raise
            manager.add_listener(log_event)
            self._native = manager

        def __getattr__(self, name: str) -> Any:
            value = getattr(self._native, name)
            if name.startswith("_") or not callable(value):
                return value

            def method(*args: Any, **kwargs: Any) -> Any:
                return call(name, value, *args, **kwargs)

            return method

        def __repr__(self) -> str:
            return repr(self._native)

    SessionManager.__module__ = original.__module__
    SessionManager.__qualname__ = "SessionManager"
    return SessionManager


def record_set_cookies(response: http.client.HTTPResponse) -> None:
    for value in response.msg.get_all("Set-Cookie") or []:
        recorder.add(value.split(";", 1)[0].partition("=")[2])


def record_cookie_lines(lines: Iterable[str]) -> None:
    for line in lines:
        recorder.add(line.split(";", 1)[0].partition("=")[2])


def hook_test_clients() -> None:
    """Record the cookies the frameworks' test clients receive: tokens the request protocol
    hands out (``Request.finish``) travel in ``Set-Cookie`` lines the stand-in never sees."""
    from werkzeug.test import Client as WerkzeugClient

    open_ = WerkzeugClient.open

    def recording_open(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = open_(self, *args, **kwargs)
        record_cookie_lines(response.headers.getlist("Set-Cookie"))
        return response

    WerkzeugClient.open = recording_open  # type: ignore[method-assign]

    from django.test.client import AsyncClient, Client

    def recording(request: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            response = request(self, *args, **kwargs)
            recorder.add_all(morsel.value for morsel in response.cookies.values())
            return response

        return wrapper

    def recording_async(request: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            response = await request(self, *args, **kwargs)
            recorder.add_all(morsel.value for morsel in response.cookies.values())
            return response

        return wrapper

    Client.request = recording(Client.request)  # type: ignore[method-assign]
    AsyncClient.request = recording_async(AsyncClient.request)  # type: ignore[method-assign]


def install() -> None:
    """Replace the manager class everywhere it is looked up, and hook http.client."""
    import tessera
    import tessera._native as native

    stand_in = recording_manager_class(native)
    native.SessionManager = stand_in  # type: ignore[misc]
    tessera.SessionManager = stand_in  # type: ignore[misc]

    begin = http.client.HTTPResponse.begin

    def recording_begin(self: http.client.HTTPResponse) -> None:
        begin(self)
        record_set_cookies(self)

    http.client.HTTPResponse.begin = recording_begin  # type: ignore[method-assign]
    hook_test_clients()


def pytest_configure(config: pytest.Config) -> None:
    if not OUT:
        return
    install()
    for name in ("", "tessera", "tessera.redaction"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    log.debug("redaction run: tessera loggers at DEBUG, every manager records its tokens")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not OUT:
        return
    count = recorder.write(os.path.join(OUT, "tokens", "python", f"{os.getpid()}.txt"))
    print(f"redaction_plugin: {count} tokens recorded")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if OUT:
        budget.settle()
