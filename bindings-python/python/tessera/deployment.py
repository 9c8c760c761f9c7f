"""Warnings about deployments that lose sessions: the memory store under several processes.

``memory://`` keeps sessions in the process that made them. Under a server with several worker
processes (gunicorn ``-w 4``) each worker then knows only its own sessions: a visitor signed in
by one worker is anonymous on the next, and a form posted to another worker fails as if its CSRF
token were forged. Nothing fails loudly, so the framework glue calls :func:`check_request` on
every request and a :class:`DeploymentWarning` is issued, once per process and kind, when:

- the manager is used in a process other than the one that built it (a ``fork()`` after
  creation: gunicorn ``--preload``) — ``SessionManager.forked``;
- the WSGI server says several processes serve the app (``wsgi.multiprocess``);
- in either setup, a request carries a well-formed token this process's store does not know: it
  was most likely issued by another worker, which the warning says (so it does not pass for a
  CSRF failure or an expired session).

Warnings (not the ``logging`` module) because a deployment mistake is what they are for: visible
on stderr without any logging configuration, one category to escalate in CI
(``-W error::tessera.DeploymentWarning``) or to silence on purpose, and ``pytest.warns`` in tests.
No warning ever contains a token.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, Optional

from tessera._native import SessionManager

__all__ = ["FIX", "DeploymentWarning", "check_request", "multiprocess_server", "store_warning"]

#: The one-line change every warning names.
FIX = (
    'give the manager a store every worker shares: store="sqlite:///path/to/sessions.db" '
    '(one host) or store="redis://host:6379/0?prefix=myapp" (several hosts), and the same '
    "pepper in every process"
)


class DeploymentWarning(UserWarning):
    """A setup that loses sessions between processes (the memory store under several workers),
    or a store configured in a way an operator should know of (a Redis URL without a prefix)."""


#: Per kind of warning, the pid of the process that issued it: a forked child inherits this
#: dict, and the pid tells it that the warning is not yet its own.
_issued: dict[str, int] = {}


def _warn_once(kind: str, message: str) -> None:
    pid = os.getpid()
    if _issued.get(kind) == pid:
        return
    _issued[kind] = pid
    # The pid makes each process's message distinct, so Python's per-location "default" filter
    # (whose registry a forked worker inherits) never swallows a worker's first warning.
    warnings.warn(f"tessera (pid {pid}): {message}", DeploymentWarning, stacklevel=3)


def store_warning(message: str) -> None:
    """Issue what core says about the store's configuration (a Redis URL without ``prefix``),
    once per process and message; the native ``SessionManager()`` calls this when it is built."""
    _warn_once(f"store: {message}", message)


def multiprocess_server(environ: Mapping[str, Any]) -> bool:
    """Whether the WSGI server says several processes serve the app.

    ``wsgi.multiprocess`` is the WSGI signal (gunicorn sets it when ``workers > 1``). wsgiref
    (under Django's ``runserver``) and Django's test client set it True whatever runs: it is
    trusted only from a server that names itself in ``SERVER_SOFTWARE`` and is not wsgiref
    (``WSGIServer/…``)."""
    if not environ.get("wsgi.multiprocess"):
        return False
    software = environ.get("SERVER_SOFTWARE")
    return isinstance(software, str) and bool(software) and not software.startswith("WSGIServer/")


def check_request(
    manager: SessionManager,
    environ: Optional[Mapping[str, Any]],
    reason: Optional[str],
    *,
    forked: Optional[bool] = None,
) -> None:
    """Warn (once per process and kind) when this request shows a store that several processes
    do not share. Callers skip it when ``manager.store_is_shared``; ``reason`` is why the
    request's cookie gave no session (``Request.reason``). ``forked``: ``manager.forked`` when the
    caller has it already (from ``SessionManager.open``, which also means the caller checked
    ``store_is_shared``): no call into the binding then."""
    if forked is None:
        if manager.store_is_shared:
            return
        forked = manager.forked
    several = environ is not None and multiprocess_server(environ)
    if forked:
        _warn_once(
            "forked",
            "this SessionManager on the memory store was built in another process and is used "
            "after a fork() (gunicorn --preload?): each worker keeps its own copy of the "
            f"sessions and sees none of the others'. To fix it, {FIX}.",
        )
    if several:
        _warn_once(
            "multiprocess",
            "several worker processes serve this app (wsgi.multiprocess) but sessions are in "
            "the memory store, which each process keeps for itself: a visitor signed in by one "
            f"worker is anonymous on the others. To fix it, {FIX}.",
        )
    if reason == "unknown" and (forked or several):
        _warn_once(
            "unknown",
            "a well-formed session cookie is unknown to this worker's memory store: it was most "
            "likely issued by another worker process, not forged — the visitor looks signed "
            f"out here and a form they post fails the CSRF check. To fix it, {FIX}.",
        )
