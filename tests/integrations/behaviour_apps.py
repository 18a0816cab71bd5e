"""The routes of behaviour.py (the shared behaviour every integration owes) on Quart,
aiohttp, Tornado and Sanic, each using only the async API."""

from __future__ import annotations

import json
import secrets
from typing import Any

from sessionary import Session, SessionManager, alogin, alogout


async def devices(manager: SessionManager, session: Session) -> str:
    await session.aload()
    assert session.user_id is not None
    found = await manager.alist_sessions(session.user_id, current=session)
    return json.dumps([d.handle for d in found])


async def end_elsewhere(manager: SessionManager, session: Session) -> None:
    await session.aload()
    assert session.user_id is not None and session.handle is not None
    assert await manager.arevoke(session.user_id, session.handle)
    session["late"] = "write"  # must not bring the ended session back


def quart_app(manager: SessionManager) -> Any:
    from quart import Quart, session

    from sessionary.integrations.quart import Sessionary

    app = Quart(__name__)
    Sessionary(app, manager=manager)

    @app.get("/untouched")
    async def untouched() -> str:
        return "ok"

    @app.get("/read")
    async def read() -> str:
        return str(await session.aget("value"))

    @app.post("/write")
    async def write() -> str:
        session["value"] = "x"
        return "ok"

    @app.post("/expiry/<int:seconds>")
    async def expiry(seconds: int) -> str:
        session["value"] = "x"
        await session.aset_expiry(seconds)
        return "ok"

    @app.post("/login/<user>")
    async def sign_in(user: str) -> str:
        await alogin(session, user)
        return "in"

    @app.post("/logout")
    async def sign_out() -> str:
        await alogout(session)
        return "out"

    @app.get("/devices")
    async def device_list() -> str:
        return await devices(manager, session)

    @app.post("/ended-elsewhere")
    async def ended_elsewhere() -> str:
        await end_elsewhere(manager, session)
        return "ok"

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("unrelated")

    return app


def aiohttp_app(manager: SessionManager) -> Any:
    from aiohttp import web

    from sessionary.integrations.aiohttp import get_session, setup

    routes = web.RouteTableDef()

    @routes.get("/untouched")
    async def untouched(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @routes.get("/read")
    async def read(request: web.Request) -> web.Response:
        return web.Response(text=str((await get_session(request)).get("value")))

    @routes.post("/write")
    async def write(request: web.Request) -> web.Response:
        request["session"]["value"] = "x"
        return web.Response(text="ok")

    @routes.post("/expiry/{seconds}")
    async def expiry(request: web.Request) -> web.Response:
        session = await get_session(request)
        session["value"] = "x"
        session.set_expiry(int(request.match_info["seconds"]))
        return web.Response(text="ok")

    @routes.post("/login/{user}")
    async def sign_in(request: web.Request) -> web.Response:
        await alogin(request["session"], request.match_info["user"])
        return web.Response(text="in")

    @routes.post("/logout")
    async def sign_out(request: web.Request) -> web.Response:
        await alogout(request["session"])
        return web.Response(text="out")

    @routes.get("/devices")
    async def device_list(request: web.Request) -> web.Response:
        return web.Response(text=await devices(manager, request["session"]))

    @routes.post("/ended-elsewhere")
    async def ended_elsewhere(request: web.Request) -> web.Response:
        await end_elsewhere(manager, request["session"])
        return web.Response(text="ok")

    @routes.get("/boom")
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("unrelated")

    app = web.Application()
    setup(app, manager=manager)
    app.add_routes(routes)
    return app


def tornado_app(manager: SessionManager) -> Any:
    from tornado.web import Application, RequestHandler

    from sessionary.integrations.tornado import SessionMixin, setup

    class Untouched(SessionMixin, RequestHandler):
        def get(self) -> None:
            self.write("ok")

    class Read(SessionMixin, RequestHandler):
        async def get(self) -> None:
            self.write(str(await self.session.aget("value")))

    class Write(SessionMixin, RequestHandler):
        def post(self) -> None:
            self.session["value"] = "x"
            self.write("ok")

    class Expiry(SessionMixin, RequestHandler):
        async def post(self, seconds: str) -> None:
            self.session["value"] = "x"
            await self.session.aset_expiry(int(seconds))
            self.write("ok")

    class SignIn(SessionMixin, RequestHandler):
        async def post(self, user: str) -> None:
            await alogin(self.session, user)
            self.write("in")

    class SignOut(SessionMixin, RequestHandler):
        async def post(self) -> None:
            await alogout(self.session)
            self.write("out")

    class Devices(SessionMixin, RequestHandler):
        async def get(self) -> None:
            self.write(await devices(manager, self.session))

    class EndedElsewhere(SessionMixin, RequestHandler):
        async def post(self) -> None:
            await end_elsewhere(manager, self.session)
            self.write("ok")

    class Boom(SessionMixin, RequestHandler):
        def get(self) -> None:
            raise RuntimeError("unrelated")

    app = Application(
        [
            (r"/untouched", Untouched),
            (r"/read", Read),
            (r"/write", Write),
            (r"/expiry/(\d+)", Expiry),
            (r"/login/(.+)", SignIn),
            (r"/logout", SignOut),
            (r"/devices", Devices),
            (r"/ended-elsewhere", EndedElsewhere),
            (r"/boom", Boom),
        ]
    )
    setup(app, manager=manager)
    return app


def sanic_app(manager: SessionManager) -> Any:
    from sanic import HTTPResponse, Request, Sanic, text

    from sessionary.integrations.sanic import get_session, setup

    app: Sanic[Any, Any] = Sanic(f"behaviour_{secrets.token_hex(4)}")
    setup(app, manager=manager)

    @app.get("/untouched")
    async def untouched(request: Request) -> HTTPResponse:
        return text("ok")

    @app.get("/read")
    async def read(request: Request) -> HTTPResponse:
        return text(str((await get_session(request)).get("value")))

    @app.post("/write")
    async def write(request: Request) -> HTTPResponse:
        request.ctx.session["value"] = "x"
        return text("ok")

    @app.post("/expiry/<seconds:int>")
    async def expiry(request: Request, seconds: int) -> HTTPResponse:
        request.ctx.session["value"] = "x"
        await request.ctx.session.aset_expiry(seconds)
        return text("ok")

    @app.post("/login/<user>")
    async def sign_in(request: Request, user: str) -> HTTPResponse:
        await alogin(request.ctx.session, user)
        return text("in")

    @app.post("/logout")
    async def sign_out(request: Request) -> HTTPResponse:
        await alogout(request.ctx.session)
        return text("out")

    @app.get("/devices")
    async def device_list(request: Request) -> HTTPResponse:
        return text(await devices(manager, request.ctx.session))

    @app.post("/ended-elsewhere")
    async def ended_elsewhere(request: Request) -> HTTPResponse:
        await end_elsewhere(manager, request.ctx.session)
        return text("ok")

    @app.get("/boom")
    async def boom(request: Request) -> HTTPResponse:
        raise RuntimeError("unrelated")

    return app


BUILDERS = {"quart": quart_app, "aiohttp": aiohttp_app, "tornado": tornado_app, "sanic": sanic_app}
