"""Real views: sign-in through django.contrib.auth, a protected page, sign-out, password change."""

from __future__ import annotations

import threading
from typing import Optional

from django.contrib.auth import (
    aauthenticate,
    alogin,
    alogout,
    authenticate,
    login,
    logout,
    update_session_auth_hash,
)
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from tessera.django import list_sessions, revoke_user_except

#: Set by a test to hold requests inside set_view: they wait on it twice, after loading the
#: session (so the test can act while every request holds it) and before writing.
BARRIER: Optional[threading.Barrier] = None


@csrf_exempt
def login_view(request: HttpRequest) -> HttpResponse:
    """POST username/password: django.contrib.auth.authenticate + login."""
    if request.method != "POST":
        return HttpResponse("sign in", status=200)
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return HttpResponse("bad credentials", status=403)
    login(request, user)
    return JsonResponse({"user": user.get_username()})


@csrf_exempt
def logout_view(request: HttpRequest) -> HttpResponse:
    """django.contrib.auth.logout: flushes the session."""
    logout(request)
    return HttpResponse("signed out")


@login_required
def private_view(request: HttpRequest) -> HttpResponse:
    """A protected page; counts its visits in the session."""
    visits = int(request.session.get("visits", 0)) + 1
    request.session["visits"] = visits
    return JsonResponse({"user": request.user.get_username(), "visits": visits})


def whoami_view(request: HttpRequest) -> HttpResponse:
    """Who the session belongs to and what it holds (reads the session, writes nothing)."""
    user = request.user
    return JsonResponse(
        {
            "user": user.get_username() if user.is_authenticated else None,
            "data": dict(request.session.items()),
        }
    )


def set_view(request: HttpRequest, key: str, value: str) -> HttpResponse:
    """Set one key (anonymous sessions too); waits on BARRIER when a test set one."""
    request.session.get("_")  # load before waiting, like a request that reads first
    if BARRIER is not None:
        BARRIER.wait(timeout=10)  # every party has loaded the session
        BARRIER.wait(timeout=10)  # and may go on
    request.session[key] = value
    return JsonResponse({"key": key, "value": value})


@csrf_exempt
@login_required
def password_view(request: HttpRequest) -> HttpResponse:
    """Change the password, keep this session (new token), end the user's other sessions."""
    user = request.user
    user.set_password(request.POST["new_password"])
    user.save()
    update_session_auth_hash(request, user)
    ended = revoke_user_except(user, request)
    return JsonResponse({"ended": ended})


@login_required
def sessions_view(request: HttpRequest) -> HttpResponse:
    """The signed-in user's sessions (public ids only)."""
    return JsonResponse(
        {
            "sessions": [
                {"id": s.id, "user_agent": s.user_agent} for s in list_sessions(request.user)
            ]
        }
    )


def boom_view(request: HttpRequest) -> HttpResponse:
    """Writes the session, then answers 500 (Django does not save the session then)."""
    request.session["boom"] = True
    return HttpResponse("error", status=500)


@csrf_exempt
def login_then_fail_view(request: HttpRequest) -> HttpResponse:
    """Signs in, then answers 500: the login is not saved, the pre-login token must still die."""
    user = authenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    assert user is not None
    login(request, user)
    return HttpResponse("failed after login", status=500)


def save_now_view(request: HttpRequest) -> HttpResponse:
    """The Django idiom for a key now: save() an empty session (or create() a new one)."""
    if request.GET.get("create"):
        request.session.create()
    elif not request.session.session_key:
        request.session.save()
    return JsonResponse({"key": request.session.session_key})


@csrf_exempt
async def async_login_view(request: HttpRequest) -> HttpResponse:
    """An async view: aauthenticate + alogin, then an async write."""
    user = await aauthenticate(
        request,
        username=request.POST.get("username", ""),
        password=request.POST.get("password", ""),
    )
    if user is None:
        return HttpResponse("bad credentials", status=403)
    await alogin(request, user)
    await request.session.aset("via", "async")
    return JsonResponse({"user": user.get_username(), "key": request.session.session_key})


@csrf_exempt
async def async_logout_view(request: HttpRequest) -> HttpResponse:
    """An async view: alogout."""
    await alogout(request)
    return HttpResponse("signed out")


def bad_key_view(request: HttpRequest) -> HttpResponse:
    """Stores a value under an empty key, which Tessera refuses."""
    request.session[""] = 1
    return HttpResponse("stored?")
