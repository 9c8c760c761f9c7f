"""An optional drop-in for Django's ``SessionMiddleware`` that gives Tessera the whole request.

::

    MIDDLEWARE = [
        ...,
        "tessera.django.middleware.SessionMiddleware",   # instead of Django's
        ...,
    ]

On top of Django's middleware (which it subclasses, so everything else behaves the same):

- the store learns whether the request came over HTTPS (a session created over HTTP gets a new
  token, without grace, the first time it is used over HTTPS) and its ``User-Agent`` (shown per
  device by ``tessera.django.list_sessions``);
- two cookies of the session's name in one request (cookie tossing: a sibling subdomain or a
  path-scoped cookie planted next to ours) make the request anonymous and clear the cookie,
  instead of letting Django pick one of them;
- a key cycle whose ``save()`` did not run (Django skips it for 5xx responses) still ends the
  pre-login token;
- responses that set or clear the session cookie get ``Cache-Control: no-store``, so no shared
  cache keeps someone's token.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from tessera._native import SessionRejected
from tessera.django.conf import get_manager
from tessera.django.store import SessionStore

__all__ = ["SessionMiddleware"]


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's ``SessionMiddleware`` with HTTPS, User-Agent, cookie tossing and no-store."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if not issubclass(self.SessionStore, SessionStore):
            raise ImproperlyConfigured(
                "tessera.django.middleware.SessionMiddleware needs "
                "SESSION_ENGINE = 'tessera.django'"
            )
        self.TesseraStore: type[SessionStore] = self.SessionStore

    def process_request(self, request: HttpRequest) -> None:
        """Read the token from the ``Cookie`` header only; two of them mean no session."""
        token = None
        tossed = False
        header = request.META.get("HTTP_COOKIE")
        if header:
            try:
                token = get_manager().cookie_token(header)
            except SessionRejected:
                tossed = True
        request.session = self.TesseraStore(
            token,
            https=request.is_secure(),
            user_agent=request.META.get("HTTP_USER_AGENT"),
            cookie_tossed=tossed,
        )

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Django's saving and cookie handling, then the tossed-cookie clearing and no-store."""
        session = getattr(request, "session", None)
        try:
            response = super().process_response(request, response)
        finally:
            if isinstance(session, SessionStore):
                session.end_pending_cycle()
        name = settings.SESSION_COOKIE_NAME
        if isinstance(session, SessionStore) and session.cookie_tossed:
            if name not in response.cookies:
                response.delete_cookie(
                    name,
                    path=settings.SESSION_COOKIE_PATH,
                    domain=settings.SESSION_COOKIE_DOMAIN,
                    samesite=settings.SESSION_COOKIE_SAMESITE,
                )
        if name in response.cookies:
            # Stronger than any other directive a view may have set: no cache keeps a token.
            response.headers["Cache-Control"] = "no-store"
        return response
