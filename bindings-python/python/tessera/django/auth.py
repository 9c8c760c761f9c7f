"""``tessera.django.login``: ``django.contrib.auth.login`` saying how strongly the user
authenticated, for step-up re-authentication (``require_recent``)::

    from tessera.django import login

    login(request, user, level=2, amr=["pwd", "otp"])   # password and a one-time code
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from django.contrib import auth
from django.http import HttpRequest

from tessera.django.store import SessionStore

__all__ = ["login"]


def login(
    request: HttpRequest,
    user: Any,
    backend: Optional[str] = None,
    *,
    level: Optional[int] = None,
    amr: Optional[Iterable[str]] = None,
) -> None:
    """``django.contrib.auth.login(request, user, backend)``; the Tessera login it makes
    records ``level`` (default 1) and ``amr`` (RFC 8176 method names) as of now."""
    session = getattr(request, "session", None)
    if isinstance(session, SessionStore):
        # Read by the session's finish, once login() has signed the user in.
        session._authn = (level, None if amr is None else list(amr))
    auth.login(request, user, backend)
