"""``SessionStore``: Django's session API on Tessera's lifecycle.

How Django's session calls map onto Tessera:

=====================  =========================================================================
Django                 Tessera
=====================  =========================================================================
``load()``             ``validate(token)``: a rejected token (malformed, unknown, expired) gives an
                       empty, new session and no error; a rotated token is adopted and the
                       store is marked modified so ``SessionMiddleware`` sends the new cookie
``save()``             the first save ``create``\\ s the session (for the user in
                       ``_auth_user_id``, if any); later saves ``patch`` only the keys this request
                       changed or removed, so concurrent requests keep each other's keys. A
                       session that ended meanwhile raises ``UpdateError`` (Django answers
                       ``SessionInterrupted``): it is never re-created
``cycle_key()``        ``login(user, token)``: a new token, the old one dead at once. Called by
                       ``django.contrib.auth.login`` *before* it stores the user id, so when the
                       user is not known yet the login happens in ``save()``
``flush()``            ``logout(token)``: the server-side session is destroyed
``clear_expired()``    ``sweep()`` (the ``clearsessions`` command)
=====================  =========================================================================

A change of ``_auth_user_id`` always goes through a privilege change: the Tessera session's user
(which ``revoke_user`` and ``list_sessions`` use) is always the Django user in its data.

Idle and absolute timeouts are Tessera's; the cookie is a browser-session cookie unless
``TESSERA["cookie_max_age"]`` is set. ``set_expiry()`` cannot make a session live longer than
Tessera allows; ``set_expiry(0)`` still gives a browser-session cookie. Data is stored as JSON by
the core: ``SESSION_SERIALIZER`` does not apply, and values must be JSON-serializable (a
``TypeError`` at save otherwise).

Between ``cycle_key()`` and ``save()`` of a login, ``session_key`` is still the pre-login token.
Django skips ``save()`` for 5xx responses: the login then never happened, and with Django's own
``SessionMiddleware`` the pre-login (anonymous) session simply lives on, as it was;
``tessera.django.middleware.SessionMiddleware`` ends it, like Django's other backends do.

A store that cannot be reached (``StoreUnavailable``) fails closed: the exception propagates and
the request fails, rather than going on anonymously and clearing the user's cookie.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from typing import Any, Optional, Union

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase, UpdateError
from django.core.signing import JSONSerializer
from django.utils import timezone

from tessera._native import Session, SessionRejected
from tessera.django.conf import get_manager, get_state

__all__ = ["SESSION_KEY", "SessionStore"]

logger = logging.getLogger("tessera.django")

#: Where ``django.contrib.auth`` keeps the signed-in user's id (``auth.SESSION_KEY``); not
#: imported from there because importing ``django.contrib.auth`` needs the app registry.
SESSION_KEY = "_auth_user_id"


def _user_of(data: dict[str, Any]) -> Optional[str]:
    value = data.get(SESSION_KEY)
    return None if value is None else str(value)


_MISSING = object()
_NO_KEYS: frozenset[str] = frozenset()

#: JSON scalars: immutable, compared with ``==`` once their types match.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _diff(local: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The keys to set and to remove to turn ``base`` into ``local``, compared as JSON.

    ``True`` is not ``1`` and ``1.0`` is not ``1`` (Python says they are equal; JSON does not),
    so types are compared too, and containers by ``repr`` (C speed, strict about types; a mere
    change of key order counts as a change, which costs one harmless write).
    """
    changed: dict[str, Any] = {}
    common = 0
    for key, value in local.items():
        if key in base:
            common += 1
            old = base[key]
            kind = type(value)
            if kind is type(old) and (
                value == old if kind in _SCALARS else repr(value) == repr(old)
            ):
                continue
        changed[key] = value
    removed = [k for k in base if k not in local] if len(base) > common else []
    return changed, removed


def _equal(value: Any, old: Any) -> bool:
    """``value == old`` as JSON (see :func:`_diff`)."""
    kind = type(value)
    if kind is not type(old):
        return False
    return bool(value == old) if kind in _SCALARS else repr(value) == repr(old)


def _snapshot(value: Any) -> Any:
    """A copy of a JSON value that later in-place changes of ``value`` do not reach."""
    return value if type(value) in _SCALARS else copy.deepcopy(value)


class SessionStore(SessionBase):
    """A Django session whose server side is a Tessera session; ``session_key`` is its token.

    ``https`` and ``user_agent`` describe the request (``tessera.django.middleware`` passes them;
    Django's own ``SessionMiddleware`` cannot, so sessions are then treated as plain HTTP).
    """

    _session_cache: dict[str, Any]

    # Per-request state, as class-level defaults so that a store costs little to make (one is
    # made for every request, most of which only read).
    #: Whether the request came over HTTPS (an HTTP session seen over HTTPS is rotated).
    https: bool = False
    #: The request's User-Agent, recorded at creation and login (``list_sessions``).
    user_agent: Optional[str] = None
    #: Whether the request carried two cookies of the session's name (it is anonymous).
    cookie_tossed: bool = False
    # The session as validated (or created): the baseline that save() diffs against.
    _loaded: Optional[Session] = None
    # After a login: the session as the manager returned it (new id, maybe a new user).
    _current: Optional[Session] = None
    # Its public id, once asked for.
    _id: Optional[str] = None
    # What the server holds, when it is not the loaded data (after a write, or a login that
    # did not carry the data).
    _base: Optional[dict[str, Any]] = None
    # The keys assigned or deleted since the baseline (_NO_KEYS: none yet); None: unknown
    # (after clear()), so compare everything.
    _dirty: Optional[Union[set[str], frozenset[str]]] = _NO_KEYS
    # A key cycle waiting for the user id (django.contrib.auth.login): the token to end.
    _cycle_from: Optional[str] = None
    # The session ended while this request used it: save() raises UpdateError.
    _ended: bool = False
    serializer = JSONSerializer

    def __init__(
        self,
        session_key: Optional[str] = None,
        *,
        https: bool = False,
        user_agent: Optional[str] = None,
        cookie_tossed: bool = False,
    ) -> None:
        # SessionBase.__init__ would import SESSION_SERIALIZER on every request for nothing:
        # Tessera stores JSON, SESSION_SERIALIZER does not apply.
        self._session_key = session_key
        self.accessed = False
        self.modified = False
        if https:
            self.https = True
        if user_agent is not None:
            self.user_agent = user_agent
        if cookie_tossed:
            self.cookie_tossed = True

    # -- what the request's session is, server-side --------------------------------------

    @property
    def session_id(self) -> Optional[str]:
        """The public id of the server-side session (safe to log and show), if there is one."""
        if self._id is None:
            server = self._current or self._loaded
            if server is not None:
                self._id = server.id
        return self._id

    @property
    def tessera_user(self) -> Optional[str]:
        """The user Tessera holds this session for (None for an anonymous session)."""
        server = self._current or self._loaded
        return None if server is None else server.user

    def _data(self, no_load: bool = False) -> dict[str, Any]:
        """SessionBase._get_session without the cost of an AttributeError on first use."""
        self.accessed = True
        cache: Optional[dict[str, Any]] = self.__dict__.get("_session_cache")
        if cache is None:
            if no_load or self.session_key is None:
                cache = {}
            else:
                cache = self.load()
            self._session_cache = cache
        return cache

    _session = property(_data)

    def _baseline(self) -> dict[str, Any]:
        if self._base is None:
            self._base = {} if self._loaded is None else self._loaded.data
        return self._base

    def _changes(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The keys to set and to remove so the server holds ``data``.

        Without a materialized baseline, only the keys assigned or deleted since the load and
        the keys holding containers (which may have been changed in place) are compared, each
        with the one value of the loaded session it stands for: no full copy of the data.
        """
        dirty = self._dirty
        loaded = self._loaded
        if dirty is None or self._base is not None or loaded is None:
            return _diff(data, self._baseline())
        get = loaded.get
        changed: dict[str, Any] = {}
        removed: list[str] = []
        for key in dirty:
            if key in data:
                value = data[key]
                old = get(key, _MISSING)
                if old is _MISSING or not _equal(value, old):
                    changed[key] = value
            elif get(key, _MISSING) is not _MISSING:
                removed.append(key)
        scalars = _SCALARS
        for key, value in data.items():
            kind = type(value)
            if kind not in scalars and key not in dirty:
                # A container: it may have been changed in place, without an assignment.
                old = get(key, _MISSING)
                if type(old) is not kind or repr(value) != repr(old):
                    changed[key] = value
        return changed, removed

    def _touch(self, key: str) -> None:
        dirty = self._dirty
        if dirty is None:
            return
        if isinstance(dirty, set):
            dirty.add(key)
        else:
            self._dirty = {key}

    def __setitem__(self, key: str, value: Any) -> None:
        self._data()[key] = value
        self.modified = True
        self._touch(key)

    def __delitem__(self, key: str) -> None:
        del self._data()[key]
        self.modified = True
        self._touch(key)

    def pop(self, key: str, *default: Any) -> Any:
        """Remove ``key`` and return its value (or ``default``)."""
        data = self._data()
        if key in data:
            self.modified = True
            self._touch(key)
        return data.pop(key, *default)

    def update(self, dict_: Any) -> None:  # type: ignore[override]
        """Set several keys (a mapping or pairs)."""
        items = dict(dict_)
        self._data().update(items)
        self.modified = True
        for key in items:
            self._touch(key)

    def clear(self) -> None:
        """Empty the data (without loading it first)."""
        super().clear()
        self._dirty = None

    async def _aload_once(self) -> None:
        if self.__dict__.get("_session_cache") is None:
            self._session_cache = {} if self.session_key is None else await self.aload()

    async def aset(self, key: str, value: Any) -> None:
        """Async ``session[key] = value``."""
        await self._aload_once()
        self[key] = value

    async def apop(self, key: str, *default: Any) -> Any:
        """Async :meth:`pop`."""
        await self._aload_once()
        return self.pop(key, *default)

    async def aupdate(self, dict_: Any) -> None:
        """Async :meth:`update`."""
        await self._aload_once()
        self.update(dict_)

    async def adelete_test_cookie(self) -> None:
        """Async ``delete_test_cookie()``."""
        await self._aload_once()
        del self[self.TEST_COOKIE_NAME]

    def _adopt(self, s: Session, *, loaded: bool) -> None:
        """``s`` is now the server side: loaded/created (the baseline) or a login's result."""
        if loaded:
            self._loaded = s
            self._current = None
            self._base = None
            self._cycle_from = None
            if self._dirty is not None:
                self._dirty = _NO_KEYS
        else:
            self._current = s
        self._id = None
        new_token = s.new_token
        if new_token is not None:
            self._session_key = new_token
            self.modified = True

    def _forget(self) -> None:
        self._loaded = None
        self._current = None
        self._id = None
        self._base = None
        self._cycle_from = None

    # -- SessionBase ----------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """Validate the cookie's token and return the session's data.

        A rejected token gives an empty, new session (no error). If the manager rotated the
        token, the new one becomes ``session_key`` and the store is marked modified so that the
        middleware sends it.
        """
        token = self.session_key
        if token is None:
            return {}
        manager = get_manager()
        try:
            if self.https or self.user_agent is not None:
                s = manager.validate(token, https=self.https, user_agent=self.user_agent)
            else:
                s = manager.validate(token)
        except SessionRejected:
            self._session_key = None
            self._forget()
            return {}
        # As _adopt(s, loaded=True), minus what a store that has not loaded yet does not hold.
        self._loaded = s
        if self._current is not None or self._base is not None or self._id is not None:
            self._current = self._base = self._id = None
        new_token = s.new_token
        if new_token is not None:
            self._session_key = new_token
            self.modified = True
        return s.data

    def exists(self, session_key: str) -> bool:
        """Whether ``session_key`` is the token of a live session (without touching it)."""
        try:
            get_manager().csrf_token(session_key)
        except SessionRejected:
            return False
        return True

    def create(self) -> None:
        """Start a new server-side session holding the current data, with a fresh token."""
        self._create(self._data(no_load=True))

    def _create(self, data: dict[str, Any]) -> None:
        user = _user_of(data)
        s = get_manager().create(user, data or None, https=self.https, user_agent=self.user_agent)
        self._adopt(s, loaded=True)
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        """Write this request's changes.

        The first save creates the server-side session; later ones apply only the keys this
        request changed or removed (atomically), and perform a pending login. Raises
        ``UpdateError`` if the session was logged out, revoked or expired meanwhile.
        """
        if self._ended:
            raise UpdateError("the session ended while this request was using it")
        data = self._data(no_load=must_create)
        if must_create or self.session_key is None:
            self._create(data)
            return
        if self._loaded is None and self._current is None:
            # The data was replaced without loading it (clear()): find the session first.
            self.load()
            if self.session_key is None:
                self._create(data)
                return
        desired = _user_of(data)
        if self._cycle_from is not None or desired != self.tessera_user:
            if not self._change_privilege(data, desired):
                raise UpdateError("the session ended while this request was using it")
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        changed, removed = self._changes(data)
        if not changed and not removed:
            return
        base = self._baseline()
        session_id = self.session_id
        assert session_id is not None
        manager = get_manager()
        try:
            if len(changed) == 1 and not removed:
                for key, value in changed.items():
                    manager.set(session_id, key, value)
            else:
                manager.patch(session_id, changed, removed)
        except SessionRejected as e:
            raise UpdateError("the session ended while this request was using it") from e
        for key in removed:
            base.pop(key, None)
        for key, value in changed.items():
            base[key] = _snapshot(value)
        if self._dirty is not None:
            self._dirty = _NO_KEYS

    def _change_privilege(self, data: dict[str, Any], desired: Optional[str]) -> bool:
        """Give the session a new token now, the old one dead at once, for user ``desired``.

        Returns False if an authenticated session ended meanwhile (it is not re-created).
        """
        state = get_state()
        manager = state.manager
        old_user = self.tessera_user
        token = self._cycle_from or self.session_key
        assert token is not None
        if desired is None:
            # Signed out without flush(), or a key cycle of an anonymous session: a new anonymous
            # session with the same data. (The manager has no rotation without grace for it.)
            if not manager.logout(token):
                self._ended = True  # it ended meanwhile: its data does not live on
                return False
            s = manager.create(None, data or None, https=self.https, user_agent=self.user_agent)
            self._adopt(s, loaded=True)
            return True
        keeps = state.login_keeps_data
        carried = keeps and (old_user is None or old_user == desired)
        if old_user is not None and not carried and not self.exists(token):
            # login() would start a fresh session; an authenticated one must not come back.
            self._ended = True
            return False
        # A key the old session held, to tell whether login() carried its data or (the old
        # session having ended meanwhile) started a new, empty one.
        loaded = self._loaded
        probe: Optional[str] = None
        dirty = self._dirty
        if SESSION_KEY in data and dirty is not None and SESSION_KEY not in dirty:
            probe = SESSION_KEY  # loaded with the data, not assigned since
        elif loaded is not None and loaded.get(SESSION_KEY, _MISSING) is not _MISSING:
            probe = SESSION_KEY
        elif carried:
            probe = next(iter(self._baseline()), None)
        if not carried and old_user is None:
            # login_keeps_data=False: only what this request set survives the login.
            changed, _ = self._changes(data)
            for key in [k for k in data if k not in changed]:
                del data[key]
        if self.https or self.user_agent is not None:
            s = manager.login(desired, token, https=self.https, user_agent=self.user_agent)
        else:
            s = manager.login(desired, token)
        self._cycle_from = None
        self._adopt(s, loaded=False)
        if not carried:
            self._base = {}  # the new session holds nothing yet: write everything
        elif probe is not None and s.get(probe, _MISSING) is _MISSING and not s.data:
            # The old session had ended: login() started a new, empty one.
            if old_user is not None:
                new_token = s.new_token
                assert new_token is not None
                manager.logout(new_token)
                self._ended = True
                return False
            self._base = {}
        return True

    def cycle_key(self) -> None:
        """A privilege change: a new token, the old one dead at once (grace 0), data kept.

        With the user id already in the data (``update_session_auth_hash``) this is
        Tessera's login now. Without it (``django.contrib.auth.login`` calls this just before it
        stores the id) the login happens in ``save()``; until then ``session_key`` is still the
        old token. ``tessera.django.middleware.SessionMiddleware`` also ends the old token if the
        response is an error and the session is not saved.
        """
        data = self._data()
        if self.session_key is None:
            # Nothing stored yet: the first save creates it with a fresh token.
            self.modified = True
            return
        if self._ended:
            return
        self.modified = True
        desired = _user_of(data)
        if desired is None:
            if self._cycle_from is None:
                self._cycle_from = self.session_key
            return
        self._change_privilege(data, desired)

    def end_pending_cycle(self) -> None:
        """End the old token of a key cycle that ``save()`` did not complete (error response)."""
        token = self._cycle_from
        if token is not None:
            self._cycle_from = None
            get_manager().logout(token)

    def delete(self, session_key: Optional[str] = None) -> None:
        """Log out: destroy the server-side session of ``session_key`` (default: this one)."""
        manager = get_manager()
        if session_key is not None and session_key != self.session_key:
            manager.logout(session_key)
            return
        if self.session_key is None:
            return
        for token in (self._cycle_from, self.session_key):
            if token is not None:
                manager.logout(token)
        self._forget()
        # A later save() must not write to (or re-create) what was just destroyed.
        self._ended = True

    def flush(self) -> None:
        """Log out: destroy the server-side session, empty the data and drop the key."""
        self.clear()
        self.delete()
        self._session_key = None
        self._ended = False

    @classmethod
    def clear_expired(cls) -> None:
        """Remove expired sessions (``manage.py clearsessions``)."""
        removed = get_manager().sweep()
        logger.debug("swept %d expired sessions", removed)

    # -- the cookie's lifetime --------------------------------------------------------------

    def get_expire_at_browser_close(self) -> bool:
        """True (a browser-session cookie) unless ``TESSERA["cookie_max_age"]`` is set."""
        if self.get("_session_expiry") == 0:
            return True
        return get_state().cookie_max_age is None

    def get_session_cookie_age(self) -> int:
        """The cookie's ``Max-Age``: ``cookie_max_age``, or Tessera's idle timeout."""
        state = get_state()
        if state.cookie_max_age is not None:
            return state.cookie_max_age
        return int(state.manager.idle_timeout)

    def get_expiry_age(self, **kwargs: Any) -> int:
        """As :meth:`get_session_cookie_age`: Tessera's timeouts, not ``SESSION_COOKIE_AGE``."""
        return self.get_session_cookie_age()

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        """``modification`` (default now) plus :meth:`get_expiry_age`."""
        modification = kwargs.get("modification") or timezone.now()
        expiry: datetime = modification + timedelta(seconds=self.get_expiry_age())
        return expiry

    async def aget_expire_at_browser_close(self) -> bool:
        """Async :meth:`get_expire_at_browser_close`."""
        return await sync_to_async(self.get_expire_at_browser_close)()

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        """Async :meth:`get_expiry_age`."""
        return self.get_expiry_age(**kwargs)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        """Async :meth:`get_expiry_date`."""
        return self.get_expiry_date(**kwargs)

    async def acycle_key(self) -> None:
        """Async :meth:`cycle_key` (``django.contrib.auth.alogin``)."""
        await sync_to_async(self.cycle_key)()

    async def aflush(self) -> None:
        """Async :meth:`flush` (``django.contrib.auth.alogout``)."""
        await sync_to_async(self.flush)()
