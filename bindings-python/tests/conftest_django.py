"""Fixtures of the Django tests (imported by tests/test_django*.py; not a pytest conftest).

The project is tests/django_project. Django is set up once per process: settings, the test
environment, and the in-memory SQLite test database with auth's tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_project.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment  # noqa: E402
from tessera import ManualClock, SessionManager  # noqa: E402
from tessera.django import get_manager  # noqa: E402

__all__ = [
    "COOKIE",
    "PASSWORD",
    "TEST_OPTIONS",
    "Client",
    "current_manager",
    "dj_clock",
    "django_env",
    "middleware",
    "tessera_middleware",
    "users",
]

COOKIE = "__Host-session"
PASSWORD = "correct horse battery staple"

#: Timeouts of the tests (seconds): short, so a manual clock crosses them quickly.
TEST_OPTIONS: dict[str, Any] = {
    "idle_timeout": 600,
    "absolute_timeout": 3600,
    "rotation_interval": 300,
    "rotation_grace": 10,
    "sweep_interval": None,
}

_ready = False


def _ensure_ready() -> None:
    global _ready
    if not _ready:
        setup_test_environment()
        setup_databases(verbosity=0, interactive=False)
        _ready = True


@pytest.fixture
def django_env() -> None:
    """Django's test environment and database (set up once per process)."""
    _ensure_ready()


@pytest.fixture
def dj_clock(django_env: None) -> Iterator[ManualClock]:
    """A fresh manager on a manual clock for one test (TESSERA overridden)."""
    clock = ManualClock()
    with override_settings(TESSERA={"clock": clock, **TEST_OPTIONS}):
        yield clock


@pytest.fixture
def users(django_env: None) -> dict[str, Any]:
    """alice and bob, with PASSWORD, freshly created."""
    from django.contrib.auth.models import User

    User.objects.all().delete()
    return {
        name: User.objects.create_user(name, f"{name}@example.com", PASSWORD)
        for name in ("alice", "bob")
    }


@pytest.fixture(params=["django", "tessera"])
def middleware(request: pytest.FixtureRequest, dj_clock: ManualClock) -> Iterator[str]:
    """Run the test with Django's SessionMiddleware, then with tessera.django.middleware's."""
    which: str = request.param
    chosen = settings.MIDDLEWARE if which == "django" else settings.TESSERA_MIDDLEWARE
    with override_settings(MIDDLEWARE=list(chosen)):
        yield which


@pytest.fixture
def tessera_middleware(dj_clock: ManualClock) -> Iterator[None]:
    """Use tessera.django.middleware.SessionMiddleware for this test."""
    with override_settings(MIDDLEWARE=list(settings.TESSERA_MIDDLEWARE)):
        yield


def current_manager() -> SessionManager:
    """The manager the engine uses now."""
    return get_manager()
