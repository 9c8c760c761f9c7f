"""The device-binding (DBSC) and step-up test app on Django, django.contrib.auth and
tessera.django, written the way an app uses them (tests/dbsc_cases.py drives it over real HTTP).
Used as ROOT_URLCONF."""

from __future__ import annotations

from typing import Any, Callable, Optional

from django.contrib import auth
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from tessera.django import login, user_key
from tessera.django.decorators import require_bound, require_recent
from tessera.django.store import SessionStore


def _session(request: HttpRequest) -> SessionStore:
    assert isinstance(request.session, SessionStore)
    return request.session


def _level(form: Any) -> Optional[int]:
    value = form.get("level")
    return int(value) if value else None


def _amr(form: Any) -> Optional[list[str]]:
    value = form.get("amr")
    return str(value).split(",") if value else None


def login_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse("sign in")
    user, _ = User.objects.get_or_create(username=request.POST["user"])
    login(
        request,
        user,
        "django.contrib.auth.backends.ModelBackend",
        level=_level(request.POST),
        amr=_amr(request.POST),
    )
    return JsonResponse({"user": user_key(user)})


def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return JsonResponse({"ok": True})


def account_view(request: HttpRequest) -> HttpResponse:
    s = _session(request)
    return JsonResponse(
        {
            "user": s.tessera_user,
            "binding": s.binding,
            "reason": s.reason,
            "level": s.auth_level,
            "amr": s.amr,
            "authenticated_at": s.authenticated_at,
        }
    )


@login_required
def private_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": _session(request).tessera_user})


@require_bound
def bound_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": _session(request).tessera_user})


@require_recent(max_age=300)
def sensitive_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": _session(request).tessera_user})


@require_recent(max_age=300, level=2)
def sensitive_mfa_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": _session(request).tessera_user})


def reauth_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse("confirm your password")
    _session(request).reauthenticate(level=_level(request.POST), amr=_amr(request.POST))
    return JsonResponse({"ok": True})


def offer_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"offered": _session(request).offer_binding()})


def write_view(request: HttpRequest) -> HttpResponse:
    request.session["k"] = request.POST["v"]
    return JsonResponse({"ok": True})


def _go_on() -> None:
    pass


#: What ``/write-held`` calls after writing, before the middleware saves the session (set by
#: the tests).
HOLD: Callable[[], None] = _go_on


def write_held_view(request: HttpRequest) -> HttpResponse:
    request.session["k"] = request.POST["v"]
    HOLD()
    return JsonResponse({"ok": True})


def read_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"k": request.session.get("k")})


urlpatterns = [
    path("_tessera/dbsc/", include("tessera.django.dbsc_urls")),
    path("login", login_view),
    path("logout", logout_view),
    path("account", account_view),
    path("private", private_view),
    path("bound", bound_view),
    path("sensitive", sensitive_view),
    path("sensitive-mfa", sensitive_mfa_view),
    path("reauth", reauth_view),
    path("offer", offer_view),
    path("write", write_view),
    path("write-held", write_held_view),
    path("read", read_view),
]
