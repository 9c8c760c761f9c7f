"""The benchmark runner (benches/run.py) runs end to end and writes its two reports.

A smoke test with tiny time budgets (TESSERA_BENCH_QUICK): the figures mean nothing here, the
runner's correctness checks and report format do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BINDINGS = Path(__file__).resolve().parent.parent


def test_bench_runner_writes_json_and_markdown(tmp_path: Path) -> None:
    env = {**os.environ, "TESSERA_BENCH_QUICK": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(  # noqa: S603 - our own script, with this interpreter
        [sys.executable, str(BINDINGS / "benches" / "run.py"), str(tmp_path)],
        cwd=BINDINGS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "python.json").read_text(encoding="utf-8"))
    assert set(report["django"]) == {"tessera", "cache", "db", "signed_cookies", "floor"}
    for figures in report["django"].values():
        assert set(figures) == {"create", "load", "modify_save", "cycle_key", "login"}
        assert all(f["us"] > 0 for f in figures.values())
    assert set(report["flask"]) == {
        "cookie",
        "tessera",
        "floor",
        "floor_vary",
        "unused",
        "none",
    }
    assert set(report["django_client"]) == {
        "tessera",
        "tessera_mw",
        "cache",
        "db",
        "signed_cookies",
        "floor",
        "none",
    }
    assert report["raw"]["validate_and_read"]["us"] > 0
    assert all(report["raw"][k]["us"] > 0 for k in ("open", "open_close", "create_cycle"))
    assert len(report["targets"]) == 9
    markdown = (tmp_path / "python.md").read_text(encoding="utf-8")
    assert "## Targets" in markdown
    assert "## What bounds each target" in markdown
    assert "tessera.django" in markdown
