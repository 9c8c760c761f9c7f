"""The demo site: sign in, a protected page, your sessions, an administrator page.

Every form carries a CSRF token; every protected page can sign out; the account page shows how
long the session has left before its idle and absolute timeouts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

from flask import Flask, abort, redirect, render_template, request, session, url_for
from tessera import SessionManager
from tessera.flask import TesseraSession, TesseraSessionInterface, csrf_protect, login, logout
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    admin: bool = False


DEMO_USERS = {"alice": "alice-demo", "bob": "bob-demo", "admin": "admin-demo"}


def demo_accounts() -> dict[str, Account]:
    return {
        name: Account(name, generate_password_hash(password), admin=name == "admin")
        for name, password in DEMO_USERS.items()
    }


def demo_manager() -> SessionManager:
    """Demo settings: plain HTTP on loopback, so the cookie cannot be ``__Host-``/``Secure``.

    Production keeps Tessera's defaults (``__Host-session``, ``Secure``). Timeouts can be
    shortened with TESSERA_DEMO_IDLE / TESSERA_DEMO_ABSOLUTE (seconds) to watch them work.
    """
    return SessionManager(
        cookie_name="tessera_demo",
        cookie_secure=False,
        idle_timeout=float(os.environ.get("TESSERA_DEMO_IDLE", 15 * 60)),
        absolute_timeout=float(os.environ.get("TESSERA_DEMO_ABSOLUTE", 8 * 60 * 60)),
        rotation_interval=float(os.environ.get("TESSERA_DEMO_ROTATION", 5 * 60)),
        rotation_grace=float(os.environ.get("TESSERA_DEMO_GRACE", 10)),
        sweep_interval=30,
    )


def create_app(
    manager: Optional[SessionManager] = None, accounts: Optional[dict[str, Account]] = None
) -> Flask:
    app = Flask(__name__)
    manager = manager or demo_manager()
    accounts = accounts or demo_accounts()
    TesseraSessionInterface(manager).init_app(app)
    csrf_protect(app)

    def current() -> TesseraSession:
        s = session
        assert isinstance(s, TesseraSession)
        return s

    def signed_in() -> Account:
        user = current().user
        if user is None or user not in accounts:
            abort(redirect(url_for("sign_in")))
        return accounts[user]

    @app.after_request
    def no_store_for_signed_in_pages(response: Response) -> Response:
        # A signed-in page must not come back from a cache (the back button after sign-out,
        # a shared proxy): Tessera adds no-store when it sets a cookie, the app on the rest.
        if current().user is not None:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.template_filter("ago")
    def ago(moment: float) -> str:
        return duration(manager.now() - moment) + " ago"

    @app.template_filter("left")
    def left(moment: Optional[float]) -> str:
        return "—" if moment is None else duration(moment - manager.now())

    @app.template_filter("device")
    def device(user_agent: Optional[str]) -> str:
        return short_device(user_agent)

    @app.errorhandler(403)
    @app.errorhandler(404)
    def error_page(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        page = render_template(
            "error.html", code=code, name=error.name, description=error.description
        )
        return page, code

    @app.get("/")
    def home() -> Response:
        target = "account" if current().user else "sign_in"
        return redirect(url_for(target))

    @app.get("/login")
    def sign_in() -> str:
        return render_template("login.html", users=DEMO_USERS, error=None)

    @app.post("/login")
    def do_sign_in() -> tuple[str, int] | Response:
        name = request.form.get("user", "")
        account = accounts.get(name)
        if account is None or not check_password_hash(
            account.password_hash, request.form.get("password", "")
        ):
            page = render_template("login.html", users=DEMO_USERS, error="Wrong user or password.")
            return page, 401
        login(account.name)
        return redirect(url_for("account"))

    @app.get("/account")
    def account() -> str:
        me = signed_in()
        s = current()
        sessions = manager.list_user(me.name)
        return render_template("account.html", me=me, s=s, sessions=sessions)

    @app.post("/sessions/<session_id>/end")
    def end_session(session_id: str) -> Response:
        me = signed_in()
        if session_id not in {i.id for i in manager.list_user(me.name)}:
            abort(404)
        if session_id == current().session_id:
            logout()
            return redirect(url_for("sign_in"))
        manager.revoke(session_id)
        return redirect(url_for("account"))

    @app.post("/logout")
    def do_logout() -> Response:
        logout()
        return redirect(url_for("sign_in"))

    @app.post("/logout-others")
    def logout_others() -> Response:
        me = signed_in()
        manager.revoke_user_except(me.name, current().token or "")
        return redirect(url_for("account"))

    @app.post("/logout-everywhere")
    def logout_everywhere() -> Response:
        me = signed_in()
        manager.revoke_user(me.name)
        logout()
        return redirect(url_for("sign_in"))

    @app.get("/admin")
    def admin() -> str:
        me = signed_in()
        if not me.admin:
            abort(403)
        counts = {name: len(manager.list_user(name)) for name in accounts}
        return render_template("admin.html", me=me, counts=counts, s=current())

    @app.post("/admin/users/<name>/end")
    def admin_end(name: str) -> Response:
        me = signed_in()
        if not me.admin:
            abort(403)
        manager.revoke_user(name)
        if name == me.name:
            logout()
            return redirect(url_for("sign_in"))
        return redirect(url_for("admin"))

    return app


def short_device(user_agent: Optional[str]) -> str:
    """"Chrome 156 on Linux" from a User-Agent header, for the sessions table."""
    if not user_agent:
        return "unknown device"
    ua = user_agent
    browser = "a browser"
    for name, marker in [("Edge", "Edg/"), ("Chrome", "Chrome/"), ("Firefox", "Firefox/"),
                         ("Safari", "Version/"), ("curl", "curl/"), ("Python", "Python-urllib/")]:
        if marker in ua:
            version = ua.split(marker, 1)[1].split(".", 1)[0].split(" ", 1)[0]
            browser = f"{name} {version}"
            break
    system = next((s for s in ("Android", "iPhone", "Windows", "Mac OS X", "Linux") if s in ua), "")
    if system == "Mac OS X":
        system = "macOS"
    return f"{browser} on {system}" if system else browser


def duration(seconds: float) -> str:
    # Round up: a session with 3.9 s left still has "4 s", and a fresh one shows its full timeout.
    seconds = max(0, math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
