"""aiohttp-session's public names on sessionary, so that its own tests run against it.

Each storage is a sessionary store (a fresh SQLite file per storage object); the
storage's cookie options become sessionary settings. Plain http test servers need
``cookie_secure=False`` (aiohttp's cookie jar keeps Secure cookies off http).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from sessionary import SessionManager
from sessionary.integrations import aiohttp as integration
from sessionary.integrations.aiohttp import AiohttpSession as Session
from sessionary.integrations.aiohttp import get_session, new_session

SESSION_KEY = "aiohttp_session"
STORAGE_KEY = "aiohttp_session_storage"


class AbstractStorage:
    def __init__(
        self,
        *,
        cookie_name: str = "AIOHTTP_SESSION",
        domain: str | None = None,
        max_age: int | None = None,
        path: str = "/",
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = None,
        **_: Any,
    ) -> None:
        folder = Path(tempfile.mkdtemp(prefix="aiohttp-session-suite-"))
        settings: dict[str, Any] = {
            "cookie_name": cookie_name,
            "cookie_path": path,
            "cookie_domain": domain,
            "cookie_httponly": httponly,
            "cookie_secure": bool(secure),
            "expire_at_browser_close": max_age is None,
        }
        if max_age is not None:
            settings["cookie_age"] = max_age
        if samesite is not None:
            settings["cookie_samesite"] = samesite.capitalize()
        self.manager = SessionManager(f"sqlite:///{folder}/sessions.db", **settings)


class SimpleCookieStorage(AbstractStorage):
    pass


def session_middleware(storage: AbstractStorage) -> integration.SessionaryMiddleware:
    if not isinstance(storage, AbstractStorage):
        raise RuntimeError(f"Expected AbstractStorage got {storage}")
    return integration.SessionaryMiddleware(manager=storage.manager)


def setup(app: web.Application, storage: AbstractStorage) -> None:
    integration.setup(app, manager=storage.manager)


__all__ = [
    "SESSION_KEY",
    "STORAGE_KEY",
    "AbstractStorage",
    "Session",
    "SimpleCookieStorage",
    "get_session",
    "new_session",
    "session_middleware",
    "setup",
]
