"""aiohttp.web: a middleware, and ``await get_session(request)`` as aiohttp-session users write.

    from aiohttp import web
    from sessionary.integrations.aiohttp import get_session, setup

    async def handler(request: web.Request) -> web.Response:
        session = await get_session(request)        # loaded with one async read
        session["last_visit"] = time.time()
        return web.Response(text="ok")

    app = web.Application()
    setup(app, store="sqlite:///sessions.db")

``request["session"]`` is the same session, lazy: nothing is read until it is used, so a
handler that never looks at it costs no store call. Read it through ``get_session`` (or
the ``a*`` methods) in async handlers: plain ``request["session"]["key"]`` before that
loads through the store's sync face. aiohttp-session's own names keep working on the
session (``new``, ``created``, ``empty``, ``identity``, ``max_age``, ``changed()``,
``invalidate()``) and :func:`new_session`; the rest is sessionary's (Django's) API, with
:func:`sessionary.auth.alogin` / :func:`~sessionary.auth.alogout` for sign-in and sign-out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

logger = logging.getLogger("sessionary")

SESSION_KEY = "session"
MANAGER_KEY = web.AppKey("sessionary_manager", SessionManager)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AiohttpSession(Session):
    """A sessionary session with aiohttp-session's ``Session`` names on top."""

    @property
    def new(self) -> bool:
        """True when the request brought no live session."""
        self.load()
        return self.session_key is None

    @property
    def identity(self) -> str | None:
        """The session's public handle (never the token: aiohttp-session's identity is
        the storage key, which here is a secret only the cookie holds)."""
        self.load()
        return self.handle

    @property
    def created(self) -> int:
        """When the session was created, in Unix seconds (now for a new one)."""
        created = self.created_at
        return int(created.timestamp() if created is not None else self._manager.now())

    @property
    def empty(self) -> bool:
        return len(self) == 0

    @property
    def max_age(self) -> int | None:
        """The cookie's age in seconds; None for a cookie that ends at browser close."""
        if self.get_expire_at_browser_close():
            return None
        return int(self.get_expiry_age())

    @max_age.setter
    def max_age(self, value: int | None) -> None:
        self.set_expiry(0 if value is None else value)

    def changed(self) -> None:
        """Save every key at the end of the request (after in-place changes)."""
        self.modified = True

    @property
    def _changed(self) -> bool:
        """aiohttp-session's own flag (read by code written for it): whether this request
        changed the session."""
        return self.modified

    def invalidate(self) -> None:
        """End the session: the stored record is deleted and the cookie expired (unlike
        aiohttp-session's, which leaves an empty record behind)."""
        self.flush()


class SessionaryMiddleware:
    """The middleware: a lazy session in ``request["session"]``, saved (on the store's
    async face) before the response leaves; a store failure answers 503, a session
    ended mid-request 400, neither with a cookie."""

    __middleware_version__ = 1  # what ``@web.middleware`` marks: a (request, handler) middleware

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)
        self.manager.serve_async_views()

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        manager = self.manager
        headers = request.headers
        session = manager.open(
            ", ".join(headers.getall("Cookie", ())) or None,
            client_ip=request.remote,
            user_agent=headers.get("User-Agent"),
            session_class=AiohttpSession,
        )
        session.state.defers = True
        request[SESSION_KEY] = session
        raised: web.HTTPException | None = None
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as error:  # redirects and errors carry the cookie too
            response = raised = error
        except (StoreError, SessionInterrupted) as error:
            await session.asettle_after_error()
            return _failure(manager, error)
        except Exception:
            await session.asettle_after_error()
            raise
        if not isinstance(response, web.StreamResponse):
            raise RuntimeError(f"the handler returned {type(response).__name__!r}, not a web.StreamResponse")
        if response.prepared:
            await session.asettle_after_error()  # a sign-out must reach the store, cookie or not
            # Streamed or a WebSocket: the headers are gone, and with them the cookie.
            if session.modified:
                logger.error(
                    "%s %s: the session changed after the response was prepared (streamed), "
                    "so the change is not saved; change it before response.prepare()",
                    request.method,
                    request.path,
                )
            return response
        try:
            outcome = await manager.aclose_session(session, response.status)
        except (StoreError, SessionInterrupted) as error:
            return _failure(manager, error)
        if not outcome.changes_nothing:
            updated = outcome.apply(list(response.headers.items()))
            response.headers.clear()
            response.headers.extend(updated)
        if raised is not None:
            raise raised
        return response


def _failure(manager: SessionManager, error: Exception) -> web.Response:
    status, headers, body = failure_response(manager, error)
    return web.Response(status=status, headers=headers, body=body)


def setup(
    app: web.Application,
    store: str | Store = DEFAULT_STORE,
    config: Config | None = None,
    *,
    manager: SessionManager | None = None,
    **settings: Any,
) -> SessionManager:
    """Add the middleware (first, so later middleware see the session), keep the
    manager as ``app[MANAGER_KEY]`` and close its store on shutdown."""
    middleware = SessionaryMiddleware(store, config, manager=manager, **settings)
    app.middlewares.insert(0, middleware)
    app[MANAGER_KEY] = middleware.manager

    async def close(app: web.Application) -> None:
        await middleware.manager.aclose()

    app.on_cleanup.append(close)
    return middleware.manager


def session_of(request: web.Request) -> AiohttpSession:
    session = request.get(SESSION_KEY)
    if not isinstance(session, AiohttpSession):
        raise RuntimeError(
            "no sessionary session on this request: call sessionary.integrations.aiohttp.setup(app)"
        )
    return session


async def get_session(request: web.Request) -> AiohttpSession:
    """The request's session, loaded with one asynchronous read (none without a cookie)."""
    session = session_of(request)
    await session.aload()
    return session


async def new_session(request: web.Request) -> AiohttpSession:
    """An empty session in place of the request's (aiohttp-session's ``new_session``):
    the old record is deleted, and a new token is issued when something is saved."""
    session = session_of(request)
    await session.aflush()
    return session


def get_manager(app: web.Application) -> SessionManager:
    """The :class:`~sessionary.manager.SessionManager` :func:`setup` installed on ``app``."""
    try:
        return app[MANAGER_KEY]
    except KeyError:
        raise RuntimeError("sessionary is not set up on this app: call setup(app)") from None


__all__ = [
    "MANAGER_KEY",
    "AiohttpSession",
    "SessionaryMiddleware",
    "get_manager",
    "get_session",
    "new_session",
    "session_of",
    "setup",
]
