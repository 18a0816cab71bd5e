"""Sanic: ``request.ctx.session`` is a sessionary session.

    from sanic import Sanic, text
    from sessionary.integrations.sanic import get_session, setup

    app = Sanic("shop")
    setup(app, store="sqlite:///sessions.db")

    @app.get("/")
    async def home(request):
        session = await get_session(request)       # loaded with one async read
        session["visits"] = session.get("visits", 0) + 1
        return text("ok")

A request middleware puts the session in ``request.ctx.session``, read (asynchronously,
one store call) before the handler when the request carries a session cookie
(``preload``, on by default; a request without the cookie makes no store call), a
response middleware saves it on the store's async face and adds the cookie, and the
store is closed when the server stops. So plain ``request.ctx.session["key"]`` never
waits on the store in a handler, and ``login`` / ``logout`` / ``cycle_key`` there leave
their store calls to the async save. With ``preload=False`` the session is lazy: read
it through ``await get_session(request)`` or the ``a*`` methods. A
store failure answers 503 and a session ended mid-request 400, neither with a cookie.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

logger = logging.getLogger("sessionary")


def setup(
    app: Sanic[Any, Any],
    store: str | Store = DEFAULT_STORE,
    config: Config | None = None,
    *,
    manager: SessionManager | None = None,
    preload: bool = True,
    **settings: Any,
) -> SessionManager:
    """Install the middleware, the 503 / 400 error answers and the store's closing on
    ``app``; its manager is ``app.ctx.sessionary`` (:func:`get_manager`). ``preload``
    (on by default) reads the session before the handler when the request carries a
    session cookie."""
    manager = manager or SessionManager(store, config, **settings)
    app.ctx.sessionary = manager
    if preload:
        manager.serve_async_views()

    async def open_session(request: Request) -> None:
        headers = request.headers
        session = manager.open(
            ", ".join(headers.getall("cookie", [])) or None,
            client_ip=request.remote_addr or request.ip,
            user_agent=headers.get("user-agent"),
        )
        request.ctx.session = session
        if preload:
            session.state.defers = True
            if session.loadable:
                await session.aload()  # a store failure here is answered by ``failed``
                session.accessed = False  # the middleware's read, not the handler's (no Vary)

    async def close_session(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
        session = getattr(request.ctx, "session", None)
        if not isinstance(session, Session):
            return None
        request.ctx.session = None  # closed once (Sanic may run this again for an error page)
        try:
            outcome = await manager.aclose_session(session, response.status)
        except (StoreError, SessionInterrupted) as error:
            return _failure(manager, error)
        except Exception as error:
            # A value that cannot be stored, a cookie too large...: Sanic would log an
            # error raised here and send the handler's response without the save, so
            # answer as for an error in the handler (500, through the app's handler).
            logger.exception("the session could not be saved")
            answer: HTTPResponse = request.app.error_handler.response(request, error)  # type: ignore[no-untyped-call]
            return answer
        if not outcome.changes_nothing:
            headers = outcome.apply(list(response.headers.items()))
            response.headers.clear()
            response.headers.extend(headers)
        return None

    async def failed(request: Request, error: Exception) -> HTTPResponse:
        request.ctx.session = None  # nothing of this request is saved
        return _failure(manager, error)

    async def close_store(app: Sanic[Any, Any]) -> None:
        await manager.aclose()

    # First in, last out: other middleware see the session, and the save sees their changes.
    app.register_middleware(open_session, "request", priority=1000)
    app.register_middleware(close_session, "response", priority=-1000)
    app.error_handler.add(StoreError, failed)
    app.error_handler.add(SessionInterrupted, failed)
    app.register_listener(close_store, "after_server_stop")
    return manager


def _failure(manager: SessionManager, error: Exception) -> HTTPResponse:
    status, headers, body = failure_response(manager, error)
    return HTTPResponse(body, status=status, headers=dict(headers))


def get_manager(app: Sanic[Any, Any]) -> SessionManager:
    manager = getattr(app.ctx, "sessionary", None)
    if not isinstance(manager, SessionManager):
        raise RuntimeError("sessionary is not set up on this app: call setup(app)")
    return manager


def session_of(request: Request) -> Session:
    session = getattr(request.ctx, "session", None)
    if not isinstance(session, Session):
        raise RuntimeError(
            "no sessionary session on this request: call sessionary.integrations.sanic.setup(app)"
        )
    return session


async def get_session(request: Request) -> Session:
    """The request's session, loaded with one asynchronous read (none without a cookie)."""
    session = session_of(request)
    await session.aload()
    return session


__all__ = ["get_manager", "get_session", "session_of", "setup"]
