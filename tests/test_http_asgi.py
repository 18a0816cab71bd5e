"""What is particular to the ASGI middleware: async views, preloading, WebSockets and
scopes it must leave alone. The shared decisions run through Starlette in ``test_http.py``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionary import SessionManager, SessionMiddleware
from sessionary.testing import FakeClock
from support.http_apps import cookie_value
from support.spies import RecordingSQLite, recording_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocket


async def count(request: Request) -> PlainTextResponse:
    session = request.session
    visits = await session.aget("visits", 0)  # type: ignore[attr-defined]
    await session.aset("visits", visits + 1)  # type: ignore[attr-defined]
    return PlainTextResponse(str(visits + 1))


async def logout(request: Request) -> PlainTextResponse:
    await request.session.aflush()  # type: ignore[attr-defined]
    return PlainTextResponse("bye")


async def peek(request: Request) -> PlainTextResponse:
    """Reads the session without awaiting anything: needs ``preload=True`` to be I/O-free."""
    return PlainTextResponse(str(request.session.get("visits")))


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(str(await websocket.session.aget("visits")))  # type: ignore[attr-defined]
    await websocket.close()


ROUTES = [
    Route("/count", count),
    Route("/logout", logout),
    Route("/peek", peek),
    WebSocketRoute("/ws", socket),
]


@pytest.fixture
def spied(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[SessionManager, RecordingSQLite]]:
    store, backend = recording_store(tmp_path / "sessions.db")
    manager = SessionManager(store, clock=clock)
    yield manager, backend
    manager.close()


def client(app: object) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]


def test_async_session_api_in_async_views(spied: tuple[SessionManager, RecordingSQLite]) -> None:
    manager, _ = spied
    browser = client(SessionMiddleware(Starlette(routes=ROUTES), manager=manager))
    assert [browser.get("/count").text for _ in range(3)] == ["1", "2", "3"]
    reply = browser.get("/logout")
    assert reply.headers["set-cookie"].startswith(
        '__Host-sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT'
    )
    assert browser.get("/count").text == "1"


def test_preload_reads_once_before_the_view(spied: tuple[SessionManager, RecordingSQLite]) -> None:
    manager, backend = spied
    browser = client(SessionMiddleware(Starlette(routes=ROUTES), manager=manager, preload=True))
    token = cookie_value(browser.get("/count").headers["set-cookie"])
    backend.calls.clear()
    reply = browser.get("/peek", headers={"cookie": f"__Host-sessionid={token}"})
    assert reply.text == "1"
    assert backend.calls == ["load"]
    backend.calls.clear()
    assert browser.get("/peek", headers={"cookie": ""}).text == "None"
    assert backend.calls == []


def test_websocket_sees_the_session(spied: tuple[SessionManager, RecordingSQLite]) -> None:
    manager, _ = spied
    browser = client(SessionMiddleware(Starlette(routes=ROUTES), manager=manager))
    token = cookie_value(browser.get("/count").headers["set-cookie"])
    browser.get("/count")
    with browser.websocket_connect("/ws", headers={"cookie": f"__Host-sessionid={token}"}) as websocket:
        assert websocket.receive_text() == "2"


def test_lifespan_passes_through_untouched(spied: tuple[SessionManager, RecordingSQLite]) -> None:
    manager, backend = spied
    events: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        assert "session" not in scope
        events.append(str(scope["type"]))
        if scope["type"] == "lifespan":
            message = await receive()  # type: ignore[operator]
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
            message = await receive()  # type: ignore[operator]
            await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]

    with client(SessionMiddleware(app, manager=manager)):
        pass
    assert events == ["lifespan"]
    assert backend.calls == []


def test_cookie_split_over_several_headers_is_read_whole(
    spied: tuple[SessionManager, RecordingSQLite],
) -> None:
    """HTTP/2 clients send one ``cookie`` header per cookie; ASGI passes them separately."""
    manager, _ = spied
    browser = client(SessionMiddleware(Starlette(routes=ROUTES), manager=manager))
    token = cookie_value(browser.get("/count").headers["set-cookie"])
    browser.cookies.clear()
    reply = browser.get("/peek", headers=[("cookie", "theme=dark"), ("cookie", f"__Host-sessionid={token}")])
    assert reply.text == "1"
