"""A chaos client in Python (tests/src/bin/redis_chaos.rs starts it): 16 threads validate the
tokens the run hands over, through the ``tessera`` binding on the run's Redis, until stdin
closes; then one JSON line of tallies on stdout. Never prints a token.

    python client.py STORE_URL TOKENS_JSON < pipe
"""

from __future__ import annotations

import json
import sys
import threading
import time

import tessera

THREADS = 16


def main() -> int:
    url, tokens_path = sys.argv[1], sys.argv[2]
    with open(tokens_path) as f:
        tokens = json.load(f)
    live: list[list[str]] = tokens["live"]
    ended: list[str] = tokens["ended"]
    manager = tessera.SessionManager(store=url, sweep_interval=None)
    stop = threading.Event()
    lock = threading.Lock()
    tally = {"answers": 0, "right": 0, "unavailable": 0, "wrong": 0, "slowest_failure_ms": 0.0}
    wrong: list[str] = []

    def note(kind: str, began: float, what: str = "") -> None:
        with lock:
            tally["answers"] += 1
            tally[kind] += 1
            if kind == "unavailable":
                took = (time.perf_counter() - began) * 1000
                tally["slowest_failure_ms"] = max(tally["slowest_failure_ms"], took)
            if what and len(wrong) < 5:
                wrong.append(what)

    def client(index: int) -> None:
        n = index
        while not stop.is_set():
            n += THREADS
            began = time.perf_counter()
            if n % 10 == 0:
                try:
                    manager.validate(ended[n // 10 % len(ended)], https=True)
                    note("wrong", began, "a signed-out token validated")
                except tessera.SessionRejected:
                    note("right", began)
                except tessera.StoreUnavailable:
                    note("unavailable", began)
                continue
            token, user = live[n % len(live)]
            try:
                session = manager.validate(token, https=True)
            except tessera.StoreUnavailable:
                note("unavailable", began)
                continue
            except tessera.SessionRejected as e:
                note("wrong", began, f"a live session of {user} was rejected: {e.reason}")
                continue
            if session.user != user:
                note("wrong", began, f"a token of {user} validated as {session.user}")
            else:
                note("right", began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.read()  # the run closes our stdin to stop us
    stop.set()
    for t in threads:
        t.join()
    print(json.dumps({"language": "Python", **tally, "wrong_examples": wrong}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
