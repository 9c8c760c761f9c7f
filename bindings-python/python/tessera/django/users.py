"""Per-user helpers: end or list a user's sessions (e.g. after a password change)."""

from __future__ import annotations

from typing import Any, Union

from django.db.models import Model
from django.http import HttpRequest

from tessera._native import SessionInfo
from tessera.django.conf import get_manager

__all__ = ["list_sessions", "revoke_user", "revoke_user_except", "user_key"]

UserLike = Union[Model, str, int, Any]


def user_key(user: UserLike) -> str:
    """The user string Tessera files a Django user's sessions under.

    The same string ``django.contrib.auth.login`` stores in ``_auth_user_id``: for a model
    instance its primary key's ``value_to_string``, for anything else (a pk) ``str()``.
    """
    if isinstance(user, Model):
        pk_field = user._meta.pk
        assert pk_field is not None
        return str(pk_field.value_to_string(user))
    return str(user)


def revoke_user(user: UserLike) -> int:
    """End every session of ``user`` (a user object or its pk); returns how many ended.

    For "sign out everywhere", an account that was disabled, or after a password change.
    """
    return get_manager().revoke_user(user_key(user))


def revoke_user_except(user: UserLike, request: HttpRequest) -> int:
    """End every session of ``user`` except the request's own ("sign out other devices").

    Call it after ``update_session_auth_hash`` so the request keeps its new token. If the request
    has no live session of ``user``, every session of ``user`` ends.
    """
    token = getattr(getattr(request, "session", None), "session_key", None)
    return get_manager().revoke_user_except(user_key(user), token or "")


def list_sessions(user: UserLike) -> list[SessionInfo]:
    """The live sessions of ``user``, most recently seen first: public ids, never tokens."""
    return get_manager().list_user(user_key(user))
