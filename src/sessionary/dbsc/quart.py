"""DBSC for Quart, beside :class:`sessionary.integrations.quart.Sessionary`.

    Sessionary(app, store="sqlite:///sessions.db")
    DBSC(app)

As for Flask: a ``before_request`` function answers the endpoints and refuses a bound
session without a live bound cookie (on the store's async face), an ``after_request``
function adds the registration header before Quart saves the session.
"""

from __future__ import annotations

from quart import Quart, Response, request, session
from werkzeug.datastructures import Headers

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig


class DBSC:
    def __init__(self, app: Quart | None = None, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        app.before_request(self._before)
        app.after_request(self._after)

    async def _before(self) -> Response | None:
        current = session._get_current_object()  # type: ignore[attr-defined]
        if not isinstance(current, Session):
            return None
        headers = protocol.request_headers(request.headers.items())
        reply = await mount.abefore(current, request.method, request.path, headers, self.config)
        if reply is None:
            return None
        return Response(reply.body, status=reply.status, headers=Headers(reply.headers))

    async def _after(self, response: Response) -> Response:
        current = session._get_current_object()  # type: ignore[attr-defined]
        if isinstance(current, Session):
            offer = mount.offer(current, self.config)
            if offer is not None:
                response.headers.add(*offer)
        return response


__all__ = ["DBSC"]
