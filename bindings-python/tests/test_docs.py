"""Documentation that runs: the package docstring's doctest and the README's Python blocks."""

from __future__ import annotations

import doctest
import os
import re

import tessera

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_package_docstring_examples() -> None:
    failed, attempted = doctest.testmod(tessera, raise_on_error=False)
    assert attempted > 0 and failed == 0


def test_readme_api_example_runs() -> None:
    with open(README, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    api = [b for b in blocks if "SessionManager(clock=clock" in b]
    assert api, "the README's API example is missing"
    exec(compile(api[0], README, "exec"), {})  # noqa: S102 - our own README
    flask_block = [b for b in blocks if "TesseraSessionInterface" in b]
    assert flask_block
    exec(compile(flask_block[0], README, "exec"), {"__name__": "readme"})  # noqa: S102
