"""The demo's shared configuration (``demo.json``, written by ``demo/launch.py``): the same
store, pepper, cookie and timeouts in the Flask, Express and C servers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tessera import ManualClock, SessionManager

REPO = Path(__file__).resolve().parents[2]
SITE = "flask"
SITE_NAMES = {"flask": "Flask (Python)", "express": "Express (Node)", "c": "C (libmicrohttpd)"}
# Where a test clock starts, the same in the three servers (and in the C example's --test).
TEST_CLOCK_START_S = 1_700_000_000


@dataclass(frozen=True)
class DemoConfig:
    sites: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timeouts: str = "default"
    events: Optional[Path] = None
    assets: Path = REPO / "demo" / "static"
    test_clock: bool = False
    differences: list[str] = field(default_factory=list)
    #: How recent a sign-in "Change password" wants (require_recent), in ms.
    recent_ms: int = 5 * 60_000

    @classmethod
    def load(cls, path: Path) -> DemoConfig:
        raw = json.loads(path.read_text())
        return cls(
            sites=dict(raw["sites"]),
            options=dict(raw["options"]),
            timeouts=str(raw["timeouts"]),
            events=Path(raw["events"]),
            assets=Path(raw["assets"]),
            test_clock=bool(raw["test_clock"]),
            differences=[str(d) for d in raw["differences"]],
            recent_ms=int(raw.get("recent_ms", 5 * 60_000)),
        )

    def manager(self) -> tuple[SessionManager, Optional[ManualClock]]:
        """The session manager these options describe (core names in ms; Python takes seconds)."""
        kwargs: dict[str, Any] = {}
        for name, value in self.options.items():
            if name.endswith("_ms"):
                kwargs[name[: -len("_ms")]] = None if value is None else value / 1000
            else:
                kwargs[name] = value
        clock = ManualClock(TEST_CLOCK_START_S) if self.test_clock else None
        return SessionManager(clock=clock, **kwargs), clock

    @property
    def rotation_interval(self) -> Optional[float]:
        ms = self.options.get("rotation_interval_ms")
        return None if ms is None else ms / 1000
