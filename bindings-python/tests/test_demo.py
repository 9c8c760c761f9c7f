"""`make demo`'s Flask site, started as a real process with a demo configuration (as
demo/launch.py writes it) and driven over HTTP on loopback. The three sites together are
tested in Chromium (tests/browser)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Optional

import pytest

from .conftest import free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COOKIE = "__Host-session"


class Browser:
    """Just enough of a browser: one cookie, forms with their CSRF field."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: Optional[str] = None
        self.others: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: Optional[dict[str, str]] = None, cookie: str = ""
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {}
        sent = cookie or self.cookie
        pairs = [f"{k}={v}" for k, v in self.others.items()]
        if sent:
            pairs.append(f"{COOKIE}={sent}")
        if pairs:
            headers["Cookie"] = "; ".join(pairs)
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        got = {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        for name, line in response.getheaders():
            if name.lower() != "set-cookie":
                continue
            key, _, value = line.split(";")[0].partition("=")
            if key == COOKIE:
                if not cookie:
                    self.cookie = value or None
            elif value and "Max-Age=0" not in line:
                self.others[key] = value  # the visitor CSRF cookie (tessera_demo-csrf)
            else:
                self.others.pop(key, None)
        return response.status, got, text

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path)

    def csrf(self, path: str) -> str:
        status, _, page = self.get(path)
        assert status == 200, page
        match = re.search(r'name="_csrf" value="([A-Za-z0-9_-]+)"', page)
        assert match, page
        return match.group(1)

    def sign_in(self, user: str, password: str) -> int:
        token = self.csrf("/")
        status, _, _ = self.request(
            "POST", "/login", {"user": user, "password": password, "_csrf": token}
        )
        return status


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    work = tmp_path_factory.mktemp("demo")
    config = work / "demo.json"
    config.write_text(json.dumps({
        "sites": {"flask": f"http://127.0.0.1:{port}"},
        # The README's defaults, on a SQLite store and with a pepper, as `make demo` runs it.
        "options": {"store": f"sqlite://{work / 'sessions.db'}", "pepper": "p" * 32},
        "timeouts": "default",
        "events": str(work / "events.jsonl"),
        "assets": os.path.join(os.path.dirname(HERE), "demo", "static"),
        "test_clock": False,
        "differences": [],
    }))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = work / "demo.log"
    with open(log_path, "w") as log:
        # A file, not a pipe: nobody reads the request log, and a full pipe would block it.
        process = subprocess.Popen(  # noqa: S603 - this interpreter, the demo module
            [sys.executable, "-m", "demo", "--config", str(config), "--port", str(port)],
            cwd=HERE, env=env, stdout=log, stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, log_path.read_text()
                time.sleep(0.05)
        banner = log_path.read_text()
        assert f"http://127.0.0.1:{port}/" in banner, banner
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sign_in_protected_page_and_sign_out(demo: int) -> None:
    b = Browser(demo)
    assert b.get("/account")[0] == 302
    assert b.sign_in("alice", "wrong") == 401
    # The login form's CSRF token is bound to a visitor cookie, not to a server-side session;
    # the failed sign-in's message may have started an anonymous one.
    assert b.others, "the login form's CSRF token comes with a visitor cookie"
    pre_login = b.cookie
    assert b.sign_in("alice", "alice-demo") == 302
    signed_in = b.cookie
    assert signed_in is not None and signed_in != pre_login, "sign-in changes the cookie"
    status, headers, page = b.get("/account")
    assert status == 200 and "Hello, alice" in page
    assert headers["cache-control"] == "no-store", "signed-in pages never come back from a cache"
    assert 'id="idle-left"' in page and 'id="absolute-left"' in page
    assert re.search(r'id="idle-left" data-left-ms="\d+"[^>]*>(29|30) min', page), page

    # The pre-sign-in cookie (if the visitor had one) is refused.
    if pre_login is not None:
        assert b.request("GET", "/account", cookie=pre_login)[0] == 302

    # Unsafe requests need the CSRF token.
    status, _, page = b.request("POST", "/logout", {})
    assert status == 403 and "CSRF" in page
    token = b.csrf("/account")
    status, headers, _ = b.request("POST", "/logout", {"_csrf": token})
    assert status == 302
    assert "Max-Age=0" in headers["set-cookie"] and headers["cache-control"] == "no-store"
    assert b.request("GET", "/account", cookie=signed_in)[0] == 302, "replay after sign-out"


def test_your_sessions_and_sign_out_everywhere(demo: int) -> None:
    phone, laptop = Browser(demo), Browser(demo)
    assert phone.sign_in("bob", "bob-demo") == 302
    assert laptop.sign_in("bob", "bob-demo") == 302
    _, _, page = laptop.get("/account")
    assert page.count("Sign out this device") == 2
    assert "(this device)" in page
    token = laptop.csrf("/account")
    assert laptop.request("POST", "/logout-others", {"_csrf": token})[0] == 302
    status, headers, _ = phone.get("/account")
    assert status == 302, "the phone was signed out"
    assert headers["location"] == "/signed-out?why=device&site=Flask+(Python)", headers
    assert "Max-Age=0" in headers["set-cookie"], "and told to drop its cookie"
    assert laptop.get("/account")[0] == 200
    # A confirmation page first; its form does it.
    token = laptop.csrf("/logout-everywhere")
    assert laptop.request("POST", "/logout-everywhere", {"_csrf": token})[0] == 302
    assert laptop.get("/account")[0] == 302


def test_the_administrator_ends_a_users_sessions(demo: int) -> None:
    user, admin = Browser(demo), Browser(demo)
    assert user.sign_in("alice", "alice-demo") == 302
    assert admin.sign_in("admin", "admin-demo") == 302
    assert user.get("/admin")[0] == 403
    token = admin.csrf("/admin")
    assert admin.request("POST", "/admin/users/alice/end", {"_csrf": token})[0] == 302
    status, headers, _ = user.get("/account")
    assert status == 302, "alice's session was ended by the administrator"
    assert headers["location"].startswith("/signed-out?why=admin&"), headers
    assert admin.get("/admin")[0] == 200


def test_change_password_and_reauthentication(demo: int) -> None:
    b = Browser(demo)
    assert b.get("/change-password")[0] == 302, "anonymous: the sign-in page first"
    assert b.sign_in("bob", "bob-demo") == 302
    _, _, page = b.get("/account")
    assert 'id="auth-age" data-ago-ms="' in page and "(level 1, pwd)" in page, page
    assert 'data-binding="unbound"' in page and 'data-bound="false"' in page
    # A sign-in seconds old is recent enough (require_recent, 5 min by default).
    token = b.csrf("/change-password")
    status, _, page = b.request("POST", "/change-password", {"_csrf": token, "new_password": "x"})
    assert status == 200 and 'id="changed"' in page, page
    # Re-authentication: the password again; a wrong one changes nothing.
    token = b.csrf("/reauth?next=/change-password")
    before = b.cookie
    status, _, page = b.request("POST", "/reauth", {"_csrf": token, "password": "nope",
                                                   "next": "/change-password"})
    assert status == 401 and 'id="error"' in page and b.cookie == before
    status, headers, _ = b.request("POST", "/reauth", {"_csrf": token, "password": "bob-demo",
                                                      "next": "/change-password"})
    assert status == 302 and headers["location"] == "/change-password", headers
    assert b.cookie is not None and b.cookie != before, "a new token"
    assert b.request("GET", "/account", cookie=before or "")[0] == 302, "the old one is dead"
    assert b.get("/account")[0] == 200
    # `next` never leaves the site.
    token = b.csrf("/account")
    status, headers, _ = b.request("POST", "/reauth", {"_csrf": token, "password": "bob-demo",
                                                      "next": "//evil.example/"})
    assert status == 302 and headers["location"] == "/account", headers
