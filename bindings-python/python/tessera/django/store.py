"""``SessionStore``: Django's ``SessionBase`` on Tessera's per-request protocol.

Each store holds one :class:`tessera.Request` (``SessionManager.begin`` → ``Request`` →
``finish``). With ``tessera.django.middleware.SessionMiddleware`` the middleware begins it from
the whole request (Cookie header, HTTPS, method, User-Agent, CSRF header) and finishes it from
the response. With Django's own ``SessionMiddleware`` the store begins it lazily from the
session key and ``save()`` finishes it. Every rule — which keys changed, when a user change is a
login, which cookie to send — is the core's; this module converts Django's calls:

=========================  =====================================================================
Django                     Tessera
=========================  =====================================================================
``load()``                 the begun request's data; a dead, malformed or ``None`` key gives an
                           empty new session (a token rotated at begin becomes ``session_key``
                           and ``modified`` is set, so Django sends it)
``save()``                 ``finish(data as Django left it, user from _auth_user_id, expiry)``:
                           only changed keys are written; a session that ended meanwhile raises
                           ``UpdateError`` and is never re-created. An explicit ``save()`` of an
                           empty new session stores it, so ``session_key`` exists afterwards
``cycle_key()``            at once: ``Request.regenerate()`` (new token, the old one dead), or
                           ``Request.login(user)`` when ``_auth_user_id`` names another user
``flush()`` / ``delete()``  at once: ``Request.logout()``
``create()``               a new, stored session under a new token (the current one is left alone)
``login()`` (auth)         Django's ``user_logged_in`` signal makes the finish a login: a new
                           token, CSRF secret and absolute deadline, also for the user already
                           signed in (ASVS 5.0 7.2.4)
``set_expiry()``           the session's own expiry, passed to every finish; it may shorten
                           Tessera's policy, never lengthen it
``clear_expired()``        ``sweep()`` (``manage.py clearsessions``)
=========================  =====================================================================

Data is stored as JSON by the core: ``SESSION_SERIALIZER`` does not apply, and values must be
JSON-serializable (a ``TypeError`` when the session is saved otherwise).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, Literal, NamedTuple, Optional, Union

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.exceptions import ImproperlyConfigured
from django.core.signing import JSONSerializer
from django.utils import timezone

from tessera._native import InvalidArgument, Request, SessionRejected, TesseraError
from tessera.deployment import check_request
from tessera.django.conf import get_manager, get_state
from tessera.django.users import user_key

__all__ = ["EXPIRY_KEY", "SESSION_KEY", "Finished", "SessionStore"]

logger = logging.getLogger("tessera.django")

#: Where ``django.contrib.auth`` keeps the signed-in user's id (``auth.SESSION_KEY``); the
#: Tessera session's user is always this value.
SESSION_KEY = "_auth_user_id"
#: The keys ``django.contrib.auth.login`` writes.
AUTH_KEYS = frozenset({SESSION_KEY, "_auth_user_backend", "_auth_user_hash"})
#: Where ``SessionBase.set_expiry`` keeps a session's own expiry.
EXPIRY_KEY = "_session_expiry"

#: A session key that can stand in a Cookie header as it is (a token is 43 base64url chars).
_KEY = re.compile(r"[A-Za-z0-9_-]{8,256}")

Expiry = Union[
    Literal["policy", "browser_session"],
    tuple[Literal["idle"], float],
    tuple[Literal["until"], float],
]


def _user_of(data: dict[str, Any]) -> Optional[str]:
    value = data.get(SESSION_KEY)
    return None if value is None else str(value)


class Finished(NamedTuple):
    """What :meth:`SessionStore.finish_request` gives the middleware."""

    #: The headers to add to the response (``Set-Cookie``, ``Cache-Control``).
    headers: list[tuple[str, str]]
    #: Why finishing failed (``DataTooLarge``, ``StoreUnavailable`` …), if it did: the response
    #: must then be an error, with ``headers`` (those its error response must carry).
    failure: Optional[TesseraError]


Headers = list[tuple[str, str]]


def _merged(sent: list[Headers]) -> Headers:
    """The headers of the last finish, or, when an explicit ``save()``, ``flush()`` or
    ``create()`` sent some before, of all of them: per cookie, the last line is the one the
    client must keep."""
    if len(sent) == 1:
        return sent[0]
    cookies: dict[str, str] = {}
    others: dict[str, str] = {}
    for headers in sent:
        for name, value in headers:
            if name.lower() == "set-cookie":
                cookies[value.split("=", 1)[0].strip()] = value
            else:
                others[name] = value
    return [*(("Set-Cookie", line) for line in cookies.values()), *others.items()]


class SessionStore(SessionBase):
    """A Django session whose server side is a Tessera session; ``session_key`` is its token.

    ``request`` is the :class:`tessera.Request` begun by ``tessera.django.middleware`` (which
    also passes ``https``, ``user_agent`` and the CSRF verdict); without it the store begins one
    from ``session_key`` when the session is first used.
    """

    serializer = JSONSerializer
    # Per-request state as class-level defaults, so that making a store costs little.
    #: Whether the request came over HTTPS (an HTTP session seen over HTTPS is rotated).
    https: bool = False
    #: The request's User-Agent, recorded at creation and login (``list_sessions``).
    user_agent: Optional[str] = None
    _request: Optional[Request] = None
    # The CSRF verdict of the middleware's begin (None: no middleware gave one).
    _csrf: Optional[str] = None
    # The headers of what finished before the middleware's finish (an explicit save(), flush()
    # or create()): they still count.
    _sent: tuple[Headers, ...] = ()
    # The user django.contrib.auth.login() signed in during this request.
    _login: Optional[str] = None
    # How strongly that user authenticated, (level, amr), from tessera.django.login().
    _authn: Optional[tuple[Optional[int], Optional[list[str]]]] = None
    _expiry_changed: bool = False
    # delete() ended this session without flush(): its data must not be saved anywhere.
    _deleted: bool = False
    # What SessionManager.open returned with the request, as long as nothing changed the request
    # since: (request, its data — None once load() took it —, its token, its user). The reads of
    # an unchanged request come from here, without a call into the binding.
    _begun: Optional[tuple[Request, Optional[dict[str, Any]], Optional[str], Optional[str]]] = None

    def __init__(
        self,
        session_key: Optional[str] = None,
        *,
        request: Optional[Request] = None,
        https: bool = False,
        user_agent: Optional[str] = None,
        csrf: Optional[str] = None,
        begun: Optional[tuple[dict[str, Any], Optional[str]]] = None,
    ) -> None:
        # SessionBase.__init__ would import SESSION_SERIALIZER on every request for nothing.
        self._session_key = session_key
        self.accessed = False
        self.modified = False
        if request is not None:
            self._request = request
            if begun is not None:  # (data, user) from SessionManager.open; session_key its token
                self._begun = (request, begun[0], session_key, begun[1])
        if https:
            self.https = True
        if user_agent is not None:
            self.user_agent = user_agent
        if csrf is not None:
            self._csrf = csrf

    # -- the request ---------------------------------------------------------------------------

    def _req(self) -> Request:
        """The request, begun from ``session_key`` if there is none yet."""
        req = self._request
        if req is None:
            key = self.session_key
            state = get_state()
            header = f"{state.cookie_name}={key}" if key and _KEY.fullmatch(key) else None
            req, data, token, user, reason, _, forked = state.manager.open(
                header, https=self.https, user_agent=self.user_agent
            )
            if forked and not state.store_is_shared:
                # Django's own middleware: no WSGI environ here, so only a fork is seen (and
                # without a fork check_request has nothing to say).
                check_request(state.manager, None, reason, forked=forked)
            self._request = req
            self._begun = (req, data, token, user)
            if token != key:
                # Rotated at begin (Django must send the new token), or dead.
                self._session_key = token
                if token is not None:
                    self.modified = True
        return req

    # The request's state: from what open() returned while the request is unchanged since.

    def _token_of(self, req: Request) -> Optional[str]:
        begun = self._begun
        return begun[2] if begun is not None and begun[0] is req else req.token

    def _user_now(self, req: Request) -> Optional[str]:
        begun = self._begun
        return begun[3] if begun is not None and begun[0] is req else req.user

    def _ended(self, req: Request) -> bool:
        begun = self._begun
        # Only a store call made after begin (regenerate, write, set_expiry) ends the session
        # under a request.
        return False if begun is not None and begun[0] is req else req.ended

    def _stored_data(self, req: Request) -> dict[str, Any]:
        begun = self._begun
        if begun is not None and begun[0] is req and begun[1] is not None:
            return begun[1]
        return req.data

    def _now(self) -> datetime:
        """``timezone.now()`` on the manager's clock (a ``ManualClock`` in tests)."""
        now = get_manager().now()
        if settings.USE_TZ:
            return datetime.fromtimestamp(now, tz=dt_timezone.utc)
        return datetime.fromtimestamp(now)

    def _expiry(self, value: Any) -> Expiry:
        """Django's ``_session_expiry`` as the core's per-session expiry."""
        if value is None or isinstance(value, bool):
            return "policy"
        if isinstance(value, (int, float)):
            if value == 0:
                return "browser_session"
            if value > 0:
                return ("idle", float(value))
            return ("until", get_manager().now() + float(value))
        if isinstance(value, str):
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                return "policy"
            if timezone.is_naive(at):
                at = timezone.make_aware(at)
            return ("until", at.timestamp())
        return "policy"

    def _outcome(self, error: bool) -> dict[str, Any]:
        """What this request did, as ``Request.finish`` keywords."""
        req = self._request
        if self._deleted or (req is not None and self._ended(req)):
            # The session ended under this request: nothing of its data or user lives on.
            return {"error": error}
        data: Optional[dict[str, Any]] = self.__dict__.get("_session_cache")
        if data is None:
            # Never read: no data or user change. The stored expiry still decides the Max-Age
            # of a token rotated at begin.
            stored = (
                self._stored_data(req).get(EXPIRY_KEY)
                if req is not None and self._token_of(req)
                else None
            )
            return {"error": error, "expiry": self._expiry(stored)}
        outcome: dict[str, Any] = {
            "data": data,
            "error": error,
            "expiry": self._expiry(data.get(EXPIRY_KEY)),
            "expiry_changed": self._expiry_changed,
        }
        user = _user_of(data)
        if self._login is not None and user == self._login:
            outcome["login"] = user
            if self._authn is not None:
                outcome["level"], outcome["amr"] = self._authn
        else:
            outcome["user_known"] = True
            outcome["user"] = user
        return outcome

    def _commit(self, *, error: bool = False) -> tuple[Headers, bool]:
        """Finish the request now; the next use of the session begins a new one. Returns the
        response's headers and whether the session ended under the request."""
        req = self._req()
        outcome = self._outcome(error)
        try:
            _, headers, ended, session_cookie, token = req.close(**outcome)
        finally:
            self._request = None
            self._begun = None
            self._login = None
            self._authn = None
            self._expiry_changed = False
        self._sent = (*self._sent, headers)
        if session_cookie:  # set (a new token) or cleared (None): the session key follows it
            if token != self.session_key:
                self.modified = True  # Django's middleware sends the cookie of modified sessions
            self._session_key = token
        return headers, ended

    def finish_request(self, *, error: bool) -> Finished:
        """Finish the request for ``tessera.django.middleware``: the headers the response needs.

        ``error``: the response is a 5xx (nothing is saved, no login; a rotated token is still
        sent, a logout still happens). If finishing fails (data too large, store unreachable),
        the result says why, with the headers the error response must carry.
        """
        sent = list(self._sent)
        self._sent = ()
        if self._request is None and sent and "_session_cache" in self.__dict__:
            self._req()  # save() finished the request; later changes are compared afresh
        failure: Optional[TesseraError] = None
        if self._request is not None:
            try:
                sent.append(self._commit(error=error)[0])
            except TesseraError as e:
                # The error response still carries what it must (a token rotated at begin).
                if e.response is not None:
                    sent.append(e.response.headers())
                failure = e
            self._sent = ()
        return Finished(_merged(sent), failure)

    def signed_in(self, user: str) -> None:
        """``django.contrib.auth.login`` signed ``user`` in: the finish is a login.

        With ``login_keeps_data = False`` only what ``login()`` stored stays in the data, as the
        session will hold after the login.
        """
        self._login = user
        if not get_state().login_keeps_data:
            data = self._get_session()
            for key in [k for k in data if k not in AUTH_KEYS]:
                del data[key]

    # -- what the request's session is, server-side --------------------------------------

    @property
    def session_id(self) -> Optional[str]:
        """The public id of the server-side session (safe to log and show), if there is one."""
        if self.session_key is None:
            return None
        return self._req().id

    @property
    def tessera_user(self) -> Optional[str]:
        """The user Tessera holds this session for (None for an anonymous session)."""
        if self.session_key is None:
            return None
        return self._user_now(self._req())

    @property
    def csrf(self) -> str:
        """The CSRF verdict of ``tessera.django.middleware`` for the request's CSRF header:
        ``"not_needed"`` (a safe method), ``"valid"`` or ``"invalid"``."""
        if self._csrf is None:
            raise ImproperlyConfigured(
                "request.session.csrf needs tessera.django.middleware.SessionMiddleware; "
                "use request.session.verify_csrf(token) otherwise"
            )
        return self._csrf

    # -- device binding and step-up -------------------------------------------------------

    @property
    def reason(self) -> Optional[str]:
        """Why the request's session cookie gave no session (``"binding_missing"`` for a
        device-bound session whose bound cookie the request lacks), or None."""
        req = self._request
        return req.reason if req is not None else None

    @property
    def binding(self) -> Optional[str]:
        """How this request proved the session's device (DBSC): ``"unbound"``, ``"pending"``
        (bound seconds ago) or ``"fresh"``; None without a session."""
        if self.session_key is None and self._request is None:
            return None
        return self._req().binding

    @property
    def authenticated_at(self) -> Optional[float]:
        """When the user last signed in or re-authenticated (seconds since the epoch)."""
        if self.session_key is None:
            return None
        return self._req().authenticated_at

    @property
    def auth_level(self) -> Optional[int]:
        """How strongly (the level given at sign-in), or None when anonymous."""
        if self.session_key is None:
            return None
        return self._req().auth_level

    @property
    def amr(self) -> list[str]:
        """The authentication methods given at sign-in (RFC 8176 ``amr``)."""
        if self.session_key is None:
            return []
        return self._req().amr

    def require_recent(self, max_age: Union[int, float, timedelta], level: int = 1) -> str:
        """``"allowed"``, ``"anonymous"``, ``"stale"`` (authenticated ``max_age`` seconds ago
        or longer) or ``"level"`` (authenticated below ``level``). Nothing is written."""
        if self.session_key is None:
            return "anonymous"
        return self._req().require_recent(max_age, level)

    def offer_binding(self) -> bool:
        """Offer this signed-in, unbound session a device binding on this response (sign-ins
        offer one by themselves). Returns whether an offer was made."""
        if self.session_key is None:
            return False
        req = self._req()
        self._begun = None  # the request changes
        return req.offer_binding()

    def reauthenticate(
        self, *, level: Optional[int] = None, amr: Optional[Iterable[str]] = None
    ) -> None:
        """The signed-in user proved who they are again (a password prompt, a second factor):
        a new token now (the old one dead at once, as ``cycle_key()``), this authentication
        recorded as of now; user, data and device binding kept. Raises ``InvalidArgument``
        without a signed-in session, ``UpdateError`` if the session ended meanwhile."""
        if self.session_key is None:
            raise InvalidArgument("re-authentication needs a signed-in session")
        req = self._req()
        self._begun = None  # the request changes
        if not req.reauthenticate(level=level, amr=None if amr is None else list(amr)):
            raise UpdateError("the session ended while this request was using it")
        self._session_key = req.token
        self.modified = True

    def csrf_token(self) -> str:
        """A fresh masked CSRF token of this session, for a form or a header."""
        return self._req().csrf_token()

    def verify_csrf(self, candidate: str) -> bool:
        """Whether ``candidate`` is a CSRF token of this session (constant time)."""
        return self._req().verify_csrf(candidate)

    # -- SessionBase ----------------------------------------------------------------------

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        # As SessionBase's, without the cost of an AttributeError on first use.
        self.accessed = True
        cache: Optional[dict[str, Any]] = self.__dict__.get("_session_cache")
        if cache is None:
            cache = {} if no_load or self.session_key is None else self.load()
            self._session_cache = cache
        return cache

    _session = property(_get_session)

    def load(self) -> dict[str, Any]:
        """The session's data; a dead, malformed or ``None`` key gives an empty new session."""
        if self.session_key is None:
            return {}
        req = self._req()
        begun = self._begun
        if begun is not None and begun[0] is req and begun[1] is not None:
            self._begun = (req, None, begun[2], begun[3])  # the data is the session cache's now
            return begun[1] if begun[2] is not None else {}
        return req.data if self._token_of(req) is not None else {}

    def exists(self, session_key: Optional[str]) -> bool:
        """Whether ``session_key`` is the token of a live session (without touching it)."""
        if not isinstance(session_key, str) or not session_key:
            return False
        try:
            get_manager().csrf_token(session_key)
        except SessionRejected:
            return False
        return True

    def create(self) -> None:
        """A new session under a new token, stored now with the current data (even empty).

        The session the store held before is left as it is (``cycle_key()`` ends it).
        """
        self._create_now(self._get_session(no_load=True))
        self.modified = True

    def _create_now(self, data: dict[str, Any]) -> None:
        # The request protocol stores nothing for an empty new session, but Django promises
        # that create() and an explicit save() store one, so it is made through the lifecycle
        # API, and the response sends its token.
        manager = get_manager()
        session = manager.create(None, data or None, https=self.https, user_agent=self.user_agent)
        token = session.new_token
        assert token is not None
        self._sent = (
            *self._sent,
            [("Set-Cookie", manager.set_cookie(token)), ("Cache-Control", "no-store")],
        )
        req, data, _, user, _, _, _ = manager.open(
            f"{manager.cookie_name}={token}", https=self.https, user_agent=self.user_agent
        )
        self._request = req
        self._begun = (req, data, token, user)
        self._session_key = token
        self._deleted = False

    def save(self, must_create: bool = False) -> None:
        """Store this request's changes (only the keys that changed).

        An empty new session is stored too, so ``session_key`` exists afterwards. Raises
        ``UpdateError`` if the session ended while this request used it (logout elsewhere,
        revocation, expiry) — it is not re-created — and ``CreateError`` for ``must_create``
        with a key chosen by the caller (Tessera never adopts one).
        """
        if must_create:
            if self.session_key is not None:
                raise CreateError("Tessera mints session keys; it never adopts one")
            self.create()
            return
        if self._deleted:
            raise UpdateError("the session was deleted")
        data = self._get_session()
        req = self._req()
        if self._token_of(req) is None and not self._ended(req) and not data:
            self._create_now(data)  # an explicit save() stores an empty new session too
            self.modified = True
            return
        _, ended = self._commit()
        if ended:
            raise UpdateError("the session ended while this request was using it")

    def cycle_key(self) -> None:
        """A new token now, the old one dead at once; user and data kept.

        If ``_auth_user_id`` names another user than the session's, this is a login of that
        user (new token, CSRF secret and absolute deadline). A session with nothing stored yet
        has no key to cycle: its first save gives a fresh one.
        """
        data = self._get_session()
        self.modified = True
        req = self._req()
        if self._token_of(req) is None:
            return
        desired = _user_of(data)
        current = self._user_now(req)
        self._begun = None  # the request changes
        if desired is not None and desired != current:
            req.login(desired)
            self._session_key = req.token
            return
        cycled = req.regenerate()
        token = req.token
        if cycled:
            # A live session under a new token, user kept, nothing ended: what save() reads of
            # the request is known without asking.
            self._begun = (req, None, token, current)
        self._session_key = token

    def delete(self, session_key: Optional[str] = None) -> None:
        """Destroy the server-side session of ``session_key`` (default: this one) now."""
        if session_key is not None and session_key != self.session_key:
            get_manager().logout(session_key)
            return
        if self.session_key is None:
            return
        req = self._req()
        self._begun = None  # the request changes
        req.logout()
        self._deleted = True

    def flush(self) -> None:
        """Log out: destroy the server-side session now, empty the data, drop the key."""
        self.clear()
        if self.session_key is not None or self._request is not None:
            req = self._req()
            self._begun = None  # the request changes
            req.logout()
            # Finished now (its response clears the cookie): what the app stores after a flush
            # belongs to a brand-new session, begun afresh (Django's flush() empties the data,
            # so every key set afterwards is new, even one equal to a value of the old session).
            self._sent = (*self._sent, req.finish().headers())
            self._request = None
        self._session_key = None
        self._login = None
        self._deleted = False

    @classmethod
    def clear_expired(cls) -> None:
        """Remove expired sessions (``manage.py clearsessions``)."""
        removed = get_manager().sweep()
        logger.debug("swept %d expired sessions", removed)

    # -- expiry ---------------------------------------------------------------------------

    def set_expiry(self, value: Union[int, datetime, timedelta, None]) -> None:
        """Django's ``set_expiry``: seconds of inactivity, ``0`` (browser close), a
        ``datetime``/``timedelta`` (at that time), ``None`` (the configured policy).

        Tessera's idle and absolute timeouts stay the maximum: an expiry may shorten them, never
        lengthen them. A ``timedelta`` counts from the manager's clock.
        """
        if isinstance(value, timedelta):
            value = self._now() + value
        super().set_expiry(value)
        self._expiry_changed = True

    def get_session_cookie_age(self) -> int:
        """Seconds the cookie lives without a per-session expiry: ``cookie_max_age``, else the
        idle timeout (Tessera's counterpart of ``SESSION_COOKIE_AGE``)."""
        state = get_state()
        if state.cookie_max_age is not None:
            return state.cookie_max_age
        return int(state.idle_timeout)

    def _life_left(self, modification: datetime) -> int:
        """Seconds from ``modification`` to the session's absolute deadline."""
        req = self._request
        deadline = (
            req.absolute_deadline if req is not None and self._token_of(req) is not None else None
        )
        if deadline is None:
            return int(get_state().absolute_timeout)
        return max(0, int(deadline - modification.timestamp()))

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds until the session expires, as Django computes it, never beyond what Tessera
        allows: the idle timeout for an inactivity expiry, the absolute deadline for any."""
        modification: datetime = kwargs.get("modification") or self._now()
        expiry = kwargs["expiry"] if "expiry" in kwargs else self.get(EXPIRY_KEY)
        age: int = super().get_expiry_age(modification=modification, expiry=expiry)
        if isinstance(expiry, (int, float)) and expiry and not isinstance(expiry, bool):
            age = min(age, int(get_state().idle_timeout))
        return min(age, self._life_left(modification))

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        """When the session expires, as Django computes it, capped as :meth:`get_expiry_age`."""
        modification: datetime = kwargs.get("modification") or self._now()
        expiry = kwargs["expiry"] if "expiry" in kwargs else self.get(EXPIRY_KEY)
        if isinstance(expiry, (datetime, str)):
            at: datetime = super().get_expiry_date(modification=modification, expiry=expiry)
            return min(at, modification + timedelta(seconds=self._life_left(modification)))
        age = self.get_expiry_age(modification=modification, expiry=expiry)
        return modification + timedelta(seconds=age)

    def get_expire_at_browser_close(self) -> bool:
        """True for a browser-session cookie: ``set_expiry(0)``, or no per-session expiry and
        no ``TESSERA["cookie_max_age"]`` (``SESSION_EXPIRE_AT_BROWSER_CLOSE`` does not apply)."""
        expiry = self.get(EXPIRY_KEY)
        if expiry is None:
            return get_state().cookie_max_age is None
        return bool(expiry == 0)

    # -- async ----------------------------------------------------------------------------

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        # As SessionBase's (which its async methods use), typed, without the AttributeError.
        self.accessed = True
        cache: Optional[dict[str, Any]] = self.__dict__.get("_session_cache")
        if cache is None:
            cache = {} if no_load or self.session_key is None else await self.aload()
            self._session_cache = cache
        return cache

    async def acycle_key(self) -> None:
        """Async :meth:`cycle_key` (``django.contrib.auth.alogin``)."""
        await sync_to_async(self.cycle_key)()

    async def aflush(self) -> None:
        """Async :meth:`flush` (``django.contrib.auth.alogout``)."""
        await sync_to_async(self.flush)()

    async def aset_expiry(self, value: Union[int, datetime, timedelta, None]) -> None:
        """Async :meth:`set_expiry`."""
        await self._aget_session()
        self.set_expiry(value)

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        """Async :meth:`get_expiry_age`."""
        await self._aget_session()
        return self.get_expiry_age(**kwargs)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        """Async :meth:`get_expiry_date`."""
        await self._aget_session()
        return self.get_expiry_date(**kwargs)

    async def aget_expire_at_browser_close(self) -> bool:
        """Async :meth:`get_expire_at_browser_close`."""
        await self._aget_session()
        return self.get_expire_at_browser_close()


def _on_user_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if isinstance(session, SessionStore) and user is not None:
        session.signed_in(user_key(user))


user_logged_in.connect(_on_user_logged_in, dispatch_uid="tessera.django.store.login")
