"""One session, three languages, one Redis: created by Python, read and rotated by Node,
revoked for its user by C — and then dead everywhere.

Run by `make test-crosslang` with the C step program and the Node addon already built."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings-python"))

from tessera import SessionManager, SessionRejected  # noqa: E402

from tests.redis_server import RedisServer  # noqa: E402

C_STEP = os.environ.get("TESSERA_C_STEP", os.path.join(HERE, "step"))


@pytest.fixture(scope="module")
def store() -> Iterator[str]:
    server = RedisServer()
    yield server.url("crosslang")
    server.stop()


def node(store: str, op: str, token: str) -> dict[str, object]:
    binary = shutil.which("node")
    assert binary is not None, "node is required"
    out = subprocess.run(  # noqa: S603 - our own step script
        [binary, os.path.join(HERE, "step.mjs"), store, op, token],
        check=True, capture_output=True, text=True, timeout=60,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def c(store: str, op: str, arg: str) -> str:
    out = subprocess.run(  # noqa: S603 - our own step program
        [C_STEP, store, op, arg], check=True, capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


def test_python_creates_node_rotates_c_revokes(store: str) -> None:
    python = SessionManager(store=store, sweep_interval=None)
    session = python.login("xlang", https=False, user_agent="python")
    python.set(session.id, "cart", ["book"])
    first = session.new_token
    assert first is not None

    # Node reads the Python session, sees the user, then rotates it.
    seen = node(store, "validate", first)
    assert seen["valid"] is True and seen["user"] == "xlang" and seen["id"] == session.id
    rotated = node(store, "rotate", first)
    assert rotated["valid"] is True and isinstance(rotated["newToken"], str)
    second = str(rotated["newToken"])
    assert second != first

    # Python and C both accept Node's new token; data written by Python is still there.
    assert python.validate(second).data == {"cart": ["book"]}
    assert c(store, "validate", second) == "valid xlang"

    # C ends every session of the user; nobody accepts either token afterwards.
    assert c(store, "revoke-user", "xlang") == "revoked 1"
    for token in (first, second):
        with pytest.raises(SessionRejected):
            python.validate(token)
        assert node(store, "validate", token)["valid"] is False
        assert c(store, "validate", token).startswith("rejected ")
    assert python.list_user("xlang") == []
