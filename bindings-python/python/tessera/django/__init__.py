"""Django integration: ``SESSION_ENGINE = "tessera.django"``.

::

    INSTALLED_APPS = [..., "django.contrib.sessions", "tessera.django"]   # checks
    SESSION_ENGINE = "tessera.django"
    TESSERA = {"idle_timeout": 30 * 60, "absolute_timeout": 12 * 3600}
    MIDDLEWARE = [..., "tessera.django.middleware.SessionMiddleware", ...]  # or Django's own

``request.session`` is Django's ``SessionBase`` on Tessera's per-request protocol
(:mod:`tessera.django.store`); ``tessera.django.middleware.SessionMiddleware`` gives the core
the whole request (HTTPS, User-Agent, CSRF header, 5xx responses). ``django.contrib.auth.login``
is a Tessera login (a new token even for the user already signed in), ``logout`` destroys the
server-side session, ``update_session_auth_hash`` cycles the key. ``TESSERA`` holds
:class:`~tessera.SessionManager` keyword arguments; the cookie's attributes stay Django's
``SESSION_COOKIE_*`` settings. Idle and absolute timeouts are Tessera's.

Device-bound sessions and step-up: ``path("_tessera/dbsc/", include("tessera.django.dbsc_urls"))``
routes the two DBSC endpoints; ``tessera.django.decorators`` has ``require_bound`` and
``require_recent``; ``login(request, user, level=…, amr=…)`` is ``django.contrib.auth.login``
recording how strongly the user authenticated; ``request.session.binding``,
``.reauthenticate(level=…)``, ``.require_recent(max_age, level)``.

``revoke_user(user)`` ends every session of a user, ``revoke_user_except(user, request)`` every
other one, ``list_sessions(user)`` lists them; ``get_manager()`` gives the process's manager.
"""

from tessera.django.auth import login
from tessera.django.conf import get_manager, reset_manager
from tessera.django.store import SessionStore
from tessera.django.users import list_sessions, revoke_user, revoke_user_except, user_key

__all__ = [
    "SessionStore",
    "get_manager",
    "list_sessions",
    "login",
    "reset_manager",
    "revoke_user",
    "revoke_user_except",
    "user_key",
]
