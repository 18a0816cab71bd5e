"""DBSC for Flask, beside :class:`sessionary.integrations.flask.Sessionary`.

    Sessionary(app, store="sqlite:///sessions.db")
    DBSC(app)

A ``before_request`` function answers the registration and refresh endpoints and
refuses a bound session without a live bound cookie (Flask runs it before routing
errors are raised, so the endpoints need no route); an ``after_request`` function adds
the registration header, before Flask saves the session.
"""

from __future__ import annotations

from flask import Flask, Response, request, session

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig, Reply


class DBSC:
    def __init__(self, app: Flask | None = None, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.before_request(self._before)
        app.after_request(self._after)

    def _before(self) -> Response | None:
        current = session._get_current_object()  # type: ignore[attr-defined]
        if not isinstance(current, Session):
            return None
        headers = protocol.request_headers(request.headers.items())
        reply = mount.before(current, request.method, request.path, headers, self.config)
        return None if reply is None else response_of(reply)

    def _after(self, response: Response) -> Response:
        current = session._get_current_object()  # type: ignore[attr-defined]
        if isinstance(current, Session):
            offer = mount.offer(current, self.config)
            if offer is not None:
                response.headers.add(*offer)
        return response


def response_of(reply: Reply) -> Response:
    response = Response(reply.body, status=reply.status)
    response.headers.clear()
    response.headers.extend(reply.headers)
    return response


__all__ = ["DBSC"]
