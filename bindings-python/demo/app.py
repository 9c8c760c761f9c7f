"""The Flask demo site, one of three (Flask, Express, C) that share one session store.

Pages: the start page (sign-in, the other two sites, what to try, what differs from the
defaults), your account (who you are, your sessions per device, live countdowns, sign-out
buttons, whether each device is bound, when you last authenticated), "Change password" behind
require_recent with its re-authentication page, the administrator's page, confirmation pages
before the two mass actions, and the "why you were signed out" page. Every form carries a CSRF
token. Device-bound sessions (DBSC) are on: Tessera answers its two endpoints itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from flask import Flask, abort, redirect, render_template, request, session, url_for
from tessera import ManualClock, SessionInfo, SessionManager
from tessera.flask import (
    DBSC_BLUEPRINT,
    TesseraSession,
    TesseraSessionInterface,
    csrf_protect,
    login,
    logout,
    reauthenticate,
    require_recent,
)
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from demo.config import SITE, SITE_NAMES, DemoConfig
from demo.events import EventLog
from demo.outside import Outside


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    admin: bool = False


# The same three accounts in the three servers.
DEMO_USERS = {"alice": "alice-demo", "bob": "bob-demo", "admin": "admin-demo"}

# "Why you were signed out", by the code EventLog.explain gives (the same codes in the three).
WHY = {
    "expired_idle": "Your session expired: it was not used for {idle} (the idle timeout).",
    "expired_absolute": "Your session reached its absolute lifetime of {absolute}: a session "
    "ends then, however active it is.",
    "everywhere": "Someone signed in as you chose “Sign out everywhere”{on}: every session of "
    "the account ended, this one too.",
    "device": "This device was signed out from another device (“Sign out this device”{on}).",
    "admin": "An administrator ended all your sessions{on}, as after a password reset.",
    "revoked": "Your session was ended on the server{on}.",
    "logged_out": "This session was signed out{on}.",
    "unknown": "The server no longer knows this session (was the demo restarted?).",
    "malformed": "The session cookie was not one the server issued.",
    "binding_missing": "This session is bound to a device key, and this request did not prove "
    "it (no current short-lived bound cookie): a copied session cookie alone signs nobody in. "
    "The device that holds the key stays signed in.",
}


def demo_accounts() -> dict[str, Account]:
    return {
        name: Account(name, generate_password_hash(password), admin=name == "admin")
        for name, password in DEMO_USERS.items()
    }


def create_app(
    config: Optional[DemoConfig] = None,
    manager: Optional[SessionManager] = None,
    accounts: Optional[dict[str, Account]] = None,
    clock: Optional[ManualClock] = None,
) -> Flask:
    """The site for `config` (default: this process alone, on its own memory store). A given
    `manager` (with its test `clock`) replaces the one the configuration describes."""
    app = Flask(__name__)
    config = config or DemoConfig(sites={SITE: ""})
    if manager is None:
        manager, clock = config.manager()
    accounts = accounts or demo_accounts()
    events = EventLog(config.events, SITE_NAMES[SITE])
    manager.add_listener(events.record)
    # require_recent sends a stale sign-in to /reauth, an anonymous one to the start page.
    TesseraSessionInterface(manager, login_url="/", reauthenticate_url="/reauth").init_app(app)
    app.wsgi_app = Outside(app.wsgi_app, config, manager, events, clock)  # type: ignore[method-assign,assignment]

    def current() -> TesseraSession:
        s = session
        assert isinstance(s, TesseraSession)
        return s

    def signed_in() -> Account:
        user = current().user
        if user is None or user not in accounts:
            abort(redirect("/"))
        return accounts[user]

    def me_or_none() -> Optional[Account]:
        user = current().user
        return accounts.get(user) if user is not None else None

    def page(template: str, **context: Any) -> str:
        return render_template(
            template,
            me=me_or_none(),
            site=SITE,
            sites=config.sites,
            names=SITE_NAMES,
            config=config,
            **context,
        )

    @app.before_request
    def explain_an_ended_session() -> Optional[Response]:
        # Before the CSRF check: a form posted from a page whose session has ended since gets
        # the explanation, not a CSRF error. Nothing of the token is kept: its public id (a
        # one-way hash) is looked up in the audit log, then forgotten.
        if request.blueprint == DBSC_BLUEPRINT:
            return None  # the DBSC endpoints: no session is begun for them
        reason = current().native.reason
        if reason is None or request.path == "/signed-out":
            return None
        if request.method == "POST" and request.path == "/login":
            return None  # a sign-in replaces whatever cookie the browser had
        session_id = None
        if reason != "malformed":
            token = manager.cookie_token(request.headers.get("Cookie", ""))
            session_id = manager.id_of(token) if token else None
        why, where = events.explain(session_id, reason)
        return redirect(url_for("signed_out", why=why, site=where))

    csrf_protect(app)

    @app.after_request
    def no_store_for_signed_in_pages(response: Response) -> Response:
        # A signed-in page must not come back from a cache (the back button after sign-out,
        # a shared proxy): Tessera adds no-store when it sets a cookie, the app on the rest.
        if request.blueprint != DBSC_BLUEPRINT and current().user is not None:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.template_filter("ago")
    def ago(moment: float) -> str:
        return duration(manager.now() - moment) + " ago"

    @app.template_filter("device")
    def device(user_agent: Optional[str]) -> str:
        return short_device(user_agent)

    @app.template_filter("thumbprint")
    def thumbprint_filter(thumbprint: Optional[str]) -> str:
        return short_thumbprint(thumbprint)

    @app.template_filter("duration")
    def duration_filter(seconds: float) -> str:
        return duration(seconds)

    @app.errorhandler(403)
    @app.errorhandler(404)
    def error_page(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        return page("error.html", code=code, name=error.name, description=error.description), code

    @app.get("/")
    @app.get("/login")
    def start() -> str:
        return page("start.html", users=DEMO_USERS, error=None)

    @app.post("/login")
    def do_sign_in() -> tuple[str, int] | Response:
        name = request.form.get("user", "")
        account = accounts.get(name)
        if account is None or not check_password_hash(
            account.password_hash, request.form.get("password", "")
        ):
            return page("start.html", users=DEMO_USERS, error="Wrong user or password."), 401
        # One factor, a password: level 1 (the demo's require_recent asks for level 1). Over
        # HTTPS (loopback here, see outside.py) the response also offers a device binding.
        login(account.name, level=1, amr=["pwd"])
        return redirect(url_for("account"))

    @app.get("/account")
    def account() -> str:
        me = signed_in()
        s = current()
        sessions = manager.list_user(me.name)
        this = next((i for i in sessions if i.id == s.session_id), None)
        return page(
            "account.html",
            s=s,
            sessions=sessions,
            clocks=clocks(this, s.session_id),
            auth_age=None if s.authenticated_at is None else manager.now() - s.authenticated_at,
            recent=duration(config.recent_ms / 1000),
        )

    @app.get("/change-password")
    @require_recent(max_age=config.recent_ms / 1000, level=1)
    def change_password_form() -> str:
        signed_in()
        return page("change_password.html", changed=False, recent=duration(config.recent_ms / 1000))

    @app.post("/change-password")
    @require_recent(max_age=config.recent_ms / 1000, level=1)
    def change_password() -> str:
        me = signed_in()
        # The demo has no real passwords: it only says so (a real app stores the new hash).
        print(f"{me.name} changed the password (demo: nothing stored)", flush=True)
        return page("change_password.html", changed=True, recent=duration(config.recent_ms / 1000))

    @app.get("/reauth")
    def reauth_form() -> str:
        signed_in()
        return page("reauth.html", next=safe_next(request.args.get("next")), error=None)

    @app.post("/reauth")
    def do_reauth() -> tuple[str, int] | Response:
        me = signed_in()
        target = safe_next(request.form.get("next"))
        if not check_password_hash(me.password_hash, request.form.get("password", "")):
            return page("reauth.html", next=target, error="Wrong password."), 401
        # A new token (the old one dead at once), authenticated as of now; binding kept.
        reauthenticate(level=1, amr=["pwd"])
        return redirect(target)

    def clocks(this: Optional[SessionInfo], session_id: Optional[str]) -> dict[str, Any]:
        """The countdowns' values at render time, in ms; the page's script ticks them down."""
        now = manager.now()
        out: dict[str, Any] = {"idle": None, "absolute": None, "rotation": None, "rotated": None}
        if this is None:
            return out
        out["idle"] = round((this.expires_at - now) * 1000)
        out["absolute"] = round((this.absolute_deadline - now) * 1000)
        rotated_at = events.rotated_at(session_id) if session_id else None
        interval = config.rotation_interval
        if rotated_at is not None:
            out["rotated"] = duration(now - rotated_at) + " ago"
            if interval is not None:
                out["rotation"] = round((rotated_at + interval - now) * 1000)
        return out

    @app.post("/sessions/<session_id>/end")
    def end_session(session_id: str) -> Response:
        me = signed_in()
        if session_id not in {i.id for i in manager.list_user(me.name)}:
            abort(404)
        if session_id == current().session_id:
            logout()
            return redirect("/")
        with events.cause("device"):
            manager.revoke(session_id)
        return redirect(url_for("account"))

    @app.post("/logout")
    def do_logout() -> Response:
        logout()
        return redirect("/")

    @app.post("/logout-others")
    def logout_others() -> Response:
        me = signed_in()
        with events.cause("device"):
            for info in manager.list_user(me.name):
                if info.id != current().session_id:
                    manager.revoke(info.id)
        return redirect(url_for("account"))

    @app.get("/logout-everywhere")
    def confirm_logout_everywhere() -> str:
        me = signed_in()
        count = len(manager.list_user(me.name))
        return page(
            "confirm.html",
            question=f"Sign out all {count} session(s) of {me.name}, on every device and site?",
            action="/logout-everywhere",
            button="Yes, sign out everywhere",
        )

    @app.post("/logout-everywhere")
    def logout_everywhere() -> Response:
        me = signed_in()
        with events.cause("everywhere"):
            manager.revoke_user(me.name)
        logout()
        return redirect("/")

    @app.get("/admin")
    def admin() -> str:
        me = signed_in()
        if not me.admin:
            abort(403)
        counts = {name: len(manager.list_user(name)) for name in accounts}
        return page("admin.html", counts=counts)

    @app.get("/admin/users/<name>/end")
    def confirm_admin_end(name: str) -> str:
        me = signed_in()
        if not me.admin:
            abort(403)
        if name not in accounts:
            abort(404)
        count = len(manager.list_user(name))
        return page(
            "confirm.html",
            question=f"End all {count} session(s) of {name}? They are signed out everywhere.",
            action=f"/admin/users/{name}/end",
            button=f"Yes, end {name}'s sessions",
        )

    @app.post("/admin/users/<name>/end")
    def admin_end(name: str) -> Response:
        me = signed_in()
        if not me.admin:
            abort(403)
        with events.cause("admin"):
            manager.revoke_user(name)
        if name == me.name:
            logout()
            return redirect("/")
        return redirect(url_for("admin"))

    @app.get("/signed-out")
    def signed_out() -> str:
        why = request.args.get("why", "unknown")
        where = request.args.get("site", "")
        text = WHY.get(why, WHY["unknown"]).format(
            idle=duration(manager.idle_timeout),
            absolute=duration(manager.absolute_timeout),
            on=f" on the {where} site" if where else "",
        )
        return page("signed_out.html", why=why if why in WHY else "unknown", text=text)

    return app


def safe_next(target: Optional[str]) -> str:
    """A local path to go back to after re-authenticating; never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/account"
    return target


def short_thumbprint(thumbprint: Optional[str]) -> str:
    """The first characters of a key's RFC 7638 thumbprint: enough to tell two keys apart."""
    return f"{thumbprint[:10]}…" if thumbprint else ""


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
