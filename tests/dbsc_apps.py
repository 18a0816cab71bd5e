"""The DBSC test site on every framework integration that has no ASGI or WSGI mount of
its own: the same four routes (``/login?user=``, ``/read``, ``/set``, ``/logout``) with
that framework's DBSC mount (``sessionary.dbsc.<framework>``), served through the
framework's own test client (tests/integrations/frameworks.py; Tornado's and Sanic's
are real servers on loopback ports). ``DBSCSite`` has the interface of
``hardening_apps.Site`` that tests/dbsc_browser.py drives.

The async frameworks' routes use only the async API (``alogin``, ``aget``...): the
mount has loaded the session on the store's async face before they run.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from hardening_apps import VIEWS, View
from integrations.frameworks import Send, sender_for
from litestar import Request, Response  # at module level: Litestar resolves the handlers' annotations here

from sessionary import Session, SessionManager, alogin, alogout
from support.sites import Reply, SiteClient

ROUTES = ("/login", "/read", "/set", "/logout")
SYNC_VIEWS: dict[str, View] = {path: VIEWS[path] for path in ROUTES}
FRAMEWORKS = (
    "flask",
    "litestar",
    "quart",
    "aiohttp",
    "sanic",
    "tornado",
    "falcon",
    "falcon-asgi",
    "pyramid",
    "bottle",
    "blacksheep",
)


async def async_view(path: str, session: Session, query: Mapping[str, str]) -> tuple[int, str]:
    if path == "/login":
        user = query.get("user", "alice")
        await alogin(session, user)
        await session.aset("user", user)
        return 200, "signed in"
    if path == "/read":
        return 200, f"user={await session.aget('user', '-')}"
    if path == "/set":
        await session.aset("user", query.get("user", "Alice"))
        return 200, "set"
    await alogout(session)
    return 200, "signed out"


def sync_view(path: str, session: Session, query: Mapping[str, str]) -> tuple[int, str]:
    status, body, _ = SYNC_VIEWS[path](session, query)
    return status, body


# --- the apps ----------------------------------------------------------------------------------


def flask_app(manager: SessionManager) -> Any:
    import flask

    from sessionary.dbsc.flask import DBSC
    from sessionary.integrations.flask import Sessionary

    app = flask.Flask(__name__)
    for path in ROUTES:

        def run(path: str = path) -> Any:
            return sync_view(path, flask.session, flask.request.args)[::-1]  # type: ignore[arg-type]

        app.add_url_rule(path, path, run, methods=["GET", "POST"])
    Sessionary(app, manager=manager)
    DBSC(app)
    return app


def quart_app(manager: SessionManager) -> Any:
    import quart

    from sessionary.dbsc.quart import DBSC
    from sessionary.integrations.quart import Sessionary

    app = quart.Quart(__name__)
    for path in ROUTES:

        async def run(path: str = path) -> Any:
            return (await async_view(path, quart.session, quart.request.args))[::-1]  # type: ignore[arg-type]

        app.add_url_rule(path, path, run, methods=["GET", "POST"])
    Sessionary(app, manager=manager)
    DBSC(app)
    return app


def litestar_app(manager: SessionManager) -> Any:
    from litestar import Litestar, route

    from sessionary.dbsc.litestar import DBSCPlugin
    from sessionary.integrations.litestar import SessionaryPlugin

    def handler(path: str) -> Any:
        @route(path, http_method=["GET", "POST"], name=path)
        async def run(request: Request[Any, Any, Any]) -> Response[str]:
            status, body = await async_view(path, request.scope["session"], request.query_params)  # type: ignore[typeddict-item]
            return Response(body, status_code=status, media_type="text/plain")

        return run

    plugins = [SessionaryPlugin(manager=manager), DBSCPlugin()]
    return Litestar([handler(path) for path in ROUTES], plugins=plugins)


def aiohttp_app(manager: SessionManager) -> Any:
    from aiohttp import web

    from sessionary.dbsc import aiohttp as dbsc_aiohttp
    from sessionary.integrations.aiohttp import session_of, setup

    def handler(path: str) -> Any:
        async def run(request: web.Request) -> web.Response:
            status, body = await async_view(path, session_of(request), request.query)
            return web.Response(status=status, text=body)

        return run

    app = web.Application()
    setup(app, manager=manager)
    dbsc_aiohttp.setup(app)
    for path in ROUTES:
        app.router.add_route("*", path, handler(path))
    return app


def sanic_app(manager: SessionManager) -> Any:
    from sanic import HTTPResponse, Sanic, text

    from sessionary.dbsc import sanic as dbsc_sanic
    from sessionary.integrations.sanic import session_of, setup

    app: Sanic[Any, Any] = Sanic(f"dbsc_{secrets.token_hex(4)}")
    setup(app, manager=manager)
    dbsc_sanic.setup(app)

    def handler(path: str) -> Any:
        async def run(request: Request) -> HTTPResponse:
            query = {key: values[0] for key, values in request.args.items()}
            status, body = await async_view(path, session_of(request), query)
            return text(body, status=status)

        return run

    for path in ROUTES:
        app.add_route(handler(path), path, methods=["GET", "POST"], name=path.strip("/"))
    return app


def tornado_app(manager: SessionManager) -> Any:
    from tornado.web import Application, RequestHandler

    from sessionary.dbsc import tornado as dbsc_tornado
    from sessionary.dbsc.tornado import DBSCMixin
    from sessionary.integrations.tornado import setup

    def handler(path: str) -> type[RequestHandler]:
        class Handler(DBSCMixin, RequestHandler):
            async def get(self) -> None:
                query = {key: self.get_argument(key) for key in self.request.arguments}
                status, body = await async_view(path, self.session, query)
                self.set_status(status)
                self.write(body)

            post = get

        return Handler

    app = Application([(path, handler(path)) for path in ROUTES])
    setup(app, manager=manager)
    dbsc_tornado.setup(app)
    return app


def falcon_app(manager: SessionManager, asgi: bool) -> Any:
    import falcon
    import falcon.asgi

    from sessionary.dbsc.falcon import DBSCMiddleware
    from sessionary.integrations.falcon import SessionMiddleware

    middleware = [SessionMiddleware(manager=manager), DBSCMiddleware()]

    class Sync:
        def __init__(self, path: str) -> None:
            self.path = path

        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            status, resp.text = sync_view(self.path, req.context.session, req.params)
            resp.status = status

        on_post = on_get

    class Async(Sync):
        async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:  # type: ignore[override]
            status, resp.text = await async_view(self.path, req.context.session, req.params)
            resp.status = status

        on_post = on_get  # type: ignore[assignment]

    app: Any = falcon.asgi.App(middleware=middleware) if asgi else falcon.App(middleware=middleware)
    for path in ROUTES:
        app.add_route(path, Async(path) if asgi else Sync(path))
    return app


def pyramid_app(manager: SessionManager) -> Any:
    from pyramid.config import Configurator
    from pyramid.response import Response

    from sessionary.dbsc.pyramid import use_dbsc
    from sessionary.integrations.pyramid import use_sessionary

    with Configurator() as config:
        use_sessionary(config, manager=manager)
        use_dbsc(config)
        for path in ROUTES:

            def view(request: Request, path: str = path) -> Response:
                status, body = sync_view(path, request.session, request.params)
                return Response(text=body, status=status, content_type="text/plain")

            config.add_route(path, path)
            config.add_view(view, route_name=path)
        return config.make_wsgi_app()


def bottle_app(manager: SessionManager) -> Any:
    import bottle

    from sessionary.dbsc.bottle import DBSCPlugin
    from sessionary.integrations.bottle import ENVIRON_KEY, SessionPlugin

    app = bottle.Bottle()
    app.install(SessionPlugin(manager=manager))
    app.install(DBSCPlugin())
    for path in ROUTES:

        def view(path: str = path) -> str:
            status, body = sync_view(path, bottle.request.environ[ENVIRON_KEY], bottle.request.query)
            bottle.response.status = status
            return body

        app.route(path, ["GET", "POST"], view)
    return app


def blacksheep_app(manager: SessionManager) -> Any:
    from blacksheep import Application, Response
    from blacksheep.contents import Content
    from blacksheep.server.routing import Router

    from sessionary.dbsc.blacksheep import use_dbsc
    from sessionary.integrations.blacksheep import use_sessions

    app = Application(router=Router())  # its own routes: the module-level router is shared
    use_sessions(app, manager=manager)
    use_dbsc(app)

    def handler(path: str) -> Any:
        async def run(request: Request) -> Response:
            query = {key: values[0] for key, values in request.query.items()}
            status, body = await async_view(path, request.session, query)  # type: ignore[arg-type]
            return Response(status, None, Content(b"text/plain", body.encode()))

        return run

    for path in ROUTES:
        app.router.add_get(path, handler(path))
        app.router.add_post(path, handler(path))
    return app


BUILDERS = {
    "flask": flask_app,
    "quart": quart_app,
    "litestar": litestar_app,
    "aiohttp": aiohttp_app,
    "sanic": sanic_app,
    "tornado": tornado_app,
    "falcon": lambda manager: falcon_app(manager, asgi=False),
    "falcon-asgi": lambda manager: falcon_app(manager, asgi=True),
    "pyramid": pyramid_app,
    "bottle": bottle_app,
    "blacksheep": blacksheep_app,
}


def falcon_sender(app: Any) -> Send:
    """Through ``falcon.testing.TestClient``, whose result keeps one ``Set-Cookie`` header
    in ``headers`` but every cookie (parsed) in ``cookies``: each cookie is given back
    as a ``Set-Cookie`` line with the attributes the client parsed."""
    from falcon.testing import TestClient as FalconClient

    client = FalconClient(app)

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        result = client.simulate_request(method, path, headers=headers, protocol="https")
        pairs = [(name, value) for name, value in result.headers.items() if name.lower() != "set-cookie"]
        for cookie in result.cookies.values():
            line = f"{cookie.name}={cookie.value}"
            if cookie.max_age is not None:
                line += f"; Max-Age={cookie.max_age}"
            line += f"; Path={cookie.path}" if cookie.path else ""
            line += "; Secure" if cookie.secure else ""
            line += "; HttpOnly" if cookie.http_only else ""
            line += f"; SameSite={cookie.same_site}" if cookie.same_site else ""
            pairs.append(("set-cookie", line))
        return Reply(result.status_code, pairs, result.text)

    return send


class DBSCSite(SiteClient):
    """``hardening_apps.Site``'s interface (``support.sites.SiteClient``) on ``framework``'s
    DBSC mount."""

    def __init__(self, framework: str, manager: SessionManager, stack: ExitStack) -> None:
        self.framework = framework
        self.manager = manager
        self.cookie_name = manager.config.session_cookie_name
        app = BUILDERS[framework](manager)
        if framework.startswith("falcon"):
            self._send = falcon_sender(app)
        else:
            self._send = sender_for(framework, app, stack)

    def send(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        reply = self._send(method, target, headers, None)
        return Reply(reply.status, [(name.lower(), value) for name, value in reply.headers], reply.text)
