"""Tessera on Redis against a bare GET and Django's Redis cache session backend, in one run.

    python benches/redis_bench.py OUTDIR [--rust-bin PATH]    # `make bench-redis` runs this

Starts a private ``redis-server`` on a free loopback port (no persistence; stopped afterwards),
runs the Rust figures (``--rust-bin``: the ``redis`` binary of ``tessera-benches``) and then the
Python figures against it, and writes OUTDIR/redis.json and OUTDIR/redis.md.

Python figures, each at concurrency 1 (one thread) and 16 (16 threads):

- ``get``: ``GET`` of a 256-byte value through the ``redis`` package, one client per thread:
  the floor (one round trip, nothing else);
- ``validate`` / ``create``: ``tessera.SessionManager(store="redis://...")`` shared by the
  threads (a pool of 16 connections; the GIL is released while Redis is waited for);
- ``django_cache_load`` / ``django_cache_create``: Django's ``cache`` session backend on
  ``django.core.cache.backends.redis.RedisCache``: ``SessionStore(key).load()`` and
  ``SessionStore().create()``;
- ``tessera_django_load`` / ``tessera_django_create``: the same calls on ``tessera.django``.

Sessions read are a signed-in user's with a little data (the same in every backend); sessions
created are empty. Competing figures take their rounds in turn, so a machine that gets busy slows
them alike; within a round each thread times batches of calls, and a figure's µs per op is the
median of its batches (wall clock: the latency a caller sees), its ops/s all calls over the wall
time. Each figure also notes the CPU time per call of this process and of redis-server. Then
MONITOR counts the round trips of each kind of call and ``INFO commandstats`` Redis's own time.
Garbage collection is off while a round runs (as timeit does) and runs between rounds.

``TESSERA_BENCH_QUICK=1`` shrinks every budget to a smoke test of the runner.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from typing import Any, Optional

#: Rounds per figure, seconds per round, live sessions per backend.
ROUNDS, ROUND_S, SESSIONS = 30, 0.1, 4000
#: Calls per timed batch at concurrency 1; divided by the concurrency (at least 4) above.
BATCH = 20
#: Calls watched with MONITOR, and timed by INFO commandstats, per kind of call.
MONITOR_OPS, PROFILE_OPS = 200, 1000
QUICK = bool(os.environ.get("TESSERA_BENCH_QUICK"))
if QUICK:  # a smoke test of the runner, not a measurement
    ROUNDS, ROUND_S, SESSIONS, MONITOR_OPS, PROFILE_OPS = 2, 0.02, 100, 10, 20
CONCURRENCY = (1, 16)
GET_VALUE = b"x" * 256
#: What django.contrib.auth.login stores, plus a little application data (as the Rust side).
PAYLOAD: dict[str, Any] = {
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "theme": "dark",
    "cart": ["apple", "pear"],
}
#: Spreads each thread's walk over the sessions (a prime, coprime with SESSIONS).
STRIDE = 7919
TIMES = "\u00d7"

#: Figure name -> what one call is.
LABELS = {
    "get": "bare GET of a 256-byte value (redis-py, a client per thread)",
    "validate": "tessera SessionManager.validate of a live session",
    "create": "tessera SessionManager.create (anonymous, empty)",
    "django_cache_load": "Django cache backend on RedisCache: SessionStore(key).load()",
    "django_cache_create": "Django cache backend on RedisCache: SessionStore().create()",
    "tessera_django_load": "tessera.django: SessionStore(key).load()",
    "django_cache_request": "a Django test-client request to a view that reads and writes the "
    "session: Django's SessionMiddleware, cache engine on RedisCache",
    "tessera_django_request": "the same request through tessera.django's middleware and engine",
    "no_session_request": "the floor: a Django test-client request to a view that uses no session, "
    "with no middleware",
    "tessera_django_create": "tessera.django: SessionStore().create()",
}
RUST_LABELS = {
    "get": "bare GET of a 256-byte value (redis crate, a sync Connection per thread)",
    "validate": "SessionManager::validate of a live session",
    "create": "SessionManager::create (anonymous, empty)",
}
#: Rust only: many threads, and a Redis Cluster.
RUST_MANY = 64


# -- the private redis-server ---------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, in a temporary directory."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (make system-deps installs it)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="tessera-bench-redis-")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"]
        self.process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Three ``redis-server --cluster-enabled yes`` masters on free loopback ports, joined by
    ``redis-cli --cluster create``; the cluster bus ports (+10000) are free too."""

    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise SystemExit("redis-server and redis-cli are needed (make system-deps)")
        self.dir = tempfile.mkdtemp(prefix="tessera-bench-cluster-")
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        while len(self.ports) < 3:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
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
                [server, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--save", "", "--appendonly", "no",
                 "--dir", node_dir, "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.ports.append(port)
        import redis

        for port in self.ports:
            self._until(lambda p=port: redis.Redis(port=p).ping())
        subprocess.run(  # noqa: S603 - redis-cli from PATH
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL)
        for port in self.ports:
            self._until(lambda p=port: redis.Redis(port=p).cluster("info")["cluster_state"] == "ok")

    def _until(self, ready: Callable[[], Any]) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                if ready():
                    return
            except Exception:  # noqa: S110 - not up yet
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Redis Cluster did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


# -- timing ---------------------------------------------------------------------------------------

#: A call: ``op(i)`` makes the ``i``th call of its thread.
Op = Callable[[int], object]


class Workers:
    """Threads kept for the whole run, so per-thread state (Django's cache connections, which
    are thread-local) lives across rounds as it would in a server's worker threads."""

    def __init__(self, count: int) -> None:
        self.inbox: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(count)]
        for box in self.inbox:
            threading.Thread(target=self._serve, args=(box,), daemon=True).start()

    @staticmethod
    def _serve(box: queue.SimpleQueue[Any]) -> None:
        while True:
            job = box.get()
            if job is None:
                return
            job()

    def stop(self) -> None:
        for box in self.inbox:
            box.put(None)


class Figure:
    """One figure: a call per thread, run in rounds at one concurrency."""

    def __init__(self, name: str, concurrency: int, ops: Sequence[Op]) -> None:
        assert len(ops) == concurrency
        self.name, self.concurrency, self.ops = name, concurrency, ops
        self.reset()

    def reset(self) -> None:
        self.batches: list[float] = []
        self.calls = 0
        self.wall = 0.0
        # Nanoseconds on a CPU and waiting for one: the worker threads', redis-server's.
        self.client, self.redis = [0, 0], [0, 0]

    def round(self, workers: Workers, redis_sched: Optional[str], budget: float) -> None:
        results: list[Optional[tuple[float, int, list[float], Sched, Sched]]] = (
            [None] * self.concurrency
        )
        errors: list[BaseException] = []
        start_line = threading.Barrier(self.concurrency + 1)
        finish_line = threading.Barrier(self.concurrency + 1)
        clock = time.perf_counter
        batch = max(4, BATCH // self.concurrency)

        def job(t: int) -> None:
            op, i, batches = self.ops[t], 0, []
            start_line.wait()
            sched = read_sched(THREAD_SCHED)
            deadline = clock() + budget
            try:
                while True:
                    t0 = clock()
                    if t0 >= deadline:
                        break
                    for _ in range(batch):
                        op(i)
                        i += 1
                    batches.append((clock() - t0) * 1e6 / batch)
            except BaseException as e:
                errors.append(e)
            results[t] = (clock(), i, batches, sched, read_sched(THREAD_SCHED))
            finish_line.wait()

        for t in range(self.concurrency):
            workers.inbox[t].put(lambda t=t: job(t))
        gc.collect()
        gc.disable()
        try:
            server0 = read_sched(redis_sched)
            start_line.wait()
            start = clock()
            finish_line.wait()
            server1 = read_sched(redis_sched)
        finally:
            gc.enable()
        add_since(self.redis, server0, server1)
        if errors:
            raise RuntimeError(f"{self.name} (concurrency {self.concurrency})") from errors[0]
        end = start
        for result in results:
            assert result is not None
            end = max(end, result[0])
            self.calls += result[1]
            self.batches.extend(result[2])
            add_since(self.client, result[3], result[4])
        self.wall += end - start

    def result(self) -> dict[str, Any]:
        batches = sorted(self.batches)
        deciles = statistics.quantiles(batches, n=10) if len(batches) > 1 else batches * 9
        return {
            "name": self.name,
            "what": LABELS[self.name],
            "concurrency": self.concurrency,
            "us_per_op": statistics.median(batches),
            "us_per_op_p10": deciles[0],
            "us_per_op_p90": deciles[-1],
            "ops_per_s": self.calls / self.wall,
            "calls": self.calls,
            "batches": len(batches),
            "wall_s": self.wall,
            "client_cpu_us_per_op": self.client[0] / 1e3 / self.calls,
            "client_wait_us_per_op": self.client[1] / 1e3 / self.calls,
            "redis_cpu_us_per_op": self.redis[0] / 1e3 / self.calls,
            "redis_wait_us_per_op": self.redis[1] / 1e3 / self.calls,
        }


#: A thread's scheduler account: nanoseconds on a CPU, and runnable but waiting for one (the
#: time other processes had the cores).
Sched = tuple[int, int]
THREAD_SCHED = "/proc/thread-self/schedstat"


def read_sched(path: Optional[str]) -> Sched:
    if path is None:
        return (0, 0)
    try:
        with open(path) as f:
            cpu_ns, wait_ns = f.read().split()[:2]
    except (OSError, ValueError):
        return (0, 0)
    return int(cpu_ns), int(wait_ns)


def add_since(total: list[int], before: Sched, after: Sched) -> None:
    total[0] += max(0, after[0] - before[0])
    total[1] += max(0, after[1] - before[1])


# -- round trips and Redis's own time -------------------------------------------------------------


def client_commands(port: int, run: Callable[[], None]) -> dict[str, int]:
    """The commands clients sent while ``run`` ran, by name, as MONITOR shows them. Commands that
    scripts run inside Redis (marked ``lua``) cost no round trip and are not counted."""
    marker = "tessera-bench-end"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as monitor:
        monitor.sendall(b"MONITOR\r\n")
        reader = monitor.makefile("rb")
        if reader.readline() != b"+OK\r\n":
            raise RuntimeError("MONITOR refused")
        run()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            other.sendall(f"ECHO {marker}\r\n".encode())
            other.recv(100)
        seen: dict[str, int] = {}
        while True:
            line = reader.readline().decode("utf-8", "replace")
            if not line:
                raise RuntimeError("MONITOR ended early")
            if marker in line:
                return seen
            # +<time> [<db> <client address or lua>] "COMMAND" "arg" ...
            origin, _, command = line.partition("]")
            if origin.endswith(" lua") or not command:
                continue
            name = command.strip().split('"')[1].lower() if '"' in command else "?"
            seen[name] = seen.get(name, 0) + 1


def profile(port: int, admin: Any, op: Op) -> dict[str, Any]:
    """Round trips per call (MONITOR) and each command's count and Redis µs per call."""
    counter = iter(range(1 << 62))

    def calls(n: int) -> None:
        for _ in range(n):
            op(next(counter))

    sent = client_commands(port, lambda: calls(MONITOR_OPS))
    admin.config_resetstat()
    calls(PROFILE_OPS)
    stats = admin.info("commandstats")
    commands = {}
    for key, row in stats.items():
        name = key.removeprefix("cmdstat_")
        if name == "info" or name.startswith("config"):
            continue
        commands[name] = {
            "per_op": row["calls"] / PROFILE_OPS,
            "redis_us_per_call": row["usec"] / row["calls"] if row["calls"] else 0.0,
        }
    return {
        "monitor_ops": MONITOR_OPS,
        "commandstats_ops": PROFILE_OPS,
        "round_trips_per_op": sum(sent.values()) / MONITOR_OPS,
        "client_commands": sent,
        "commands_per_op": sum(c["per_op"] for c in commands.values()),
        "commands": commands,
    }


# -- Django ---------------------------------------------------------------------------------------


def setup_django(url: str, tessera_url: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-a-secret",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.sessions", "tessera.django"],
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "djbench",
            }
        },
        SESSION_ENGINE="tessera.django",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        TESSERA={"store": tessera_url, "sweep_interval": None},
        LOGGING_CONFIG=None,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="redis_bench_urls",
    )
    django.setup()
    # One view that reads and writes the session, for the per-request figures.
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def read_write(request: HttpRequest) -> HttpResponse:
        request.session["n"] = int(request.session.get("n", 0)) + 1
        return HttpResponse("ok")

    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urls = types.ModuleType("redis_bench_urls")
    urls.urlpatterns = [path("rw", read_write), path("plain", plain)]  # type: ignore[attr-defined]
    sys.modules["redis_bench_urls"] = urls


def request_op(middleware: Optional[str], engine: str, url: str = "/rw") -> Callable[[int], Op]:
    """A Django test client per worker thread, its middleware chain (and so its session engine)
    fixed by a first request made under these settings; each call is a whole request to a view
    that reads and writes the session (`url`), over HTTPS, carrying the session cookie back.
    No middleware (None) and the session-free view give the framework's own floor."""
    from django.test import Client, override_settings

    chain = [middleware] if middleware else []

    def make(_: int) -> Op:
        client = Client()
        with override_settings(MIDDLEWARE=chain, SESSION_ENGINE=engine):
            if client.get(url, secure=True).status_code != 200:
                raise AssertionError("the view failed")

        def op(i: int) -> None:
            if client.get(url, secure=True).status_code != 200:
                raise AssertionError("the view failed")

        return op

    return make


# -- the Python figures ---------------------------------------------------------------------------


def python_figures(server: RedisServer) -> dict[str, Any]:
    import redis
    import tessera

    started = time.perf_counter()
    base = server.url
    admin = redis.Redis.from_url(base)
    admin.flushall()
    tessera_url = f"{base}?prefix=bench"
    setup_django(base, f"{base}?prefix=benchdj")
    from django.contrib.sessions.backends.cache import SessionStore as CacheStore
    from tessera.django import SessionStore as TesseraStore

    n = SESSIONS
    get_keys = [f"bench:get:{i}" for i in range(n)]
    pipe = admin.pipeline(transaction=False)
    for key in get_keys:
        pipe.set(key, GET_VALUE)
    pipe.execute()

    manager = tessera.SessionManager(store=tessera_url, sweep_interval=None)
    tokens, cache_keys, tessera_keys = [], [], []
    for i in range(n):
        data = {"_auth_user_id": str(i), **PAYLOAD}
        tokens.append(manager.create(f"user{i}", data, https=True).new_token)
        for store_class, keys in ((CacheStore, cache_keys), (TesseraStore, tessera_keys)):
            store = store_class()
            store.update(data)
            store.save()
            keys.append(store.session_key)
    print(f"python: {3 * n} sessions created in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)

    def get_op(client: Any, offset: int) -> Op:
        def op(i: int) -> None:
            if len(client.get(get_keys[(offset + i * STRIDE) % n])) != len(GET_VALUE):
                raise AssertionError("GET returned another value")

        return op

    def validate_op(offset: int) -> Op:
        validate = manager.validate

        def op(i: int) -> None:
            validate(tokens[(offset + i * STRIDE) % n], https=True)  # raises if rejected

        return op

    def create_op(_: int) -> Op:
        create = manager.create
        return lambda i: create(https=True)

    def load_op(store_class: Any, keys: list[str]) -> Callable[[int], Op]:
        def make(offset: int) -> Op:
            def op(i: int) -> None:
                if not store_class(keys[(offset + i * STRIDE) % n]).load():
                    raise AssertionError("a live session loaded empty")

            return op

        return make

    def store_create_op(store_class: Any) -> Callable[[int], Op]:
        return lambda _: lambda i: store_class().create()

    makers: dict[str, Callable[[int], Op]] = {
        "get": lambda offset: get_op(redis.Redis.from_url(base), offset),
        "validate": validate_op,
        "create": create_op,
        "django_cache_load": load_op(CacheStore, cache_keys),
        "django_cache_create": store_create_op(CacheStore),
        "tessera_django_load": load_op(TesseraStore, tessera_keys),
        "tessera_django_create": store_create_op(TesseraStore),
        "django_cache_request": request_op(
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.sessions.backends.cache"),
        "tessera_django_request": request_op(
            "tessera.django.middleware.SessionMiddleware", "tessera.django"),
        "no_session_request": request_op(None, "tessera.django", "/plain"),
    }
    figures = [
        Figure(name, c, [make(t * (n // c)) for t in range(c)])
        for c in CONCURRENCY
        for name, make in makers.items()
    ]
    pid = server.process.pid
    redis_sched: Optional[str] = f"/proc/{pid}/task/{pid}/schedstat"
    if read_sched(redis_sched) == (0, 0):
        redis_sched = None
    workers = Workers(max(CONCURRENCY))
    try:
        # Open every pool's connections, load the scripts, import what the first call imports.
        for figure in figures:
            figure.round(workers, redis_sched, 0.02)
            figure.reset()
        timed = time.perf_counter()
        for r in range(ROUNDS):
            # The order rotates, so no figure always follows the same one.
            for j in range(len(figures)):
                figures[(j + r) % len(figures)].round(workers, redis_sched, ROUND_S)
            if (r + 1) % 5 == 0 or r + 1 == ROUNDS:
                print(f"python: round {r + 1}/{ROUNDS} done "
                      f"({time.perf_counter() - timed:.1f} s)", file=sys.stderr)
    finally:
        workers.stop()
    results = [f.result() for f in figures]
    for f in results:
        print(f"python: {f['name']:>21} c={f['concurrency']:<2} {f['us_per_op']:8.1f} µs/op "
              f"{f['ops_per_s']:8.0f} ops/s   per op, CPU (wait): bench "
              f"{f['client_cpu_us_per_op']:.1f} ({f['client_wait_us_per_op']:.1f}) µs, redis "
              f"{f['redis_cpu_us_per_op']:.1f} ({f['redis_wait_us_per_op']:.1f}) µs",
              file=sys.stderr)

    profiles = {
        name: profile(server.port, admin, make(0)) for name, make in makers.items()
    }
    return {
        "language": "python",
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "django": __import__("django").get_version(),
        "tessera_module": os.path.dirname(tessera.__file__),
        "settings": {
            "rounds": ROUNDS,
            "round_ms": int(ROUND_S * 1000),
            "batch": BATCH,
            "sessions": n,
            "store_url": tessera_url,
            "get_value_bytes": len(GET_VALUE),
        },
        "figures": results,
        "profile": profiles,
    }


# -- the report -----------------------------------------------------------------------------------


def find(report: dict[str, Any], name: str, concurrency: int) -> dict[str, Any]:
    for f in report["figures"]:
        if f["name"] == name and f["concurrency"] == concurrency:
            return f  # type: ignore[no-any-return]
    raise KeyError(f"{name} at concurrency {concurrency}")


def cpu(figure: dict[str, Any]) -> float:
    """CPU µs per call, this process and redis-server together."""
    return float(figure["client_cpu_us_per_op"] + figure["redis_cpu_us_per_op"])


def targets(rust: Optional[dict[str, Any]], py: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target, measured, with its verdict, and the same ratio by two noise checks: CPU time
    per call (the bench + redis-server; what other processes do barely moves it) and, for
    latency at concurrency 1, the 10th percentile of the batches (the calls the machine's other
    work delayed least)."""
    rows: list[dict[str, Any]] = []

    def latency_row(language: str, report: dict[str, Any], name: str, floor: str, c: int,
                    headline: bool) -> None:
        a, b = find(report, name, c), find(report, floor, c)
        # At concurrency 1 the time of one call; at 16 the inverse throughput (calls per second
        # of the floor over those of the call) — the same thing per unit of work.
        ratio = a["us_per_op"] / b["us_per_op"] if c == 1 else b["ops_per_s"] / a["ops_per_s"]
        rows.append({
            "target": f"{language}: {name} ÷ bare GET, concurrency {c}",
            "language": language, "kind": "latency", "figure": name, "floor": floor,
            "concurrency": c, "ratio": ratio, "limit": 1.2, "headline": headline,
            "met": ratio <= 1.2, "cpu_ratio": cpu(a) / cpu(b),
            "p10_ratio": a["us_per_op_p10"] / b["us_per_op_p10"] if c == 1 else None,
        })

    def throughput_row(name: str, peer: str, c: int, headline: bool) -> None:
        a, b = find(py, name, c), find(py, peer, c)
        ratio = a["ops_per_s"] / b["ops_per_s"]
        rows.append({
            "target": f"Python: {name} ÷ {peer} throughput, concurrency {c}",
            "language": "Python", "kind": "throughput", "figure": name, "peer": peer,
            "concurrency": c, "ratio": ratio, "limit": 2.0, "headline": headline,
            "met": ratio >= 2.0, "cpu_ratio": cpu(b) / cpu(a), "p10_ratio": None,
        })

    if rust is not None:
        # Issue 12: many threads share one multiplexed connection; and on a cluster.
        a, b = find(rust, "validate", RUST_MANY), find(rust, "get", RUST_MANY)
        ratio = a["ops_per_s"] / b["ops_per_s"]
        rows.append({
            "target": f"Rust: validate ÷ bare GET throughput, concurrency {RUST_MANY}",
            "language": "Rust", "kind": "throughput", "figure": "validate", "peer": "get",
            "concurrency": RUST_MANY, "ratio": ratio, "limit": 0.8, "headline": True,
            "met": ratio >= 0.8, "cpu_ratio": cpu(b) / cpu(a), "p10_ratio": None,
        })
        if any(f["name"] == "validate_cluster" for f in rust["figures"]):
            a, b = find(rust, "validate_cluster", 1), find(rust, "validate", 1)
            ratio = a["us_per_op"] / b["us_per_op"]
            rows.append({
                "target": "Rust: validate on a Redis Cluster ÷ on one Redis, concurrency 1",
                "language": "Rust", "kind": "latency", "figure": "validate_cluster",
                "floor": "validate", "concurrency": 1, "ratio": ratio, "limit": 1.3,
                "headline": True, "met": ratio <= 1.3,
                # redis-server's CPU is not read on the cluster's nodes: the bench's only.
                "cpu_ratio": a["client_cpu_us_per_op"] / b["client_cpu_us_per_op"],
                "p10_ratio": a["us_per_op_p10"] / b["us_per_op_p10"],
            })
    for c in CONCURRENCY:
        if rust is not None:
            latency_row("Rust", rust, "validate", "get", c, True)
        latency_row("Python", py, "validate", "get", c, True)
        latency_row("Python", py, "tessera_django_load", "get", c, False)
    for c in CONCURRENCY:
        # Issue 12: per request through the test client, at least 3x Django's RedisCache engine.
        a, b = find(py, "tessera_django_request", c), find(py, "django_cache_request", c)
        ratio = a["ops_per_s"] / b["ops_per_s"]
        rows.append({
            "target": f"Python: tessera_django_request ÷ django_cache_request throughput, "
                      f"concurrency {c}",
            "language": "Python", "kind": "throughput", "figure": "tessera_django_request",
            "peer": "django_cache_request", "concurrency": c, "ratio": ratio, "limit": 3.0,
            "headline": True, "met": ratio >= 3.0, "cpu_ratio": cpu(b) / cpu(a),
            "p10_ratio": None,
        })
    for c in CONCURRENCY:
        throughput_row("tessera_django_load", "django_cache_load", c, True)
        throughput_row("tessera_django_create", "django_cache_create", c, True)
        throughput_row("validate", "django_cache_load", c, False)
        throughput_row("create", "django_cache_create", c, False)
    return rows


def us(v: float) -> str:
    return f"{v:,.1f} µs" if v < 10_000 else f"{v / 1000:,.2f} ms"


def figures_table(report: dict[str, Any], labels: dict[str, str]) -> list[str]:
    lines = [
        "| figure | one call | µs/op, c=1 | ops/s, c=1 | µs/op, c=16 | ops/s, c=16 |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in labels.items():
        one, many = find(report, name, 1), find(report, name, 16)
        lines.append(
            f"| `{name}` | {label} | {us(one['us_per_op'])} | {one['ops_per_s']:,.0f} | "
            f"{us(many['us_per_op'])} | {many['ops_per_s']:,.0f} |"
        )
    return lines


def profile_table(report: dict[str, Any], labels: dict[str, str]) -> list[str]:
    lines = [
        "| figure | round trips / call | commands sent | commands Redis ran / call "
        "| Redis µs / call | CPU · wait, µs / call, c=1: bench | redis-server |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in labels:
        p = report["profile"][name]
        one = find(report, name, 1)
        sent = ", ".join(f"{k.upper()} {TIMES} {v / p['monitor_ops']:g}"
                         for k, v in p["client_commands"].items())
        # Scripts' inner commands are counted inside EVALSHA's time: top-level ones only.
        top = [k for k in p["client_commands"] if k in p["commands"]]
        redis_us = sum(p["commands"][k]["redis_us_per_call"] * p["commands"][k]["per_op"]
                       for k in top)
        inner = ", ".join(
            f"{k.upper()} {v['per_op']:g}" for k, v in p["commands"].items() if k not in top
        )
        lines.append(
            f"| `{name}` | {p['round_trips_per_op']:g} | {sent} "
            f"| {p['commands_per_op']:g}{f' (in the script: {inner})' if inner else ''} "
            f"| {redis_us:.1f} "
            f"| {one['client_cpu_us_per_op']:.1f} · {one['client_wait_us_per_op']:.1f} "
            f"| {one['redis_cpu_us_per_op']:.1f} · {one['redis_wait_us_per_op']:.1f} |"
        )
    return lines


def analysis(rust: Optional[dict[str, Any]], py: dict[str, Any]) -> list[str]:
    """What validate costs over a bare GET, from the profiles and the scheduler accounts."""
    lines = []
    for language, report in (("Rust", rust), ("Python", py)):
        if report is None:
            continue
        get, val = find(report, "get", 1), find(report, "validate", 1)
        pg, pv = report["profile"]["get"], report["profile"]["validate"]
        plain = pg["commands"].get("get", {}).get("redis_us_per_call", float("nan"))
        # What a validate runs in Redis, top-level commands (a script's time includes its own).
        top = [k for k in pv["client_commands"] if k in pv["commands"]]
        ran = ", ".join(
            f"{k.upper()} {pv['commands'][k]['per_op']:g}/call at "
            f"{pv['commands'][k]['redis_us_per_call']:.1f} µs" for k in top
        ) or "nothing recorded"

        def extra(key: str, a: dict[str, Any] = val, b: dict[str, Any] = get) -> str:
            return f"{a[key]:.1f} µs vs {b[key]:.1f} µs ({a[key] - b[key]:+.1f})"

        lines.append(
            f"- {language}, concurrency 1: validate {us(val['us_per_op'])} vs GET "
            f"{us(get['us_per_op'])} ({val['us_per_op'] - get['us_per_op']:+.1f} µs), "
            f"{pv['round_trips_per_op']:g} and {pg['round_trips_per_op']:g} round trip(s). "
            f"In Redis, a validate runs {ran}, against {plain:.1f} µs for a GET. Per call: "
            "redis-server's CPU "
            f"{extra('redis_cpu_us_per_op')}, the bench's CPU {extra('client_cpu_us_per_op')}; "
            f"waiting for a core (other processes): redis-server {extra('redis_wait_us_per_op')}, "
            f"the bench {extra('client_wait_us_per_op')}."
        )
    if any(f["name"] == "no_session_request" for f in py["figures"]):
        lines.append(django_floor(py))
    if rust is not None and any(f["name"] == "ping_store" for f in rust["figures"]):
        lines.append(handoffs(rust))
    if rust is not None:
        lines.append(many_callers(rust))
    if rust is not None:
        a, b = find(py, "validate", 1), find(rust, "validate", 1)
        lines.append(
            "- The Python binding against the Rust call (validate, concurrency 1): the bench's "
            f"CPU per call {a['client_cpu_us_per_op']:.1f} µs vs "
            f"{b['client_cpu_us_per_op']:.1f} µs in Rust "
            f"({a['client_cpu_us_per_op'] - b['client_cpu_us_per_op']:+.1f} µs: what converting "
            "the arguments and the Session and handing the GIL over add, give or take this "
            "run's noise). redis-py's GET costs "
            f"{find(py, 'get', 1)['client_cpu_us_per_op']:.1f} µs of CPU per call against "
            f"{find(rust, 'get', 1)['client_cpu_us_per_op']:.1f} µs for the redis crate's: "
            "Python's floor is higher, which is why the same validate is nearer it."
        )
    return lines


def django_floor(py: dict[str, Any]) -> str:
    """What the per-request target can reach at most: Django's own cost of a request."""
    parts = []
    for c in (1, 16):
        floor = find(py, "no_session_request", c)
        cache = find(py, "django_cache_request", c)
        ours = find(py, "tessera_django_request", c)
        ceiling = floor["ops_per_s"] / cache["ops_per_s"]
        parts.append(
            f"at concurrency {c}, {floor['ops_per_s']:,.0f} requests/s with no session at all "
            f"against {cache['ops_per_s']:,.0f}/s on the cache engine: a session layer that cost "
            f"nothing would reach {ceiling:.2f}{TIMES} (Tessera: "
            f"{ours['ops_per_s'] / cache['ops_per_s']:.2f}{TIMES}, "
            f"{ours['ops_per_s'] / floor['ops_per_s']:.0%} of the floor's throughput)"
        )
    return (
        "- Python, per request, the framework's floor (`no_session_request`: the same test-client "
        "request to a view that uses no session, no middleware): " + "; ".join(parts) + "."
    )


def many_callers(rust: dict[str, Any]) -> str:
    """What bounds validate's throughput at RUST_MANY threads: CPU, and turns at the cores."""
    get, val = find(rust, "get", RUST_MANY), find(rust, "validate", RUST_MANY)

    def cpu_of(f: dict[str, Any]) -> float:
        return float(f["client_cpu_us_per_op"] + f["redis_cpu_us_per_op"])

    return (
        f"- Rust, concurrency {RUST_MANY}: the callers and redis-server share "
        f"{os.cpu_count()} cores. A validate costs {cpu_of(val):.1f} µs of CPU (the caller "
        f"{val['client_cpu_us_per_op']:.1f}, decoding the record; redis-server "
        f"{val['redis_cpu_us_per_op']:.1f}) against {cpu_of(get):.1f} µs for a GET, so by CPU "
        f"alone the ratio could reach {cpu_of(get) / cpu_of(val):.2f}{TIMES}; it reaches "
        f"{val['ops_per_s'] / get['ops_per_s']:.2f}{TIMES} because every call also needs the "
        f"store's one I/O thread, which waits for a core behind {RUST_MANY} runnable callers "
        f"(each validate waited {val['client_wait_us_per_op']:.1f} µs for a core)."
    )


def handoffs(rust: dict[str, Any]) -> str:
    """What handing a call to the store's I/O thread and back costs, from the two PINGs."""
    ping, through = find(rust, "ping", 1), find(rust, "ping_store", 1)
    get, val = find(rust, "get", 1), find(rust, "validate", 1)
    cost = through["us_per_op"] - ping["us_per_op"]
    rest = val["us_per_op"] - get["us_per_op"] - cost
    many_ping, many_through = find(rust, "ping", RUST_MANY), find(rust, "ping_store", RUST_MANY)
    return (
        "- Rust, the hand-offs: the same PING takes "
        f"{us(through['us_per_op'])} through a store's connection and I/O thread against "
        f"{us(ping['us_per_op'])} on a connection of the caller's own, so the two thread "
        f"hand-offs cost {cost:+.1f} µs per call, whatever the call asks of Redis; the rest "
        f"of validate's lead over a GET is {rest:+.1f} µs (the HGETALL and decoding the "
        f"record). At concurrency {RUST_MANY}: {many_through['ops_per_s']:,.0f} PINGs/s "
        f"through the one I/O thread against {many_ping['ops_per_s']:,.0f}/s on a connection "
        f"per thread ({many_through['ops_per_s'] / many_ping['ops_per_s']:.2f}{TIMES}), the "
        "ceiling of any call through it on this machine."
    )


def render(report: dict[str, Any]) -> str:
    rust, py = report.get("rust"), report["python"]
    out = [
        "# Tessera on Redis: benchmarks",
        "",
        f"Generated by `make bench-redis` on {report['date']} ({report['cores']} cores, "
        f"{report['platform']}): one private `redis-server` {report['redis_version']} on "
        "127.0.0.1 (no persistence), the Rust and the Python figures against it in one run. "
        f"Rounds of {py['settings']['round_ms']} ms, {py['settings']['rounds']} per figure, "
        "competing figures in turn; µs/op is the median over batches of the wall time a caller "
        "waited per call (at concurrency 16: while 15 other threads call too), ops/s all calls "
        f"over the wall time. {py['settings']['sessions']:,} live sessions per backend, each "
        "a signed-in user's with a little data; created sessions are anonymous and empty.",
        "",
        f"Load average (1 / 5 / 15 min) at the start: {report['load_start']}; at the end: "
        f"{report['load_end']}. The machine is shared and noisy: compare figures of one run "
        "only, and mostly through the ratios below.",
        "",
        "## Targets",
        "",
        f"Issue 6: validate within 1.2{TIMES} of a bare `GET` round trip from the same language; "
        f"at least 2{TIMES} the throughput of Django's Redis cache session backend, at "
        "concurrency 1 and 16 (connect-redis is the Node bench's). Issue 12: from Rust, "
        f"at least 0.8{TIMES} a bare `GET`'s throughput at concurrency {RUST_MANY}, and "
        f"validate on a Redis Cluster within 1.3{TIMES} of one Redis; from Python, at least "
        f"3{TIMES} Django's RedisCache session engine per request through the test client. "
        "Rows in italics are informational.",
        "",
        "The last two columns check the ratio against the machine's noise: the same ratio by "
        "CPU time per call (the bench's threads + redis-server, which other processes barely "
        "move), "
        "and by the 10th percentile of the batches (the calls least delayed by other work).",
        "",
        "| target | measured | limit | verdict | by CPU time | by p10 |",
        "|---|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "**met**" if t["met"] else "**missed**"
        if not t["met"]:
            if t["kind"] == "latency":
                verdict += f" by {t['ratio'] / t['limit']:.2f}{TIMES}"
            else:
                verdict += f" ({t['ratio'] / t['limit']:.2f} of the way)"
        label = t["target"] if t["headline"] else f"*{t['target']}*"
        sign = "≤" if t["kind"] == "latency" else "≥"
        p10 = "" if t["p10_ratio"] is None else f"{t['p10_ratio']:.2f}{TIMES}"
        out.append(f"| {label} | {t['ratio']:.2f}{TIMES} | {sign} {t['limit']:g}{TIMES} | "
                   f"{verdict} | {t['cpu_ratio']:.2f}{TIMES} | {p10} |")
    if rust is not None:
        out += ["", "## Rust (`tessera-benches`, bin `redis`)", ""]
        out += figures_table(rust, RUST_LABELS)
        names = [n for n in ("get", "validate", "create", "ping", "ping_store",
                             "validate_cluster")
                 if any(f["name"] == n for f in rust["figures"])]
        out += ["", f"At concurrency {RUST_MANY} (threads sharing one manager, so one "
                "multiplexed connection; the GET threads have a connection each), and "
                "`validate_cluster`: the same validate on a three-master Redis Cluster "
                "(`redis+cluster://`; every key of a prefix in one slot, on one master); "
                "`ping` is a bare PING (a connection per thread), `ping_store` the same PING "
                "through a store's multiplexed connection and I/O thread "
                "(`RedisStore::ping`):", "",
                "| figure | µs/op, c=1 | µs/op, c=16 | ops/s, c=16 | "
                f"µs/op, c={RUST_MANY} | ops/s, c={RUST_MANY} |",
                "|---|---|---|---|---|---|"]
        for name in names:
            one, mid, many = (find(rust, name, c) for c in (1, 16, RUST_MANY))
            out.append(f"| `{name}` | {us(one['us_per_op'])} | {us(mid['us_per_op'])} | "
                       f"{mid['ops_per_s']:,.0f} | {us(many['us_per_op'])} | "
                       f"{many['ops_per_s']:,.0f} |")
    out += ["", f"## Python ({py['python']}, redis-py {py['redis_py']}, Django {py['django']}, "
            "release build of the binding)", ""]
    out += figures_table(py, LABELS)
    out += ["", "## Where the time goes", "",
            "Round trips: the commands clients sent, as MONITOR shows them (commands a script "
            "runs inside Redis cost no round trip). Redis µs / call: the top-level commands' own "
            "time from `INFO commandstats` (a script's time includes its inner commands). CPU · "
            "wait: from the scheduler's accounts (`/proc/.../schedstat`) over the timed rounds "
            "at concurrency 1, per call, of the bench's threads and of redis-server's main "
            "thread: time on a core, and time runnable but waiting for one while other "
            "processes had it. A call's wall time is roughly both sides' CPU and waits plus the "
            "loopback wake-ups.", ""]
    for language, r, labels in (("Rust", rust, RUST_LABELS), ("Python", py, LABELS)):
        if r is not None:
            p = r["profile"]["get"]
            out += [f"{language} (MONITOR over {p['monitor_ops']} calls of each kind, "
                    f"commandstats over {p['commandstats_ops']}):", "",
                    *profile_table(r, labels), ""]
    out += analysis(rust, py)
    out.append("")
    return "\n".join(out)


# -- main -----------------------------------------------------------------------------------------


def run_rust(binary: str, server: RedisServer, cluster: RedisCluster, tmp: str) -> dict[str, Any]:
    out = os.path.join(tmp, "rust.json")
    args = [binary, "--url", server.url, "--cluster-url", cluster.url, "--out", out,
            "--rounds", str(ROUNDS), "--round-ms", str(int(ROUND_S * 1000)),
            "--sessions", str(SESSIONS)]
    subprocess.run(args, check=True)  # noqa: S603 - our own bench binary
    with open(out) as f:
        report: dict[str, Any] = json.load(f)
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--rust-bin", help="the `redis` binary of tessera-benches")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "platform": f"{platform.system().lower()}/{platform.machine()}",
        "load_start": load_average(),
        "quick": QUICK,
    }
    server = RedisServer()
    cluster = RedisCluster() if args.rust_bin else None
    try:
        import redis

        report["redis_version"] = redis.Redis.from_url(server.url).info("server")["redis_version"]
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
            report["rust"] = (run_rust(args.rust_bin, server, cluster, tmp)
                              if args.rust_bin and cluster else None)
        if cluster:
            cluster.stop()
            cluster = None
        report["python"] = python_figures(server)
    finally:
        server.stop()
        if cluster:
            cluster.stop()
    report["load_end"] = load_average()
    report["targets"] = targets(report["rust"], report["python"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, "redis.json"), "w") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    text = render(report)
    with open(os.path.join(args.outdir, "redis.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
