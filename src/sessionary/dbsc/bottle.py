"""DBSC for Bottle: a plugin installed after :class:`sessionary.integrations.bottle.SessionPlugin`.

    app.install(SessionPlugin(store="sqlite:///sessions.db"))
    app.install(DBSCPlugin())

Bottle applies the plugin installed last innermost, so this one runs inside
sessionary's (which has opened the session, and saves it after): it answers the
endpoints (routes it adds at set-up), refuses a bound session without a live bound
cookie and adds the registration header to the route's response.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from bottle import BaseResponse, Bottle, HTTPResponse, Route, request, response

from ..integrations.bottle import ENVIRON_KEY
from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig


class DBSCPlugin:
    name = "sessionary-dbsc"
    api = 2

    def __init__(self, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()

    def setup(self, app: Bottle) -> None:
        def endpoint() -> None:
            raise RuntimeError("the DBSC plugin answers this path; is sessionary's SessionPlugin installed?")

        for path in (self.config.registration_path, self.config.refresh_path):
            app.route(path, ["GET", "POST"], endpoint)

    def apply(self, callback: Callable[..., Any], route: Route) -> Callable[..., Any]:
        dbsc = self.config

        def with_dbsc(*args: Any, **kwargs: Any) -> Any:
            session = request.environ.get(ENVIRON_KEY)
            if not isinstance(session, Session):
                return callback(*args, **kwargs)
            headers = protocol.request_headers(request.headers.items())
            reply = mount.before(session, request.method, request.path, headers, dbsc)
            if reply is not None:
                status = f"{reply.status} {HTTPStatus(reply.status).phrase}"
                return HTTPResponse(reply.body, status, reply.headers)
            try:
                body = callback(*args, **kwargs)
            except HTTPResponse as answer:
                _offer(session, dbsc, answer)
                raise
            _offer(session, dbsc, body if isinstance(body, HTTPResponse) else response)
            return body

        return with_dbsc


def _offer(session: Session, dbsc: DBSCConfig, target: BaseResponse) -> None:
    offer = mount.offer(session, dbsc)
    if offer is not None:
        target.add_header(*offer)


__all__ = ["DBSCPlugin"]
