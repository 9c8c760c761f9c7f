"""What the demo answers before Flask, so that no session is begun for it: the events panel's
feed, the shared script and style sheet, and the test clock. Polling the panel or loading a
script must not count as activity (it would keep an idle session alive), nor rotate a token.
It also marks a loopback peer's request as HTTPS (see LOOPBACK)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional

from tessera import ManualClock, SessionManager

from demo.config import DemoConfig
from demo.events import EventLog

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ASSETS = {"demo.js": "text/javascript", "demo.css": "text/css"}
# Peers whose plain-HTTP requests the demo reports to Tessera as HTTPS: Chromium treats loopback
# as a secure context (it keeps Secure cookies there), so device binding can be offered on
# http://127.0.0.1. Any other peer stays plain HTTP, and gets no binding offer.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class Outside:
    def __init__(
        self,
        app: WSGIApplication,
        config: DemoConfig,
        manager: SessionManager,
        events: EventLog,
        clock: Optional[ManualClock],
    ) -> None:
        self.app = app
        self.config = config
        self.manager = manager
        self.events = events
        self.clock = clock

    def __call__(self, environ: WSGIEnvironment, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/demo/events" and method == "GET":
            feed = {"now": round(self.manager.now() * 1000), "events": self.events.recent()}
            return answer(start, "200 OK", "application/json", json.dumps(feed).encode())
        if path.startswith("/demo/static/") and method == "GET":
            name = path.rsplit("/", 1)[1]
            if name in ASSETS:
                asset = (self.config.assets / name).read_bytes()
                return answer(start, "200 OK", ASSETS[name], asset)
            return answer(start, "404 Not Found", "text/plain", b"not found\n")
        if path == "/__advance" and method == "POST":
            if self.clock is None:
                return answer(start, "404 Not Found", "text/plain", b"not found\n")
            size = int(environ.get("CONTENT_LENGTH") or 0)
            asked: dict[str, Any] = json.loads(environ["wsgi.input"].read(size) or b"{}")
            self.clock.advance(int(asked.get("ms", 0)) / 1000)
            return answer(start, "200 OK", "application/json", b'{"ok":true}')
        if environ.get("REMOTE_ADDR") in LOOPBACK:
            environ["wsgi.url_scheme"] = "https"
        return self.app(environ, start)


def answer(
    start: Callable[..., Any], status: str, content_type: str, body: bytes
) -> list[bytes]:
    start(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store")])
    return [body]
