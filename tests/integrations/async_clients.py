"""Senders for the async frameworks' own test clients (Quart, aiohttp, Sanic, Tornado).

Each sender owns one event loop (an ``asyncio.Runner`` entered on the test's exit
stack) and runs every request of the test on it, as a server does: a store's async
connections are opened, used and closed on one loop. The app's startup runs when the
sender is made and its shutdown when the stack closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import ExitStack
from typing import Any, TypeVar

from .frameworks import Reply, Send

ASYNC_FRAMEWORKS = ("quart", "aiohttp", "tornado", "sanic")

T = TypeVar("T")


class Loop:
    """One event loop for a test; ``run`` drives a coroutine on it to the end."""

    def __init__(self, stack: ExitStack) -> None:
        self.runner = stack.enter_context(asyncio.Runner())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)


def quart_sender(app: Any, stack: ExitStack) -> Send:
    loop = Loop(stack)
    test_app = app.test_app()
    loop.run(test_app.__aenter__())  # runs the app's before_serving functions
    stack.callback(lambda: loop.run(test_app.__aexit__(None, None, None)))
    client = test_app.test_client()

    async def request(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        client.cookie_jar = None  # the Browser holds the cookie, not the client's jar
        response = await client.open(path, method=method, headers=headers, form=form, scheme="https")
        text = await response.get_data(as_text=True)
        return Reply(response.status_code, list(response.headers.items()), text)

    return lambda method, path, headers, form: loop.run(request(method, path, headers, form))


def aiohttp_sender(app: Any, stack: ExitStack) -> Send:
    from aiohttp import DummyCookieJar
    from aiohttp.test_utils import TestClient, TestServer

    loop = Loop(stack)

    async def start() -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
        await client.start_server()  # runs the app's on_startup
        return client

    client = loop.run(start())
    stack.callback(lambda: loop.run(client.close()))  # runs on_cleanup

    async def request(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        async with client.request(method, path, headers=headers, data=form) as response:
            return Reply(response.status, list(response.headers.items()), await response.text())

    return lambda method, path, headers, form: loop.run(request(method, path, headers, form))


def tornado_sender(app: Any, stack: ExitStack) -> Send:
    """Tornado's own test client is a unittest case (AsyncHTTPTestCase); this does what it
    does: the app on an unused loopback port, fetched with Tornado's AsyncHTTPClient."""
    from urllib.parse import urlencode

    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.testing import bind_unused_port

    loop = Loop(stack)

    async def start() -> tuple[HTTPServer, int, AsyncHTTPClient]:
        sock, port = bind_unused_port()
        server = HTTPServer(app)
        server.add_sockets([sock])
        return server, port, AsyncHTTPClient()

    server, port, client = loop.run(start())

    async def stop() -> None:
        server.stop()
        await server.close_all_connections()
        client.close()

    stack.callback(lambda: loop.run(stop()))

    async def request(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        response = await client.fetch(
            f"http://127.0.0.1:{port}{path}",
            method=method,
            headers=headers,
            body=urlencode(form or {}) if method == "POST" else None,
            follow_redirects=False,
            raise_error=False,
        )
        return Reply(response.code, list(response.headers.get_all()), response.body.decode())

    return lambda method, path, headers, form: loop.run(request(method, path, headers, form))


def sanic_sender(app: Any, stack: ExitStack) -> Send:
    """sanic-testing's ReusableClient: one real Sanic server on a free loopback port
    for the whole test (its startup and shutdown listeners run once), on this loop."""
    from sanic_testing.reusable import ReusableClient

    from services import free_port

    loop = Loop(stack)
    client = ReusableClient(app, port=free_port(), loop=loop.runner.get_loop())
    client.run()
    stack.callback(client.stop)

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        body = {"data": form} if form is not None else {}
        _, response = getattr(client, method.lower())(path, headers=headers, **body)
        assert response is not None
        return Reply(response.status, list(response.headers.multi_items()), response.text)

    return send


SENDERS = {"quart": quart_sender, "aiohttp": aiohttp_sender, "tornado": tornado_sender, "sanic": sanic_sender}


def async_sender(framework: str, app: Any, stack: ExitStack) -> Send:
    return SENDERS[framework](app, stack)


def unstorable_app(framework: str, manager: Any) -> Any:
    """An app of ``framework`` whose one view (``/``) puts a set, which is not JSON, in
    the session: the save refuses it."""
    unstorable = {"a", "set"}
    if framework == "quart":
        from quart import Quart, session

        from sessionary.integrations.quart import Sessionary

        quart_app = Quart(__name__)
        Sessionary(quart_app, manager=manager)

        @quart_app.get("/")
        async def quart_view() -> str:
            await session.aset("tags", unstorable)
            return "ok"

        return quart_app
    if framework == "aiohttp":
        from aiohttp import web

        from sessionary.integrations.aiohttp import get_session
        from sessionary.integrations.aiohttp import setup as aiohttp_setup

        async def aiohttp_view(request: web.Request) -> web.Response:
            (await get_session(request))["tags"] = unstorable
            return web.Response(text="ok")

        aiohttp_app = web.Application()
        aiohttp_setup(aiohttp_app, manager=manager)
        aiohttp_app.router.add_get("/", aiohttp_view)
        return aiohttp_app
    if framework == "tornado":
        from tornado.web import Application, RequestHandler

        from sessionary.integrations.tornado import SessionMixin
        from sessionary.integrations.tornado import setup as tornado_setup

        class View(SessionMixin, RequestHandler):
            async def get(self) -> None:
                await self.session.aset("tags", unstorable)
                self.write("ok")

        tornado_app = Application([(r"/", View)])
        tornado_setup(tornado_app, manager=manager)
        return tornado_app
    import secrets

    from sanic import HTTPResponse, Request, Sanic, text

    from sessionary.integrations.sanic import setup as sanic_setup

    sanic_app: Sanic[Any, Any] = Sanic(f"unstorable_{secrets.token_hex(4)}")
    sanic_setup(sanic_app, manager=manager)

    @sanic_app.get("/")
    async def sanic_view(request: Request) -> HTTPResponse:
        await request.ctx.session.aset("tags", unstorable)
        return text("ok")

    return sanic_app
