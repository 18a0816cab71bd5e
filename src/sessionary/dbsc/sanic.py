"""DBSC for Sanic, beside :func:`sessionary.integrations.sanic.setup`.

    setup(app, store="sqlite:///sessions.db")
    sessionary.dbsc.sanic.setup(app)

A request middleware (after sessionary's, which opens the session) answers the
endpoints and refuses a bound session without a live bound cookie; a response
middleware adds the registration header before sessionary's saves the session. Sanic
routes before any middleware runs, so the endpoints get routes of their own (their
handler never runs: the middleware answers first).
"""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig


def setup(app: Sanic[Any, Any], config: DBSCConfig | None = None) -> DBSCConfig:
    dbsc = config or DBSCConfig()

    async def before(request: Request) -> HTTPResponse | None:
        session = getattr(request.ctx, "session", None)
        if not isinstance(session, Session):
            return None
        headers = protocol.request_headers(request.headers.items())
        reply = await mount.abefore(session, request.method, request.path, headers, dbsc)
        if reply is None:
            return None
        response = HTTPResponse(reply.body, status=reply.status)
        for name, value in reply.headers:
            response.headers.add(name, value)
        return response

    async def after(request: Request, response: BaseHTTPResponse) -> None:
        session = getattr(request.ctx, "session", None)
        if isinstance(session, Session):
            offer = mount.offer(session, dbsc)
            if offer is not None:
                response.headers.add(*offer)

    async def endpoint(request: Request) -> HTTPResponse:
        raise RuntimeError("the DBSC request middleware answers this path; is sessionary set up?")

    for path in (dbsc.registration_path, dbsc.refresh_path):
        app.add_route(
            endpoint, path, methods=["GET", "POST"], name=f"sessionary_dbsc_{path.rsplit('/', 1)[1]}"
        )
    app.register_middleware(before, "request", priority=0)
    app.register_middleware(after, "response", priority=-1001)  # runs before sessionary's save (-1000)
    return dbsc


__all__ = ["setup"]
