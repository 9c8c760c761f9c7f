"""Django system checks for Tessera (registered by ``tessera.django.apps.TesseraConfig``).

======================  ==================================================================
id                      fires when
======================  ==================================================================
``tessera.W001``        ``SESSION_COOKIE_SECURE`` is False: the token may travel in clear
``tessera.W002``        ``SESSION_COOKIE_HTTPONLY`` is False: scripts (XSS) can read the token
``tessera.W003``        ``SESSION_COOKIE_SAMESITE`` is None/False: the cookie rides on
                        cross-site subrequests (CSRF)
``tessera.W004``        (``check --deploy``) the Tessera engine on the memory store, which
                        each worker process keeps for itself
``tessera.E001``        ``SESSION_ENGINE`` is ``"tessera.django"`` and ``TESSERA`` (with the
                        ``SESSION_COOKIE_*`` settings) is not a valid manager configuration
``tessera.E002``        ``TESSERA["dbsc"]`` is on without
                        ``tessera.django.middleware.SessionMiddleware`` in ``MIDDLEWARE``:
                        Django's own middleware does not hand the bound cookie over, so every
                        device-bound session would be refused
======================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from tessera.deployment import FIX
from tessera.django.conf import ENGINE, build_state, manager_options

__all__ = [
    "TAG",
    "check_cookie_settings",
    "check_dbsc_middleware",
    "check_shared_store",
    "check_tessera_options",
    "register",
]

#: ``manage.py check --tag tessera`` runs only these checks.
TAG = "tessera"


def check_cookie_settings(
    app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn about session cookie settings that weaken the session's protection."""
    messages: list[checks.CheckMessage] = []
    if not settings.SESSION_COOKIE_SECURE:
        messages.append(
            checks.Warning(
                "SESSION_COOKIE_SECURE is False: the session token may be sent over plain HTTP.",
                hint="Set SESSION_COOKIE_SECURE = True (and serve the site over HTTPS).",
                id="tessera.W001",
            )
        )
    if not settings.SESSION_COOKIE_HTTPONLY:
        messages.append(
            checks.Warning(
                "SESSION_COOKIE_HTTPONLY is False: scripts (and so XSS) can read the session "
                "token.",
                hint="Set SESSION_COOKIE_HTTPONLY = True.",
                id="tessera.W002",
            )
        )
    if settings.SESSION_COOKIE_SAMESITE in (None, False):
        messages.append(
            checks.Warning(
                "SESSION_COOKIE_SAMESITE is None: the session cookie is sent with cross-site "
                "subrequests, which helps cross-site request forgery.",
                hint="Set SESSION_COOKIE_SAMESITE = 'Lax' (Django's default) or 'Strict'.",
                id="tessera.W003",
            )
        )
    return messages


def check_tessera_options(
    app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """With the Tessera engine, the ``TESSERA`` options must build a manager."""
    if settings.SESSION_ENGINE != ENGINE:
        return []
    try:
        options = manager_options()
        # A throwaway manager: no background sweeper thread for a check.
        options["sweep_interval"] = None
        build_state(options)
    except ImproperlyConfigured as e:
        return [
            checks.Error(
                str(e),
                hint="TESSERA is a dict of tessera.SessionManager keyword arguments, e.g. "
                "{'idle_timeout': 1800, 'absolute_timeout': 43200}.",
                id="tessera.E001",
            )
        ]
    return []


def check_shared_store(
    app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """A deployment (``check --deploy``) on the memory store: sessions are lost between workers.

    Read from the store URL, not from a manager: a check must not open a database or connect."""
    if settings.SESSION_ENGINE != ENGINE:
        return []
    try:
        store = manager_options().get("store") or "memory://"
    except ImproperlyConfigured:
        return []  # tessera.E001 reports it
    if not isinstance(store, str) or not store.startswith("memory:"):
        return []
    return [
        checks.Warning(
            "TESSERA uses the memory store: each worker process (gunicorn -w N) keeps its own "
            "sessions, so a visitor signed in by one worker is anonymous on the others.",
            hint=f"In TESSERA, {FIX}.",
            id="tessera.W004",
        )
    ]


def check_dbsc_middleware(
    app_configs: Optional[Sequence[AppConfig]] = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Device-bound sessions need the whole request's Cookie header: Tessera's middleware."""
    if settings.SESSION_ENGINE != ENGINE:
        return []
    try:
        dbsc = bool(manager_options().get("dbsc"))
    except ImproperlyConfigured:
        return []  # tessera.E001 reports it
    if not dbsc or "tessera.django.middleware.SessionMiddleware" in settings.MIDDLEWARE:
        return []
    return [
        checks.Error(
            "TESSERA['dbsc'] is on but MIDDLEWARE has no "
            "tessera.django.middleware.SessionMiddleware: Django's own SessionMiddleware "
            "hands the session key alone to the engine, without the bound cookie, so every "
            "device-bound session would be refused.",
            hint="Replace django.contrib.sessions.middleware.SessionMiddleware with "
            "tessera.django.middleware.SessionMiddleware.",
            id="tessera.E002",
        )
    ]


def register() -> None:
    """Register the checks (idempotent)."""
    checks.register(check_cookie_settings, checks.Tags.security, TAG)
    checks.register(check_tessera_options, TAG)
    checks.register(check_dbsc_middleware, TAG)
    checks.register(check_shared_store, checks.Tags.security, TAG, deploy=True)
