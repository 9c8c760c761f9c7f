"""A small typed program against the public API; `mypy --strict` must accept it."""

from __future__ import annotations

from typing import Optional

from tessera import ManualClock, Session, SessionInfo, SessionManager, SessionRejected


def sign_in(manager: SessionManager, user: str, cookie: Optional[str]) -> str:
    session: Session = manager.login(user, cookie, https=True, user_agent="typed/1.0")
    token = session.new_token
    assert token is not None
    return manager.set_cookie(token)


def current_user(manager: SessionManager, cookie_header: str) -> Optional[str]:
    try:
        token = manager.cookie_token(cookie_header)
        if token is None:
            return None
        session = manager.validate(token, https=True)
    except SessionRejected as rejected:
        reason: str = rejected.reason
        print("anonymous:", reason)
        return None
    return session.user


def devices(manager: SessionManager, user: str) -> list[str]:
    infos: list[SessionInfo] = manager.list_user(user)
    return [f"{i.user_agent or '?'} seen {i.last_seen:.0f}" for i in infos]


def main() -> None:
    clock = ManualClock()
    manager = SessionManager(clock=clock, idle_timeout=600, rotation_interval=None)
    header = sign_in(manager, "alice", None)
    print(header, current_user(manager, header.split(";")[0]), devices(manager, "alice"))
    clock.advance(601)
    print(manager.sweep(), manager.revoke_user("alice"))


if __name__ == "__main__":
    main()
