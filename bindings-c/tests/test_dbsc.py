#!/usr/bin/env python3
"""Device-bound sessions (DBSC) and step-up in the C example server, over real HTTP (issue 15).

The scripted browser of the Python suite (bindings-python/tests/dbsc_client.py: real P-256 and
RSA keys, dbsc+jwt proofs and Part 3's hostile variants of docs/dbsc.md) drives
bindings-c/examples/server.c in test mode, exactly as Chrome's DBSC machinery would: sign in,
register, refresh on 403 challenges, and a thief's second client with copied cookies. The server
runs with --trust-proxy, so ``X-Forwarded-Proto: https`` makes a request HTTPS; each case starts
with ``POST /__reset`` (a fresh manager with ``dbsc`` on, a fresh manual clock at
1 700 000 000 000 ms; on Redis a key prefix of its own), moves the clock with ``/__advance``
(nothing waits on a timer), and reads the events the server recorded with ``/__events``.

Cases: the positive path with ES256 and RS256; registration R1-R14; refresh F1-F12; stolen
cookies S1 (the long-lived cookie alone), S2 (both cookies; refused once the bound cookie's
lifetime passes while the owner refreshes and goes on), S3, S4, S5 (no rotation for a thief),
S6 (revoked while bound), S7 (an old bound cookie belongs to no binding), S8 (a data write racing
a refresh, held at the server's gate), S9 (enforcement grace); step-up (allowed -> stale after max_age -> re-authenticate -> allowed,
level 1 against a required 2, the re-authentication form, the guard's redirect and 401 JSON).
Finally no token, bound cookie, challenge or proof the run saw appears in the server's log.

Usage: test_dbsc.py [--store URL | --sqlite] [--label LABEL] [--log FILE] -- SERVER [ARGS...]
  --store URL   on this Redis store (each case on a key prefix of its own)
  --sqlite      on SQLite: each case on a database file of its own in a private temporary
                directory, removed at the end
Prints one line per failed check, then ``N passed, N failed`` (cases, plus the server's clean
shutdown and the log check); exits non-zero on any failure.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "bindings-python" / "tests"))

import dbsc_client as dc  # noqa: E402  (the path is set just above)
from http_corpus import Server  # noqa: E402

COOKIE = "__Host-session"
BOUND = "__Host-session-bound"
PREFIX = "/_tessera/dbsc"
HTTPS = {"X-Forwarded-Proto": "https"}
JSON = {"Accept": "application/json"}
BOUND_TTL_MS = 600_000


class Failed(AssertionError):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


def eq(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise Failed(f"{what}: got {got!r}, expected {want!r}")


class Run:
    """One server, and what each case needs of it."""

    def __init__(self, server: Server, store: Optional[str], label: str,
                 sqlite: Optional[Path] = None) -> None:
        self.server = server
        self.store = store
        self.sqlite = sqlite
        self.label = label
        self.base = f"http://127.0.0.1:{server.port}"
        self.origin = f"https://127.0.0.1:{server.port}"
        #: Every secret a client saw (tokens, bound cookies, challenges, proofs): none may be in
        #: the server's log.
        self.secrets: set[str] = set()

    def reset(self, case: str, **options: Any) -> None:
        opts: dict[str, Any] = {"dbsc": True, **options}
        if self.store is not None:
            opts["store"] = f"{self.store}&prefix=c-dbsc-{self.label}-{case}"
        elif self.sqlite is not None:
            opts["store"] = f"sqlite://{self.sqlite / case}.db"
        self.server.control("/__reset", opts)
        self.events()  # start with an empty list

    def advance(self, ms: int) -> None:
        self.server.control("/__advance", {"ms": ms})

    def events(self) -> list[dict[str, Any]]:
        body = self.server.control("/__events", {}).body
        assert isinstance(body, dict)
        return list(body["events"])

    def sessions(self, user: str) -> list[dict[str, Any]]:
        body = self.server.control("/__list", {"user": user}).body
        assert isinstance(body, dict)
        return list(body["sessions"])

    def browser(self, **kw: Any) -> dc.DbscBrowser:
        kw.setdefault("extra_headers", HTTPS)
        return dc.DbscBrowser(self.base, origin=self.origin, **kw)

    def remember(self, b: dc.DbscBrowser) -> None:
        self.secrets.update(v for v in b.jar.cookies.values() if len(v) >= 20)
        if b.cached_challenge:
            self.secrets.add(b.cached_challenge)
        for offer in b.offers:
            self.secrets.add(offer.challenge)
        if b.last_proof:
            self.secrets.update(b.last_proof)

    def sign_in(self, user: str = "alice", b: Optional[dc.DbscBrowser] = None,
                **extra: Any) -> dc.DbscBrowser:
        b = b or self.browser()
        r = b.post("/login", json_body={"user": user, **extra})
        eq(r.status, 200, "sign-in status")
        check(COOKIE in b.jar.cookies, "the sign-in set the session cookie")
        self.remember(b)
        return b

    def account(self, b: dc.DbscBrowser, **kw: Any) -> dc.Response:
        r = b.get("/account", headers=dict(JSON), **kw)
        self.remember(b)
        return r

    def register(self, b: dc.DbscBrowser, alg: str = "ES256") -> dc.Response:
        r = b.register(key=dc.generate(alg))
        eq(r.status, 200, f"registration ({alg}) status; body {r.body!r}")
        check(BOUND in b.jar.cookies, "the registration set the bound cookie")
        self.remember(b)
        return r


def kinds(events: list[dict[str, Any]], kind: str) -> list[Optional[str]]:
    """The details of the events of `kind`."""
    return [e.get("detail") for e in events if e["kind"] == kind]


def cleared(r: dc.Response, name: str) -> bool:
    return any(
        line.startswith(f"{name}=") and re.search(r"(?i)max-age=0", line) is not None
        for line in r.set_cookies
    )


def sets(r: dc.Response, name: str) -> bool:
    return any(line.startswith(f"{name}=") and not cleared(r, name) for line in r.set_cookies)


def error_of(r: dc.Response) -> Any:
    try:
        return r.json().get("error")
    except ValueError:
        return None


# ---- the positive path ------------------------------------------------------------------------


def positive(run: Run, alg: str) -> None:
    run.reset(f"positive-{alg}")
    b = run.sign_in()
    check(bool(b.offers), "the sign-in offered a binding")
    offer = b.offers[0]
    eq(list(offer.algs), ["ES256", "RS256"], "offered algorithms")
    eq(offer.path, f"{PREFIX}/register", "registration path")
    r = run.register(b, alg)
    eq(r.header("Cache-Control"), "no-store", "registration Cache-Control")
    config = r.json()
    eq(config["session_identifier"], b.session_identifier, "config id")
    eq(config["scope"]["origin"], run.origin, "scope origin")
    eq(b.refresh_url, f"{PREFIX}/refresh", "refresh url")
    eq(kinds(run.events(), "registered"), [alg], "registered event")
    listed = run.sessions("alice")
    check(listed[0]["bound"] is True and listed[0]["key_thumbprint"], "listed as bound")
    eq(run.account(b).json()["binding"], "pending", "within the enforcement grace")
    run.advance(11_000)

    a = run.account(b)
    eq(a.status, 200, "account with both cookies")
    eq(a.json()["binding"], "fresh", "binding")
    eq(b.get("/device", headers=JSON).status, 200, "the bound-only route")

    old_bound = b.jar.cookies[BOUND]
    run.advance(9 * 60_000)
    seen = b.refresh()
    eq([x.status for x in seen], [403, 200], "refresh: challenge, then the proof")
    check(b.ended is None, f"the DBSC session goes on ({b.ended})")
    check(dc.parse_challenge(seen[0].header(dc.CHALLENGE) or "")[0][1] == b.session_identifier,
          "the challenge names the binding")
    new_bound = b.jar.cookies[BOUND]
    check(new_bound != old_bound, "a new bound cookie")
    eq(kinds(run.events(), "refreshed"), [alg], "refreshed event (detail: the algorithm)")
    run.remember(b)

    # The previous bound cookie stays good until its own expiry (requests in flight).
    prev = b.steal(COOKIE)
    prev.jar.cookies[BOUND] = old_bound
    eq(run.account(prev).status, 200, "the previous bound cookie, before its expiry")
    eq(run.account(b).json()["binding"], "fresh", "binding after the refresh")

    out = b.post("/logout", json_body={})
    eq(out.status, 200, "logout")
    check(cleared(out, COOKIE) and cleared(out, BOUND), "logout clears both cookies")
    eq(run.account(b).status, 401, "signed out")


# ---- registration: R1-R14 ---------------------------------------------------------------------


def registration_refusals(run: Run) -> None:
    run.reset("registration")
    ec_key = dc.generate("ES256")
    rsa_key = dc.generate("RS256")

    # R1: no proof.
    b = run.sign_in()
    r = b.dbsc_post(b.offers[0].path, proof=None)
    eq(r.status, 400, "R1 status")

    # Each hostile proof on a fresh offer: 403 with the detail, the event, nothing bound.
    hostile: list[tuple[str, str, Callable[[str], str]]] = [
        ("R2", "bad_typ", lambda c: dc.proof(ec_key, c, registration=True, typ="jwt")),
        # R3 as the core reads it: alg none with a signature part; an empty one (the table of
        # docs/dbsc.md Part 3) is no compact JWS at all, "malformed" (core/src/dbsc/proof.rs).
        ("R3", "alg_not_allowed",
         lambda c: dc.proof(None, c, registration=True, alg="none", signature=b"sig")),
        ("R3 empty signature", "malformed",
         lambda c: dc.proof(None, c, registration=True, alg="none")),
        ("R4", "alg_mismatch", lambda c: dc.proof(rsa_key, c, registration=True, alg="ES256")),
        ("R5", "weak_key", lambda c: dc.proof(dc.rsa_1024(), c, registration=True)),
        ("R6", "bad_signature",
         lambda c: dc.proof(ec_key, c, registration=True, der_signature=True)),
        ("R7", "bad_signature", lambda c: dc.proof(ec_key, c, registration=True, flip_bit=9)),
        ("R8", "unknown_challenge", lambda c: dc.proof(ec_key, "other", registration=True)),
        ("R12 d", "bad_jwk", lambda c: dc.proof(
            ec_key, c, registration=True, jwk=dc.jwk_with_private_d(ec_key))),
        ("R12 P-384", "bad_jwk", lambda c: dc.proof(dc.p384(), c, registration=True,
                                                     alg="ES256")),
        ("R12 off curve", "bad_jwk", lambda c: dc.proof(
            ec_key, c, registration=True, jwk=dc.jwk_off_curve(ec_key))),
        ("R13 crit", "malformed", lambda c: dc.proof(
            ec_key, c, registration=True, header_extra={"crit": ["exp"]})),
        ("R13 padding", "malformed",
         lambda c: dc.proof(ec_key, c, registration=True, padded_header=True)),
        ("R13 jti twice", "malformed",
         lambda c: dc.proof(ec_key, c, registration=True, duplicate_jti="x")),
    ]
    for name, detail, make in hostile:
        b = run.sign_in()
        token = make(b.offers[0].challenge)
        run.secrets.add(token)
        r = b.dbsc_post(b.offers[0].path, proof=token)
        eq((r.status, error_of(r)), (403, detail), f"{name}")
        check(not sets(r, BOUND), f"{name}: no bound cookie")
        eq(kinds(run.events(), "proof_failed"), [detail], f"{name}: event")
        if name == "R2":
            # The offer was spent by the bad attempt: the good proof for it is refused too.
            again = b.dbsc_post(b.offers[0].path,
                                proof=dc.proof(ec_key, b.offers[0].challenge, registration=True))
            eq((again.status, error_of(again)), (403, "no_challenge"), "R2 then the good proof")
            run.events()
    check(all(not s["bound"] for s in run.sessions("alice")), "nothing was bound")

    # R9: a good proof twice: bound once, the key kept.
    b = run.sign_in("bob")
    token = dc.proof(ec_key, b.offers[0].challenge, registration=True)
    run.secrets.add(token)
    first = b.register(key=ec_key, proof_token=token)
    eq(first.status, 200, "R9 first")
    check(sets(first, BOUND), "R9 first sets the bound cookie")
    thumb = run.sessions("bob")[0]["key_thumbprint"]
    second = b.dbsc_post(b.offers[0].path, proof=token)
    eq((second.status, error_of(second)), (403, "already_bound"), "R9 second")
    eq(run.sessions("bob")[0]["key_thumbprint"], thumb, "R9 key unchanged")
    run.remember(b)

    # R10: the offer's challenge is 2 minutes old.
    b = run.sign_in("carol")
    run.advance(121_000)
    r = b.dbsc_post(b.offers[0].path,
                    proof=dc.proof(ec_key, b.offers[0].challenge, registration=True))
    eq((r.status, error_of(r)), (403, "challenge_expired"), "R10")

    # R11: session A's challenge, signed, sent with session B's cookie.
    a = run.sign_in("dave")
    bb = run.sign_in("erin")
    r = bb.dbsc_post(bb.offers[0].path,
                     proof=dc.proof(ec_key, a.offers[0].challenge, registration=True))
    eq((r.status, error_of(r)), (403, "unknown_challenge"), "R11")
    check(not any(s["bound"] for s in run.sessions("erin")), "R11 nothing bound")

    # R14: over plain HTTP: 400, nothing stored.
    c = run.sign_in("frank")
    plain = run.browser(extra_headers={}, jar=c.jar.copy())
    r = plain.dbsc_post(c.offers[0].path,
                        proof=dc.proof(ec_key, c.offers[0].challenge, registration=True))
    eq(r.status, 400, "R14 status")
    check(not any(s["bound"] for s in run.sessions("frank")), "R14 nothing bound")
    run.remember(c)


# ---- refresh: F1-F12 --------------------------------------------------------------------------


def bound_browser(run: Run, case: str, user: str = "alice", alg: str = "ES256",
                  grace: bool = False, **options: Any) -> dc.DbscBrowser:
    """A browser signed in and bound (on a fresh server state unless `case` is empty), past the
    enforcement grace after registration unless `grace`."""
    if case:
        run.reset(case, **options)
    b = run.sign_in(user)
    run.register(b, alg)
    if not grace:
        run.advance(11_000)
    run.events()
    return b


def refresh_refusals(run: Run) -> None:
    b = bound_browser(run, "refresh")
    bid = b.session_identifier
    assert bid is not None and b.refresh_url is not None
    url = b.refresh_url

    # F1: no Sec-Secure-Session-Id: 400, no challenge.
    r = b.dbsc_post(url, proof=None)
    eq(r.status, 400, "F1 status")
    check(r.header(dc.CHALLENGE) is None, "F1 no challenge")
    # F2: another id: continue false.
    r = b.dbsc_post(url, proof=None, session_id="wrongid")
    eq((r.status, r.json()), (200, {"session_identifier": "wrongid", "continue": False}), "F2")
    eq(kinds(run.events(), "proof_failed"), ["not_bound"], "F2 event")
    # F3: the id, no proof: 403 and a challenge for it (bare and quoted).
    r = b.dbsc_post(url, proof=None, session_id=bid)
    eq(r.status, 403, "F3 status")
    c1 = dc.parse_challenge(r.header(dc.CHALLENGE) or "")
    eq(c1[0][1], bid, "F3 challenge id")
    eq(r.header("Cache-Control"), "no-store", "F3 Cache-Control")
    r = b.dbsc_post(url, proof=None, session_id=f'"{bid}"')
    eq(r.status, 403, "F3 quoted")
    check(r.header(dc.CHALLENGE) is not None, "F3 quoted challenge")
    # F4: signed by another key: continue false, no bound cookie, the binding stays.
    challenge = b.cached_challenge
    assert challenge is not None
    other = dc.generate("ES256")
    r = b.dbsc_post(url, proof=dc.proof(other, challenge, registration=False), session_id=bid)
    eq((r.status, r.json().get("continue")), (200, False), "F4")
    check(not sets(r, BOUND), "F4 no bound cookie")
    eq(kinds(run.events(), "proof_failed"), ["bad_signature"], "F4 event")
    check(run.sessions("alice")[0]["bound"], "F4 the binding stays")
    # F5: RS256 on the ES256 binding.
    r = b.dbsc_post(url, proof=None, session_id=bid)
    c = b.cached_challenge
    assert c is not None
    r = b.dbsc_post(url, proof=dc.proof(b.key, c, registration=False, alg="RS256"),
                    session_id=bid)
    eq((r.status, r.json().get("continue")), (200, False), "F5")
    eq(kinds(run.events(), "proof_failed"), ["alg_mismatch"], "F5 event")
    # F9: a registration-style proof (jwk of another key in the header, signed by it).
    r = b.dbsc_post(url, proof=None, session_id=bid)
    c = b.cached_challenge
    assert c is not None
    r = b.dbsc_post(url, proof=dc.proof(other, c, registration=True), session_id=bid)
    eq((r.status, r.json().get("continue")), (200, False), "F9")
    eq(kinds(run.events(), "proof_failed"), ["bad_signature"], "F9 event")

    # F6: the accepted proof replayed. F7: a challenge older than 60 s.
    b = bound_browser(run, "refresh-replay")
    bid = b.session_identifier
    assert bid is not None and b.refresh_url is not None
    url = b.refresh_url
    seen = b.refresh()
    eq([x.status for x in seen], [403, 200], "F6 the first refresh")
    assert b.last_proof is not None
    used = b.last_proof[1]
    run.events()
    r = b.dbsc_post(url, proof=used, session_id=bid)
    eq(r.status, 403, "F6 replay status")
    check(r.header(dc.CHALLENGE) is not None, "F6 a new challenge")
    eq(kinds(run.events(), "proof_failed"), ["unknown_challenge"], "F6 event")
    c = b.cached_challenge
    assert c is not None
    run.advance(61_000)
    r = b.dbsc_post(url, proof=dc.proof(b.key, c, registration=False), session_id=bid)
    eq(r.status, 403, "F7 status")
    eq(kinds(run.events(), "proof_failed"), ["challenge_expired"], "F7 event")

    # F8: two challenges; each good once, the older one too.
    r1 = b.dbsc_post(url, proof=None, session_id=bid)
    c1 = dc.parse_challenge(r1.header(dc.CHALLENGE) or "")[0][0]
    r2 = b.dbsc_post(url, proof=None, session_id=bid)
    c2 = dc.parse_challenge(r2.header(dc.CHALLENGE) or "")[0][0]
    p1 = dc.proof(b.key, c1, registration=False)
    p2 = dc.proof(b.key, c2, registration=False)
    run.secrets.update((c1, c2, p1, p2))
    got = [b.dbsc_post(url, proof=p, session_id=bid).status for p in (p1, p1, p2, p2)]
    eq(got, [200, 403, 200, 403], "F8")
    run.remember(b)

    # F10: after revoke(id): continue false, the session cookie cleared.
    b = bound_browser(run, "refresh-revoked")
    sid = run.sessions("alice")[0]["id"]
    run.server.control("/__revoke", {"id": sid})
    seen = b.refresh()
    eq((seen[-1].status, seen[-1].json().get("continue")), (200, False), "F10")
    check(cleared(seen[-1], COOKIE), "F10 the session cookie cleared")
    eq(b.ended, "continue_false", "F10 the browser ends its DBSC session")

    # F11: the user signed in again on this browser: the login ended the binding.
    b = bound_browser(run, "refresh-relogin")
    run.sign_in("alice", b)
    check(BOUND not in b.jar.cookies, "F11 the sign-in cleared the bound cookie")
    check(not run.sessions("alice")[0]["bound"], "F11 the new session is not bound")
    seen = b.refresh()
    eq((seen[-1].status, seen[-1].json().get("continue")), (200, False), "F11")
    check("not_bound" in kinds(run.events(), "proof_failed"), "F11 event not_bound")

    # F12: a refresh within the idle window does not move last_seen; after the idle timeout,
    # continue false and the cookie cleared.
    b = bound_browser(run, "refresh-idle", idle_timeout_ms=20 * 60_000)
    before = run.sessions("alice")[0]["last_seen"]
    run.advance(9 * 60_000)
    seen = b.refresh()
    eq(seen[-1].status, 200, "F12 refresh within the idle window")
    eq(run.sessions("alice")[0]["last_seen"], before, "F12 last_seen unmoved")
    run.advance(12 * 60_000)
    seen = b.refresh()
    eq((seen[-1].status, seen[-1].json().get("continue")), (200, False), "F12 after idle")
    check(cleared(seen[-1], COOKIE), "F12 the session cookie cleared")


# ---- stolen cookies ---------------------------------------------------------------------------


def stolen(run: Run) -> None:
    # S1: the long-lived cookie alone.
    owner = bound_browser(run, "stolen-s1")
    thief = owner.steal(COOKIE)
    r = run.account(thief)
    eq((r.status, r.json()), (401, {"error": "login_required", "reason": "binding_missing"}),
       "S1 JSON")
    eq(r.set_cookies, [], "S1 no Set-Cookie")
    page = thief.get("/account")
    eq((page.status, page.header("Location")), (303, "/?next=/account"), "S1 page")
    eq(page.set_cookies, [], "S1 page no Set-Cookie")
    eq(kinds(run.events(), "binding_missing"), ["absent", "absent"], "S1 events")
    eq(run.account(owner).status, 200, "S1 the owner is still signed in")

    # S2: both cookies; good until the copied bound cookie's lifetime passes, while the owner
    # refreshes and goes on.
    owner = bound_browser(run, "stolen-s2")
    thief = owner.steal()
    eq(run.account(thief).status, 200, "S2 before the lifetime")
    run.advance(BOUND_TTL_MS - 60_000)
    eq([x.status for x in owner.refresh()], [403, 200], "S2 the owner refreshes")
    eq(run.account(thief).status, 200, "S2 the copied cookie, still within its lifetime")
    run.events()
    run.advance(61_000)
    r = run.account(thief)
    eq((r.status, r.json().get("reason")), (401, "binding_missing"), "S2 after the lifetime")
    eq(r.set_cookies, [], "S2 no Set-Cookie")
    eq(kinds(run.events(), "binding_missing"), ["expired"], "S2 event")
    eq(run.account(owner).json()["binding"], "fresh", "S2 the owner goes on")
    eq([x.status for x in owner.refresh()], [403, 200], "S2 and refreshes again")
    eq(run.account(owner).status, 200, "S2 still signed in")
    run.remember(owner)

    # S3: session A's bound cookie with session B's token. S4: the bound cookie twice.
    a = bound_browser(run, "stolen-s3", "alice")
    b = bound_browser(run, "", "bob")
    mixed = b.steal(COOKIE)
    r = mixed.get("/account", headers={**JSON, "Cookie":
                  f"{COOKIE}={b.jar.cookies[COOKIE]}; {BOUND}={a.jar.cookies[BOUND]}"})
    eq(r.status, 401, "S3 status")
    eq(kinds(run.events(), "binding_missing"), ["mismatch"], "S3 event")
    bound = b.jar.cookies[BOUND]
    r = mixed.get("/account", headers={**JSON, "Cookie":
                  f"{COOKIE}={b.jar.cookies[COOKIE]}; {BOUND}={bound}; {BOUND}={bound}"})
    eq(r.status, 401, "S4 status")
    eq(kinds(run.events(), "binding_missing"), ["ambiguous"], "S4 event")

    # S5: the stolen long-lived cookie after the rotation interval: no rotation, no Set-Cookie;
    # the owner's token stays good (its own next request rotates it).
    owner = bound_browser(run, "stolen-s5", rotation_interval_ms=60_000)
    thief = owner.steal(COOKIE)
    run.advance(61_000)
    r = run.account(thief)
    eq((r.status, r.set_cookies), (401, []), "S5 no rotation for the thief")
    token = owner.jar.cookies[COOKIE]
    r = run.account(owner)
    eq(r.status, 200, "S5 the owner's token still works")
    check(sets(r, COOKIE) and owner.jar.cookies[COOKIE] != token, "S5 the owner rotates")
    run.remember(owner)

    # S7: after logout the old bound cookie belongs to no binding: a new anonymous session
    # ignores it.
    owner = bound_browser(run, "stolen-s7")
    old_bound = owner.jar.cookies[BOUND]
    eq(owner.post("/logout", json_body={}).status, 200, "S7 logout")
    r = owner.post("/set", json_body={"key": "k", "value": 1})
    eq(r.status, 200, "S7 a new anonymous session")
    owner.jar.cookies[BOUND] = old_bound
    r = owner.get("/read", headers=JSON)
    eq((r.status, r.json()), (200, {"user": None, "data": {"k": 1}}), "S7 the bound cookie ignored")
    check("binding_missing" not in [e["kind"] for e in run.events()], "S7 no binding_missing")

    # S8: a data write racing a refresh: both persist (the write is held between the app and
    # finish while the refresh runs, then let go).
    owner = bound_browser(run, "stolen-s8")
    held: list[Any] = []

    def write() -> None:
        try:
            held.append(owner.steal().post("/set", json_body={"key": "k", "value": "v"},
                                           headers={"X-Tessera-Test-Hold": "w"}))
        except Exception as e:  # reported below
            held.append(e)

    t = threading.Thread(target=write)
    t.start()
    run.server.control("/__held", {"name": "w"})
    run.advance(9 * 60_000)
    eq([x.status for x in owner.refresh()], [403, 200], "S8 the refresh")
    run.server.control("/__release", {"name": "w"})
    t.join()
    check(len(held) == 1 and getattr(held[0], "status", None) == 200, f"S8 the write {held}")
    r = owner.get("/read", headers=JSON)
    eq(r.json().get("data"), {"k": "v"}, "S8 the data written")
    eq(run.account(owner).json()["binding"], "fresh", "S8 the new bound cookie works")
    run.remember(owner)

    # S6: revoked while bound: anonymous, both cookies cleared.
    owner = bound_browser(run, "stolen-s6")
    sid = run.sessions("alice")[0]["id"]
    run.server.control("/__revoke", {"id": sid})
    r = run.account(owner)
    eq(r.status, 401, "S6 status")
    check(cleared(r, COOKIE) and cleared(r, BOUND), "S6 both cookies cleared")

    # S9: within 10 s of registration a request without the bound cookie is let through.
    owner = bound_browser(run, "stolen-s9", grace=True)
    early = owner.steal(COOKIE)
    r = run.account(early)
    eq((r.status, r.json().get("binding")), (200, "pending"), "S9 within the grace")
    run.advance(11_000)
    r = run.account(early)
    eq((r.status, r.json().get("reason")), (401, "binding_missing"), "S9 after the grace")
    eq(run.account(owner).json()["binding"], "fresh", "S9 the owner")

    # "Forget this device": unbind(id) ends the binding, the session lives on, unbound.
    sid = run.sessions("alice")[0]["id"]
    eq(run.server.control("/__unbind", {"id": sid}).body, {"ended": True}, "unbind")
    eq(kinds(run.events(), "unbound"), ["app"], "unbound event")
    r = run.account(owner)
    eq((r.status, r.json().get("binding")), (200, "unbound"), "unbound: still signed in")
    r = owner.get("/device", headers=JSON)
    eq((r.status, r.json()), (401, {"error": "binding_required", "reason": "unbound"}),
       "the bound-only route refuses an unbound session")
    seen = owner.refresh()
    eq(seen[-1].json().get("continue"), False, "unbound: the browser's refresh ends")

    # An explicit offer to a signed-in, unbound session (sign-ins offer by themselves).
    csrf = run.account(owner).json()["csrf"]
    owner.offers = []
    r = owner.post("/offer-binding", headers={**JSON, "X-CSRF-Token": csrf})
    eq((r.status, r.json()), (200, {"offered": True}), "offer-binding")
    check(bool(owner.offers), "the response carries the offer")
    run.register(owner)
    run.advance(11_000)
    eq(run.account(owner).json()["binding"], "fresh", "bound again")


# ---- step-up ----------------------------------------------------------------------------------


def step_up(run: Run) -> None:
    run.reset("step-up")
    b = run.sign_in("alice", level=1, amr=["pwd"])
    acct = run.account(b).json()
    eq(acct["authenticated"]["level"], 1, "level at sign-in")
    eq(acct["authenticated"]["amr"], ["pwd"], "amr at sign-in")
    csrf = acct["csrf"]

    def change(accept_json: bool = True) -> dc.Response:
        headers = {"X-CSRF-Token": csrf, **(JSON if accept_json else {})}
        return b.post("/change-password", headers=headers)

    eq(change().status, 200, "a recent sign-in may change the password")
    run.advance(5 * 60_000 + 1000)
    r = change()
    eq((r.status, r.json()),
       (401, {"error": "reauthentication_required", "reason": "stale"}), "stale (JSON)")
    r = change(accept_json=False)
    eq((r.status, r.header("Location")), (303, "/reauth?next=/change-password"), "stale (page)")

    # The form: the page, then the password again (CSRF checked), 303 back to next.
    page = b.get("/reauth?next=/change-password")
    eq(page.status, 200, "the re-authentication page")
    m = re.search(rb'name=csrf value="([^"]+)"', page.body)
    check(m is not None, "the page carries a CSRF token")
    assert m is not None
    form_csrf = m.group(1).decode()
    old_token = b.jar.cookies[COOKIE]
    wrong = b.post("/reauth", form={"csrf": form_csrf, "password": "nope", "next": "/"})
    eq(wrong.status, 401, "a wrong password")
    r = b.post("/reauth", form={"csrf": form_csrf, "password": "wonderland",
                                "next": "/change-password"})
    eq((r.status, r.header("Location")), (303, "/change-password"), "re-authenticated (form)")
    check(b.jar.cookies[COOKIE] != old_token, "a new token")
    run.secrets.add(old_token)
    thief = b.steal()
    thief.jar.cookies[COOKIE] = old_token
    eq(run.account(thief).status, 401, "the old token died at once")
    # docs/dbsc.md §2.9 gives the level as this event's detail; the core sends none (reported).
    eq(len(kinds(run.events(), "reauthenticated")), 1, "reauthenticated event")
    csrf = run.account(b).json()["csrf"]
    eq(change().status, 200, "allowed again")

    # Level 1 against a required 2; a second factor cures it.
    r = b.get("/security", headers=JSON)
    eq((r.status, r.json().get("reason")), (401, "level"), "level 1 vs 2")
    r = b.post("/reauth", json_body={"level": 2, "amr": ["pwd", "otp"]},
               headers={"X-CSRF-Token": csrf})
    eq(r.status, 200, "re-authenticated with two factors")
    eq(b.get("/security", headers=JSON).status, 200, "level 2")
    acct = run.account(b).json()
    eq((acct["authenticated"]["level"], acct["authenticated"]["amr"]), (2, ["pwd", "otp"]),
       "the latest authentication")
    run.remember(b)

    # Anonymous: the login flow, not re-authentication.
    anon = run.browser()
    r = anon.post("/change-password", headers=JSON)
    eq((r.status, r.json().get("error")), (401, "login_required"), "anonymous (JSON)")
    r = anon.get("/security")
    eq((r.status, r.header("Location")), (303, "/?next=/security"), "anonymous (page)")

    # Re-authentication keeps the binding.
    b = bound_browser(run, "step-up-bound")
    csrf = run.account(b).json()["csrf"]
    r = b.post("/reauth", json_body={"level": 2, "amr": ["pwd", "hwk"]},
               headers={"X-CSRF-Token": csrf})
    eq(r.status, 200, "re-authenticated while bound")
    check(not cleared(r, BOUND), "the bound cookie is kept")
    eq(run.account(b).json()["binding"], "fresh", "still bound after re-authentication")
    eq([x.status for x in b.refresh()], [403, 200], "and refreshes with the same key")
    run.remember(b)


# ---- the run ----------------------------------------------------------------------------------


CASES: list[tuple[str, Callable[[Run], None]]] = [
    ("positive path ES256", lambda run: positive(run, "ES256")),
    ("positive path RS256", lambda run: positive(run, "RS256")),
    ("registration R1-R14", registration_refusals),
    ("refresh F1-F12", refresh_refusals),
    ("stolen cookies S1-S9, unbind, offer", stolen),
    ("step-up", step_up),
]


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    ours, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    store = log = None
    sqlite = False
    label = "memory"
    it = iter(ours)
    for a in it:
        if a == "--store":
            store = next(it)
        elif a == "--sqlite":
            sqlite = True
        elif a == "--label":
            label = next(it)
        elif a == "--log":
            log = next(it)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if sqlite and store is not None:
        print(__doc__, file=sys.stderr)
        return 2
    sqlite_dir = Path(tempfile.mkdtemp(prefix="tessera-dbsc-sqlite-")) if sqlite else None
    try:
        return run_cases(command, store, label, log, sqlite_dir)
    finally:
        if sqlite_dir is not None:
            shutil.rmtree(sqlite_dir, ignore_errors=True)


def run_cases(command: list[str], store: Optional[str], label: str, log: Optional[str],
              sqlite_dir: Optional[Path]) -> int:
    log_path = Path(log or os.devnull)
    # The server starts on the default (non-DBSC) options; every case resets it with its own.
    server = Server(command, log_path)
    run = Run(server, store, label, sqlite_dir)
    passed = failed = 0
    try:
        for name, case in CASES:
            try:
                case(run)
                passed += 1
            except Failed as e:
                failed += 1
                print(f"FAIL {name}: {e}")
            except Exception:  # a broken run is a failure with its traceback, not a crash
                failed += 1
                print(f"FAIL {name}: the run broke off:\n{traceback.format_exc()}")
    finally:
        code = server.stop()
    if code == 0:
        passed += 1
    else:
        failed += 1
        print(f"FAIL the server did not shut down cleanly (exit {code}); see {log_path}")
    if log is not None:
        text = log_path.read_text(errors="replace")
        leaked = sorted(s for s in run.secrets if s and s in text)
        if leaked:
            failed += 1
            print(f"FAIL {len(leaked)} secret(s) the clients saw are in the server's log")
        else:
            passed += 1
    print(f"dbsc ({label}): {len(CASES)} cases, {len(run.secrets)} secrets checked")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
