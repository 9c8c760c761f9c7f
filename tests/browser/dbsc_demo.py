"""Device-bound sessions on the running demo (`make demo`), driven by the scripted DBSC client.

Chromium cannot do DBSC on this machine (docs/dbsc.md §1.9), so the browser suite runs this
script against the three servers the launcher started with a test clock (demo.test.mjs passes
their URLs):

    python dbsc_demo.py '{"flask": "http://127.0.0.1:N", "express": ..., "c": ...}'

For each site in turn: sign in there (the sign-in offers a binding: the demo counts loopback as
HTTPS), register a P-256 key with that site's DBSC endpoint, then check on all three sites,
with the client's cookies, that "Your sessions" shows this device as bound with its key's
thumbprint and that the request's binding is "fresh"; and that the long-lived cookie alone (a
stolen one) is anonymous on every site while the owner stays signed in. The three share one
SQLite store, so a binding registered through one site is seen by the others.

Exit status 0 when every check holds; an AssertionError (with what differed) otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings-python" / "tests"))

import dbsc_client as dc  # noqa: E402 - from the Python suite, found through sys.path above

COOKIE = "__Host-session"
PASSWORDS = {"alice": "alice-demo", "bob": "bob-demo"}
GRACE_MS = 10_000  # dbsc_enforce_grace_ms, the default


def thumbprint(key: dc.PrivateKey) -> str:
    """RFC 7638: SHA-256 of the required members of the public JWK, sorted, no spaces."""
    jwk = dc.jwk(key.public_key())
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def advance(sites: dict[str, str], ms: int) -> None:
    """Move the three servers' test clocks together (the launcher's TESSERA_DEMO_TEST_CLOCK)."""
    for site, base in sites.items():
        req = urllib.request.Request(  # noqa: S310 - the launcher's loopback demo URL
            f"{base}/__advance", data=json.dumps({"ms": ms}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as res:  # noqa: S310 - loopback demo URL
            assert res.status == 200, f"{site}: /__advance answered {res.status}"


def csrf_of(page: str) -> str:
    found = re.search(r'name="_csrf" value="([A-Za-z0-9_.-]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(b: dc.DbscBrowser, user: str) -> None:
    start = b.get("/")
    assert start.status == 200, (b.base_url, start.status)
    r = b.post("/login", form={"user": user, "password": PASSWORDS[user],
                               "_csrf": csrf_of(start.body.decode())})
    assert r.status in (302, 303), (b.base_url, r.status)
    assert b.offers, f"{b.base_url}: the sign-in offers a device binding (loopback counts as HTTPS)"


def account(b: dc.DbscBrowser, base: str) -> str:
    """The account page of `base` fetched with b's cookies (the client's jar)."""
    other = dc.DbscBrowser(base, jar=b.jar)
    r = other.get("/account")
    assert r.status == 200, f"{base}/account with the bound device's cookies: {r.status}"
    return r.body.decode()


def this_device_row(page: str) -> str:
    rows = re.findall(r'<tr class="session".*?</tr>', page, re.S)
    mine = [row for row in rows if "this-device" in row]
    assert len(mine) == 1, f"one row for this device, got {len(mine)}"
    return mine[0]


def check_site(home: str, sites: dict[str, str], user: str) -> None:
    b = dc.DbscBrowser(sites[home])
    sign_in(b, user)
    page = account(b, sites[home])
    assert 'data-binding="unbound"' in page, f"{home}: unbound before registering"
    assert 'data-bound="false"' in this_device_row(page), f"{home}: not bound yet"

    r = b.register()
    assert r.status == 200, f"{home}: registration answered {r.status} {r.body!r}"
    assert b.bound_cookie and b.bound_cookie in b.jar.cookies, f"{home}: a bound cookie"
    short = thumbprint(b.key)[:10]  # type: ignore[arg-type]
    # Past the enforcement grace (10 s after registration, while Chrome may still lack the
    # bound cookie, the binding is "pending" and the long-lived cookie alone still passes).
    advance(sites, GRACE_MS + 1_000)

    for site, base in sites.items():
        page = account(b, base)
        row = this_device_row(page)
        assert 'data-bound="true"' in row, f"{site} shows {home}'s device as bound: {row}"
        shown = f'<code class="thumbprint">{short}…</code>'
        assert shown in row, f"{site}: thumbprint {short}: {row}"
        binding = re.search(r'id="binding" data-binding="(\w+)"', page)
        assert binding and binding.group(1) == "fresh", f"{site}: {binding}"

    # A refresh (the browser's, when the bound cookie nears its end) keeps it working.
    seen = b.refresh()
    assert seen[-1].status == 200 and b.ended is None, f"{home}: refresh {[x.status for x in seen]}"

    # The long-lived cookie alone, as a thief copies it: anonymous everywhere.
    for site, base in sites.items():
        thief = dc.DbscBrowser(base, jar=b.jar.copy(COOKIE))
        r = thief.get("/account")
        assert r.status in (302, 303), f"{site}: the long-lived cookie alone gets {r.status}"
        where = r.header("Location") or ""
        assert where.startswith("/signed-out?why=binding_missing"), f"{site}: sent to {where}"
        assert not any(line.startswith(f"{COOKIE}=") for line in r.set_cookies), (
            f"{site}: the owner's cookie is neither replaced nor cleared"
        )
        explained = thief.get(where)
        assert explained.status == 200 and 'id="who"' not in explained.body.decode(), site
        assert 'data-why="binding_missing"' in explained.body.decode(), site
    # ... and the owner is still signed in, still bound.
    assert 'data-bound="true"' in this_device_row(account(b, sites[home])), home
    print(f"{home}: registered, bound on {', '.join(sites)}, long-lived cookie alone anonymous")


def main() -> int:
    sites = json.loads(sys.argv[1])
    for home, user in zip(sites, ["alice", "bob", "alice"]):
        check_site(home, sites, user)
    return 0


if __name__ == "__main__":
    sys.exit(main())
