"""Killing Redis under a running app: fail closed, then find every session again.

The app is an ASGI app behind ``sessionary.SessionMiddleware`` on a Redis server of this
test's own with persistence on (``appendonly yes``, ``appendfsync always``). The server is
killed with SIGKILL between requests and in the middle of one; every request meanwhile
must answer 503 with no new cookie and without rewriting anything; after a restart on
the same directory every session stored before must load with its data.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from support.redis_servers import RedisServer
from support.services import require_module

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def durable_server() -> Iterator[RedisServer]:
    require_module("redis")
    directory = Path(tempfile.mkdtemp(prefix="sessionary-durable-"))
    server = RedisServer(directory, options=("--appendonly", "yes", "--appendfsync", "always"))
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def session_cookie(response: object) -> str | None:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    for header in headers:
        if header.startswith("__Host-sessionid="):
            return str(header.split(";", 1)[0].split("=", 1)[1])
    return None


def test_killing_redis_fails_closed_and_loses_nothing(durable_server: RedisServer) -> None:
    require_module("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionary import SessionMiddleware

    async def put(request: Request) -> JSONResponse:
        for name, value in request.query_params.items():
            await request.session.aset(name, value)
        return JSONResponse({"saved": dict(request.query_params)})

    async def get(request: Request) -> JSONResponse:
        return JSONResponse(dict(await request.session.aitems()))

    async def put_then_crash(request: Request) -> JSONResponse:
        """Reads the session, changes it, and the store dies before the response leaves."""
        await request.session.aset("note", "written while the store died")
        durable_server.kill()
        return JSONResponse({"saved": "maybe"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await app.manager.aclose()

    routes = [Route("/put", put), Route("/get", get), Route("/put-then-crash", put_then_crash)]
    # preload: the session is read before the view runs, so a store that is down is
    # answered by the middleware (503) rather than by the framework's error page.
    app = SessionMiddleware(
        Starlette(routes=routes, lifespan=lifespan), store=durable_server.url, preload=True
    )

    with TestClient(app, base_url="https://testserver") as client:

        def call(path: str, token: str | None = None) -> object:
            client.cookies.clear()
            headers = {"cookie": f"__Host-sessionid={token}"} if token else {}
            return client.get(path, headers=headers)

        # Twenty visitors, each with a few values.
        stored: dict[str, dict[str, str]] = {}
        for visitor in range(20):
            values = {
                "visitor": str(visitor),
                "cart": f"item-{visitor}",
                "lang": "fr" if visitor % 2 else "en",
            }
            response = call("/put?" + "&".join(f"{k}={v}" for k, v in values.items()))
            assert response.status_code == 200  # type: ignore[attr-defined]
            token = session_cookie(response)
            assert token is not None
            stored[token] = values
        victim = next(iter(stored))

        # The store dies in the middle of a request: the change is not saved, 503, no cookie.
        response = call("/put-then-crash", victim)
        assert response.status_code == 503  # type: ignore[attr-defined]
        assert session_cookie(response) is None
        assert "set-cookie" not in response.headers  # type: ignore[attr-defined]

        # While it is down, every kind of request fails closed.
        for path, token in [("/get", victim), ("/put?cart=stolen", victim), ("/put?new=visitor", None)]:
            response = call(path, token)
            assert response.status_code == 503, path  # type: ignore[attr-defined]
            assert "set-cookie" not in response.headers, path  # type: ignore[attr-defined]
            assert response.headers["retry-after"] == "5"  # type: ignore[attr-defined]

        # Back on the same port and directory: every session is there, with its data.
        durable_server.start()
        for token, values in stored.items():
            response = call("/get", token)
            assert response.status_code == 200  # type: ignore[attr-defined]
            assert response.json() == values  # type: ignore[attr-defined]
        # Nothing the failed requests tried to write landed.
        assert "note" not in call("/get", victim).json()  # type: ignore[attr-defined]

        # A second crash, this time between requests, then the store is back again.
        durable_server.kill()
        assert call("/get", victim).status_code == 503  # type: ignore[attr-defined]
        durable_server.start()
        response = call("/put?cart=updated", victim)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert call("/get", victim).json() == {**stored[victim], "cart": "updated"}  # type: ignore[attr-defined]
    app.manager.close()
