"""A Flask app on tessera.flask as a user deploys it, for ``gunicorn -w 4``: the store and the
pepper come from the environment; every answer names the worker (``os.getpid()``)."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, session
from tessera import SessionManager
from tessera.flask import (
    TesseraSessionInterface,
    check_csrf,
    csrf_token,
    login,
    logout,
    regenerate,
)

app = Flask(__name__)
# Built at import: in the master with --preload (then used after the fork), else per worker.
TesseraSessionInterface(
    SessionManager(
        store=os.environ["TESSERA_MP_STORE"],
        pepper=os.environ["TESSERA_MP_PEPPER"],
        cookie_name="sid",
        cookie_secure=False,  # plain HTTP on 127.0.0.1
        sweep_interval=None,
    )
).init_app(app)


def answer(**extra: Any) -> dict[str, Any]:
    user = session.user  # type: ignore[attr-defined]
    return {"pid": os.getpid(), "user": user, "marker": session.get("marker"), **extra}


@app.get("/health")
def health() -> dict[str, Any]:
    return {"pid": os.getpid()}


@app.get("/csrf")
def csrf() -> dict[str, Any]:
    return answer(csrf=csrf_token())


@app.post("/login")
def do_login() -> dict[str, Any]:
    check_csrf()
    login("alice")
    session["marker"] = "signed-in-by-" + str(os.getpid())
    return answer()


@app.get("/whoami")
def whoami() -> dict[str, Any]:
    return answer()


@app.post("/regenerate")
def do_regenerate() -> dict[str, Any]:
    check_csrf()
    regenerate()
    return answer()


@app.post("/logout")
def do_logout() -> dict[str, Any]:
    check_csrf()
    logout()
    return {"pid": os.getpid()}
