"""Documentation that runs: the package docstring's doctest and the README's Python blocks."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tessera

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_package_docstring_examples() -> None:
    failed, attempted = doctest.testmod(tessera, raise_on_error=False)
    assert attempted > 0 and failed == 0


def readme_blocks() -> list[str]:
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_python_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """Every fenced python block, as pasted, is a module that ``mypy --strict`` accepts."""
    blocks = readme_blocks()
    assert len(blocks) >= 5, "the README's examples are missing"
    files = []
    for i, block in enumerate(blocks, 1):
        path = tmp_path / f"readme_block_{i}.py"
        path.write_text(block, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(  # noqa: S603 - this interpreter's mypy
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *files],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block runs: the API walk-through, the Flask apps (their SQLite file in the temporary
    folder), the Django settings modules."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TESSERA_PEPPER", "readme-test-pepper-0123456789")
    blocks = readme_blocks()
    assert any("SessionManager(clock=clock" in b for b in blocks)
    for i, block in enumerate(blocks, 1):
        name = f"readme_block_{i}"
        scope = {"__name__": name, "__file__": str(tmp_path / "project" / "settings.py")}
        exec(compile(block, f"{README} (python block {i})", "exec"), scope)  # noqa: S102
        if "sqlite:///" in block and "Flask" in block:
            assert (tmp_path / "instance" / "sessions.db").exists()
