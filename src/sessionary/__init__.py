"""sessionary: server-side sessions for Python web applications.

Django's session and expiry semantics, on any ASGI or WSGI framework, on SQLite (the
embedded default), Redis, PostgreSQL or signed cookies, secure by default.

    from sessionary import SessionMiddleware
    app = SessionMiddleware(app, store="sqlite:///sessions.db")
"""

import logging

from . import presets
from .auth import alogin, alogout, login, logout
from .config import Config
from .devices import Device
from .errors import (
    BlockingCallError,
    BlockingCallWarning,
    ConfigError,
    CookieTooLarge,
    SessionaryError,
    SessionInterrupted,
    SessionTooLarge,
    SessionValueError,
    StoreConflict,
    StoreCorrupted,
    StoreError,
    StoreUnavailable,
    TooManySessions,
    UnsupportedOperation,
)
from .events import Event
from .integrations.asgi import SessionMiddleware
from .integrations.wsgi import SessionMiddleware as WSGISessionMiddleware
from .manager import SessionManager
from .session import Session
from .stores import Store, open_store

__version__ = "0.1.0"

# A library's records reach the app's handlers only: without this, an app that configured
# no logging would see them on stderr through logging.lastResort.
logging.getLogger("sessionary").addHandler(logging.NullHandler())

__all__ = [
    "BlockingCallError",
    "BlockingCallWarning",
    "Config",
    "ConfigError",
    "CookieTooLarge",
    "Device",
    "Event",
    "Session",
    "SessionInterrupted",
    "SessionManager",
    "SessionMiddleware",
    "SessionTooLarge",
    "SessionValueError",
    "SessionaryError",
    "Store",
    "StoreConflict",
    "StoreCorrupted",
    "StoreError",
    "StoreUnavailable",
    "TooManySessions",
    "UnsupportedOperation",
    "WSGISessionMiddleware",
    "alogin",
    "alogout",
    "login",
    "logout",
    "open_store",
    "presets",
]
