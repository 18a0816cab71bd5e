"""Real HTTP servers on free loopback ports, in this process, around sessionary apps.

``serve("asgi", manager)`` runs a Starlette app behind ``sessionary.SessionMiddleware``
under uvicorn; ``serve("wsgi", manager)`` runs a Flask app behind
``sessionary.WSGISessionMiddleware`` under the standard library's WSGI server with one
thread per request. Both apps have the same routes (``ROUTES``), written once against
the session's async API (Starlette) and its sync API (Flask). The servers live in this
process, so a test can hold a request in the middle of a view (``Gates``) while others
run, and can use the memory store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import flask
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionary import (
    SessionManager,
    SessionMiddleware,
    WSGISessionMiddleware,
    alogin,
    alogout,
    login,
    logout,
)
from sessionary.session import Session
from support.services import free_port

KINDS = ("asgi", "wsgi")
WAIT_SECONDS = 20.0


class Gates:
    """Named points where a view stops until the test opens them.

    ``arrived(name)`` is set when a request reaches the gate; ``open(name)`` lets it go on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived: dict[str, threading.Event] = {}
        self._opened: dict[str, threading.Event] = {}

    def _events(self, name: str) -> tuple[threading.Event, threading.Event]:
        with self._lock:
            return (
                self._arrived.setdefault(name, threading.Event()),
                self._opened.setdefault(name, threading.Event()),
            )

    def reach(self, name: str) -> None:
        arrived, opened = self._events(name)
        arrived.set()
        if not opened.wait(WAIT_SECONDS):
            raise TimeoutError(f"gate {name!r} was never opened")

    async def areach(self, name: str) -> None:
        arrived, opened = self._events(name)
        arrived.set()
        deadline = time.monotonic() + WAIT_SECONDS
        while not opened.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {name!r} was never opened")
            await asyncio.sleep(0.002)

    def wait_arrival(self, name: str) -> None:
        if not self._events(name)[0].wait(WAIT_SECONDS):
            raise TimeoutError(f"no request reached gate {name!r}")

    def open(self, name: str) -> None:
        self._events(name)[1].set()


# --- the routes, twice: async (Starlette) and sync (Flask) ----------------------------------


def _data(session: Session) -> dict[str, Any]:
    return {str(key): value for key, value in session.items()}


async def _asgi_view(path: str, session: Session, query: dict[str, str], gates: Gates) -> Any:
    if path == "/set":
        await session.aset(query["name"], query.get("value", ""))
    elif path == "/read":
        await session.aload()
    elif path == "/read-sync":
        session.load()  # sync access from an async view: the store's sync face, in the view
    elif path == "/read-slow":
        await session.aload()
        await gates.areach(query["gate"])
    elif path == "/set-slow":
        await session.aset(query["name"], query.get("value", ""))
        await gates.areach(query["gate"])
    elif path == "/increment":
        # The plain read-modify-write every session library offers: last writer wins.
        value = await session.aget(query["name"], 0)
        await asyncio.sleep(float(query.get("pause", 0)))
        await session.aset(query["name"], value + 1)
    elif path == "/increment-atomic":
        await session.aupdate_atomic(query["name"], lambda value: value + 1, 0)
    elif path == "/increment-atomic-slow":
        await session.aload()
        await gates.areach(query["gate"])
        await session.aupdate_atomic(query["name"], lambda value: value + 1, 0)
    elif path == "/login":
        await alogin(session, query["user"])
        await session.aset("user", query["user"])
    elif path == "/logout":
        await alogout(session)
    elif path == "/cycle-slow":
        await session.aload()
        await gates.areach(query["gate"])
        await session.acycle_key()
    else:
        raise LookupError(path)
    return _data(session)


def _wsgi_view(path: str, session: Session, query: dict[str, str], gates: Gates) -> Any:
    if path == "/set":
        session[query["name"]] = query.get("value", "")
    elif path in ("/read", "/read-sync"):
        session.load()
    elif path == "/read-slow":
        session.load()
        gates.reach(query["gate"])
    elif path == "/set-slow":
        session[query["name"]] = query.get("value", "")
        gates.reach(query["gate"])
    elif path == "/increment":
        value = session.get(query["name"], 0)
        time.sleep(float(query.get("pause", 0)))
        session[query["name"]] = value + 1
    elif path == "/increment-atomic":
        session.update_atomic(query["name"], lambda value: value + 1, 0)
    elif path == "/increment-atomic-slow":
        session.load()
        gates.reach(query["gate"])
        session.update_atomic(query["name"], lambda value: value + 1, 0)
    elif path == "/login":
        login(session, query["user"])
        session["user"] = query["user"]
    elif path == "/logout":
        logout(session)
    elif path == "/cycle-slow":
        session.load()
        gates.reach(query["gate"])
        session.cycle_key()
    else:
        raise LookupError(path)
    return _data(session)


ROUTES = (
    "/set",
    "/read",
    "/read-sync",
    "/read-slow",
    "/set-slow",
    "/increment",
    "/increment-atomic",
    "/increment-atomic-slow",
    "/login",
    "/logout",
    "/cycle-slow",
)


def starlette_app(manager: SessionManager, gates: Gates) -> Any:
    async def endpoint(request: Request) -> Response:
        data = await _asgi_view(request.url.path, request.session, dict(request.query_params), gates)  # type: ignore[arg-type]
        return JSONResponse(data)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await manager.aclose()  # async connections belong to this server's event loop

    app = Starlette(routes=[Route(path, endpoint) for path in ROUTES], lifespan=lifespan)
    return SessionMiddleware(app, manager=manager)


def flask_app(manager: SessionManager, gates: Gates) -> Any:
    app = flask.Flask(__name__)

    def endpoint() -> Any:
        session = flask.request.environ["sessionary.session"]
        return flask.jsonify(_wsgi_view(flask.request.path, session, dict(flask.request.args), gates))

    for path in ROUTES:
        app.add_url_rule(path, path, endpoint)
    app.wsgi_app = WSGISessionMiddleware(app.wsgi_app, manager=manager)  # type: ignore[method-assign]
    return app


# --- the servers ---------------------------------------------------------------------------


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        backlog=256,
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_SECONDS)


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    port = free_port()
    server = make_server(
        "127.0.0.1", port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT_SECONDS)


@contextlib.contextmanager
def serve(kind: str, manager: SessionManager, gates: Gates | None = None) -> Iterator[str]:
    """The app of ``kind`` on a real server; yields its base URL."""
    gates = gates or Gates()
    if kind == "asgi":
        with serve_asgi(starlette_app(manager, gates)) as url:
            yield url
    else:
        with serve_wsgi(flask_app(manager, gates)) as url:
            yield url


# --- a client that sends exactly one session cookie ------------------------------------------


def session_cookie(response: httpx.Response, name: str = "__Host-sessionid") -> str | None:
    """The token a response sets ("" when it deletes the cookie), or None when it sets none."""
    for header in response.headers.get_list("set-cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name:
            value = rest.split(";", 1)[0]
            return "" if value in ('""', "") else value
    return None


def get(base: str, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Cookie": f"__Host-sessionid={token}"} if token else {}
    return httpx.get(base + path, params=params, headers=headers, timeout=WAIT_SECONDS)


def parallel(base: str, requests: list[tuple[str, str | None, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every (path, token, params) at once, each on its own connection; the replies in order."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests) + 1, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=WAIT_SECONDS) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.get(
                            path,
                            params=params,
                            headers={"Cookie": f"__Host-sessionid={token}"} if token else {},
                        )
                        for path, token, params in requests
                    )
                )
            )

    return asyncio.run(run())


def quiet_uvicorn() -> None:
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
