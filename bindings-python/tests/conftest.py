"""Shared fixtures: a manager on a manual clock, with no background sweeper."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest
from tessera import ManualClock, SessionManager

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFORMANCE = os.path.join(REPO, "tests", "conformance")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manager(clock: ManualClock) -> SessionManager:
    return SessionManager(clock=clock, sweep_interval=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def unused_port() -> Iterator[int]:
    yield free_port()



@pytest.fixture
def sqlite_url() -> Iterator[str]:
    """A fresh SQLite store in a private directory that is removed afterwards (pytest's
    tmp_path keeps the last runs' files around; a scenario's sessions should not outlive it)."""
    with tempfile.TemporaryDirectory(prefix="tessera-sqlite-") as d:
        yield f"sqlite:///{os.path.join(d, 'sessions.db')}"
