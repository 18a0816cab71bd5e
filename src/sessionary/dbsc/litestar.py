"""DBSC for Litestar, with :class:`sessionary.integrations.litestar.SessionaryPlugin`.

    app = Litestar(handlers, plugins=[SessionaryPlugin(store=...), DBSCPlugin()])

Litestar runs middleware after routing and ``SessionaryPlugin``'s middleware is the
ASGI ``SessionMiddleware`` around the route's handler, so this plugin adds routes for
the endpoints and, inside sessionary's middleware, the ASGI mount
(:class:`sessionary.dbsc.asgi.DBSCMiddleware`) itself: the same paths, headers, cookies
and ``scope["session"]`` as on Starlette. The endpoints' handler never runs.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Request, route
from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins import InitPlugin
from litestar.types import ASGIApp, Receive, Scope, Send

from ..integrations import asgi
from .asgi import DBSCMiddleware
from .protocol import DBSCConfig


class DBSCLitestarMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, config: DBSCConfig) -> None:
        self.config = config

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        mounted = DBSCMiddleware(cast("asgi.ASGIApp", next_app), self.config)
        await mounted(cast("asgi.Scope", scope), cast("asgi.Receive", receive), cast("asgi.Send", send))


class DBSCPlugin(InitPlugin):
    def __init__(self, config: DBSCConfig | None = None) -> None:
        self.config = config or DBSCConfig()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        @route(
            [self.config.registration_path, self.config.refresh_path],
            http_method=["GET", "POST"],
            sync_to_thread=False,
            include_in_schema=False,
        )
        def endpoint(request: Request[Any, Any, Any]) -> None:
            raise RuntimeError("the DBSC middleware answers this path; is SessionaryPlugin installed?")

        app_config.route_handlers.append(endpoint)
        app_config.middleware.append(DBSCLitestarMiddleware(self.config))
        return app_config


__all__ = ["DBSCLitestarMiddleware", "DBSCPlugin"]
