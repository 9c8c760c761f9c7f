"""Device-bound sessions (DBSC) and step-up through a framework's real request cycle, over real
HTTP, with the scripted DBSC browser (docs/dbsc.md Part 3): one set of cases that
test_dbsc_flask.py and test_dbsc_django.py run against their app (tests/http_apps/
dbsc_flask_app.py, tests/django_project/dbsc.py), each on the memory store, Redis and SQLite.

Each module provides a ``site`` fixture: a server on 127.0.0.1:0 in this process whose manager
runs on a manual clock the test moves. Requests are HTTPS the way a proxy says so
(``X-Forwarded-Proto: https``, trusted by the app); "plain HTTP" leaves the header out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from tessera import Event, ManualClock, SessionManager

from tests import dbsc_client as dc

COOKIE = "__Host-session"
BOUND = "__Host-session-bound"
PREFIX = "/_tessera/dbsc"
JSON = {"Accept": "application/json"}
HTTPS = {"X-Forwarded-Proto": "https"}
BOUND_TTL = 600  # the default bound cookie lifetime (s)


class Gate:
    """Where a view waits (``/write-held``) until the test lets it go: two requests
    interleaved in a fixed order, without timing."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> None:
        self.entered.set()
        assert self.go.wait(30), "the test never released the view"


@dataclass
class Site:
    """The app under test, as the cases see it."""

    base: str
    manager: SessionManager
    clock: ManualClock
    events: list[Event]
    #: The gate of ``/write-held``.
    gate: Gate
    #: Secrets seen on the wire (tokens, bound cookies, challenges, proofs): never in an event.
    secrets: set[str] = field(default_factory=set)

    def browser(self, *, https: bool = True, jar: Optional[dc.CookieJar] = None) -> dc.DbscBrowser:
        return dc.DbscBrowser(self.base, extra_headers=HTTPS if https else {}, jar=jar)

    def sign_in(
        self,
        user: str = "alice",
        b: Optional[dc.DbscBrowser] = None,
        *,
        level: Optional[int] = None,
        amr: Optional[list[str]] = None,
    ) -> tuple[dc.DbscBrowser, str]:
        """Sign ``user`` in on ``b`` (a new browser by default); returns it and the Tessera
        user key (the framework's user id)."""
        b = b or self.browser()
        form = {"user": user}
        if level is not None:
            form["level"] = str(level)
        if amr is not None:
            form["amr"] = ",".join(amr)
        r = b.post("/login", form=form)
        assert r.status == 200, (r.status, r.body[:200])
        self.remember(b)
        key: str = r.json()["user"]
        return b, key

    def register(self, b: dc.DbscBrowser, alg: str = "ES256") -> dc.Response:
        r = b.register(key=dc.generate(alg))
        assert r.status == 200, (r.status, r.body)
        assert b.ended is None, b.ended
        self.remember(b)
        return r

    def bound_browser(
        self, user: str = "alice", alg: str = "ES256", *, grace: bool = False
    ) -> tuple[dc.DbscBrowser, str]:
        """Signed in and bound; past the 10 s enforcement grace unless ``grace``."""
        b, key = self.sign_in(user)
        self.register(b, alg)
        if not grace:
            self.clock.advance(11)
        self.take()
        return b, key

    def account(self, b: dc.DbscBrowser) -> dict[str, Any]:
        r = b.get("/account")
        assert r.status == 200, r.status
        out: dict[str, Any] = r.json()
        return out

    def listed(self, key: str) -> list[Any]:
        return self.manager.list_user(key)

    def take(self, kind: Optional[str] = None) -> list[Optional[str]]:
        """The details of the events of ``kind`` (all kinds: their names) since the last take;
        forgets every event."""
        got, self.events[:] = list(self.events), []
        for e in got:
            shown = repr(e)
            assert not any(s and s in shown for s in self.secrets), "a secret in an event"
        if kind is None:
            return [e.kind for e in got]
        return [e.detail for e in got if e.kind == kind]

    def remember(self, b: dc.DbscBrowser) -> None:
        self.secrets.update(v for v in b.jar.cookies.values() if len(v) >= 20)
        if b.cached_challenge:
            self.secrets.add(b.cached_challenge)
        for offer in b.offers:
            self.secrets.add(offer.challenge)


def cleared(r: dc.Response, name: str) -> bool:
    return any(
        line.startswith(f"{name}=") and re.search(r"(?i)max-age=0", line) is not None
        for line in r.set_cookies
    )


def sets(r: dc.Response, name: str) -> bool:
    return any(line.startswith(f"{name}=") and not cleared(r, name) for line in r.set_cookies)


def error_of(r: dc.Response) -> Any:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def login_redirect(r: dc.Response, path: str, login: str = "/login") -> bool:
    """A redirect to ``login`` with ``next=path`` (quoted or not, absolute or not)."""
    location = (r.header("Location") or "").replace("%2F", "/")
    pattern = rf"(https?://[^/]+)?{re.escape(login)}\?next={re.escape(path)}"
    return r.status in (302, 303) and re.fullmatch(pattern, location) is not None


# ---- the positive path ------------------------------------------------------------------------


def _positive(site: Site, alg: str) -> None:
    b, key = site.sign_in()
    assert b.offers, "the sign-in offered a binding"
    offer = b.offers[0]
    assert list(offer.algs) == ["ES256", "RS256"]
    assert offer.path == f"{PREFIX}/register"
    r = site.register(b, alg)
    assert r.header("Cache-Control") == "no-store"
    assert sets(r, BOUND)
    config = r.json()
    assert config["session_identifier"] == b.session_identifier
    port = site.base.rsplit(":", 1)[1]
    assert config["scope"]["origin"] == f"https://127.0.0.1:{port}"  # as the framework sees it
    assert b.refresh_url == f"{PREFIX}/refresh"
    assert site.take("registered") == [alg]
    (info,) = site.listed(key)
    assert info.bound and info.key_thumbprint and info.bound_at is not None
    assert site.account(b)["binding"] == "pending"
    site.clock.advance(11)

    acct = site.account(b)
    assert (acct["user"], acct["binding"]) == (key, "fresh")
    assert b.get("/bound", headers=JSON).status == 200

    old_bound = b.jar.cookies[BOUND]
    site.clock.advance(9 * 60)
    seen = b.refresh()
    assert [x.status for x in seen] == [403, 200]
    assert b.ended is None
    assert dc.parse_challenge(seen[0].header(dc.CHALLENGE) or "")[0][1] == b.session_identifier
    assert b.jar.cookies[BOUND] != old_bound
    assert site.take("refreshed") == [alg]
    site.remember(b)

    # The previous bound cookie stays good until its own expiry (requests in flight).
    prev = b.steal(COOKIE)
    prev.jar.cookies[BOUND] = old_bound
    assert site.account(prev)["user"] == key
    assert site.account(b)["binding"] == "fresh"

    out = b.post("/logout")
    assert out.status == 200
    assert cleared(out, COOKIE) and cleared(out, BOUND)
    assert site.account(b)["user"] is None


def test_positive_path_es256(site: Site) -> None:
    _positive(site, "ES256")


def test_positive_path_rs256(site: Site) -> None:
    _positive(site, "RS256")


# ---- registration: R1-R14 ---------------------------------------------------------------------


def test_r1_registration_without_proof_is_400(site: Site) -> None:
    b, key = site.sign_in()
    r = b.dbsc_post(b.offers[0].path, proof=None)
    assert r.status == 400
    assert not site.listed(key)[0].bound


HOSTILE: list[tuple[str, str, Callable[[dc.PrivateKey, dc.PrivateKey, str], str]]] = [
    ("R2", "bad_typ", lambda ec, rs, c: dc.proof(ec, c, registration=True, typ="jwt")),
    ("R3", "alg_not_allowed",
     lambda ec, rs, c: dc.proof(None, c, registration=True, alg="none", signature=b"sig")),
    # docs/dbsc.md Part 3 expects alg_not_allowed; the core reads an empty signature part as no
    # compact JWS at all (core/src/dbsc/proof.rs). Either refuses; reported.
    ("R3 empty signature", "malformed|alg_not_allowed",
     lambda ec, rs, c: dc.proof(None, c, registration=True, alg="none")),
    ("R4", "alg_mismatch", lambda ec, rs, c: dc.proof(rs, c, registration=True, alg="ES256")),
    ("R5", "weak_key", lambda ec, rs, c: dc.proof(dc.rsa_1024(), c, registration=True)),
    ("R6", "bad_signature",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, der_signature=True)),
    ("R7", "bad_signature", lambda ec, rs, c: dc.proof(ec, c, registration=True, flip_bit=9)),
    ("R8", "unknown_challenge", lambda ec, rs, c: dc.proof(ec, "other", registration=True)),
    ("R12 d", "bad_jwk",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, jwk=dc.jwk_with_private_d(ec))),
    ("R12 P-384", "bad_jwk",
     lambda ec, rs, c: dc.proof(dc.p384(), c, registration=True, alg="ES256")),
    ("R12 off curve", "bad_jwk",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, jwk=dc.jwk_off_curve(ec))),
    ("R13 crit", "malformed",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, header_extra={"crit": ["exp"]})),
    ("R13 padding", "malformed",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, padded_header=True)),
    ("R13 jti twice", "malformed",
     lambda ec, rs, c: dc.proof(ec, c, registration=True, duplicate_jti="x")),
]


def test_r2_to_r13_hostile_registration_proofs_are_refused(site: Site) -> None:
    ec_key, rsa_key = dc.generate("ES256"), dc.generate("RS256")
    for name, detail, make in HOSTILE:
        b, key = site.sign_in()
        token = make(ec_key, rsa_key, b.offers[0].challenge)
        site.secrets.add(token)
        r = b.dbsc_post(b.offers[0].path, proof=token)
        assert r.status == 403 and error_of(r) in detail.split("|"), (name, error_of(r))
        assert not sets(r, BOUND), name
        assert site.take("proof_failed") == [error_of(r)], name
        if name == "R2":
            # The bad attempt spent the offer: the good proof for it is refused too.
            good = dc.proof(ec_key, b.offers[0].challenge, registration=True)
            again = b.dbsc_post(b.offers[0].path, proof=good)
            assert (again.status, error_of(again)) == (403, "no_challenge")
            site.take()
    assert not any(i.bound for i in site.listed(key))


def test_r9_a_good_proof_twice_binds_once(site: Site) -> None:
    b, key = site.sign_in()
    ec_key = dc.generate("ES256")
    token = dc.proof(ec_key, b.offers[0].challenge, registration=True)
    site.secrets.add(token)
    first = b.register(key=ec_key, proof_token=token)
    assert first.status == 200 and sets(first, BOUND)
    thumb = site.listed(key)[0].key_thumbprint
    second = b.dbsc_post(b.offers[0].path, proof=token)
    assert (second.status, error_of(second)) == (403, "already_bound")
    assert site.listed(key)[0].key_thumbprint == thumb
    site.remember(b)
    assert site.take("proof_failed") == ["already_bound"]


def test_r10_an_expired_offer_is_refused(site: Site) -> None:
    b, key = site.sign_in()
    site.clock.advance(121)
    proof = dc.proof(dc.generate("ES256"), b.offers[0].challenge, registration=True)
    r = b.dbsc_post(b.offers[0].path, proof=proof)
    assert (r.status, error_of(r)) == (403, "challenge_expired")
    assert not site.listed(key)[0].bound


def test_r11_a_proof_for_another_session_is_refused(site: Site) -> None:
    a, _ = site.sign_in("dave")
    b, key = site.sign_in("erin")
    proof = dc.proof(dc.generate("ES256"), a.offers[0].challenge, registration=True)
    r = b.dbsc_post(b.offers[0].path, proof=proof)
    assert (r.status, error_of(r)) == (403, "unknown_challenge")
    assert not site.listed(key)[0].bound


def test_r14_registration_over_plain_http_is_400_and_stores_nothing(site: Site) -> None:
    b, key = site.sign_in()
    plain = site.browser(https=False, jar=b.jar.copy())
    ec_key = dc.generate("ES256")
    proof = dc.proof(ec_key, b.offers[0].challenge, registration=True)
    r = plain.dbsc_post(b.offers[0].path, proof=proof)
    assert r.status == 400
    assert not sets(r, BOUND)
    assert not site.listed(key)[0].bound
    # Nothing was spent either: the same proof over HTTPS binds.
    assert b.register(key=ec_key, proof_token=proof).status == 200


def test_registration_answers_405_to_get_and_needs_no_csrf_token(site: Site) -> None:
    b, _ = site.sign_in()
    assert b.get(f"{PREFIX}/register").status == 405
    assert b.get(f"{PREFIX}/refresh").status == 405
    # The POST carries no CSRF token (Chrome sends none) and is not refused for it.
    assert site.register(b).status == 200


# ---- refresh: F1-F12 --------------------------------------------------------------------------


def test_f1_to_f5_and_f9_refresh_refusals(site: Site) -> None:
    b, key = site.bound_browser()
    bid = b.session_identifier
    assert bid is not None and b.refresh_url is not None
    url = b.refresh_url
    # F1: no Sec-Secure-Session-Id: 400, no challenge.
    r = b.dbsc_post(url, proof=None)
    assert r.status == 400 and r.header(dc.CHALLENGE) is None
    # F2: another id: continue false.
    r = b.dbsc_post(url, proof=None, session_id="wrongid")
    assert (r.status, r.json()) == (200, {"session_identifier": "wrongid", "continue": False})
    assert site.take("proof_failed") == ["not_bound"]
    # F3: the id, no proof: 403 and a challenge for it (bare and quoted).
    r = b.dbsc_post(url, proof=None, session_id=bid)
    assert r.status == 403
    assert dc.parse_challenge(r.header(dc.CHALLENGE) or "")[0][1] == bid
    assert r.header("Cache-Control") == "no-store"
    r = b.dbsc_post(url, proof=None, session_id=f'"{bid}"')
    assert r.status == 403 and r.header(dc.CHALLENGE) is not None
    # F4: signed by another key: continue false, no bound cookie, the binding stays.
    challenge = b.cached_challenge
    assert challenge is not None
    other = dc.generate("ES256")
    r = b.dbsc_post(url, proof=dc.proof(other, challenge, registration=False), session_id=bid)
    assert (r.status, r.json().get("continue")) == (200, False)
    assert not sets(r, BOUND)
    assert site.take("proof_failed") == ["bad_signature"]
    assert site.listed(key)[0].bound
    # F5: RS256 on the ES256 binding.
    b.dbsc_post(url, proof=None, session_id=bid)
    c = b.cached_challenge
    assert c is not None
    r = b.dbsc_post(url, proof=dc.proof(b.key, c, registration=False, alg="RS256"),
                    session_id=bid)
    assert (r.status, r.json().get("continue")) == (200, False)
    assert site.take("proof_failed") == ["alg_mismatch"]
    # F9: a registration-style proof (another key's jwk in the header, signed by it).
    b.dbsc_post(url, proof=None, session_id=bid)
    c = b.cached_challenge
    assert c is not None
    r = b.dbsc_post(url, proof=dc.proof(other, c, registration=True), session_id=bid)
    assert (r.status, r.json().get("continue")) == (200, False)
    assert site.take("proof_failed") == ["bad_signature"]
    # The owner's own key still works.
    b.dbsc_post(url, proof=None, session_id=bid)
    assert [x.status for x in b.refresh()] == [200]


def test_f6_f7_f8_challenges_are_single_use_and_short_lived(site: Site) -> None:
    b, _ = site.bound_browser()
    bid = b.session_identifier
    assert bid is not None and b.refresh_url is not None
    url = b.refresh_url
    assert [x.status for x in b.refresh()] == [403, 200]
    assert b.last_proof is not None
    used = b.last_proof[1]
    site.secrets.add(used)
    site.take()
    # F6: the accepted proof replayed: a new challenge, not a bound cookie.
    r = b.dbsc_post(url, proof=used, session_id=bid)
    assert r.status == 403 and r.header(dc.CHALLENGE) is not None
    assert not sets(r, BOUND)
    assert site.take("proof_failed") == ["unknown_challenge"]
    # F7: a challenge older than 60 s.
    c = b.cached_challenge
    assert c is not None
    site.clock.advance(61)
    r = b.dbsc_post(url, proof=dc.proof(b.key, c, registration=False), session_id=bid)
    assert r.status == 403
    assert site.take("proof_failed") == ["challenge_expired"]
    # F8: two challenges; each good once, the older one too.
    r1 = b.dbsc_post(url, proof=None, session_id=bid)
    c1 = dc.parse_challenge(r1.header(dc.CHALLENGE) or "")[0][0]
    r2 = b.dbsc_post(url, proof=None, session_id=bid)
    c2 = dc.parse_challenge(r2.header(dc.CHALLENGE) or "")[0][0]
    p1 = dc.proof(b.key, c1, registration=False)
    p2 = dc.proof(b.key, c2, registration=False)
    site.secrets.update((c1, c2, p1, p2))
    got = [b.dbsc_post(url, proof=p, session_id=bid).status for p in (p1, p1, p2, p2)]
    assert got == [200, 403, 200, 403]
    site.take()


def test_f10_refresh_after_revoke_ends_the_browser_session(site: Site) -> None:
    b, key = site.bound_browser()
    assert site.manager.revoke(site.listed(key)[0].id)
    seen = b.refresh()
    assert (seen[-1].status, seen[-1].json().get("continue")) == (200, False)
    assert cleared(seen[-1], COOKIE)
    assert b.ended == "continue_false"


def test_f11_refresh_after_a_new_sign_in_is_not_bound(site: Site) -> None:
    b, key = site.bound_browser()
    r = b.post("/login", form={"user": "alice"})
    assert r.status == 200 and cleared(r, BOUND), "the sign-in clears the bound cookie"
    assert BOUND not in b.jar.cookies
    assert not site.listed(key)[0].bound
    assert site.take("unbound") == ["login"]
    seen = b.refresh()
    assert (seen[-1].status, seen[-1].json().get("continue")) == (200, False)
    assert site.take("proof_failed") == ["not_bound"]
    assert site.account(b)["user"] == key  # signed in, no longer bound


def test_f12_refresh_does_not_move_last_seen_and_ends_after_idle(site: Site) -> None:
    b, key = site.bound_browser()
    before = site.listed(key)[0].last_seen
    site.clock.advance(9 * 60)
    assert b.refresh()[-1].status == 200
    assert site.listed(key)[0].last_seen == before, "a refresh is not the user's activity"
    site.clock.advance(22 * 60)  # 31 minutes unused: past the 30 minute idle timeout
    seen = b.refresh()
    assert (seen[-1].status, seen[-1].json().get("continue")) == (200, False)
    assert cleared(seen[-1], COOKIE)


# ---- stolen cookies ---------------------------------------------------------------------------


def test_s1_a_stolen_long_lived_cookie_alone_is_anonymous(site: Site) -> None:
    owner, key = site.bound_browser()
    thief = owner.steal(COOKIE)
    r = thief.get("/private")
    assert login_redirect(r, "/private"), (r.status, r.header("Location"))
    assert r.set_cookies == []
    r = thief.get("/bound", headers=JSON)
    assert (r.status, r.json()) == (
        401, {"error": "login_required", "reason": "anonymous"}
    )
    assert r.set_cookies == []
    acct = thief.get("/account")
    assert acct.json()["user"] is None and acct.json()["reason"] == "binding_missing"
    assert acct.set_cookies == []
    # A write goes nowhere (and mints no session for the thief).
    w = thief.post("/write", form={"v": "stolen"})
    assert w.status == 200 and w.set_cookies == []
    assert site.take("binding_missing") == ["absent"] * 4
    mine = site.account(owner)
    assert (mine["user"], mine["binding"]) == (key, "fresh")
    assert owner.get("/read").json() == {"k": None}


def test_s2_both_cookies_stolen_stop_working_after_the_bound_cookie_lifetime(
    site: Site,
) -> None:
    owner, key = site.bound_browser()
    thief = owner.steal()
    assert site.account(thief)["user"] == key
    site.clock.advance(BOUND_TTL - 60)
    assert [x.status for x in owner.refresh()] == [403, 200]
    assert site.account(thief)["user"] == key, "the copied cookie, within its lifetime"
    site.take()
    site.clock.advance(61)  # the copied bound cookie is 601 s old
    r = thief.get("/account")
    assert (r.json()["user"], r.json()["reason"]) == (None, "binding_missing")
    assert r.set_cookies == []
    assert site.take("binding_missing") == ["expired"]
    assert thief.get("/bound", headers=JSON).status == 401
    assert site.account(owner)["binding"] == "fresh"
    assert [x.status for x in owner.refresh()] == [403, 200]
    assert site.account(owner)["user"] == key


def test_s3_s4_a_foreign_or_doubled_bound_cookie_is_refused(site: Site) -> None:
    a, _ = site.bound_browser("alice")
    b, _ = site.bound_browser("bob")
    mixed = site.browser()
    token = b.jar.cookies[COOKIE]
    foreign = a.jar.cookies[BOUND]
    r = mixed.get("/account", headers={"Cookie": f"{COOKIE}={token}; {BOUND}={foreign}"})
    assert r.json()["user"] is None
    assert site.take("binding_missing") == ["mismatch"]
    bound = b.jar.cookies[BOUND]
    twice = f"{COOKIE}={token}; {BOUND}={bound}; {BOUND}={bound}"
    r = mixed.get("/account", headers={"Cookie": twice})
    assert r.json()["user"] is None
    assert site.take("binding_missing") == ["ambiguous"]


def test_s6_revoked_while_bound_clears_both_cookies(site: Site) -> None:
    owner, key = site.bound_browser()
    assert site.manager.revoke(site.listed(key)[0].id)
    r = owner.get("/account")
    assert r.json()["user"] is None
    assert cleared(r, COOKIE) and cleared(r, BOUND)


def test_s9_the_enforcement_grace_after_registration(site: Site) -> None:
    owner, key = site.bound_browser(grace=True)
    early = owner.steal(COOKIE)
    acct = site.account(early)
    assert (acct["user"], acct["binding"]) == (key, "pending")
    site.clock.advance(11)
    acct = site.account(early)
    assert (acct["user"], acct["reason"]) == (None, "binding_missing")
    assert site.account(owner)["binding"] == "fresh"


def test_unbind_and_an_explicit_offer(site: Site) -> None:
    owner, key = site.bound_browser()
    assert site.manager.unbind(site.listed(key)[0].id)
    assert site.take("unbound") == ["app"]
    acct = site.account(owner)
    assert (acct["user"], acct["binding"]) == (key, "unbound")
    r = owner.get("/bound", headers=JSON)
    assert (r.status, r.json()) == (401, {"error": "binding_required", "reason": "unbound"})
    assert login_redirect(owner.get("/bound"), "/bound")
    assert owner.refresh()[-1].json().get("continue") is False
    owner.offers = []
    r = owner.post("/offer")
    assert (r.status, r.json()) == (200, {"offered": True})
    assert owner.offers, "the response carries the offer"
    site.register(owner)
    site.clock.advance(11)
    assert site.account(owner)["binding"] == "fresh"
    assert owner.get("/bound", headers=JSON).status == 200
    # Never offered to a bound session (a thief must not re-bind it to his key).
    assert owner.post("/offer").json() == {"offered": False}


def test_writes_around_a_refresh_keep_both(site: Site) -> None:
    owner, key = site.bound_browser()
    assert owner.post("/write", form={"v": "1"}).status == 200
    site.clock.advance(9 * 60)
    assert owner.refresh()[-1].status == 200
    assert owner.post("/write", form={"v": "2"}).status == 200
    assert owner.get("/read").json() == {"k": "2"}
    assert site.listed(key)[0].bound


# ---- step-up ----------------------------------------------------------------------------------


def test_step_up_stale_then_reauthenticate(site: Site) -> None:
    b, key = site.sign_in(level=1, amr=["pwd"])
    acct = site.account(b)
    assert (acct["user"], acct["level"], acct["amr"]) == (key, 1, ["pwd"])
    assert acct["authenticated_at"] == site.clock.now()
    assert b.get("/sensitive", headers=JSON).status == 200
    site.clock.advance(301)
    r = b.get("/sensitive", headers=JSON)
    assert (r.status, r.json()) == (
        401, {"error": "reauthentication_required", "reason": "stale"}
    )
    r = b.get("/sensitive")
    assert login_redirect(r, "/sensitive", "/reauth"), (r.status, r.header("Location"))
    old = b.jar.cookies[COOKIE]
    r = b.post("/reauth", form={"level": "1", "amr": "pwd"})
    assert r.status == 200 and sets(r, COOKIE)
    assert b.jar.cookies[COOKIE] != old
    site.secrets.add(old)
    thief = site.browser(jar=dc.CookieJar({COOKIE: old}))
    assert site.account(thief)["user"] is None, "the old token died at once"
    # docs/dbsc.md §2.9 gives the level as this event's detail; the core sends none (reported).
    assert len(site.take("reauthenticated")) == 1
    assert b.get("/sensitive", headers=JSON).status == 200
    assert site.account(b)["authenticated_at"] == site.clock.now()


def test_step_up_level_1_against_a_required_2(site: Site) -> None:
    b, _ = site.sign_in(level=1, amr=["pwd"])
    r = b.get("/sensitive-mfa", headers=JSON)
    assert (r.status, r.json()) == (
        401, {"error": "reauthentication_required", "reason": "level"}
    )
    assert b.post("/reauth", form={"level": "2", "amr": "pwd,otp"}).status == 200
    assert b.get("/sensitive-mfa", headers=JSON).status == 200
    acct = site.account(b)
    assert (acct["level"], acct["amr"]) == (2, ["pwd", "otp"])
    # The latest authentication counts, not the strongest ever.
    assert b.post("/reauth", form={"level": "1"}).status == 200
    assert b.get("/sensitive-mfa", headers=JSON).json()["reason"] == "level"


def test_step_up_anonymous_gets_the_login_flow(site: Site) -> None:
    anon = site.browser()
    r = anon.get("/sensitive", headers=JSON)
    assert (r.status, r.json()) == (
        401, {"error": "login_required", "reason": "anonymous"}
    )
    assert login_redirect(anon.get("/sensitive"), "/sensitive")


def test_step_up_keeps_the_binding(site: Site) -> None:
    b, _ = site.bound_browser()
    r = b.post("/reauth", form={"level": "2", "amr": "pwd,hwk"})
    assert r.status == 200 and not cleared(r, BOUND)
    assert site.account(b)["binding"] == "fresh"
    assert [x.status for x in b.refresh()] == [403, 200]
    assert b.get("/sensitive-mfa", headers=JSON).status == 200


def test_bad_input_never_authenticates(site: Site) -> None:
    b, key = site.bound_browser()
    bid = b.session_identifier
    assert bid is not None
    junk = ["", "a.b", "a.b.c", "\u00e9.\u00e9.\u00e9", "x" * 9000, '"unterminated', "a\tb"]
    for value in junk:
        r = b.dbsc_post(f"{PREFIX}/register", proof=value)
        assert r.status in (400, 403) and not sets(r, BOUND), value
        r = b.dbsc_post(f"{PREFIX}/refresh", proof=value, session_id=bid)
        assert r.status in (200, 400, 403) and not sets(r, BOUND), value
        r = b.dbsc_post(f"{PREFIX}/refresh", proof=None, session_id=value)
        assert r.status in (200, 400, 403) and not sets(r, BOUND), value
    thief = site.browser(jar=dc.CookieJar({COOKIE: b.jar.cookies[COOKIE], BOUND: "x" * 43}))
    assert site.account(thief)["user"] is None
    assert site.account(b)["user"] == key


def test_no_secret_reaches_a_log(site: Site, caplog: Any) -> None:
    import logging

    with caplog.at_level(logging.DEBUG):
        _positive(site, "ES256")
        b, _ = site.bound_browser("bob")
        thief = b.steal(COOKIE)
        thief.get("/private")
        b.dbsc_post(f"{PREFIX}/register", proof="a.b.c")
        assert b.last_proof is None
        b.refresh()
        assert b.last_proof is not None
        site.secrets.add(b.last_proof[1])
        site.remember(b)
        site.take()
    assert caplog.records, "the servers logged something"
    text = caplog.text
    assert not [s for s in site.secrets if s in text]


def test_s5_a_stolen_cookie_does_not_rotate_the_session(site: Site) -> None:
    owner, key = site.bound_browser()
    site.clock.advance(9 * 60)
    assert owner.refresh()[-1].status == 200
    site.clock.advance(7 * 60)  # past the 15 minute rotation interval
    thief = owner.steal(COOKIE)
    r = thief.get("/account")
    assert r.json()["user"] is None and r.set_cookies == []
    assert site.take("rotated") == []
    token = owner.jar.cookies[COOKIE]
    r = owner.get("/account")
    assert r.json()["user"] == key
    assert sets(r, COOKIE) and owner.jar.cookies[COOKIE] != token, "the owner's rotation"
    assert site.take("rotated") == [None]


def test_s7_an_old_bound_cookie_belongs_to_no_binding(site: Site) -> None:
    owner, _ = site.bound_browser()
    old_bound = owner.jar.cookies[BOUND]
    assert owner.post("/logout").status == 200
    assert BOUND not in owner.jar.cookies
    visitor = site.browser()
    assert visitor.post("/write", form={"v": "anonymous"}).status == 200
    visitor.jar.cookies[BOUND] = old_bound
    site.take()
    assert visitor.get("/read").json() == {"k": "anonymous"}
    assert site.take("binding_missing") == []


def test_s8_a_data_write_racing_a_refresh_keeps_both(site: Site) -> None:
    owner, key = site.bound_browser()
    site.clock.advance(9 * 60)
    answers: list[dc.Response] = []
    writer = owner.steal()  # the same browser's cookies, on another connection
    thread = threading.Thread(
        target=lambda: answers.append(writer.post("/write-held", form={"v": "raced"}))
    )
    thread.start()
    assert site.gate.entered.wait(30)  # the write's view has run; its finish is held
    before = owner.jar.cookies[BOUND]
    assert [x.status for x in owner.refresh()] == [403, 200]
    assert owner.jar.cookies[BOUND] != before
    site.gate.go.set()
    thread.join()
    assert answers[0].status == 200
    assert owner.get("/read").json() == {"k": "raced"}, "the write persisted"
    assert site.account(owner)["binding"] == "fresh", "the refreshed binding persisted"
    site.clock.advance(2 * 60)  # the pre-refresh bound cookie has expired; the new one has not
    assert site.account(owner)["binding"] == "fresh"
    assert site.listed(key)[0].bound
