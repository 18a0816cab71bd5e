"""DBSC for Flask, beside :class:`sessionary.integrations.flask.Sessionary`.

    Sessionary(app, store="sqlite:///sessions.db")
    DBSC(app)

A ``before_request`` function answers the registration and refresh endpoints and
refuses a bound session without a live bound cookie (Flask runs it before routing
errors are raised, so the endpoints need no route); an ``after_request`` function adds
the registration header, before Flask saves the session. The part Quart's mount shares
is :class:`sessionary.dbsc.flasklike.FlaskLikeDBSC`.
"""

from __future__ import annotations

from flask import Flask, Response, request, session

from . import mount
from .flasklike import FlaskLikeDBSC
from .protocol import Reply


class DBSC(FlaskLikeDBSC[Flask]):
    def _before(self) -> Response | None:
        arguments = self._before_arguments(session, request)
        if arguments is None:
            return None
        reply = mount.before(*arguments)
        return None if reply is None else response_of(reply)

    def _after(self, response: Response) -> Response:
        return self._offered(session, response)


def response_of(reply: Reply) -> Response:
    response = Response(reply.body, status=reply.status)
    response.headers.clear()
    response.headers.extend(reply.headers)
    return response


__all__ = ["DBSC"]
