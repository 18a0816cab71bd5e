"""The PostgreSQL server dies: requests fail closed, and nothing stored before is lost.

Each test runs its own throwaway server (never the shared one) behind an ASGI app with
``sessionary.SessionMiddleware``, kills the postmaster with SIGKILL (between requests and
in the middle of one), checks the 503 answers, restarts the server and reads back every
session stored before.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import SessionManager, SessionMiddleware
from support.postgres_helpers import with_options
from support.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.slow

SESSIONS = 12


def build_app(manager: SessionManager, during_request: Callable[[], None]) -> Starlette:
    async def create(request: Request) -> Response:
        request.session["value"] = request.query_params["value"]
        request.session["n"] = 1
        return PlainTextResponse("created")

    async def read(request: Request) -> Response:
        return JSONResponse(dict(request.session.items()))

    async def change(request: Request) -> Response:
        request.session["value"] = "changed"
        return PlainTextResponse("changed")

    async def change_while_the_server_dies(request: Request) -> Response:
        assert request.session["value"]  # loaded before the crash (preload)
        during_request()
        request.session["value"] = "overwritten"
        return PlainTextResponse("the save comes after this")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await manager.aclose()  # the async pool lives on this loop: close it here
        manager.close()

    return Starlette(
        routes=[
            Route("/create", create),
            Route("/read", read),
            Route("/change", change),
            Route("/change-while-the-server-dies", change_while_the_server_dies),
        ],
        lifespan=lifespan,
    )


class Visitor:
    """Requests with exactly one session cookie (or none), never the client's cookie jar."""

    def __init__(self, client: TestClient, cookie_name: str) -> None:
        self.client = client
        self.cookie_name = cookie_name

    def get(self, path: str, cookie: str | None = None, **params: Any) -> httpx.Response:
        self.client.cookies.clear()
        headers = {"Cookie": f"{self.cookie_name}={cookie}"} if cookie else {}
        response = self.client.get(path, headers=headers, params=params)
        self.client.cookies.clear()
        return response

    def cookie_set_by(self, response: httpx.Response) -> str:
        value = response.cookies.get(self.cookie_name)
        assert value, f"no {self.cookie_name} cookie in {response.headers.get_list('set-cookie')}"
        return value

    def read_when_back(self, cookie: str, timeout: float = 30.0) -> httpx.Response:
        """The first answer after a restart that is not a 503 (the pool reconnects)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get("/read", cookie)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)


def assert_failed_closed(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert "set-cookie" not in response.headers
    assert "unavailable" in response.text


def test_killing_the_server_fails_closed_and_loses_nothing(throwaway_postgres: ThrowawayPostgres) -> None:
    server = throwaway_postgres
    url = with_options(server.url, table="outage", connect_timeout=1, pool_timeout=1, pool_max_size=4)
    manager = SessionManager(url)
    manager.store.sync.migrate()  # type: ignore[attr-defined]
    app = SessionMiddleware(build_app(manager, server.kill), manager=manager, preload=True)

    with TestClient(app, base_url="https://testserver") as client:
        visitor = Visitor(client, manager.config.session_cookie_name)
        cookies = []
        for index in range(SESSIONS):
            response = visitor.get("/create", value=f"v{index}")
            assert response.status_code == 200
            cookies.append(visitor.cookie_set_by(response))
        stored = {cookie: {"value": f"v{index}", "n": 1} for index, cookie in enumerate(cookies)}
        for cookie, data in stored.items():
            assert visitor.get("/read", cookie).json() == data

        # Between requests: every kind of request fails closed.
        server.kill()
        assert_failed_closed(visitor.get("/read", cookies[0]))
        assert_failed_closed(visitor.get("/change", cookies[1]))
        assert_failed_closed(visitor.get("/create", value="during the outage"))

        server.start()
        assert visitor.read_when_back(cookies[0]).json() == stored[cookies[0]]
        for cookie, data in stored.items():
            response = visitor.get("/read", cookie)
            assert response.status_code == 200
            assert response.json() == data  # nothing lost, nothing overwritten

        # In the middle of a request: loaded, then the server dies before the save.
        response = visitor.get("/change-while-the-server-dies", cookies[2])
        assert_failed_closed(response)
        assert server.process is None  # the view really killed it

        server.start()
        assert visitor.read_when_back(cookies[2]).json() == stored[cookies[2]]
        for cookie, data in stored.items():
            assert visitor.get("/read", cookie).json() == data

        # And the store works normally again.
        assert visitor.get("/change", cookies[3]).status_code == 200
        assert visitor.get("/read", cookies[3]).json() == {"value": "changed", "n": 1}


def test_a_restart_between_requests_costs_no_read(throwaway_postgres: ThrowawayPostgres) -> None:
    """Connections the restart dropped while idle in the pool are retried for reads."""
    server = throwaway_postgres
    url = with_options(server.url, table="restart", pool_min_size=2, pool_max_size=2)
    manager = SessionManager(url)
    manager.store.sync.migrate()  # type: ignore[attr-defined]
    app = SessionMiddleware(build_app(manager, lambda: None), manager=manager, preload=True)

    with TestClient(app, base_url="https://testserver") as client:
        visitor = Visitor(client, manager.config.session_cookie_name)
        cookie = visitor.cookie_set_by(visitor.get("/create", value="kept"))
        assert visitor.get("/read", cookie).status_code == 200

        server.stop()
        server.start()
        response = visitor.get("/read", cookie)
        assert response.status_code == 200, response.text
        assert response.json() == {"value": "kept", "n": 1}
