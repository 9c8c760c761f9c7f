"""The HTTP corpus's reference app (tests/http/README.md) as Django views; ROOT_URLCONF for
tests/test_http_corpus_django.py.

Sign-in is ``django.contrib.auth.login`` with the test project's user model (users are made on
first sign-in); the session is ``request.session`` as any Django view uses it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, Optional

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from tessera.django import SessionStore

BACKEND = "django.contrib.auth.backends.ModelBackend"


class Gate:
    """Holds one request after its view did its work, until the runner lets it finish."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def wait_here(self) -> None:
        self.reached.set()
        if not self.go.wait(timeout=30):
            raise RuntimeError("a held request was never released")


_gate_lock = threading.Lock()
_next_gate: Optional[Gate] = None


def hold_next() -> Gate:
    """The next request the app serves waits on the returned gate after its work."""
    global _next_gate
    gate = Gate()
    with _gate_lock:
        _next_gate = gate
    return gate


def _take_gate() -> Optional[Gate]:
    global _next_gate
    with _gate_lock:
        gate, _next_gate = _next_gate, None
    return gate


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    body: dict[str, Any] = json.loads(request.body)
    return body


def _session(request: HttpRequest) -> SessionStore:
    session = request.session
    assert isinstance(session, SessionStore)
    return session


def _state(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    data = {k: v for k, v in request.session.items() if not k.startswith("_")}
    return {"user": user.get_username() if user.is_authenticated else None, "data": data}


def _sign_in(request: HttpRequest, name: str) -> None:
    user, _ = User.objects.get_or_create(username=name)
    login(request, user, backend=BACKEND)


def _act(request: HttpRequest, body: dict[str, Any]) -> None:
    """What /error, /early and /stream do before they answer."""
    if "key" in body:
        request.session[body["key"]] = body["value"]
    if body.get("login") is not None:
        _sign_in(request, body["login"])
    if body.get("logout"):
        logout(request)


def view(handler: Any) -> Any:
    """A corpus route: CSRF left to the route itself, and the runner's gate honoured."""

    @csrf_exempt
    def wrapped(request: HttpRequest) -> HttpResponseBase:
        gate = _take_gate()
        response: HttpResponseBase = handler(request, _body(request))
        if gate is not None:
            gate.wait_here()
        return response

    return wrapped


@view
def read_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    return JsonResponse(_state(request))


@view
def set_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    request.session[body["key"]] = body["value"]
    return JsonResponse(_state(request))


@view
def delete_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    request.session.pop(body["key"], None)
    return JsonResponse(_state(request))


@view
def append_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    items = request.session.get(body["key"])
    if items is None:
        request.session[body["key"]] = [body["value"]]
    else:
        items.append(body["value"])  # in place
        request.session.modified = True
    return JsonResponse(_state(request))


@view
def flash_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    flashes = request.session.get("_flashes")
    if flashes is None:
        request.session["_flashes"] = [[body["category"], body["message"]]]
    else:
        flashes.append([body["category"], body["message"]])
        request.session.modified = True
    return JsonResponse(_state(request))


@view
def flashes_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    return JsonResponse({"flashes": request.session.pop("_flashes", [])})


@view
def login_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    _sign_in(request, body["user"])
    return JsonResponse(_state(request))


@view
def logout_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    logout(request)
    if "key" in body:
        request.session[body["key"]] = body["value"]
    return JsonResponse(_state(request))


@view
def regenerate_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    request.session.cycle_key()
    return JsonResponse(_state(request))


@view
def expiry_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    request.session.set_expiry(body["seconds"])
    return JsonResponse(_state(request))


@view
def csrf_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    return JsonResponse({"csrf": _session(request).csrf_token()})


@view
def protected_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    if _session(request).csrf == "invalid":
        return JsonResponse({"error": "a valid CSRF token is needed"}, status=403)
    return JsonResponse({"ok": True})


@view
def error_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    _act(request, body)
    return JsonResponse({"error": "failed on purpose"}, status=500)


@view
def early_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    _act(request, body)
    # The status line and headers go out before the body.
    return StreamingHttpResponse(iter([b'{"ok": true}']), content_type="application/json")


@view
def stream_view(request: HttpRequest, body: dict[str, Any]) -> HttpResponse:
    _act(request, body)

    def chunks() -> Iterator[bytes]:
        yield b'{"ok"'
        yield b": "
        yield b"true}"

    return StreamingHttpResponse(chunks(), content_type="application/json")


urlpatterns = [
    path("read", read_view),
    path("set", set_view),
    path("delete", delete_view),
    path("append", append_view),
    path("flash", flash_view),
    path("flashes", flashes_view),
    path("login", login_view),
    path("logout", logout_view),
    path("regenerate", regenerate_view),
    path("expiry", expiry_view),
    path("csrf", csrf_view),
    path("protected", protected_view),
    path("error", error_view),
    path("early", early_view),
    path("stream", stream_view),
]
