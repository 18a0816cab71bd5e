"""FastAPI: ``SessionDep`` (typed, loaded, the full API), WebSockets, and failing closed."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.middleware.sessions import SessionMiddleware as StarletteSessionMiddleware

from sessionary import Session, SessionManager, SessionMiddleware
from sessionary.integrations.fastapi import SessionDep

from .frameworks import Browser, httpx_sender


def make_app(manager: SessionManager) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await manager.aclose()  # the store's async face, on the loop that used it

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(SessionMiddleware, manager=manager)

    @app.get("/kind")
    async def kind(session: SessionDep, request: Request) -> dict[str, object]:
        return {
            "type": type(session).__name__,
            "same_as_request_session": session is request.session,
            "loaded": session.accessed,
        }

    @app.post("/remember")
    async def remember(session: SessionDep) -> dict[str, object]:
        await session.aset("n", (await session.aget("n", 0)) + 1)
        await session.aset_expiry(120)
        return {"n": session["n"], "age": await session.aget_expiry_age()}

    @app.post("/cycle")
    async def cycle(session: SessionDep) -> dict[str, object]:
        before = session.session_key
        await session.acycle_key()
        return {"changed": session.session_key != before, "n": session.get("n")}

    @app.websocket("/ws")
    async def socket(websocket: WebSocket, session: SessionDep) -> None:
        await websocket.accept()
        await websocket.send_json({"n": session.get("n"), "via_scope": websocket.session.get("n")})
        await websocket.close()

    return app


@pytest.fixture
def manager(store_url: str) -> Iterator[SessionManager]:
    manager = SessionManager(store_url)
    yield manager
    manager.close()


@pytest.fixture
def client(manager: SessionManager, exit_stack: ExitStack) -> TestClient:
    """One client (one event loop, as under a server) for the test's app."""
    return exit_stack.enter_context(TestClient(make_app(manager), base_url="https://testserver"))


def test_the_dependency_is_the_request_session_loaded(client: TestClient) -> None:
    assert client.get("/kind").json() == {"type": "Session", "same_as_request_session": True, "loaded": True}


def test_async_api_through_the_dependency(client: TestClient) -> None:
    browser = Browser(httpx_sender(client))
    assert browser.post("/remember").json() == {"n": 1, "age": 120}
    assert browser.last_cookie is not None and browser.last_cookie.max_age == 120
    assert browser.post("/remember").json() == {"n": 2, "age": 120}
    old = browser.token
    assert browser.post("/cycle").json() == {"changed": True, "n": 2}
    assert browser.token != old
    assert browser.post("/remember", token=old).json()["n"] == 1  # the old token opened nothing


def test_websocket_reads_the_session(client: TestClient) -> None:
    client.post("/remember")
    client.post("/remember")
    with client.websocket_connect("wss://testserver/ws") as websocket:
        assert websocket.receive_json() == {"n": 2, "via_scope": 2}


def test_websocket_without_a_cookie_gets_an_empty_session(client: TestClient) -> None:
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {"n": None, "via_scope": None}


def test_the_dependency_names_the_missing_middleware() -> None:
    def app_with(*middleware: type) -> FastAPI:
        app = FastAPI()
        for cls in middleware:
            app.add_middleware(cls, secret_key="s" * 32)

        @app.get("/")
        async def home(session: SessionDep) -> str:
            return "unreachable"

        return app

    with pytest.raises(RuntimeError, match=r"add_middleware\(sessionary.SessionMiddleware"):
        TestClient(app_with()).get("/")
    with pytest.raises(RuntimeError, match="found a Session from another middleware"):
        TestClient(app_with(StarletteSessionMiddleware)).get("/")


def test_store_failure_answers_503_without_a_cookie(tmp_path: Path, exit_stack: ExitStack) -> None:
    path = tmp_path / "sessions.db"
    manager = SessionManager(f"sqlite:///{path}")
    browser = Browser(httpx_sender(exit_stack.enter_context(TestClient(make_app(manager)))))
    browser.post("/remember")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessionary_sessions SET meta = 'garbage'")
    reply = browser.post("/remember")
    assert reply.status == 503
    assert reply.set_cookies == []
    assert reply.header("retry-after") == "5"


def test_session_type_is_exported_for_annotations() -> None:
    assert SessionDep.__metadata__[0].dependency.__name__ == "get_session"  # type: ignore[attr-defined]
    assert SessionDep.__origin__ is Session  # type: ignore[attr-defined]


def test_the_session_is_not_an_api_parameter(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/remember"]["post"].get("parameters") is None
