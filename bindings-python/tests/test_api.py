"""The Python API itself: types in and out, errors, threads, the GIL, listeners."""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import tessera
from tessera import (
    ConfigError,
    DataTooLarge,
    InvalidArgument,
    ManualClock,
    SessionManager,
    SessionRejected,
    TesseraError,
)


def test_exception_hierarchy_and_codes() -> None:
    for cls, code in [
        (ConfigError, "invalid_config"),
        (InvalidArgument, "invalid_argument"),
        (DataTooLarge, "data_too_large"),
        (tessera.StoreUnavailable, "store_unavailable"),
        (tessera.InternalError, "internal"),
    ]:
        assert issubclass(cls, TesseraError)
        assert cls.code == code
    assert issubclass(SessionRejected, TesseraError)
    assert tessera.REASONS == [
        "malformed", "unknown", "expired_idle", "expired_absolute", "binding_missing"
    ]


def test_round_trip_of_json_data(manager: SessionManager) -> None:
    data = {
        "s": "é ✓",
        "i": -(2**63),
        "u": 2**64 - 1,
        "f": 1.5,
        "b": False,
        "n": None,
        "l": [1, [2, {"x": (3, 4)}]],
    }
    s = manager.create(data=data)
    got = manager.validate(s.new_token).data
    assert got == {**data, "l": [1, [2, {"x": [3, 4]}]]}
    assert manager.validate(s.new_token).get("missing", "dflt") == "dflt"


def test_every_read_of_data_is_a_fresh_copy(manager: SessionManager) -> None:
    s = manager.create(data={"cart": ["apple"], "prefs": {"theme": "dark", "tags": ["a"]}})
    token = s.new_token
    assert token is not None
    first = manager.validate(token).data
    first["cart"].append("pear")
    first["prefs"]["theme"] = "light"
    first["prefs"]["tags"].clear()
    first["extra"] = 1
    second = manager.validate(token).data
    assert second == {"cart": ["apple"], "prefs": {"theme": "dark", "tags": ["a"]}}
    assert second is not first
    assert second["cart"] is not first["cart"]
    assert second["prefs"] is not first["prefs"]
    assert second["prefs"]["tags"] is not first["prefs"]["tags"]


def test_data_keys_come_back_exactly_whichever_keys_other_sessions_hold(
    manager: SessionManager,
) -> None:
    # The binding shares the str objects of data keys across reads (a bounded table): it must
    # never hand back one key for another — not for keys beyond the table's size limit, non-ASCII
    # keys, keys that differ only in the middle, nor with far more key names than it has slots.
    keys = [f"k{i}" for i in range(3000)] + [
        "é",
        "ключ",
        "✓" * 30,
        "a" * 63,
        "a" * 64,
        "a" * 65,
        "a" * 200,
        "x" * 30 + "1" + "x" * 30,
        "x" * 30 + "2" + "x" * 30,
        "_auth_user_id",
        "_auth_user_hash",
    ]
    sessions = []
    for start in range(0, len(keys), 100):
        data = {k: f"{k}@{start}" for k in keys[start : start + 100]}
        token = manager.create(data=data).new_token
        assert token is not None
        sessions.append((token, data))
    for _ in range(2):  # the second time round, the keys come from the table where they can
        for token, data in sessions:
            got = manager.validate(token).data
            assert got == data
            assert all(type(k) is str for k in got)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (object(), TypeError, "not JSON serializable"),
        ({1: "x"}, TypeError, "keys must be str"),
        (float("nan"), ValueError, "NaN"),
        (2**64, ValueError, "64 bits"),
        ({"deep": {"set": {1, 2}}}, TypeError, r"value\[\"deep\"\]\[\"set\"\]"),
        ("\ud800", ValueError, "surrogate"),
    ],
)
def test_values_that_are_not_json_get_a_clear_error(
    manager: SessionManager, value: object, error: type[Exception], message: str
) -> None:
    s = manager.create()
    with pytest.raises(error, match=message):
        manager.set(s.id, "k", value)
    assert manager.validate(s.new_token).data == {}, "nothing was stored"


def test_deep_nesting_is_refused_not_a_crash(manager: SessionManager) -> None:
    value: list[object] = []
    for _ in range(10_000):
        value = [value]
    s = manager.create()
    with pytest.raises(ValueError, match="nested"):
        manager.set(s.id, "k", value)


@pytest.mark.parametrize(
    "token",
    ["", "x" * 42, "x" * (1 << 20), "\x00" * 43, b"\xff" * 43, b"", "\ud800" * 43],
)
def test_bad_tokens_are_rejected_as_malformed(manager: SessionManager, token: object) -> None:
    with pytest.raises(SessionRejected) as e:
        manager.validate(token)  # type: ignore[arg-type]
    assert e.value.reason == "malformed"
    assert manager.logout(token) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, 43, ["a"], object()])
def test_wrong_types_raise_type_error(manager: SessionManager, token: object) -> None:
    with pytest.raises(TypeError, match="token must be str"):
        manager.validate(token)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        manager.login(token)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        manager.revoke(token)  # type: ignore[arg-type]


def test_bad_arguments_raise_tessera_errors(manager: SessionManager) -> None:
    with pytest.raises(InvalidArgument):
        manager.login("")
    with pytest.raises(InvalidArgument):
        manager.login("u" * 5000)
    with pytest.raises(InvalidArgument):
        manager.revoke("not hex")
    with pytest.raises(DataTooLarge):
        manager.create(data={"k": "x" * 70_000})
    with pytest.raises(TypeError, match="data must be a dict"):
        manager.create(data=[1, 2])  # type: ignore[arg-type]


def test_configuration_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match="idle_timeout"):
        SessionManager(idle_timeout=0)
    with pytest.raises(ConfigError, match="cookie_secure"):
        SessionManager(cookie_secure=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'idle'"):
        SessionManager(idle=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="seconds"):
        SessionManager(idle_timeout="30m")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="store"):
        SessionManager(store="ftp://nowhere")
    m = SessionManager(idle_timeout=timedelta(minutes=10), rotation_interval=None)
    assert m.idle_timeout == 600.0
    assert m.options == {"idle_timeout": timedelta(minutes=10), "rotation_interval": None}


def test_options_hide_the_pepper_and_a_store_password() -> None:
    m = SessionManager(
        pepper="p" * 32, store="redis://:s3cret@127.0.0.1:1/0?prefix=t", sweep_interval=None
    )
    assert m.options["pepper"] == "<redacted>"
    assert m.options["store"] == "redis://:<redacted>@127.0.0.1:1/0?prefix=t"
    assert "s3cret" not in repr(m.options) and "p" * 32 not in repr(m.options)


def test_a_redis_url_without_a_prefix_warns_once_where_the_manager_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing connects when a manager is built (port 1 refuses anyway).
    monkeypatch.setattr(tessera.deployment, "_issued", {})
    with pytest.warns(tessera.DeploymentWarning, match=r"add \?prefix=<app>") as caught:
        SessionManager(store="redis://127.0.0.1:1/0", sweep_interval=None)
    # It points at the code that built the manager (this test, or a wrapper around the class
    # such as the redaction run's), not at the module that issues it.
    assert caught[0].filename != tessera.deployment.__file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SessionManager(store="redis://127.0.0.1:1/0", sweep_interval=None)  # once per process
        SessionManager(store="redis://127.0.0.1:1/0?prefix=shop", sweep_interval=None)


def test_a_token_never_appears_in_reprs_or_errors(manager: SessionManager) -> None:
    s = manager.login("alice")
    token = s.new_token
    assert token is not None
    shown = [repr(s), repr(manager), repr(manager.list_user("alice"))]
    manager.logout(token)
    with pytest.raises(SessionRejected) as e:
        manager.validate(token)
    shown += [str(e.value), repr(e.value)]
    assert all(token not in text for text in shown)


def test_manual_clock_accepts_numbers_and_timedeltas() -> None:
    clock = ManualClock(100)
    clock.advance(timedelta(seconds=1.5))
    clock.advance(0.001)
    assert clock.now() == pytest.approx(101.501)
    clock.set(5)
    assert clock.now() == 5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_listeners_see_events_and_their_exceptions_are_logged(
    manager: SessionManager, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str | None]] = []
    manager.add_listener(lambda e: seen.append((e.kind, e.user)))
    manager.add_listener(lambda e: 1 / 0)
    with pytest.raises(TypeError):
        manager.add_listener(42)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="tessera"):
        s = manager.login("alice")
        manager.logout(s.new_token or "")
    assert seen == [("login", "alice"), ("logout", "alice")]
    assert any("event listener raised" in r.message for r in caplog.records)


def test_one_manager_shared_by_a_thread_pool(manager: SessionManager) -> None:
    def user_life(i: int) -> int:
        s = manager.login(f"user{i % 8}")
        token = s.new_token
        assert token is not None
        for n in range(50):
            v = manager.validate(token)
            manager.set(v.id, f"k{n}", n)
        assert len(manager.validate(token).data) == 50
        assert manager.logout(token)
        return i

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(user_life, range(64))) == list(range(64))
    assert manager.store_len() == 0


def test_the_gil_is_released_during_core_calls(clock: ManualClock) -> None:
    manager = SessionManager(clock=clock, sweep_interval=None)
    for _ in range(200_000):
        manager.create()
    inside = threading.Event()
    done = threading.Event()

    def revoke() -> None:
        inside.set()
        manager.revoke_all()  # long enough to observe
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        worker = threading.Thread(target=revoke)
        worker.start()
        inside.wait()
        spins = 0
        while not done.is_set():
            spins += 1
        worker.join()
    finally:
        sys.setswitchinterval(old)
    # With the GIL held for the whole call this thread could not have run meanwhile.
    assert spins > 1000, spins
