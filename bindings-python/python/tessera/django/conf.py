"""The process's :class:`~tessera.SessionManager`, built lazily from Django's settings.

``settings.TESSERA`` is a dict of :class:`~tessera.SessionManager` keyword arguments
(durations in seconds or as ``timedelta``; ``clock`` may be a :class:`~tessera.ManualClock`).
Django's ``SESSION_COOKIE_*`` settings stay the single source of truth for the cookie, because
Django's ``SessionMiddleware`` writes it: the manager is given ``cookie_name``, ``cookie_secure``,
``cookie_http_only``, ``cookie_path``, ``cookie_domain`` and ``cookie_same_site`` from them, so
that ``manager.cookie_token()`` (cookie tossing) and ``manager.set_cookie()`` agree with Django. A
``TESSERA`` entry for one of those that contradicts Django's setting is a configuration error.

One manager per process, created on first use. It is dropped when ``TESSERA``, ``SESSION_ENGINE``
or a ``SESSION_COOKIE_*`` setting changes (``override_settings`` in tests) and in a child process
after ``fork()`` (a gunicorn ``--preload`` master must not share its store or its sweeper thread
with the workers).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Optional

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from tessera._native import ConfigError, SessionManager

__all__ = ["ENGINE", "get_manager", "manager_options", "reset_manager"]

#: The value of ``SESSION_ENGINE`` that selects Tessera.
ENGINE = "tessera.django"

#: Manager options that Django's ``SESSION_COOKIE_*`` settings decide.
COOKIE_OPTIONS = (
    "cookie_name",
    "cookie_secure",
    "cookie_http_only",
    "cookie_same_site",
    "cookie_path",
    "cookie_domain",
)

#: Settings whose change makes the next request build a new manager.
WATCHED_SETTINGS = frozenset(
    {
        "TESSERA",
        "SESSION_ENGINE",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_DOMAIN",
    }
)


@dataclass(frozen=True)
class State:
    """The manager and the few options the session store needs on every request."""

    manager: SessionManager
    #: ``Max-Age`` of the cookie in whole seconds, or None for a browser-session cookie.
    cookie_max_age: Optional[int]
    #: Whether login carries an anonymous session's data into the signed-in one.
    login_keeps_data: bool
    #: The manager's, asked once (they are fixed when it is built), not on every request.
    cookie_name: str = ""
    store_is_shared: bool = False
    idle_timeout: float = 0.0
    absolute_timeout: float = 0.0
    #: The two DBSC endpoints' paths (empty when device-bound sessions are off): the
    #: middleware does not begin the session there.
    dbsc_paths: frozenset[str] = frozenset()


_lock = threading.Lock()
_state: Optional[State] = None
# Managers inherited across fork(): their sweeper thread does not exist in the child, so they
# are never dropped (dropping one joins that thread).
_orphans: list[State] = []


def _django_cookie_options() -> dict[str, Any]:
    same_site = settings.SESSION_COOKIE_SAMESITE
    options: dict[str, Any] = {
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "cookie_secure": bool(settings.SESSION_COOKIE_SECURE),
        "cookie_http_only": bool(settings.SESSION_COOKIE_HTTPONLY),
        "cookie_path": settings.SESSION_COOKIE_PATH,
        "cookie_domain": settings.SESSION_COOKIE_DOMAIN or None,
    }
    # None/False mean "no SameSite attribute" to Django; the manager has no such choice and
    # keeps its default (Lax), which is also what browsers assume for a cookie without one.
    if isinstance(same_site, str):
        options["cookie_same_site"] = same_site.lower()
    return options


def _same(option: str, ours: Any, django: Any) -> bool:
    if option == "cookie_same_site" and isinstance(ours, str) and isinstance(django, str):
        return ours.lower() == django.lower()
    if option == "cookie_domain":
        return (ours or None) == (django or None)
    return bool(ours == django)


def manager_options() -> dict[str, Any]:
    """The keyword arguments the manager is built with: ``TESSERA`` plus the cookie settings.

    Raises ``ImproperlyConfigured`` when ``TESSERA`` is not a dict of options or contradicts a
    ``SESSION_COOKIE_*`` setting.
    """
    configured = getattr(settings, "TESSERA", None)
    if configured is None:
        configured = {}
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(
            "TESSERA must be a dict of tessera.SessionManager keyword arguments, "
            f"not {type(configured).__name__}"
        )
    options: dict[str, Any] = {}
    for key, value in configured.items():
        if not isinstance(key, str):
            raise ImproperlyConfigured(f"TESSERA keys must be option names, not {key!r}")
        options[key] = value
    for option, value in _django_cookie_options().items():
        if option in options and not _same(option, options[option], value):
            setting = {
                "cookie_name": "SESSION_COOKIE_NAME",
                "cookie_secure": "SESSION_COOKIE_SECURE",
                "cookie_http_only": "SESSION_COOKIE_HTTPONLY",
                "cookie_same_site": "SESSION_COOKIE_SAMESITE",
                "cookie_path": "SESSION_COOKIE_PATH",
                "cookie_domain": "SESSION_COOKIE_DOMAIN",
            }[option]
            raise ImproperlyConfigured(
                f"TESSERA[{option!r}] = {options[option]!r} contradicts {setting} = {value!r}; "
                f"Django's SessionMiddleware writes the cookie, so set {setting} instead"
            )
        options[option] = value
    return options


def _seconds(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return int(value)


def build_state(options: Optional[Mapping[str, Any]] = None) -> State:
    """Build a manager from ``options`` (default: :func:`manager_options`) without keeping it.

    Raises ``ImproperlyConfigured`` (from the manager's ``ConfigError`` or ``TypeError``) when
    the options are invalid.
    """
    kwargs = dict(manager_options() if options is None else options)
    try:
        manager = SessionManager(**kwargs)
    except (ConfigError, TypeError, ValueError) as e:
        raise ImproperlyConfigured(f"TESSERA: invalid session options: {e}") from e
    return State(
        manager=manager,
        cookie_max_age=_seconds(kwargs.get("cookie_max_age")),
        login_keeps_data=bool(kwargs.get("login_keeps_data", True)),
        cookie_name=manager.cookie_name,
        store_is_shared=manager.store_is_shared,
        idle_timeout=manager.idle_timeout,
        absolute_timeout=manager.absolute_timeout,
        dbsc_paths=_dbsc_paths(manager.dbsc_path_prefix),
    )


def _dbsc_paths(prefix: Optional[str]) -> frozenset[str]:
    if prefix is None:
        return frozenset()
    return frozenset({f"{prefix}/register", f"{prefix}/refresh"})


def get_state() -> State:
    """The process's :class:`State`, built on first use."""
    global _state
    state = _state
    if state is not None:
        return state
    with _lock:
        if _state is None:
            _state = build_state()
        return _state


def get_manager() -> SessionManager:
    """The process's :class:`~tessera.SessionManager`, built from settings on first use.

    Use it for anything the Django glue does not wrap: ``manager.revoke(session_id)``,
    ``manager.add_listener(...)``, ``manager.csrf_token(request.session.session_key)``.
    """
    state = _state
    if state is None:
        state = get_state()
    return state.manager


def reset_manager() -> None:
    """Forget the manager (and every session of the embedded memory store).

    The next request builds a new one from the settings. Called automatically when a watched
    setting changes; tests may call it directly.
    """
    global _state
    with _lock:
        _state = None


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in WATCHED_SETTINGS:
        reset_manager()


def _after_fork_in_child() -> None:
    global _lock, _state
    _lock = threading.Lock()  # another thread of the parent may have held it at fork()
    if _state is not None:
        _orphans.append(_state)
    _state = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
