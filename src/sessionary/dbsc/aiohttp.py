"""DBSC for aiohttp.web, inside :func:`sessionary.integrations.aiohttp.setup`'s middleware.

    setup(app, store="sqlite:///sessions.db")
    sessionary.dbsc.aiohttp.setup(app)

A middleware after sessionary's answers the endpoints (aiohttp runs middleware for a
path without a route too), refuses a bound session without a live bound cookie, and
adds the registration header before sessionary's middleware saves the session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from ..integrations.aiohttp import SESSION_KEY
from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DBSCMiddleware:
    __middleware_version__ = 1

    def __init__(self, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        session = request.get(SESSION_KEY)
        if not isinstance(session, Session):
            return await handler(request)
        headers = protocol.request_headers(request.headers.items())
        reply = await mount.abefore(session, request.method, request.path, headers, self.config)
        if reply is not None:
            return web.Response(status=reply.status, headers=CIMultiDict(reply.headers), body=reply.body)
        try:
            response = await handler(request)
        except web.HTTPException as error:  # redirects and errors carry the offer too
            self._offer(session, error)
            raise
        self._offer(session, response)
        return response

    def _offer(self, session: Session, response: web.StreamResponse) -> None:
        if not response.prepared:
            offer = mount.offer(session, self.config)
            if offer is not None:
                response.headers.add(*offer)


def setup(app: web.Application, config: DBSCConfig | None = None) -> DBSCMiddleware:
    """Add the DBSC middleware after sessionary's (call after its ``setup``)."""
    middleware = DBSCMiddleware(config)
    app.middlewares.append(middleware)
    return middleware


__all__ = ["DBSCMiddleware", "setup"]
