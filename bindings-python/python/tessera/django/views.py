"""The views of the two DBSC endpoints (:mod:`tessera.django.dbsc_urls`): the request's
headers in, the core's whole response out, sent as it is."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tessera._native import DbscResponse, StoreUnavailable
from tessera.django.conf import get_manager

__all__ = ["dbsc_refresh", "dbsc_register", "set_cookies"]

logger = logging.getLogger("tessera.django")


def set_cookies(response: HttpResponse, lines: list[str]) -> None:
    """``Set-Cookie`` lines through ``response.cookies``, where Django (and its test client)
    looks for them: one header per cookie name."""
    for value in lines:
        jar: SimpleCookie = SimpleCookie()
        jar.load(value)
        for key, morsel in jar.items():
            response.cookies[key] = morsel


def _send(answer: DbscResponse) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status)
    del response["Content-Type"]  # the core's, if any
    cookies = []
    for name, value in answer.headers():
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            response[name] = value
    set_cookies(response, cookies)
    return response


def _origin(request: HttpRequest) -> str:
    # scheme://host[:port] as Django resolves it: SECURE_PROXY_SSL_HEADER and ALLOWED_HOSTS
    # apply. The manager's dbsc_origin wins when set.
    return request.build_absolute_uri("/").rstrip("/")


def _unavailable(error: StoreUnavailable) -> HttpResponse:
    # Chrome keeps its DBSC session on a 5xx and tries again later.
    logger.error("DBSC endpoint without a session store: %s", error)
    response = HttpResponse("", status=503)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def dbsc_register(request: HttpRequest) -> HttpResponse:
    """``POST <prefix>/register``: bind the signed-in session to the browser's key."""
    meta = request.META
    try:
        answer = get_manager().dbsc_register(
            meta.get("HTTP_COOKIE") or None,
            method=request.method or "POST",
            https=request.is_secure(),
            origin=_origin(request),
            proof=meta.get("HTTP_SECURE_SESSION_RESPONSE"),
        )
    except StoreUnavailable as e:
        return _unavailable(e)
    return _send(answer)


@csrf_exempt
@require_POST
def dbsc_refresh(request: HttpRequest) -> HttpResponse:
    """``POST <prefix>/refresh``: a proof of the bound key buys a new bound cookie."""
    meta = request.META
    try:
        answer = get_manager().dbsc_refresh(
            meta.get("HTTP_COOKIE") or None,
            method=request.method or "POST",
            https=request.is_secure(),
            origin=_origin(request),
            session_id=meta.get("HTTP_SEC_SECURE_SESSION_ID"),
            proof=meta.get("HTTP_SECURE_SESSION_RESPONSE"),
        )
    except StoreUnavailable as e:
        return _unavailable(e)
    return _send(answer)
