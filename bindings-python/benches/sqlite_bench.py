"""Tessera on its embedded SQLite store against Django's own db session engine on SQLite.

    python benches/sqlite_bench.py OUTDIR --rust-bin PATH --fixture-dir DIR
                                          # `make bench-sqlite` runs this

Runs the Rust figures (``--rust-bin``: the ``sqlite`` binary of ``tessera-benches``, which builds
or reuses the 1,000,000-session fixture in ``--fixture-dir`` and also measures 4 processes against
1), then the Python figures on the same file, and writes OUTDIR/sqlite.json and OUTDIR/sqlite.md.

Python figures, one thread:

- ``validate``: ``tessera.SessionManager(store="sqlite:///...")`` validating the sessions the
  Rust side validated (a read: a warm pass, ``validate_first_touch``, refreshes ``last_seen``
  first, as in the Rust run);
- ``django_db_load`` / ``django_db_create``: ``django.contrib.sessions.backends.db`` on
  Django's SQLite backend with its defaults (a file in the fixture directory holding as many
  sessions, built once with the ORM's connection: ``executemany`` of rows Django's own
  ``SessionStore.encode`` made; migrations run once): ``SessionStore(key).load()`` and
  ``SessionStore().create()``.

Competing figures take their rounds in turn; each round times batches of calls and a figure's µs
per op is the median of its batches. Garbage collection is off while a round runs. Sessions the
create rounds add are deleted at the end, so cached fixtures stay at their size.

``TESSERA_BENCH_QUICK=1`` shrinks every budget (10,000 sessions) to a smoke test of the runner.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, Optional

#: Sessions per backend, rounds per figure, seconds per round (Python and Rust), seconds per
#: process-throughput round (Rust).
SESSIONS, ROUNDS, ROUND_S, PROC_S = 1_000_000, 20, 0.2, 2.5
QUICK = bool(os.environ.get("TESSERA_BENCH_QUICK"))
if QUICK:  # a smoke test of the runner, not a measurement
    SESSIONS, ROUNDS, ROUND_S, PROC_S = 10_000, 3, 0.05, 0.3
#: Calls per timed batch.
BATCH = 50
#: Most sampled Django keys loaded (the working set, as the Rust side's tokens).
SAMPLE = 100_000
#: Spreads consecutive calls over the working set (as the Rust side).
STRIDE = 7919
#: The bench sessions' idle timeout and lifetime, as the Rust side's (src/bin/sqlite.rs).
IDLE_S, ABSOLUTE_S = 30 * 24 * 3600, 365 * 24 * 3600
#: Django fixture rows expire then; sessions the create rounds add expire in two weeks.
FIXTURE_EXPIRY = "2099-01-01 00:00:00"
#: What django.contrib.auth.login stores, plus a little application data (as the Rust side).
PAYLOAD: dict[str, Any] = {
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "theme": "dark",
    "cart": ["apple", "pear"],
}
TIMES = "\u00d7"

LABELS = {
    "validate_first_touch": "tessera SessionManager.validate, first of this run per session "
    "(writes last_seen if older than 60 s)",
    "validate": "tessera SessionManager.validate of a live session (a read)",
    "django_db_load": "Django db engine on SQLite: SessionStore(key).load()",
    "django_db_create": "Django db engine on SQLite: SessionStore().create()",
}


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def thread_sched() -> tuple[int, int]:
    """This thread's ns on a CPU and ns runnable but waiting for one."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            cpu, wait = f.read().split()[:2]
        return int(cpu), int(wait)
    except (OSError, ValueError):
        return 0, 0


class Tally:
    """One figure's batches over its rounds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[float] = []
        self.calls = 0
        self.wall = self.cpu = self.wait = 0.0

    def run(self, op: Callable[[int], object], budget: Optional[float],
            count: Optional[int] = None) -> None:
        """Call ``op(i)`` in batches for ``budget`` seconds, or ``count`` times."""
        clock = time.perf_counter
        gc.collect()
        gc.disable()
        try:
            cpu0, wait0 = thread_sched()
            start = clock()
            deadline = start + budget if budget is not None else float("inf")
            left = count if count is not None else -1
            while left != 0:
                t0 = clock()
                if t0 >= deadline:
                    break
                size = BATCH if left < 0 else min(BATCH, left)
                for _ in range(size):
                    op(self.calls)
                    self.calls += 1
                self.batches.append((clock() - t0) * 1e6 / size)
                if left > 0:
                    left -= size
            self.wall += clock() - start
            cpu1, wait1 = thread_sched()
        finally:
            gc.enable()
        self.cpu += (cpu1 - cpu0) / 1e3
        self.wait += (wait1 - wait0) / 1e3

    def result(self) -> dict[str, Any]:
        batches = sorted(self.batches)
        deciles = statistics.quantiles(batches, n=10) if len(batches) > 1 else batches * 9
        return {
            "name": self.name,
            "what": LABELS[self.name],
            "us_per_op": statistics.median(batches),
            "us_per_op_p10": deciles[0],
            "us_per_op_p90": deciles[-1],
            "ops_per_s": self.calls / self.wall,
            "calls": self.calls,
            "batches": len(batches),
            "cpu_us_per_op": self.cpu / self.calls,
            "wait_us_per_op": self.wait / self.calls,
        }


# -- Django ---------------------------------------------------------------------------------------


def django_key(i: int) -> str:
    """The ith fixture session's key: 32 lowercase hex digits, spread like random ones."""
    return hashlib.blake2b(f"tessera-bench-{i}".encode(), digest_size=16).hexdigest()


def django_fixture(fixture_dir: str, n: int) -> dict[str, Any]:
    """Configure Django on the cached fixture database, building it (migrations, then N
    sessions) when it is missing or incomplete. Its JSON, written last, marks it complete."""
    import django
    from django.conf import settings

    db = os.path.join(fixture_dir, f"django-{n}.sqlite3")
    meta_file = os.path.join(fixture_dir, f"django-{n}.json")
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-a-secret",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.sessions"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        LOGGING_CONFIG=None,
    )
    django.setup()
    if os.path.exists(meta_file) and os.path.exists(db):
        with open(meta_file) as f:
            meta: dict[str, Any] = json.load(f)
        meta["reused"] = True
        print(f"python: reusing the Django fixture {db}", file=sys.stderr)
        return meta
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection, transaction

    started = time.perf_counter()
    os.makedirs(fixture_dir, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    call_command("migrate", verbosity=0)
    encoder = SessionStore()
    chunk = 20_000
    with connection.cursor() as cursor:
        for start in range(0, n, chunk):
            rows = [
                (django_key(i), encoder.encode({"_auth_user_id": str(i), **PAYLOAD}),
                 FIXTURE_EXPIRY)
                for i in range(start, min(n, start + chunk))
            ]
            with transaction.atomic():
                cursor.executemany(
                    "INSERT INTO django_session (session_key, session_data, expire_date) "
                    "VALUES (%s, %s, %s)", rows)
            if (start + chunk) % 200_000 == 0:
                print(f"python: Django fixture {start + chunk}/{n} "
                      f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        cursor.execute("SELECT count(*) FROM django_session")
        count = cursor.fetchone()[0]
    if count != n:
        raise RuntimeError(f"the Django fixture holds {count} sessions, not {n}")
    meta = {
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sessions": n,
        "how": "migrate, then executemany of (key, SessionStore.encode(data), expiry) rows, "
               f"{chunk} per transaction",
        "build_s": round(time.perf_counter() - started, 1),
        "file_bytes": os.path.getsize(db),
    }
    with open(meta_file, "w") as f:
        json.dump(meta, f, indent=2)
    meta["reused"] = False
    print(f"python: Django fixture of {n} sessions built in {meta['build_s']} s",
          file=sys.stderr)
    return meta


# -- the Python figures ---------------------------------------------------------------------------


def python_figures(rust: dict[str, Any], fixture_dir: str) -> dict[str, Any]:
    import tessera

    n = rust["settings"]["sessions"]
    load: dict[str, str] = {"start": load_average()}
    django_meta = django_fixture(fixture_dir, n)
    load["after_django_fixture"] = load_average()
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    with open(rust["tokens_file"]) as f:
        tokens = f.read().split()
    every = max(1, n // SAMPLE)
    keys = [django_key(i) for i in range(0, n, every)]
    manager = tessera.SessionManager(
        store=rust["store_url"], idle_timeout=IDLE_S, absolute_timeout=ABSOLUTE_S,
        rotation_interval=None, sweep_interval=None,
    )
    nt, nk = len(tokens), len(keys)

    validate = manager.validate

    def validate_op(i: int) -> None:
        validate(tokens[(i * STRIDE) % nt], https=True)  # raises if rejected

    def first_touch_op(i: int) -> None:
        validate(tokens[i], https=True)

    def load_op(i: int) -> None:
        if not SessionStore(keys[(i * STRIDE) % nk]).load():
            raise AssertionError("a live Django session loaded empty")

    def create_op(i: int) -> None:
        SessionStore().create()

    load["before_timed"] = load_average()
    warm = Tally("validate_first_touch")
    warm.run(first_touch_op, None, count=nt)
    figures = {name: Tally(name) for name in ("validate", "django_db_load", "django_db_create")}
    ops = {"validate": validate_op, "django_db_load": load_op, "django_db_create": create_op}
    for name, op in ops.items():  # open connections, import what the first call imports
        Tally(name).run(op, 0.02)
    started = time.perf_counter()
    order = list(figures)
    for r in range(ROUNDS):
        for j in range(len(order)):
            name = order[(j + r) % len(order)]
            figures[name].run(ops[name], ROUND_S)
        if (r + 1) % 5 == 0 or r + 1 == ROUNDS:
            print(f"python: round {r + 1}/{ROUNDS} ({time.perf_counter() - started:.1f} s)",
                  file=sys.stderr)
    load["after_timed"] = load_average()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
            cursor.fetchone()[0], "?")
        # Keep the cached fixture at its size: the created sessions expire before the fixture's.
        cursor.execute("DELETE FROM django_session WHERE expire_date < %s", [FIXTURE_EXPIRY])
        removed = cursor.rowcount
    results = [warm.result()] + [t.result() for t in figures.values()]
    for fig in results:
        print(f"python: {fig['name']:>20} {fig['us_per_op']:8.2f} µs/op "
              f"(p10 {fig['us_per_op_p10']:.2f}, p90 {fig['us_per_op_p90']:.2f}) "
              f"{fig['ops_per_s']:9.0f} ops/s  CPU {fig['cpu_us_per_op']:.2f} µs, "
              f"wait {fig['wait_us_per_op']:.2f} µs", file=sys.stderr)
    return {
        "language": "python",
        "python": platform.python_version(),
        "django": __import__("django").get_version(),
        "tessera_module": os.path.dirname(tessera.__file__),
        "django_fixture": django_meta,
        "django_sqlite": {"journal_mode": journal, "synchronous": synchronous,
                          "sqlite_version": __import__("sqlite3").sqlite_version},
        "settings": {"rounds": ROUNDS, "round_ms": int(ROUND_S * 1000), "batch": BATCH,
                     "sessions": n, "working_set_tessera": nt, "working_set_django": nk},
        "created_and_deleted_django": removed,
        "load": load,
        "figures": results,
    }


# -- the report -----------------------------------------------------------------------------------


def find(report: dict[str, Any], name: str) -> dict[str, Any]:
    for f in report["figures"]:
        if f["name"] == name:
            return f  # type: ignore[no-any-return]
    raise KeyError(name)


def targets(rust: dict[str, Any], py: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue-11 target: measured, limit, verdict, and what bounds it from this run."""
    rv, rc = find(rust, "validate"), find(rust, "create")
    mv, mc = find(rust, "memory_validate"), find(rust, "memory_create")
    pv = find(py, "validate")
    dl, dc = find(py, "django_db_load"), find(py, "django_db_create")
    procs = rust["processes"]
    sqlite_share = rv["us_per_op"] - mv["us_per_op"]
    create_share = rc["us_per_op"] - mc["us_per_op"]
    sl = find(rust, "store_load")
    validate_bound = (
        f"SqliteStore::load alone (connection lease, one SELECT by id, decoding the row) takes "
        f"{sl['us_per_op']:.2f} µs of {rv['us_per_op']:.2f} µs "
        f"({sl['us_per_op'] / rv['us_per_op']:.0%}); the same validate on memory:// takes "
        f"{mv['us_per_op']:.2f} µs (so {sqlite_share:.2f} µs is the SQLite store's); CPU per "
        f"call {rv['cpu_us_per_op']:.2f} µs, waiting for a core {rv['wait_us_per_op']:.2f} µs"
    )
    create_bound = (
        f"create on memory:// takes {mc['us_per_op']:.2f} µs, so the SQLite insert "
        f"(BEGIN IMMEDIATE, INSERT, COMMIT to the WAL) is {create_share:.2f} µs of "
        f"{rc['us_per_op']:.2f} µs; Django's create is {dc['us_per_op']:.1f} µs with "
        f"journal_mode={py['django_sqlite']['journal_mode']}, "
        f"synchronous={py['django_sqlite']['synchronous']}"
    )
    gap = pv["us_per_op"] - rv["us_per_op"]
    cores = os.cpu_count() or 1
    rows = [
        {"target": "Rust: validate, median", "measured": rv["us_per_op"], "unit": "µs",
         "limit": "≤ 5 µs", "met": rv["us_per_op"] <= 5.0, "bound": validate_bound},
        {"target": "Rust: create, median", "measured": rc["us_per_op"], "unit": "µs",
         "limit": "(reported)", "met": None, "bound": create_bound},
        {"target": "load: Django db engine ÷ Rust validate", "measured":
         dl["us_per_op"] / rv["us_per_op"], "unit": TIMES, "limit": f"≥ 30{TIMES}",
         "met": dl["us_per_op"] / rv["us_per_op"] >= 30,
         "bound": f"Django's load {dl['us_per_op']:.1f} µs (CPU {dl['cpu_us_per_op']:.1f} µs) "
                  f"against {rv['us_per_op']:.2f} µs; {validate_bound}"},
        {"target": "create: Django db engine ÷ Rust create", "measured":
         dc["us_per_op"] / rc["us_per_op"], "unit": TIMES, "limit": f"≥ 10{TIMES}",
         "met": dc["us_per_op"] / rc["us_per_op"] >= 10, "bound": create_bound},
        {"target": "Python validate minus Rust validate", "measured": gap, "unit": "±µs",
         "limit": "≤ 2 µs", "met": gap <= 2.0,
         "bound": f"Python {pv['us_per_op']:.2f} µs (CPU {pv['cpu_us_per_op']:.2f} µs) vs Rust "
                  f"{rv['us_per_op']:.2f} µs (CPU {rv['cpu_us_per_op']:.2f} µs): the binding's "
                  f"crossing (arguments, the Session object, the GIL) is "
                  f"{pv['cpu_us_per_op'] - rv['cpu_us_per_op']:.2f} µs of CPU per call"},
        {"target": f"{procs['procs']} processes ÷ 1 process, validate throughput",
         "measured": procs["ratio"], "unit": TIMES, "limit": "(reported)", "met": None,
         "bound": f"{procs['ops_per_s_n']:,.0f} vs {procs['ops_per_s_1']:,.0f} validates/s on "
                  f"{cores} core(s): at most {min(cores, procs['procs'])}{TIMES} can come from "
                  "parallelism; readers never wait for each other in WAL mode"},
    ]
    return rows


def fmt(v: float, unit: str) -> str:
    return {TIMES: f"{v:.2f}{TIMES}", "±µs": f"{v:+.2f} µs"}.get(unit, f"{v:.2f} µs")


def render(report: dict[str, Any]) -> str:
    rust, py = report["rust"], report["python"]
    fx = rust["fixture"]
    out = [
        "# Tessera on SQLite: benchmarks",
        "",
        f"Generated by `make bench-sqlite` on {report['date']} ({report['cores']} cores, "
        f"{report['platform']}). One SQLite file of {rust['settings']['sessions']:,} sessions "
        f"(each a signed-in user's with a little data; {fx.get('file_bytes', 0) / 1e6:,.0f} MB), "
        f"validated from Rust and from Python in one run; Django's db session engine on its own "
        f"SQLite file of as many sessions. Validates walk {rust['settings']['working_set']:,} "
        "sessions spread over the whole file. Competing figures take their rounds in turn; "
        "µs/op is the median over batches of the wall time per call, one thread.",
        "",
        f"Tessera fixture: {fx['how']}; built in {fx['build_s']:.0f} s "
        f"({'reused from a previous run' if fx.get('reused') else 'this run'}). Django fixture: "
        f"{py['django_fixture']['how']}; built in {py['django_fixture']['build_s']} s "
        f"({'reused' if py['django_fixture'].get('reused') else 'this run'}). Django's SQLite "
        f"is as Django leaves it: journal_mode={py['django_sqlite']['journal_mode']}, "
        f"synchronous={py['django_sqlite']['synchronous']} (Tessera: WAL, synchronous=NORMAL).",
        "",
        "## Targets (issue 11)",
        "",
        "| target | measured | target | verdict | what bounds it |",
        "|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        verdict = "reported" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        out.append(f"| {t['target']} | {fmt(t['measured'], t['unit'])} | "
                   f"{t['limit']} | {verdict} | {t['bound']} |")
    out += ["", "## Figures", "",
            "| side | figure | one call | µs/op (p10, p90) | ops/s | CPU µs/op | wait µs/op |",
            "|---|---|---|---|---|---|---|"]
    for side, r in (("Rust", rust), ("Python", py)):
        for f in r["figures"]:
            out.append(
                f"| {side} | `{f['name']}` | {f['what']} | {f['us_per_op']:.2f} "
                f"({f['us_per_op_p10']:.2f}, {f['us_per_op_p90']:.2f}) | {f['ops_per_s']:,.0f} | "
                f"{f['cpu_us_per_op']:.2f} | {f['wait_us_per_op']:.2f} |")
    p = rust["processes"]
    out += ["", "## Processes", "",
            f"Validate throughput on one file, {p['how']}: 1 process {p['ops_per_s_1']:,.0f}/s, "
            f"{p['procs']} processes {p['ops_per_s_n']:,.0f}/s together "
            f"({p['ratio']:.2f}{TIMES}).", "",
            "## Load average (1 / 5 / 15 min)", "",
            "| when | load |", "|---|---|"]
    for when, value in report["load"].items():
        out.append(f"| {when} | {value} |")
    out += ["", "The machine may be shared: compare figures of one run, mostly through the "
            "ratios; CPU µs/op moves less with other processes than wall time, and wait µs/op "
            "is the time other processes had the core.", ""]
    return "\n".join(out)


# -- main -----------------------------------------------------------------------------------------


def run_rust(binary: str, fixture_dir: str, tmp: str) -> dict[str, Any]:
    out = os.path.join(tmp, "rust.json")
    args = [binary, "--fixture-dir", fixture_dir, "--out", out, "--sessions", str(SESSIONS),
            "--rounds", str(ROUNDS), "--round-ms", str(int(ROUND_S * 1000)),
            "--proc-ms", str(int(PROC_S * 1000))]
    subprocess.run(args, check=True)  # noqa: S603 - our own bench binary
    with open(out) as f:
        report: dict[str, Any] = json.load(f)
    return report


def main(argv: Optional[list[str]] = None) -> int:
    global SESSIONS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--rust-bin", required=True, help="the `sqlite` binary of tessera-benches")
    parser.add_argument("--fixture-dir", required=True,
                        help="where the fixtures are cached (an absolute path)")
    parser.add_argument("--sessions", type=int, help=f"sessions per store (default {SESSIONS:,})")
    args = parser.parse_args(argv)
    if args.sessions:
        SESSIONS = args.sessions
    fixture_dir = os.path.abspath(args.fixture_dir)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "platform": f"{platform.system().lower()}/{platform.machine()}",
        "quick": QUICK,
    }
    load = {"start": load_average()}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        report["rust"] = run_rust(args.rust_bin, fixture_dir, tmp)
    load.update({f"rust: {k}": v for k, v in report["rust"]["load"]})
    report["python"] = python_figures(report["rust"], fixture_dir)
    load.update({f"python: {k}": v for k, v in report["python"]["load"].items()})
    load["end"] = load_average()
    report["load"] = load
    report["targets"] = targets(report["rust"], report["python"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    os.makedirs(args.outdir, exist_ok=True)
    with open(os.path.join(args.outdir, "sqlite.json"), "w") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    text = render(report)
    with open(os.path.join(args.outdir, "sqlite.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
