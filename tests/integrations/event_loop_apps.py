"""Apps whose async views use the session's *sync* API, one per async framework.

Each app answers every route below through :func:`act`, in an ``async def`` view, on
the event loop; the session comes as the framework gives it (``quart.session``,
``request.ctx.session``, ``req.context.session``, ``request.session``, Litestar's
``scope["session"]``) or, for aiohttp and Tornado, through their awaited accessors
(``await get_session(request)``, ``await self.get_session()``):

* ``/untouched`` answers "ok" and never looks at the session;
* ``/read`` answers ``session.get("value")``;
* ``/write`` sets ``session["value"] = "x"``;
* ``/expiry`` calls ``session.set_expiry(60)``;
* ``/login/<user>`` calls ``sessionary.login`` (sync) and answers ``session.user_id``;
* ``/logout`` calls ``sessionary.logout`` (sync);
* ``/cycle`` calls ``session.cycle_key()`` and then sets ``value`` to "after-cycle";
* ``/logout-then-fail`` calls ``sessionary.logout`` and then raises (a 500);
* ``/sync-call`` calls ``manager.list_sessions`` (sync, which nothing can defer) and
  answers what happened: ``raised: <message>``, ``warned: <message>`` or ``passed``.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from typing import Any

import sessionary
from sessionary import BlockingCallError, BlockingCallWarning, Session, SessionManager


def act(route: str, session: Session, manager: SessionManager, arg: str | None) -> str:
    if route == "read":
        return str(session.get("value"))
    if route == "write":
        session["value"] = "x"
        return "ok"
    if route == "expiry":
        session.set_expiry(60)
        return "ok"
    if route == "login":
        assert arg is not None
        sessionary.login(session, arg)
        return str(session.user_id)
    if route == "logout":
        sessionary.logout(session)
        return "ok"
    if route == "logout-then-fail":
        sessionary.logout(session)
        raise LookupError("the view failed after signing out")
    if route == "cycle":
        session.cycle_key()
        session["value"] = "after-cycle"
        return "ok"
    if route == "sync-call":
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                manager.list_sessions("nobody")
            except BlockingCallError as error:
                return f"raised: {error}"
        found = [str(w.message) for w in seen if issubclass(w.category, BlockingCallWarning)]
        return f"warned: {found[0]}" if found else "passed"
    raise AssertionError(route)


def quart_app(manager: SessionManager) -> Any:
    from quart import Quart, session

    from sessionary.integrations.quart import Sessionary

    app = Quart(__name__)
    Sessionary(app, manager=manager)

    @app.route("/untouched")
    async def untouched() -> str:
        return "ok"

    @app.route("/<route>", methods=["GET", "POST"])
    @app.route("/<route>/<arg>", methods=["GET", "POST"])
    async def view(route: str, arg: str | None = None) -> str:
        current = session._get_current_object()  # type: ignore[attr-defined]
        return act(route, current, manager, arg)

    return app


def sanic_app(manager: SessionManager) -> Any:
    from sanic import Request, Sanic, text
    from sanic.response import HTTPResponse

    from sessionary.integrations.sanic import setup

    app: Sanic[Any, Any] = Sanic(f"event_loop_{secrets.token_hex(4)}")
    setup(app, manager=manager)

    async def untouched(request: Request) -> HTTPResponse:
        return text("ok")

    async def view(request: Request, route: str, arg: str | None = None) -> HTTPResponse:
        return text(act(route, request.ctx.session, manager, arg))

    app.add_route(untouched, "/untouched", name="untouched")
    app.add_route(view, "/<route>", methods=["GET", "POST"], name="view")
    app.add_route(view, "/<route>/<arg>", methods=["GET", "POST"], name="view_arg")
    return app


def aiohttp_app(manager: SessionManager) -> Any:
    from aiohttp import web

    from sessionary.integrations.aiohttp import get_session, setup

    app = web.Application()
    setup(app, manager=manager)

    async def untouched(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def view(request: web.Request) -> web.Response:
        session = await get_session(request)
        info = request.match_info
        return web.Response(text=act(info["route"], session, manager, info.get("arg")))

    app.router.add_route("*", "/untouched", untouched)
    app.router.add_route("*", "/{route}", view)
    app.router.add_route("*", "/{route}/{arg}", view)
    return app


def tornado_app(manager: SessionManager) -> Any:
    from tornado.web import Application, RequestHandler

    from sessionary.integrations.tornado import SessionMixin, setup

    class Untouched(SessionMixin, RequestHandler):
        async def get(self) -> None:
            self.write("ok")

    class View(SessionMixin, RequestHandler):
        async def get(self, route: str, arg: str | None = None) -> None:
            session = await self.get_session()
            self.write(act(route, session, manager, arg))

        post = get

    app = Application([(r"/untouched", Untouched), (r"/([\w-]+)(?:/([\w-]+))?", View)])
    setup(app, manager=manager)
    return app


def blacksheep_app(manager: SessionManager) -> Any:
    from blacksheep import Application, Router, text

    from sessionary.integrations.blacksheep import use_sessions

    app = Application(router=Router())  # not the module-wide default router
    use_sessions(app, manager=manager)

    # Unannotated: BlackSheep binds ``request`` and the route's parameters by name (this
    # module's annotations are strings it would resolve in the module, not here).
    async def untouched(request):  # type: ignore[no-untyped-def]
        return text("ok")

    async def view(request, route):  # type: ignore[no-untyped-def]
        return text(act(route, request.session, manager, None))

    async def view_arg(request, route, arg):  # type: ignore[no-untyped-def]
        return text(act(route, request.session, manager, arg))

    app.router.add_get("/untouched", untouched)
    for method in (app.router.add_get, app.router.add_post):
        method("/{route}", view)
        method("/{route}/{arg}", view_arg)
    return app


def falcon_asgi_app(manager: SessionManager) -> Any:
    import falcon.asgi

    from sessionary.integrations.falcon import SessionMiddleware

    class Untouched:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.text = "ok"

    class View:
        async def on_get(
            self, req: falcon.asgi.Request, resp: falcon.asgi.Response, route: str, arg: str | None = None
        ) -> None:
            resp.text = act(route, req.context.session, manager, arg)

        on_post = on_get

    app = falcon.asgi.App(middleware=[SessionMiddleware(manager=manager)])
    app.add_route("/untouched", Untouched())
    app.add_route("/{route}", View())
    app.add_route("/{route}/{arg}", View())
    return app


def litestar_app(manager: SessionManager) -> Any:
    from litestar import Litestar, Request, route

    from sessionary.integrations.litestar import SessionaryConfig, SessionaryPlugin

    @route("/untouched", http_method=["GET"])
    async def untouched() -> str:
        return "ok"

    @route("/{name:str}", http_method=["GET", "POST"], status_code=200)
    async def view(request: Request[Any, Any, Any]) -> str:
        return act(request.path_params["name"], request.scope["session"], manager, None)

    @route("/{name:str}/{arg:str}", http_method=["GET", "POST"], status_code=200)
    async def view_arg(request: Request[Any, Any, Any]) -> str:
        params = request.path_params
        return act(params["name"], request.scope["session"], manager, params["arg"])

    plugin = SessionaryPlugin(sessionary_config=SessionaryConfig(manager=manager))
    return Litestar([untouched, view, view_arg], plugins=[plugin])


EVENT_LOOP_APPS: dict[str, Callable[[SessionManager], Any]] = {
    "quart": quart_app,
    "sanic": sanic_app,
    "aiohttp": aiohttp_app,
    "tornado": tornado_app,
    "blacksheep": blacksheep_app,
    "falcon-asgi": falcon_asgi_app,
    "litestar": litestar_app,
}
