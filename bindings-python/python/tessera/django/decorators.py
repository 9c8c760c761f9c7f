"""Guards for views: a device-bound session, a recent (and strong enough) authentication.

::

    from tessera.django.decorators import require_bound, require_recent

    @require_recent(max_age=300, level=2)     # re-authenticated with MFA in the last 5 min
    def change_password(request): ...

    @require_bound                             # only from the device the session is bound to
    def payout(request): ...

An anonymous request (a stolen session cookie without its bound cookie included) gets Django's
login redirect (``LOGIN_URL`` with ``next=``), or 401 ``{"error": "login_required",
"reason": "anonymous"}`` for ``Accept: application/json``. A session that must re-authenticate
goes to ``settings.TESSERA_REAUTHENTICATE_URL`` (default ``LOGIN_URL``) with ``next=``, or gets
401 ``{"error": "reauthentication_required", "reason": "stale" | "level"}``. A signed-in
session that is not device-bound gets the login redirect (signing in again offers a binding) or
401 ``{"error": "binding_required", "reason": "unbound"}``.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, Callable, Optional, TypeVar, Union, cast

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse

from tessera.django.store import SessionStore

__all__ = ["require_bound", "require_recent"]

_V = TypeVar("_V", bound=Callable[..., Any])


def _session(request: HttpRequest) -> SessionStore:
    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore):
        raise ImproperlyConfigured("these guards need SESSION_ENGINE = 'tessera.django'")
    return session


def _wants_json(request: HttpRequest) -> bool:
    accepted = request.accepted_types
    return bool(accepted) and accepted[0].match("application/json") and not accepted[0].match(
        "text/html"
    )


def _refuse(request: HttpRequest, error: str, reason: str, url: Optional[str]) -> HttpResponse:
    if url is not None and not _wants_json(request):
        return redirect_to_login(request.get_full_path(), url)
    response = JsonResponse({"error": error, "reason": reason}, status=401)
    response["Cache-Control"] = "no-store"
    return response


def _login_url() -> Optional[str]:
    url = getattr(settings, "LOGIN_URL", None)
    return str(url) if url else None


def require_bound(view: _V) -> _V:
    """Only a session bound to this device (DBSC) and proved by this request passes."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        session = _session(request)
        if session.tessera_user is None:
            return _refuse(request, "login_required", "anonymous", _login_url())
        if session.binding not in ("fresh", "pending"):
            return _refuse(request, "binding_required", "unbound", _login_url())
        return view(request, *args, **kwargs)

    return cast(_V, guarded)


def require_recent(
    max_age: Union[int, float, timedelta], level: int = 1
) -> Callable[[_V], _V]:
    """Only a user who authenticated less than ``max_age`` ago (seconds or a ``timedelta``),
    at ``level`` or above, passes (ASVS 5.0 7.5.1/7.5.3)."""

    def decorate(view: _V) -> _V:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            verdict = _session(request).require_recent(max_age, level)
            if verdict == "allowed":
                return view(request, *args, **kwargs)
            if verdict == "anonymous":
                return _refuse(request, "login_required", "anonymous", _login_url())
            url = getattr(settings, "TESSERA_REAUTHENTICATE_URL", None) or _login_url()
            return _refuse(request, "reauthentication_required", verdict, url)

        return cast(_V, guarded)

    return decorate
