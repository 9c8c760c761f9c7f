"""The redaction checker can fail: planted tokens are found, clean logs pass.

`make test-redaction` runs these before the real scan. Each test writes a small log and a tokens
file, runs scripts/redaction-scan as a program and checks its exit status and its report.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

SCAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "redaction-scan")


def mint() -> str:
    """A token as Tessera mints it: 32 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def non_canonical(token: str) -> str:
    """The same 43 characters but with a non-zero bit past the 256th: Tessera refuses it."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    return token[:-1] + alphabet[last | 1]


def run(tmp: Path, log: str | bytes, tokens: list[str], *extra: str) -> tuple[int, str]:
    """Scan `log` with `tokens` recorded; the exit status, and the output with the report."""
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    data = log.encode() if isinstance(log, str) else log
    (logs / "suite.log").write_bytes(data)
    recorded = tmp / "tokens.txt"
    recorded.write_text("".join(t + "\n" for t in tokens))
    report = tmp / "report.txt"
    command = [sys.executable, SCAN, "--tokens", str(recorded), "--report", str(report)]
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [*command, *extra, str(logs)],
        capture_output=True,
        text=True,
        check=False,
    )
    out = done.stdout + done.stderr
    if report.exists():
        out += "\n--- report ---\n" + report.read_text()
    return done.returncode, out


def test_a_clean_log_passes(tmp_path: Path) -> None:
    token = mint()
    code, out = run(
        tmp_path, "INFO login id=0fd3c94be6f4 user=alice\nrejected: malformed\n", [token]
    )
    assert code == 0, out
    assert "0 findings" in out


def test_a_planted_token_fails_the_scan(tmp_path: Path) -> None:
    token = mint()
    log = f"DEBUG tessera: validate\nERROR something went wrong with {token} here\n"
    code, out = run(tmp_path, log, [token])
    assert code == 1, out
    assert "suite.log:2: a recorded token (base64url)" in out
    assert token not in out, "the report shows only a prefix of the value"
    assert token[:6] in out


def test_a_recorded_token_is_found_inside_a_longer_run_and_in_other_spellings(
    tmp_path: Path,
) -> None:
    token, other, third = mint(), mint(), mint()
    raw = base64.urlsafe_b64decode(other + "=")
    log = (
        f"x{token}y\n"  # glued to other letters: not standalone, still found
        f"bytes={raw.hex()}\n"
        f"BYTES={raw.hex().upper()}\n"
        f"std={base64.b64encode(base64.urlsafe_b64decode(third + '=')).decode()}\n"
    )
    code, out = run(tmp_path, log, [token, other, third])
    assert code == 1, out
    assert "suite.log:1: a recorded token (base64url)" in out
    report = out.split("--- report ---")[1]
    assert report.count("a recorded token (hex of its bytes)") == 2
    assert "suite.log:4: a recorded token" in out


def test_an_unrecorded_canonical_token_is_found_by_its_shape(tmp_path: Path) -> None:
    stray = mint()
    log = f"Set-Cookie: __Host-session={stray}; Path=/; Secure; HttpOnly\n"
    code, out = run(tmp_path, log, [mint()])
    assert code == 1, out
    assert "a token-shaped value (canonical 43-character base64url)" in out


def test_shapes_that_are_not_tokens_pass(tmp_path: Path) -> None:
    token = mint()
    log = (
        f"{non_canonical(token)}\n"  # 43 characters Tessera would refuse
        f"{token[:42]}\n"  # 42 characters
        f"{token}A\n"  # 44 characters: part of something longer
        f"{'ab' * 32}\n"  # a 64-hex session id
        f"{mint()}{mint()}\n"  # 86 characters: the length of a masked CSRF token
        f"[{'x_' * 21}s]\n"  # a canonical 43-character snake_case name (a test's)
        f"[{'X_' * 21}A]\n"  # and an upper-case one
    )
    code, out = run(tmp_path, log, [mint()])
    assert code == 0, out


def test_allow_exempts_a_known_value_from_the_shape_check_only(tmp_path: Path) -> None:
    public, recorded = mint(), mint()
    code, out = run(tmp_path, f"{public}\n", [recorded], f"--allow={public}")
    assert code == 0, out
    code, out = run(tmp_path, f"{recorded}\n", [recorded], f"--allow={recorded}")
    assert code == 1, out


def test_binary_bytes_are_scanned_too(tmp_path: Path) -> None:
    token = mint()
    code, out = run(tmp_path, b"\xff\xfe\x00" + token.encode() + b"\x00\x80", [token])
    assert code == 1, out


def test_a_recorder_that_recorded_nothing_is_an_error(tmp_path: Path) -> None:
    code, out = run(tmp_path, "clean\n", [], "--min-tokens", "1")
    assert code == 2, out
    assert "recorder is not working" in out


def test_nothing_to_scan_is_an_error(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, SCAN, str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
