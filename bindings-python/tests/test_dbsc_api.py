"""The binding's device-binding and step-up API called directly: argument checking, reprs that
never show a secret, the options in seconds. (The framework behaviour is in test_dbsc_*.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from tessera import (
    ConfigError,
    DbscResponse,
    InvalidArgument,
    ManualClock,
    SessionManager,
    SessionRejected,
)


@pytest.fixture
def dbsc(clock: ManualClock) -> SessionManager:
    return SessionManager(clock=clock, sweep_interval=None, dbsc=True)


def signed_in(m: SessionManager, **authn: Any) -> tuple[str, str]:
    """A signed-in session over HTTPS: (token, cookie header)."""
    r = m.begin(None, method="POST", https=True)
    r.login("alice", **authn)
    response = r.finish({})
    line = response.set_cookie
    assert line is not None
    token = line.split(";", 1)[0].split("=", 1)[1]
    return token, f"{m.cookie_name}={token}"


def test_options_in_seconds_and_their_getters(clock: ManualClock) -> None:
    m = SessionManager(
        clock=clock, sweep_interval=None, dbsc=True, dbsc_cookie_ttl=300,
        dbsc_challenge_ttl=30, dbsc_registration_ttl=60, dbsc_enforce_grace=0,
        dbsc_path_prefix="/dbsc", dbsc_algorithms=["ES256"],
    )
    assert (m.dbsc, m.dbsc_path_prefix, m.bound_cookie_name) == (
        True, "/dbsc", "__Host-session-bound"
    )
    off = SessionManager(sweep_interval=None)
    assert (off.dbsc, off.dbsc_path_prefix) == (False, None)
    for bad in (
        {"dbsc": True, "dbsc_cookie_ttl": 299},  # below Chromium's refresh rate limit
        {"dbsc": True, "dbsc_algorithms": ["none"]},
        {"dbsc_cookie_ttl": 600},  # dbsc_* without dbsc
        {"dbsc": True, "cookie_secure": False, "cookie_name": "sid"},
    ):
        with pytest.raises(ConfigError):
            SessionManager(sweep_interval=None, **bad)
    with pytest.raises(TypeError):
        SessionManager(sweep_interval=None, dbsc=True, dbsc_cookie_ttl="600")


@pytest.mark.parametrize(
    ("authn", "error"),
    [
        ({"level": 0}, InvalidArgument),
        ({"level": 256}, InvalidArgument),
        ({"level": -1}, InvalidArgument),
        ({"level": True}, TypeError),
        ({"level": "2"}, TypeError),
        ({"amr": "pwd"}, TypeError),
        ({"amr": ["pwd"] * 9}, InvalidArgument),
        ({"amr": ["not a method"]}, InvalidArgument),
        ({"amr": [""]}, InvalidArgument),
        ({"amr": [1]}, TypeError),
    ],
)
def test_bad_level_or_amr_is_refused_and_signs_nobody_in(
    dbsc: SessionManager, authn: dict[str, Any], error: type[Exception]
) -> None:
    r = dbsc.begin(None, method="POST", https=True)
    with pytest.raises(error):
        r.login("alice", **authn)
    with pytest.raises(error):
        dbsc.login("alice", **authn)
    with pytest.raises(error):
        r.finish({}, login="alice", **authn)
    assert dbsc.list_user("alice") == []


def test_step_up_through_the_request(dbsc: SessionManager, clock: ManualClock) -> None:
    token, cookie = signed_in(dbsc, level=1, amr=["pwd"])
    r = dbsc.begin(cookie, https=True)
    assert (r.auth_level, r.amr, r.authenticated_at) == (1, ["pwd"], clock.now())
    assert r.require_recent(60) == "allowed"
    assert r.require_recent(60, 2) == "level"
    clock.advance(60)
    assert r.require_recent(60) == "stale"
    assert dbsc.require_recent(token, 60) == "stale"
    assert dbsc.require_recent("not a token", 60) == "anonymous"
    assert r.reauthenticate(level=2, amr=["pwd", "otp"])
    assert r.require_recent(60, 2) == "allowed"
    response = r.finish()
    assert response.set_cookie is not None  # the new token
    with pytest.raises(SessionRejected):
        dbsc.validate(token, https=True)  # the old one died at once
    (info,) = dbsc.list_user("alice")
    assert (info.auth_level, info.amr, info.bound) == (2, ["pwd", "otp"], False)
    anonymous = dbsc.begin(None)
    assert (anonymous.auth_level, anonymous.binding, anonymous.require_recent(60)) == (
        None, None, "anonymous"
    )


def test_finish_reauthenticate_excludes_login(dbsc: SessionManager) -> None:
    _, cookie = signed_in(dbsc)
    r = dbsc.begin(cookie, https=True)
    with pytest.raises(ValueError):
        r.finish({}, login="bob", reauthenticate=True)


def test_endpoint_responses_never_show_a_cookie(dbsc: SessionManager) -> None:
    from tests import dbsc_client as dc

    r = dbsc.begin(None, method="POST", https=True)
    r.login("alice")
    response = r.finish({})
    headers = dict(response.headers())
    offer = dc.parse_registration(headers["Secure-Session-Registration"])[0]
    assert offer.challenge not in repr(response)
    token = (response.set_cookie or "").split(";", 1)[0]
    proof = dc.proof(dc.generate("ES256"), offer.challenge, registration=True)
    answer = dbsc.dbsc_register(token, https=True, origin="https://app.example", proof=proof)
    assert isinstance(answer, DbscResponse)
    assert answer.status == 200
    bound = [v for n, v in answer.headers() if n == "Set-Cookie"]
    assert bound and bound[0].startswith("__Host-session-bound=")
    value = bound[0].split(";", 1)[0].split("=", 1)[1]
    assert value not in repr(answer) and "Set-Cookie" in repr(answer)
    assert '"session_identifier"' in answer.body


def test_endpoints_refuse_without_dbsc_and_take_bad_text(dbsc: SessionManager) -> None:
    with pytest.raises(ConfigError):
        SessionManager(sweep_interval=None).dbsc_refresh(None, https=True)
    site = "https://app.example"
    assert dbsc.dbsc_register(None, https=True, origin=site, proof="x").status == 403
    assert dbsc.dbsc_register(b"\xff\xfe", https=True, origin=site, proof=b"\xff").status == 400
    assert dbsc.dbsc_refresh("\ud800", https=True, origin=site, session_id="\ud800").status == 400
    assert dbsc.dbsc_refresh(None, https=False, origin=site, session_id="x").status == 400
    assert (
        dbsc.dbsc_refresh(None, method="GET", https=True, origin=site, session_id="x").status
        == 405
    )
    with pytest.raises(TypeError):
        dbsc.dbsc_register(42, https=True, origin=site)  # type: ignore[arg-type]
    # Without an origin (no dbsc_origin option, none given) the endpoints cannot answer.
    with pytest.raises(ConfigError):
        dbsc.dbsc_refresh(None, https=True, session_id="x")


def test_unbind_and_events_carry_details(dbsc: SessionManager) -> None:
    seen: list[Any] = []
    dbsc.add_listener(seen.append)
    _, cookie = signed_in(dbsc)
    (info,) = dbsc.list_user("alice")
    assert dbsc.unbind(info.id)  # the sign-in's offer
    assert not dbsc.unbind(info.id)
    with pytest.raises(InvalidArgument):
        dbsc.unbind("zz")
    answer = dbsc.dbsc_register(cookie, https=True, origin="https://app.example", proof="a.b.c")
    assert answer.status == 403
    assert [(e.kind, e.detail) for e in seen if e.kind == "proof_failed"] == [
        ("proof_failed", "no_challenge")
    ]
    assert 'detail="no_challenge"' in repr(seen[-1])
