"""The demo's audit log: lifecycle events as JSON lines in one file that the three servers
append to, read back for the events panel and for "why you were signed out".

Events carry public session ids and users, never tokens (core's rule). A revocation's cause
(an administrator, "sign out everywhere", "sign out this device") is not a core notion: the app
names it around the call, and the listener, which core runs synchronously on the calling
thread, adds it to the events of that call.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from tessera import Event

KINDS = frozenset({
    "created", "rotated", "login", "logout", "revoked", "expired",
    # Device binding and step-up (a re-authentication mints a new token, as a rotation does).
    "registered", "refreshed", "proof_failed", "binding_missing", "unbound", "reauthenticated",
})
# The kinds that give a session a new token (and a new public id) it keeps living under.
NEW_TOKEN = frozenset({"rotated", "reauthenticated"})
ENDINGS = frozenset({"logout", "revoked", "expired"})
SHOWN = 50


class EventLog:
    def __init__(self, path: Optional[Path], site: str) -> None:
        self.path = path
        self.site = site
        self._local = threading.local()
        self._memory: list[dict[str, Any]] = []  # without a file: this process only
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def cause(self, cause: str) -> Iterator[None]:
        self._local.cause = cause
        try:
            yield
        finally:
            self._local.cause = None

    def record(self, event: Event) -> None:
        """The manager's listener."""
        if event.kind not in KINDS:
            return  # "rejected" happens on every stale cookie: not an audit event here
        line = {
            "at": round(event.at * 1000),
            "site": self.site,
            "kind": event.kind,
            "id": event.id,
            "previous_id": event.previous_id,
            "user": event.user,
            # The DBSC and step-up events say theirs in detail (e.g. bad_signature).
            "reason": event.reason or event.detail,
            "cause": getattr(self._local, "cause", None) if event.kind == "revoked" else None,
        }
        if self.path is None:
            with self._lock:
                self._memory.append(line)
            return
        # One write of one line, O_APPEND: the three processes' lines never interleave.
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if self.path is None:
            with self._lock:
                return list(self._memory)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        events = []
        for line in text.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line another process is writing right now
        return events

    def recent(self) -> list[dict[str, Any]]:
        return self.read()[-SHOWN:]

    def rotated_at(self, session_id: str) -> Optional[float]:
        """When the session's current token was minted (seconds), if the log saw it."""
        at = [e["at"] for e in self.read()
              if e["id"] == session_id and e["kind"] in ("created", "login", *NEW_TOKEN)]
        return max(at) / 1000 if at else None

    def explain(self, session_id: Optional[str], reason: Optional[str]) -> tuple[str, str]:
        """Why the session of a refused cookie ended: (code, site), from core's reason and the
        last ending the log holds for its id (following rotations to the session's later ids)."""
        if session_id is None:
            return reason or "unknown", ""
        events = self.read()
        successor = {e["previous_id"]: e["id"] for e in events
                     if e["kind"] in NEW_TOKEN and e.get("previous_id")}
        ids = {session_id}
        current = session_id
        while current in successor and successor[current] not in ids:
            current = successor[current]
            ids.add(current)
        for e in reversed(events):
            if e["id"] in ids and e["kind"] in ENDINGS:
                if e["kind"] == "expired":
                    return e.get("reason") or reason or "expired_idle", e["site"]
                if e["kind"] == "revoked":
                    return e.get("cause") or "revoked", e["site"]
                return "logged_out", e["site"]
        return reason or "unknown", ""
