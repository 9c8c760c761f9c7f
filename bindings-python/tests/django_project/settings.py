"""Settings of the test project: auth on an in-memory SQLite database, sessions on Tessera."""

from __future__ import annotations

from typing import Any

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "tests.django_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "tessera.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

#: The same list with Tessera's optional middleware in place of Django's.
TESSERA_MIDDLEWARE = [
    "tessera.django.middleware.SessionMiddleware"
    if m == "django.contrib.sessions.middleware.SessionMiddleware"
    else m
    for m in MIDDLEWARE
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
LOGIN_URL = "/login/"

SESSION_ENGINE = "tessera.django"
SESSION_COOKIE_NAME = "__Host-session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

TESSERA: dict[str, Any] = {"sweep_interval": None}

LOGGING_CONFIG = None
