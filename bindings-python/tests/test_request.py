"""tessera.Request / tessera.Response: the per-request protocol as framework glue calls it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional

import pytest
from tessera import (
    DataTooLarge,
    InvalidArgument,
    ManualClock,
    Response,
    SessionManager,
)

COOKIE = "sid"


@pytest.fixture
def m(clock: ManualClock) -> SessionManager:
    return SessionManager(clock=clock, sweep_interval=None, cookie_name=COOKIE, cookie_secure=False)


def cookie_of(response: Response) -> Optional[str]:
    """The `name=value` pair a browser sends back, or None if the response clears it."""
    assert response.set_cookie is not None
    pair = response.set_cookie.split(";")[0]
    return None if "Max-Age=0" in response.set_cookie else pair


def signed_in(m: SessionManager, user: str = "alice", data: Optional[dict[str, Any]] = None) -> str:
    response = m.begin(None, method="POST", https=False).finish(data, login=user)
    pair = cookie_of(response)
    assert pair is not None
    return pair


def test_a_visitor_who_only_reads_costs_nothing(m: SessionManager) -> None:
    request = m.begin(None)
    assert (request.user, request.data, request.id, request.token, request.reason) == (
        None,
        {},
        None,
        None,
        None,
    )
    assert request.csrf == "not_needed"
    response = request.finish({})
    assert response.headers() == []
    assert (response.set_cookie, response.no_store, response.session_id) == (None, False, None)
    assert m.store_len() == 0


def test_first_write_creates_a_session_and_sends_its_cookie(m: SessionManager) -> None:
    response = m.begin(None, method="POST").finish({"cart": [1]})
    headers = dict(response.headers())
    assert headers["Set-Cookie"].startswith(f"{COOKIE}=")
    assert headers["Cache-Control"] == "no-store"
    assert response.session_id is not None and response.user is None
    pair = cookie_of(response)
    request = m.begin(pair)
    assert request.data == {"cart": [1]}
    assert request.id == response.session_id
    assert request.token == pair.split("=", 1)[1] if pair else False
    assert request.finish(request.data).set_cookie is None, "a plain read sends no cookie"


def test_in_place_changes_and_one_to_true_are_saved(m: SessionManager) -> None:
    pair = signed_in(m, data={"cart": [1], "one": 1, "zero": 0})
    request = m.begin(pair, method="POST")
    data = request.data
    data["cart"].append(2)
    data["one"] = True
    data["zero"] = False
    request.finish(data)
    assert m.begin(pair).data == {"cart": [1, 2], "one": True, "zero": False}


class Mapped(Mapping[str, Any]):
    """A mapping that is not a dict: finish accepts any Mapping."""

    def __init__(self, items: dict[str, Any]) -> None:
        self.items_ = items

    def __getitem__(self, key: str) -> Any:
        return self.items_[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.items_)

    def __len__(self) -> int:
        return len(self.items_)


def test_data_may_be_any_mapping_and_bad_data_is_a_type_error(m: SessionManager) -> None:
    pair = cookie_of(m.begin(None, method="POST").finish(Mapped({"k": "v"})))
    assert m.begin(pair).data == {"k": "v"}
    with pytest.raises(TypeError, match=r"data\[.when.\]"):
        m.begin(pair).finish({"when": object()})
    with pytest.raises(TypeError, match="mapping"):
        m.begin(pair).finish([("k", "v")])  # type: ignore[arg-type]
    assert m.begin(pair).data == {"k": "v"}, "a refused finish wrote nothing"


def test_login_gives_a_new_token_even_for_the_same_user(m: SessionManager) -> None:
    first = signed_in(m, data={"cart": 1})
    request = m.begin(first, method="POST")
    assert request.user == "alice"
    again = cookie_of(request.finish(request.data, login="alice"))
    assert again is not None and again != first
    assert m.begin(first).reason == "unknown", "the pre-login token died at once"
    assert m.begin(again).data == {"cart": 1}
    assert [i.id for i in m.list_user("alice")] == [m.begin(again).id]


def test_user_known_logs_in_on_a_change_and_out_when_gone(m: SessionManager) -> None:
    first = signed_in(m)
    same = m.begin(first).finish({}, user_known=True, user="alice")
    assert same.set_cookie is None, "the same user is no privilege change"
    bob = cookie_of(m.begin(first, method="POST").finish({}, user_known=True, user="bob"))
    assert bob is not None and bob != first
    assert m.begin(bob).user == "bob"
    gone = m.begin(bob, method="POST").finish({}, user_known=True, user=None)
    assert cookie_of(gone) is None and gone.no_store
    assert m.revoke_user("bob") == 0


def test_logout_ends_the_session_and_clears_the_cookie(m: SessionManager) -> None:
    pair = signed_in(m)
    response = m.begin(pair, method="POST").finish(logout=True)
    assert cookie_of(response) is None
    assert response.user is None and response.session_id is None
    request = m.begin(pair)
    assert request.user is None and request.reason == "unknown"
    assert cookie_of(request.finish()) is None, "a dead cookie is cleared"


def test_eager_steps_act_at_once(m: SessionManager) -> None:
    pair = signed_in(m, data={"a": 1})
    request = m.begin(pair, method="POST")
    before = request.token
    assert request.regenerate() is True
    assert request.token != before and m.begin(pair).reason == "unknown"
    request.write({"b": 2}, remove=["a"])
    assert request.data == {"b": 2}
    request.login("bob")
    assert request.user == "bob"
    assert request.logout() is True
    assert request.user is None
    response = request.finish()
    assert cookie_of(response) is None
    with pytest.raises(TypeError, match="remove"):
        m.begin(None).write(remove="key")


def test_ensure_id_reserves_an_id_that_the_first_write_keeps(m: SessionManager) -> None:
    request = m.begin(None, method="POST")
    reserved = request.ensure_id()
    assert request.id == reserved and m.store_len() == 0
    response = request.finish({"k": 1})
    assert response.session_id == reserved


def test_csrf_verdict_and_form_tokens(m: SessionManager) -> None:
    visitor = m.begin(None)
    token = visitor.csrf_token()
    response = visitor.finish({})
    assert response.set_cookie is None and m.store_len() == 0, "a visitor's token stores nothing"
    assert response.csrf_cookie is not None and response.no_store
    assert ("Set-Cookie", response.csrf_cookie) in response.headers()
    bound = response.csrf_cookie.split(";")[0]
    assert m.begin(bound, method="POST", csrf=token).csrf == "valid"
    assert m.begin(None, method="POST", csrf=token).csrf == "invalid", "bound to its cookie"
    pair = signed_in(m)
    mine = m.begin(pair).csrf_token()
    assert m.begin(pair, method="POST", csrf=mine).csrf == "valid"
    assert m.begin(pair, method="POST", csrf="forged").csrf == "invalid"
    assert m.begin(pair, method="POST").csrf == "invalid"
    assert m.begin(pair, method="PURGE").csrf == "invalid", "unknown methods need a token"
    assert m.begin(pair, method="HEAD").csrf == "not_needed"
    late = m.begin(pair, method="POST")
    assert late.verify_csrf(mine) and not late.verify_csrf("forged")
    assert not late.verify_csrf(42)


def test_an_error_response_saves_nothing_and_signs_nobody_in(m: SessionManager) -> None:
    pair = signed_in(m, data={"k": 1})
    response = m.begin(pair, method="POST").finish({"k": 2}, login="bob", error=True)
    assert response.set_cookie is None
    request = m.begin(pair)
    assert (request.user, request.data) == ("alice", {"k": 1})


def test_prepare_announces_the_cookie_finish_sends(m: SessionManager) -> None:
    request = m.begin(None, method="POST")
    early = request.prepare({"k": 1})
    late = request.finish({"k": 1})
    assert early.set_cookie is not None and early.set_cookie == late.set_cookie
    assert m.begin(cookie_of(late)).data == {"k": 1}


def test_expiry_shapes(m: SessionManager, clock: ManualClock) -> None:
    pair = signed_in(m)
    response = m.begin(pair).finish({}, expiry=("persistent", 3600), expiry_changed=True)
    assert response.set_cookie is not None and "Max-Age=3600" in response.set_cookie
    response = m.begin(pair).finish({}, expiry=("persistent", None), expiry_changed=True)
    assert response.set_cookie is not None and "Max-Age=43200" in response.set_cookie
    response = m.begin(pair).finish({}, expiry="browser_session", expiry_changed=True)
    assert response.set_cookie is not None and "Max-Age" not in response.set_cookie
    assert m.begin(pair).finish({}, expiry="policy").set_cookie is None
    until = clock.now() + 60
    m.begin(pair).finish({}, expiry=("until", until))
    assert m.begin(pair).absolute_deadline == until
    m.begin(pair).set_expiry(("idle", 10))
    clock.advance(11)
    assert m.begin(pair).reason == "expired_idle"
    for bad in ("forever", ("idle", 0), ("idle",), ("soon", 1), ("idle", -1)):
        with pytest.raises(ValueError):
            m.begin(None).finish({}, expiry=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m.begin(None).finish({}, expiry=5)  # type: ignore[arg-type]


def test_outcome_keywords_are_checked(m: SessionManager) -> None:
    with pytest.raises(ValueError, match="exclude"):
        m.begin(None).finish({}, login="a", logout=True)
    with pytest.raises(ValueError, match="user_known"):
        m.begin(None).finish({}, user="a")
    with pytest.raises(TypeError):
        m.begin(None).finish({}, login=3)  # type: ignore[arg-type]


def test_finish_once_then_the_request_is_closed(m: SessionManager) -> None:
    request = m.begin(None)
    request.finish()
    with pytest.raises(InvalidArgument, match="once"):
        request.finish()
    with pytest.raises(InvalidArgument):
        _ = request.user
    assert repr(request) == "<Request finished>"


def test_data_too_large_writes_nothing(clock: ManualClock) -> None:
    m = SessionManager(
        clock=clock,
        sweep_interval=None,
        cookie_secure=False,
        cookie_name=COOKIE,
        max_data_bytes=100,
    )
    with pytest.raises(DataTooLarge):
        m.begin(None, method="POST").finish({"big": "x" * 200})
    assert m.store_len() == 0


def test_cookie_tossing_and_garbage_are_anonymous(m: SessionManager) -> None:
    pair = signed_in(m)
    tossed = m.begin(f"{pair}; {pair}")
    assert tossed.user is None and tossed.reason == "malformed"
    assert cookie_of(tossed.finish()) is None
    garbage = m.begin(f"{COOKIE}=not-a-token")
    assert garbage.reason == "malformed"
    assert m.begin(b"\xff\xfe").reason is None, "undecodable bytes carry no cookie"
    assert m.begin(f"other=1; {pair}").user == "alice"


def test_tokens_never_show_in_reprs(m: SessionManager) -> None:
    pair = signed_in(m)
    token = pair.split("=", 1)[1]
    request = m.begin(pair, method="POST")
    assert token not in repr(request)
    response = request.finish({}, login="bob")
    assert response.set_cookie is not None
    assert response.set_cookie.split(";")[0].split("=", 1)[1] not in repr(response)
    assert "redacted" in repr(response)


def test_a_listener_using_the_request_it_observes_gets_an_error_not_a_deadlock(
    m: SessionManager,
) -> None:
    pair = signed_in(m)
    request = m.begin(pair, method="POST")
    seen: list[str] = []

    def listener(event: Any) -> None:
        if event.kind == "login":
            try:
                seen.append(str(request.user))
            except RuntimeError as e:
                seen.append(f"refused: {'in use' in str(e)}")

    m.add_listener(listener)
    request.login("alice")
    assert seen == ["refused: True"]
    assert request.user == "alice", "the request is usable again after the call"
    assert repr(request).startswith("<Request id=")
