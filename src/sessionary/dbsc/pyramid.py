"""DBSC for Pyramid: a tween, beside sessionary's session factory.

    config.include("sessionary.integrations.pyramid")
    config.include("sessionary.dbsc.pyramid")   # or use_dbsc(config, DBSCConfig(...))

The tween (under Pyramid's exception view tween, so a store failure still gets
sessionary's 503) answers the endpoints without a route and refuses a bound session
without a live bound cookie; it adds the registration header to the view's response,
before the session factory's response callback saves the session.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import EXCVIEW

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig

REGISTRY_KEY = "sessionary.dbsc"

Handler = Callable[[Request], Response]


def tween_factory(handler: Handler, registry: Registry) -> Handler:
    dbsc = registry.get(REGISTRY_KEY) or DBSCConfig()

    def tween(request: Request) -> Response:
        session = getattr(request, "session", None)  # None: no session factory registered
        if not isinstance(session, Session):
            return handler(request)
        headers = protocol.request_headers(request.headers.items())
        reply = mount.before(session, request.method, request.path_info, headers, dbsc)
        if reply is not None:
            status = f"{reply.status} {HTTPStatus(reply.status).phrase}"
            return Response(body=reply.body, status=status, headerlist=list(reply.headers))
        response = handler(request)
        offer = mount.offer(session, dbsc)
        if offer is not None:
            response.headerlist.append(offer)
        return response

    return tween


def use_dbsc(config: Configurator, dbsc: DBSCConfig | None = None) -> DBSCConfig:
    dbsc = dbsc or DBSCConfig()
    config.registry[REGISTRY_KEY] = dbsc
    config.add_tween("sessionary.dbsc.pyramid.tween_factory", under=EXCVIEW)
    return dbsc


def includeme(config: Configurator) -> None:
    use_dbsc(config)


__all__ = ["includeme", "tween_factory", "use_dbsc"]
