"""DBSC for BlackSheep, after :func:`sessionary.integrations.blacksheep.use_sessions`.

    use_sessions(app, store="sqlite:///sessions.db")
    sessionary.dbsc.blacksheep.use_dbsc(app)

A middleware in BlackSheep's session category, after sessionary's (which opens the
session and saves it after), answers the endpoints, refuses a bound session without a
live bound cookie and adds the registration header. BlackSheep runs middleware only
for routed requests, so the endpoints get routes (their handler never runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from blacksheep import Application, Request, Response
from blacksheep.contents import Content
from blacksheep.middlewares import MiddlewareCategory

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig, Reply

Handler = Callable[[Request], Awaitable[Response]]


class DBSCMiddleware:
    def __init__(self, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()

    async def __call__(self, request: Request, handler: Handler) -> Response:
        session = request.session
        if not isinstance(session, Session):
            return await handler(request)
        pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        headers = protocol.request_headers(pairs)
        reply = await mount.abefore(session, request.method, request.path, headers, self.config)
        if reply is not None:
            return _response(reply)
        response = await handler(request)
        offer = mount.offer(session, self.config)
        if offer is not None:
            response.add_header(offer[0].encode(), offer[1].encode("latin-1"))
        return response


def _response(reply: Reply) -> Response:
    content_type = b"application/json"
    headers: list[tuple[bytes, bytes]] = []
    for name, value in reply.headers:
        if name.lower() == "content-type":
            content_type = value.encode("latin-1")
        else:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
    return Response(reply.status, headers, Content(content_type, reply.body) if reply.body else None)


def use_dbsc(app: Application, config: DBSCConfig | None = None) -> DBSCMiddleware:
    """Add the middleware (inside sessionary's, whichever is called first) and the
    endpoints' routes."""
    middleware = DBSCMiddleware(config)

    async def endpoint(request: Request) -> Response:
        raise RuntimeError("the DBSC middleware answers this path")

    for path in (middleware.config.registration_path, middleware.config.refresh_path):
        app.router.add_get(path, endpoint)
        app.router.add_post(path, endpoint)
    app.middlewares.append(middleware, MiddlewareCategory.SESSION, priority=1)  # inside sessionary's
    return middleware


__all__ = ["DBSCMiddleware", "use_dbsc"]
