"""ASGI middleware: ``scope["session"]`` is a sessionary session (Starlette's key, so
``request.session`` works in Starlette and FastAPI exactly as with their own middleware).

    app = SessionMiddleware(app, store="sqlite:///sessions.db")

The session is loaded only when the app uses it; the save and the cookie happen when
the response starts. WebSocket connections get the session too (to read: a WebSocket
handshake response sets no cookie here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .. import cycle
from ..config import Config
from ..cookies import is_test_client_request, starlette_spelling, without_secure
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("sessionary")
_warned_test_client = False


def _host(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"host":
            host: str = value.decode("latin-1")
            return host
    server = scope.get("server")
    return str(server[0]) if server else None


def relax_for_test_client(scope: Scope, set_cookie: str) -> str:
    """The session cookie for a plain-http request to a test client's host, without
    ``Secure`` (see :func:`sessionary.cookies.is_test_client_request`); said once in the
    log, so that the difference from production is never silent."""
    global _warned_test_client
    if not is_test_client_request(scope.get("scheme"), _host(scope)):
        return set_cookie
    if not _warned_test_client:
        _warned_test_client = True
        logger.warning(
            "sessionary: the session cookie goes without Secure to %s over plain http (a test "
            "client's host), so the test client sends it back; every other host gets Secure. "
            "To test the Secure cookie itself, use base_url='https://testserver' or set "
            "cookie_secure=True explicitly.",
            _host(scope),
        )
    return without_secure(set_cookie)


def open_for_scope(
    manager: SessionManager, scope: Scope, *, session_class: type[Session] | None = None
) -> Session:
    # One pass over the headers (every request comes through here); the client's address
    # and user agent only when the config records them.
    cookie: bytes | None = None  # the Cookie headers, joined as one (most requests send one)
    if manager.config.record_client:
        agents: list[bytes] = []
        for key, value in scope.get("headers", ()):
            if len(key) == 6 and key.lower() == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
            elif len(key) == 10 and key.lower() == b"user-agent":
                agents.append(value)
        client = scope.get("client")
        client_ip = client[0] if client else None
        user_agent = b", ".join(agents).decode("latin-1") if agents else None
    else:
        for key, value in scope.get("headers", ()):
            if len(key) == 6 and key.lower() == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
        client_ip = user_agent = None
    header = None if cookie is None else cookie.decode("latin-1")
    return manager.open(header, client_ip=client_ip, user_agent=user_agent, session_class=session_class)


class SessionMiddleware:
    """Server-side sessions for any ASGI app.

    ``preload=True`` loads the session (one asynchronous store read) before the app runs
    whenever the request carries a session cookie, as Starlette's own middleware reads its
    cookie on every request: plain ``request.session["x"]`` in an async view then never
    does I/O on the event loop. Without it, a request whose view never touches the
    session makes no store call even with a cookie; sync access loads through the store's
    sync client, on the loop (a blocking-call detector flags it, and so does
    ``blocking_store_calls="warn"`` or ``"raise"``; left at None it is ``"allow"`` here,
    ``"warn"`` with ``preload=True``); the ``a*`` methods always load asynchronously.

    While ``cookie_secure`` is left at its default (no ``config``, ``manager`` or
    ``cookie_secure`` given), a plain-http request to a test client's host
    (``http://testserver``) gets its cookie without ``Secure``, so an app's existing
    tests keep their sessions; every other request gets ``Secure``.

    The session cookie's attributes are spelled as Starlette's own middleware spells
    them (``path=/; httponly; samesite=lax; secure``), which this one replaces;
    ``starlette_spelling=False`` keeps Django's (``Path=/; HttpOnly; SameSite=Lax;
    Secure``). Browsers read both alike.
    """

    def __init__(
        self,
        app: ASGIApp,
        /,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        preload: bool = False,
        starlette_spelling: bool = True,
        **settings: Any,
    ) -> None:
        self.app = app
        self.manager = manager or SessionManager(store, config, **settings)
        self.preload = preload
        if preload:
            self.manager.serve_async_views()
        self.starlette_spelling = starlette_spelling
        self.relax_secure_for_tests = (
            manager is None
            and config is None
            and "cookie_secure" not in settings
            and self.manager.config.cookie_secure
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        manager = self.manager
        config = manager.config
        session = open_for_scope(manager, scope)
        scope["session"] = session
        if scope["type"] == "websocket":
            if self.preload and session.loadable:
                await session.aload()
            await self.app(scope, receive, send)
            return

        started = False
        replaced = False

        async def send_with_session(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the app's own response was replaced by a failure response
            if message["type"] == "http.response.start":
                if cycle.untouched(session.state, config):  # what close would say, at once
                    started = True
                    await send(message)
                    return
                try:
                    outcome = await manager.aclose_session(session, message["status"])
                except (StoreError, SessionInterrupted) as error:
                    replaced = True
                    started = True
                    await _send_failure(send, manager, error)
                    return
                started = True
                if not outcome.changes_nothing:
                    set_cookie = outcome.set_cookie
                    if set_cookie is not None:  # a rolling session sets one on every response
                        if self.relax_secure_for_tests:
                            set_cookie = relax_for_test_client(scope, set_cookie)
                        if self.starlette_spelling:
                            set_cookie = starlette_spelling(set_cookie)
                        outcome.set_cookie = set_cookie
                    message["headers"] = outcome.apply_raw(list(message.get("headers", ())))
            await send(message)

        try:
            if self.preload:
                session.state.defers = True
            if self.preload and session.loadable:
                await session.aload()
                session.accessed = False  # the middleware's read, not the app's (no Vary)
            await self.app(scope, receive, send_with_session)
        except (StoreError, SessionInterrupted) as error:
            if not started:
                await session.asettle_after_error()
            if replaced:
                return  # already answered for (the framework re-raised it after its 500)
            if started:
                raise
            await _send_failure(send, manager, error)
        except Exception:
            if not started:
                await session.asettle_after_error()
            raise


async def _send_failure(send: Send, manager: SessionManager, error: Exception) -> None:
    status, headers, body = failure_response(manager, error)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
