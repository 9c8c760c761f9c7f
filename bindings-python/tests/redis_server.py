"""A private redis-server for the Python suite: a free loopback port, no persistence, stopped
afterwards; and a private three-master Redis Cluster. Under CI=true a missing redis-server (or
redis-cli, for the cluster) fails the tests instead of skipping them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
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


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` masters on free loopback ports (their cluster
    bus ports, +10000, free too), joined by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server and redis-cli are required under CI=true")
            pytest.skip("redis-server or redis-cli is not installed (make test installs them)")
        self.dir = tempfile.mkdtemp(prefix="tessera-redis-cluster-")
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        while len(self.ports) < 3:
            port = _free_port()
            if port >= 55000 or port in self.ports:
                continue
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            node_dir = os.path.join(self.dir, str(port))
            os.makedirs(node_dir)
            self.processes.append(subprocess.Popen(  # noqa: S603 - redis-server from PATH
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--save", "", "--appendonly", "no", "--dir", node_dir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.ports.append(port)
        for port in self.ports:
            self._until(lambda p=port: self._cli(cli, p, "ping") == "PONG")
        subprocess.run(  # noqa: S603 - redis-cli from PATH
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port in self.ports:
            self._until(lambda p=port: "cluster_state:ok" in self._cli(cli, p, "cluster", "info"))

    @staticmethod
    def _cli(cli: str, port: int, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 - redis-cli from PATH
            [cli, "-p", str(port), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    def _until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Redis Cluster did not start")
            time.sleep(0.02)

    def url(self, prefix: str) -> str:
        nodes = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        return (f"redis+cluster://{nodes}?prefix={prefix}"
                "&connect_timeout_ms=500&command_timeout_ms=2000")

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
