"""Tessera: secure web sessions from one Rust core.

>>> from tessera import SessionManager, ManualClock
>>> clock = ManualClock()
>>> manager = SessionManager(clock=clock, sweep_interval=None)
>>> session = manager.login("alice", https=True)
>>> token = session.new_token
>>> manager.validate(token, https=True).user
'alice'
>>> clock.advance(31 * 60)
>>> try:
...     manager.validate(token, https=True)
... except SessionRejected as e:
...     print(e.reason)
expired_idle

Framework glue: ``tessera.django`` (a session engine) and ``tessera.flask`` (a session interface).
"""

from tessera._native import (
    REASONS,
    VERSION,
    ConfigError,
    DataTooLarge,
    DbscResponse,
    Event,
    InternalError,
    InvalidArgument,
    ManualClock,
    Request,
    Response,
    Session,
    SessionInfo,
    SessionManager,
    SessionRejected,
    StoreFull,
    StoreUnavailable,
    TesseraError,
)
from tessera.deployment import DeploymentWarning

__version__ = VERSION

__all__ = [
    "REASONS",
    "ConfigError",
    "DataTooLarge",
    "DbscResponse",
    "DeploymentWarning",
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
    "__version__",
]
