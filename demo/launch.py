"""``make demo``: the Flask, Express and C demo servers side by side on one session store.

Makes a private temporary directory with one SQLite store file, one events file and one
configuration (``demo.json``: the same cookie, timeouts, pepper and store for every process),
starts the three servers on loopback ports, prints their URLs, and stops all three on Ctrl-C or
SIGTERM, then removes the directory.

    python3 demo/launch.py [--port N] [--timeouts default|short]

``--port N`` (or ``PORT``): Flask on N, Express on N+1, C on N+2 (default 8000; 0 picks free
ports). A port already in use is refused with an error, never replaced silently.
``--timeouts short`` (or ``TESSERA_DEMO_TIMEOUTS=short``): idle 60 s, absolute 5 min, rotation
20 s, so a session's whole life fits in a few minutes.

Test-only: ``TESSERA_DEMO_TEST_CLOCK=1`` gives every server a manual clock that moves only on
``POST /__advance`` (the browser suite's way to expire sessions without waiting).

Standard library only: it runs before anything is installed into a venv.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Optional

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ACCOUNTS = (
    "alice / alice-demo, bob / bob-demo, admin / admin-demo (admin can end anyone's sessions)"
)

# Core option names (core/src/options.rs), the same for the three servers. "default" is the
# README's defaults exactly; "short" makes a session's whole life watchable.
TIMEOUTS = {
    "default": {
        "idle_timeout_ms": 30 * 60_000,
        "absolute_timeout_ms": 12 * 3_600_000,
        "rotation_interval_ms": 15 * 60_000,
        "rotation_grace_ms": 30_000,
    },
    "short": {
        "idle_timeout_ms": 60_000,
        "absolute_timeout_ms": 5 * 60_000,
        "rotation_interval_ms": 20_000,
        "rotation_grace_ms": 10_000,
    },
}
SITES = ("flask", "express", "c")
# How recent a sign-in "Change password" wants (require_recent, level 1), by timeouts: well
# inside the idle timeout, so that a stale sign-in is seen before the session expires.
RECENT_MS = {"default": 5 * 60_000, "short": 30_000}


class DemoError(Exception):
    """A reason not to start, said in one sentence."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="Flask's port; Express gets +1 and C +2 (default: $PORT or 8000; 0: free ports)",
    )
    parser.add_argument(
        "--timeouts",
        choices=sorted(TIMEOUTS),
        default=None,
        help="'short': idle 60 s, absolute 5 min, rotation 20 s (default: "
        "$TESSERA_DEMO_TIMEOUTS or 'default', the README's defaults)",
    )
    args = parser.parse_args(argv)
    if args.port is None:
        raw = os.environ.get("PORT", "8000")
        if not raw.isdigit():
            parser.error(f"PORT={raw!r} is not a port number")
        args.port = int(raw)
    if not 0 <= args.port <= 65533:
        parser.error(f"port {args.port} is out of range (0-65533: three consecutive ports)")
    if args.timeouts is None:
        args.timeouts = os.environ.get("TESSERA_DEMO_TIMEOUTS") or "default"
        if args.timeouts not in TIMEOUTS:
            parser.error(
                f"TESSERA_DEMO_TIMEOUTS={args.timeouts!r}: choose one of {', '.join(TIMEOUTS)}"
            )
    return args


def pick_ports(base: int) -> list[int]:
    """Three ports that are free now: base, base+1, base+2 (or any three for base 0)."""
    ports = []
    for i in range(3):
        with socket.socket() as s:
            try:
                s.bind((HOST, 0 if base == 0 else base + i))
            except OSError as e:
                raise DemoError(
                    f"port {base + i} on {HOST} is in use ({e.strerror}); choose other ports "
                    "with PORT=N or --port N (the demo uses N, N+1 and N+2)"
                ) from None
            ports.append(s.getsockname()[1])
    return ports


def differences(timeouts: str, test_clock: bool) -> list[str]:
    """What the demo does differently from the README's defaults, said on every start page."""
    out = [
        "Plain http://127.0.0.1, no TLS: browsers treat loopback as a secure context, so the "
        "default __Host-session cookie (Secure, HttpOnly, SameSite=Lax) works here as in "
        "production. Anywhere else, serve over HTTPS.",
        "Device-bound sessions (dbsc) are on, and each server tells Tessera that a request "
        "from a loopback peer (127.0.0.1, ::1) arrived over HTTPS, so that sign-ins offer a "
        "binding over plain http://127.0.0.1; requests from anywhere else count as plain HTTP. "
        "A real deployment serves HTTPS (or trusts its proxy's X-Forwarded-Proto).",
        "The store is one SQLite file shared by the three processes (the default is the "
        "in-memory store of one process), and the three share a pepper (the default has none; "
        "processes that share a store must share it).",
        "The events panel shows every user's audit events to every visitor; a real app shows "
        "them to administrators only.",
    ]
    if timeouts == "short":
        out.append(
            "Short timeouts: idle 60 s (default 30 min), absolute 5 min (12 h), rotation every "
            "20 s (15 min) with 10 s grace (30 s)."
        )
    if test_clock:
        out.append(
            "TEST CLOCK: time stands still except on POST /__advance, and there is no "
            "background sweeper. For the browser tests only."
        )
    return out


def write_config(work: Path, ports: list[int], timeouts: str, test_clock: bool) -> Path:
    options: dict[str, object] = {
        "store": f"sqlite://{work / 'sessions.db'}",
        # Shared by the three processes: session ids and visitors' CSRF tokens must agree.
        "pepper": secrets.token_urlsafe(32),
        **TIMEOUTS[timeouts],
        # Device-bound sessions; each server adds its own dbsc_origin (http://127.0.0.1:PORT).
        "dbsc": True,
    }
    if test_clock:
        options["sweep_interval_ms"] = None
    config = {
        "sites": {site: f"http://{HOST}:{port}" for site, port in zip(SITES, ports)},
        "options": options,
        "timeouts": timeouts,
        "recent_ms": RECENT_MS[timeouts],
        "events": str(work / "events.jsonl"),
        "assets": str(ROOT / "demo" / "static"),
        "test_clock": test_clock,
        "differences": differences(timeouts, test_clock),
    }
    path = work / "demo.json"
    # 0600: it holds the pepper.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2)
    return path


def die_with_parent() -> None:
    """In the child: SIGTERM when the launcher dies, however it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def commands(config: Path, ports: list[int]) -> dict[str, tuple[list[str], Path]]:
    python = os.environ.get("TESSERA_DEMO_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    c_server = os.environ.get("TESSERA_DEMO_C_SERVER") or str(
        Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "c" / "bin" / "demo-server"
    )
    test = ["--test"] if json.loads(config.read_text())["test_clock"] else []
    return {
        "flask": (
            [python, "-m", "demo", "--config", str(config), "--port", str(ports[0])],
            ROOT / "bindings-python",
        ),
        "express": (
            ["node", "demo/server.js", "--config", str(config), "--port", str(ports[1])],
            ROOT / "bindings-node",
        ),
        "c": ([c_server, "--demo", str(config), *test, str(ports[2])], ROOT),
    }


def relay(name: str, stream: IO[bytes]) -> None:
    """Each server's output, line by line, prefixed with its name."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        print(f"[{name}] {line}", flush=True)


def answers(url: str) -> bool:
    try:
        # /demo/events: answered before the session middleware, so polling it creates nothing.
        # S310: the URL is one this launcher made (http://127.0.0.1:PORT).
        with urllib.request.urlopen(f"{url}/demo/events", timeout=2) as res:  # noqa: S310
            return bool(res.status == 200)
    except OSError:
        return False


class Servers:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], cwd: Path) -> None:
        if not Path(argv[0]).exists() and "/" in argv[0]:
            raise DemoError(f"{argv[0]} is missing: run `make demo` (it builds it first)")
        try:
            child = subprocess.Popen(  # noqa: S603 - the three servers' commands, built above
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches only the launcher, which stops the three in order.
                start_new_session=True,
                preexec_fn=die_with_parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as e:
            raise DemoError(f"cannot start the {name} server ({argv[0]}): {e.strerror}") from None
        self.children[name] = child
        assert child.stdout is not None
        threading.Thread(target=relay, args=(name, child.stdout), daemon=True).start()

    def wait_ready(self, urls: dict[str, str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(urls)
        while waiting:
            for name, url in list(waiting.items()):
                code = self.children[name].poll()
                if code is not None:
                    raise DemoError(f"the {name} server exited ({code}) before answering")
                if answers(url):
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise DemoError(f"no answer within {timeout:.0f} s from {', '.join(waiting)}")
            if waiting:
                time.sleep(0.2)  # polling for start-up; no test depends on this interval

    def first_exit(self) -> Optional[tuple[str, int]]:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    test_clock = os.environ.get("TESSERA_DEMO_TEST_CLOCK") == "1"
    work = Path(tempfile.mkdtemp(prefix="tessera-demo-"))  # 0700
    servers = Servers()
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ports = pick_ports(args.port)
        config = write_config(work, ports, args.timeouts, test_clock)
        urls = json.loads(config.read_text())["sites"]
        for name, (argv_, cwd) in commands(config, ports).items():
            servers.start(name, argv_, cwd)
        servers.wait_ready(urls)
        print(
            "\nTessera demo: one session, three languages, one store\n"
            f"  Flask   (Python)  {urls['flask']}/\n"
            f"  Express (Node)    {urls['express']}/\n"
            f"  C (libmicrohttpd) {urls['c']}/\n"
            f"Accounts: {ACCOUNTS}\n"
            f"Timeouts: {args.timeouts}{' (TEST CLOCK)' if test_clock else ''}; "
            f"store and events in {work}\n"
            "Stop with Ctrl-C.\n",
            flush=True,
        )
        # For scripts (the browser suite): the URLs and the processes, in one JSON line.
        ready = {"sites": urls, "pids": [c.pid for c in servers.children.values()]}
        print(f"demo: ready {json.dumps(ready)}", flush=True)
        while not stopping.wait(0.5):
            exited = servers.first_exit()
            if exited is not None:
                raise DemoError(f"the {exited[0]} server exited ({exited[1]}); stopping the demo")
        print("\nStopping the three servers…", flush=True)
        return 0
    except DemoError as e:
        print(f"make demo: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)
        print("demo: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
