"""A one-file Django project on tessera.django as a user deploys it, for ``gunicorn -w 4``: the
store and the pepper come from the environment; every answer names the worker
(``os.getpid()``). The user is the one ``django.contrib.auth.login`` would store in
``_auth_user_id``; no user table is needed for that."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

settings.configure(
    SECRET_KEY="multiprocess-tests-only",
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["tessera.django"],
    MIDDLEWARE=["tessera.django.middleware.SessionMiddleware"],
    SESSION_ENGINE="tessera.django",
    SESSION_COOKIE_NAME="sid",
    SESSION_COOKIE_SECURE=False,  # plain HTTP on 127.0.0.1
    TESSERA={
        "store": os.environ["TESSERA_MP_STORE"],
        "pepper": os.environ["TESSERA_MP_PEPPER"],
        "sweep_interval": None,
    },
    LOGGING_CONFIG=None,
)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from tessera.django import SessionStore  # noqa: E402

if os.environ.get("TESSERA_MP_PRELOAD_MANAGER"):
    # --preload: the manager is built in the master, before the fork.
    from tessera.django import get_manager

    get_manager()


def _session(request: HttpRequest) -> SessionStore:
    session = request.session
    assert isinstance(session, SessionStore)
    return session


def answer(request: HttpRequest, **extra: Any) -> JsonResponse:
    session = _session(request)
    return JsonResponse(
        {
            "pid": os.getpid(),
            "user": session.get("_auth_user_id"),
            "marker": session.get("marker"),
            **extra,
        }
    )


def refuse_without_csrf(request: HttpRequest) -> HttpResponse | None:
    if _session(request).csrf == "invalid":
        return HttpResponse("CSRF token missing or invalid", status=403)
    return None


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pid": os.getpid()})


def csrf(request: HttpRequest) -> JsonResponse:
    return answer(request, csrf=_session(request).csrf_token())


def login(request: HttpRequest) -> HttpResponse:
    refused = refuse_without_csrf(request)
    if refused is not None:
        return refused
    session = _session(request)
    # What django.contrib.auth.login does to the session: the user, then a new key.
    session["_auth_user_id"] = "alice"
    session.cycle_key()
    session["marker"] = "signed-in-by-" + str(os.getpid())
    return answer(request)


def whoami(request: HttpRequest) -> JsonResponse:
    return answer(request)


def regenerate(request: HttpRequest) -> HttpResponse:
    refused = refuse_without_csrf(request)
    if refused is not None:
        return refused
    _session(request).cycle_key()
    return answer(request)


def logout(request: HttpRequest) -> HttpResponse:
    refused = refuse_without_csrf(request)
    if refused is not None:
        return refused
    _session(request).flush()
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [
    path("health", health),
    path("csrf", csrf),
    path("login", login),
    path("whoami", whoami),
    path("regenerate", regenerate),
    path("logout", logout),
]

application = get_wsgi_application()
