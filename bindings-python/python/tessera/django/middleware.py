"""``tessera.django.middleware.SessionMiddleware``: Tessera's per-request protocol in Django.

::

    MIDDLEWARE = [
        ...,
        "tessera.django.middleware.SessionMiddleware",   # instead of Django's
        ...,
    ]

It replaces Django's ``SessionMiddleware`` (and subclasses it, so checks that look for it, like
the admin's, still pass). For each request it calls ``SessionManager.begin`` with the whole
request — the ``Cookie`` header as received, ``request.is_secure()``, the method, the
``User-Agent`` and the CSRF header (``X-CSRF-Token``; :attr:`SessionMiddleware.csrf_header`) —
and ``Request.finish`` with what the view did (the data as Django left it, the user in
``_auth_user_id``, a login through ``django.contrib.auth.login``, the expiry, whether the
response is a 5xx), then adds the headers the core decided: the ``Set-Cookie`` line and
``Cache-Control: no-store``. On top of Django's own middleware, that gives:

- HTTPS awareness: a session created over HTTP gets a new token, without grace, the first time
  it is used over HTTPS; and the ``User-Agent`` recorded per device (``list_sessions``);
- two cookies of the session's name (cookie tossing) make the request anonymous and clear it;
- a token rotated while the request was validated is sent also when the view answers 5xx
  (Django's middleware skips the cookie then, which signs the user out when the grace ends);
- ``request.session.csrf``: the CSRF verdict for the request's ``X-CSRF-Token`` header;
- a store that cannot be reached answers 503 (fail closed), not a 500 traceback.
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any, Optional

from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers

from tessera._native import DataTooLarge, InvalidArgument, StoreFull, StoreUnavailable
from tessera.deployment import check_request
from tessera.django.conf import get_state
from tessera.django.store import SessionStore

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("tessera.django")


def _failure(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(error: StoreUnavailable) -> HttpResponse:
    # The exception names the store's failure, never a token.
    if isinstance(error, StoreFull):
        # A flood of anonymous sessions (max_sessions): signed-in users are not affected.
        logger.warning("session store full: %s", error)
        return _failure(503, "Too many sessions right now; try again shortly.")
    logger.error("session store unavailable: %s", error)
    return _failure(503, "The session store cannot be reached; try again shortly.")


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's ``SessionMiddleware`` on Tessera's ``begin``/``finish``."""

    #: The ``request.META`` key of the header whose CSRF token ``begin`` checks.
    csrf_header = "HTTP_X_CSRF_TOKEN"

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if not issubclass(self.SessionStore, SessionStore):
            raise ImproperlyConfigured(
                "tessera.django.middleware.SessionMiddleware needs "
                "SESSION_ENGINE = 'tessera.django'"
            )
        self.TesseraStore: type[SessionStore] = self.SessionStore

    # Django's MiddlewareMixin lets process_request answer (django-stubs type it as None).
    def process_request(self, request: HttpRequest) -> Optional[HttpResponse]:  # type: ignore[override]
        """Begin: the request's session from its Cookie header (and nothing else)."""
        meta = request.META
        https = request.is_secure()
        user_agent = meta.get("HTTP_USER_AGENT")
        state = get_state()
        if state.dbsc_paths and request.path in state.dbsc_paths:
            # A DBSC endpoint: the browser's machinery, not the user's activity. Its view reads
            # the session without touching or rotating it, which a begin here would do. The
            # session stays unbegun (and so untouched) unless something uses it.
            request.session = self.TesseraStore(None, https=https, user_agent=user_agent)
            return None
        try:
            # One call into the binding: the request and what is read from it right after begin.
            req, data, token, user, reason, csrf, forked = state.manager.open(
                meta.get("HTTP_COOKIE") or None,
                method=request.method or "GET",
                https=https,
                user_agent=user_agent,
                csrf=meta.get(self.csrf_header),
            )
        except StoreUnavailable as e:
            return _unavailable(e)
        if not state.store_is_shared and (forked or meta.get("wsgi.multiprocess")):
            # The memory store under several processes loses sessions: say so (once). Only a
            # fork or a multiprocess server can make check_request warn.
            check_request(state.manager, meta, reason, forked=forked)
        request.session = self.TesseraStore(
            token,
            request=req,
            https=https,
            user_agent=user_agent,
            csrf=csrf,
            begun=(data, user),
        )
        return None

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> Optional[HttpResponse]:
        """A store that failed while the view used the session: 503, not a traceback."""
        if isinstance(exception, StoreUnavailable):
            return _unavailable(exception)
        return None

    # Any response, streaming ones too (django-stubs type it as HttpResponse).
    def process_response(  # type: ignore[override]
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """Finish: the store writes, then the headers the core decided."""
        session = getattr(request, "session", None)
        if not isinstance(session, SessionStore):
            return response
        headers, failure = session.finish_request(error=response.status_code >= 500)
        if isinstance(failure, StoreUnavailable):
            response = _unavailable(failure)
        elif isinstance(failure, DataTooLarge):
            # A server-side limit the view did not handle: nothing was saved.
            response = _failure(500, "The session data is too large to store.")
        elif isinstance(failure, InvalidArgument):
            logger.warning("the session was not saved: %s", failure)
            response = _failure(400, "The session could not be saved: an invalid value.")
        elif failure is not None:
            logger.error("the session could not be saved: %s", failure)
            response = _failure(500, "The session could not be saved.")
        for name, value in headers:
            if name.lower() == "set-cookie":
                # Through response.cookies, where Django (and its test client) looks for them.
                jar: SimpleCookie = SimpleCookie()
                jar.load(value)
                for key, morsel in jar.items():
                    response.cookies[key] = morsel
            else:
                response[name] = value
        if session.accessed or headers:
            patch_vary_headers(response, ("Cookie",))
        return response
