"""Type stubs for the native module (checked against it by mypy.stubtest in the tests)."""

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Final, Literal, Optional, Union, final

_Seconds = Union[int, float, timedelta]
_JSON = Any
_Expiry = Union[
    Literal["policy", "browser_session"],
    tuple[Literal["idle"], _Seconds],
    tuple[Literal["until"], _Seconds],
    tuple[Literal["persistent"], Optional[_Seconds]],
]
_Binding = Literal["unbound", "pending", "fresh"]
_Freshness = Literal["allowed", "anonymous", "stale", "level"]

__all__ = [
    "REASONS",
    "VERSION",
    "ConfigError",
    "DataTooLarge",
    "DbscResponse",
    "Event",
    "InternalError",
    "InvalidArgument",
    "ManualClock",
    "Request",
    "Response",
    "Session",
    "SessionInfo",
    "SessionManager",
    "SessionRejected",
    "StoreFull",
    "StoreUnavailable",
    "TesseraError",
]

REASONS: Final[list[str]]
VERSION: Final[str]

class TesseraError(Exception):
    code: Optional[str]
    response: Optional[Response]

class ConfigError(TesseraError): ...
class InvalidArgument(TesseraError): ...
class DataTooLarge(TesseraError): ...
class StoreUnavailable(TesseraError): ...
class StoreFull(StoreUnavailable): ...
class InternalError(TesseraError): ...

class SessionRejected(TesseraError):
    reason: str

@final
class ManualClock:
    def __new__(cls, start: Optional[_Seconds] = None) -> ManualClock: ...
    def now(self) -> float: ...
    def advance(self, seconds: _Seconds) -> None: ...
    def set(self, now: _Seconds) -> None: ...

@final
class Session:
    @property
    def id(self) -> str: ...
    @property
    def user(self) -> Optional[str]: ...
    @property
    def data(self) -> dict[str, _JSON]: ...
    def get(self, key: str, default: _JSON = None) -> _JSON: ...
    @property
    def new_token(self) -> Optional[str]: ...
    @property
    def rotated(self) -> bool: ...
    @property
    def created_at(self) -> float: ...
    @property
    def last_seen(self) -> float: ...
    @property
    def expires_at(self) -> float: ...
    @property
    def absolute_deadline(self) -> float: ...
    @property
    def secure(self) -> bool: ...
    @property
    def user_agent(self) -> Optional[str]: ...
    @property
    def binding(self) -> _Binding: ...
    @property
    def authenticated_at(self) -> Optional[float]: ...
    @property
    def auth_level(self) -> Optional[int]: ...
    @property
    def amr(self) -> list[str]: ...
    def csrf_token(self) -> str: ...
    def verify_csrf(self, candidate: object) -> bool: ...

@final
class Request:
    @property
    def user(self) -> Optional[str]: ...
    @property
    def data(self) -> dict[str, _JSON]: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def token(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def csrf(self) -> Literal["not_needed", "valid", "invalid"]: ...
    @property
    def ended(self) -> bool: ...
    @property
    def expires_at(self) -> Optional[float]: ...
    @property
    def absolute_deadline(self) -> Optional[float]: ...
    @property
    def binding(self) -> Optional[_Binding]: ...
    @property
    def authenticated_at(self) -> Optional[float]: ...
    @property
    def auth_level(self) -> Optional[int]: ...
    @property
    def amr(self) -> list[str]: ...
    def ensure_id(self) -> str: ...
    def csrf_token(self) -> str: ...
    def verify_csrf(self, candidate: object) -> bool: ...
    def login_keeps_data(self, user: str) -> bool: ...
    def login(
        self, user: str, *, level: Optional[int] = None, amr: Optional[Iterable[str]] = None
    ) -> None: ...
    def reauthenticate(
        self, *, level: Optional[int] = None, amr: Optional[Iterable[str]] = None
    ) -> bool: ...
    def offer_binding(self) -> bool: ...
    def require_recent(self, max_age: _Seconds, level: Optional[int] = None) -> _Freshness: ...
    def logout(self) -> bool: ...
    def regenerate(self) -> bool: ...
    def write(
        self, set: Optional[Mapping[str, _JSON]] = None, remove: Optional[Iterable[str]] = None
    ) -> None: ...
    def set_expiry(self, expiry: _Expiry) -> None: ...
    def prepare(
        self,
        data: Optional[Mapping[str, _JSON]] = None,
        *,
        login: Optional[str] = None,
        logout: bool = False,
        user_known: bool = False,
        user: Optional[str] = None,
        regenerate: bool = False,
        expiry: Optional[_Expiry] = None,
        expiry_changed: bool = False,
        error: bool = False,
        reauthenticate: bool = False,
        level: Optional[int] = None,
        amr: Optional[Iterable[str]] = None,
    ) -> Response: ...
    def finish(
        self,
        data: Optional[Mapping[str, _JSON]] = None,
        *,
        login: Optional[str] = None,
        logout: bool = False,
        user_known: bool = False,
        user: Optional[str] = None,
        regenerate: bool = False,
        expiry: Optional[_Expiry] = None,
        expiry_changed: bool = False,
        error: bool = False,
        reauthenticate: bool = False,
        level: Optional[int] = None,
        amr: Optional[Iterable[str]] = None,
    ) -> Response: ...
    def close(
        self,
        data: Optional[Mapping[str, _JSON]] = None,
        *,
        login: Optional[str] = None,
        logout: bool = False,
        user_known: bool = False,
        user: Optional[str] = None,
        regenerate: bool = False,
        expiry: Optional[_Expiry] = None,
        expiry_changed: bool = False,
        error: bool = False,
        reauthenticate: bool = False,
        level: Optional[int] = None,
        amr: Optional[Iterable[str]] = None,
    ) -> tuple[Response, list[tuple[str, str]], bool, bool, Optional[str]]: ...

@final
class Response:
    @property
    def set_cookie(self) -> Optional[str]: ...
    @property
    def csrf_cookie(self) -> Optional[str]: ...
    @property
    def no_store(self) -> bool: ...
    @property
    def session_id(self) -> Optional[str]: ...
    @property
    def user(self) -> Optional[str]: ...
    @property
    def ended(self) -> bool: ...
    def headers(self) -> list[tuple[str, str]]: ...

@final
class SessionInfo:
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> float: ...
    @property
    def last_seen(self) -> float: ...
    @property
    def expires_at(self) -> float: ...
    @property
    def absolute_deadline(self) -> float: ...
    @property
    def user_agent(self) -> Optional[str]: ...
    @property
    def secure(self) -> bool: ...
    @property
    def authenticated_at(self) -> Optional[float]: ...
    @property
    def auth_level(self) -> Optional[int]: ...
    @property
    def amr(self) -> list[str]: ...
    @property
    def bound(self) -> bool: ...
    @property
    def bound_at(self) -> Optional[float]: ...
    @property
    def key_thumbprint(self) -> Optional[str]: ...

@final
class DbscResponse:
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> str: ...
    def headers(self) -> list[tuple[str, str]]: ...

@final
class Event:
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> Optional[str]: ...
    @property
    def previous_id(self) -> Optional[str]: ...
    @property
    def user(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def at(self) -> float: ...
    @property
    def detail(self) -> Optional[str]: ...

@final
class SessionManager:
    def __new__(
        cls,
        *,
        clock: Optional[ManualClock] = None,
        idle_timeout: _Seconds = ...,
        absolute_timeout: _Seconds = ...,
        rotation_interval: Optional[_Seconds] = ...,
        rotation_grace: _Seconds = ...,
        max_sessions_per_user: Optional[int] = ...,
        max_sessions: Optional[int] = ...,
        max_data_bytes: int = ...,
        login_keeps_data: bool = ...,
        pepper: Union[str, bytes, None] = ...,
        cookie_name: str = ...,
        cookie_secure: bool = ...,
        cookie_http_only: bool = ...,
        cookie_same_site: str = ...,
        cookie_path: str = ...,
        cookie_domain: Optional[str] = ...,
        cookie_max_age: Optional[_Seconds] = ...,
        sweep_interval: Optional[_Seconds] = ...,
        store: str = ...,
        dbsc: bool = ...,
        dbsc_algorithms: list[Literal["ES256", "RS256"]] = ...,
        dbsc_cookie_ttl: _Seconds = ...,
        dbsc_challenge_ttl: _Seconds = ...,
        dbsc_registration_ttl: _Seconds = ...,
        dbsc_enforce_grace: _Seconds = ...,
        dbsc_path_prefix: str = ...,
        dbsc_origin: Optional[str] = ...,
        dbsc_include_site: bool = ...,
        dbsc_revoke_on_bad_proof: bool = ...,
    ) -> SessionManager: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def cookie_name(self) -> str: ...
    @property
    def idle_timeout(self) -> float: ...
    @property
    def absolute_timeout(self) -> float: ...
    @property
    def store_is_shared(self) -> bool: ...
    @property
    def forked(self) -> bool: ...
    @property
    def dbsc(self) -> bool: ...
    @property
    def dbsc_path_prefix(self) -> Optional[str]: ...
    @property
    def bound_cookie_name(self) -> str: ...
    def now(self) -> float: ...
    def begin(
        self,
        cookie_header: Union[str, bytes, None],
        *,
        method: str = "GET",
        https: bool = False,
        user_agent: Union[str, bytes, None] = None,
        csrf: Union[str, bytes, None] = None,
    ) -> Request: ...
    def open(
        self,
        cookie_header: Union[str, bytes, None],
        *,
        method: str = "GET",
        https: bool = False,
        user_agent: Union[str, bytes, None] = None,
        csrf: Union[str, bytes, None] = None,
    ) -> tuple[
        Request,
        dict[str, _JSON],
        Optional[str],
        Optional[str],
        Optional[str],
        Literal["not_needed", "valid", "invalid"],
        bool,
    ]: ...
    def create(
        self,
        user: Optional[str] = None,
        data: Optional[Mapping[str, _JSON]] = None,
        *,
        https: bool = False,
        user_agent: Optional[str] = None,
    ) -> Session: ...
    def validate(
        self, token: Union[str, bytes], *, https: bool = False, user_agent: Optional[str] = None
    ) -> Session: ...
    def rotate(self, token: Union[str, bytes], *, https: bool = False) -> Session: ...
    def login(
        self,
        user: str,
        token: Union[str, bytes, None] = None,
        *,
        https: bool = False,
        user_agent: Optional[str] = None,
        level: Optional[int] = None,
        amr: Optional[Iterable[str]] = None,
    ) -> Session: ...
    def reauthenticate(
        self,
        token: Union[str, bytes],
        *,
        level: Optional[int] = None,
        amr: Optional[Iterable[str]] = None,
        https: bool = False,
        user_agent: Optional[str] = None,
    ) -> Session: ...
    def require_recent(
        self,
        token: Union[str, bytes],
        max_age: _Seconds,
        level: Optional[int] = None,
        *,
        https: bool = False,
    ) -> _Freshness: ...
    def unbind(self, session_id: str) -> bool: ...
    def dbsc_register(
        self,
        cookie_header: Union[str, bytes, None],
        *,
        method: str = "POST",
        https: bool = False,
        origin: Union[str, bytes, None] = None,
        proof: Union[str, bytes, None] = None,
    ) -> DbscResponse: ...
    def dbsc_refresh(
        self,
        cookie_header: Union[str, bytes, None],
        *,
        method: str = "POST",
        https: bool = False,
        origin: Union[str, bytes, None] = None,
        session_id: Union[str, bytes, None] = None,
        proof: Union[str, bytes, None] = None,
    ) -> DbscResponse: ...
    def logout(self, token: Union[str, bytes]) -> bool: ...
    def revoke(self, session_id: str) -> bool: ...
    def revoke_user(self, user: str) -> int: ...
    def revoke_user_except(self, user: str, token: Union[str, bytes]) -> int: ...
    def revoke_all(self) -> int: ...
    def list_user(self, user: str) -> list[SessionInfo]: ...
    def set(self, session_id: str, key: str, value: _JSON) -> None: ...
    def remove_key(self, session_id: str, key: str) -> None: ...
    def replace_data(self, session_id: str, data: Mapping[str, _JSON]) -> None: ...
    def patch(
        self,
        session_id: str,
        set: Optional[Mapping[str, _JSON]] = None,
        remove: Optional[Iterable[str]] = None,
    ) -> dict[str, _JSON]: ...
    def csrf_token(self, token: Union[str, bytes]) -> str: ...
    def verify_csrf(self, token: Union[str, bytes], candidate: Union[str, bytes]) -> bool: ...
    def sweep(self) -> int: ...
    def store_len(self) -> int: ...
    def id_of(self, token: Union[str, bytes]) -> str: ...
    def set_cookie(self, token: Union[str, bytes]) -> str: ...
    def clear_cookie(self) -> str: ...
    def cookie_token(self, header: Union[str, bytes]) -> Optional[str]: ...
    def add_listener(self, listener: Callable[[Event], object]) -> None: ...
