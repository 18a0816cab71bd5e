"""DBSC for Quart, beside :class:`sessionary.integrations.quart.Sessionary`.

    Sessionary(app, store="sqlite:///sessions.db")
    DBSC(app)

As for Flask, sharing its code (:class:`sessionary.dbsc.flasklike.FlaskLikeDBSC`): a
``before_request`` function answers the endpoints and refuses a bound session without a
live bound cookie (on the store's async face), an ``after_request`` function adds the
registration header before Quart saves the session.
"""

from __future__ import annotations

from quart import Quart, Response, request, session
from werkzeug.datastructures import Headers

from . import mount
from .flasklike import FlaskLikeDBSC


class DBSC(FlaskLikeDBSC[Quart]):
    async def _before(self) -> Response | None:
        arguments = self._before_arguments(session, request)
        if arguments is None:
            return None
        reply = await mount.abefore(*arguments)
        if reply is None:
            return None
        return Response(reply.body, status=reply.status, headers=Headers(reply.headers))

    async def _after(self, response: Response) -> Response:
        return self._offered(session, response)


__all__ = ["DBSC"]
