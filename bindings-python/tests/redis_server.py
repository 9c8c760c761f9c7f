"""A private redis-server for the Python suite: a free loopback port, no persistence, stopped
afterwards. Under CI=true a missing redis-server fails the tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Optional

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, password: Optional[str] = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is required under CI=true (make test installs it)")
            pytest.skip("redis-server is not installed (make test installs it)")
        self.binary = binary
        self.port = _free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="tessera-redis-")
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def url(self, prefix: str, command_timeout_ms: int = 1000) -> str:
        auth = f":{self.password}@" if self.password else ""
        return (f"redis://{auth}127.0.0.1:{self.port}/0?prefix={prefix}"
                f"&connect_timeout_ms=500&command_timeout_ms={command_timeout_ms}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
