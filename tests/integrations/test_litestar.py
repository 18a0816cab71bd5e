"""Litestar: its own session API (``request.session``, ``set_session``, ``clear_session``,
``exclude``, ``skip_session``) on sessionary, the typed dependency, WebSockets, and
failing closed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request, WebSocket, get, post, websocket
from litestar.middleware import ASGIMiddleware
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from sessionary import SessionManager, alogin
from sessionary.integrations.litestar import SessionaryConfig, SessionaryPlugin, SessionDep

from .frameworks import Browser, httpx_sender


@dataclass
class Cart:
    items: list[str]
    owner: str


@get("/read")
async def read(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return dict(request.session)


@post("/write", status_code=200)
async def write(request: Request[Any, Any, Any]) -> str:
    request.session["counter"] = request.session.get("counter", 0) + 1
    return "ok"


@post("/set-dict", status_code=200)
async def set_dict(request: Request[Any, Any, Any]) -> str:
    request.set_session({"replaced": True})
    return "ok"


@post("/set-model", status_code=200)
async def set_model(request: Request[Any, Any, Any]) -> str:
    request.set_session(Cart(items=["apple"], owner="ann"))
    return "ok"


@post("/clear", status_code=200)
async def clear(request: Request[Any, Any, Any]) -> str:
    request.clear_session()
    return "ok"


@post("/login/{user_id:str}", status_code=200)
async def sign_in(session: SessionDep, request: Request[Any, Any, Any]) -> str:
    await alogin(session, request.path_params["user_id"])
    return "ok"


@post("/excluded/write", status_code=200)
async def excluded(request: Request[Any, Any, Any]) -> str:
    return str("session" in request.scope)


@post("/opted-out", status_code=200, opt={"skip_session": True})
async def opted_out(request: Request[Any, Any, Any]) -> str:
    return str("session" in request.scope)


@get("/typed")
async def typed(session: SessionDep) -> dict[str, Any]:
    return {
        "type": type(session).__name__,
        "expiry_age": session.get_expiry_age(),
        "counter": session.get("counter"),
    }


@websocket("/ws")
async def socket(socket: WebSocket[Any, Any, Any], session: SessionDep) -> None:
    await socket.accept()
    await socket.send_json({"counter": session.get("counter"), "via_scope": socket.session.get("counter")})
    await socket.close()


class SeesSession(ASGIMiddleware):
    """An app middleware after the session plugin's (an auth middleware would be one)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        session = scope.get("session")
        scope["state"]["counter_seen"] = None if session is None else session.get("counter")  # type: ignore[union-attr]
        await next_app(scope, receive, send)


@get("/seen")
async def seen(request: Request[Any, Any, Any]) -> Any:
    return request.state.counter_seen


HANDLERS = [read, write, set_dict, set_model, clear, sign_in, excluded, opted_out, typed, socket, seen]


def make_app(manager: SessionManager) -> Litestar:
    return Litestar(
        HANDLERS,
        plugins=[SessionaryPlugin(manager=manager, exclude="^/excluded")],
        middleware=[SeesSession()],
    )


Opener = Callable[[Litestar], TestClient[Any]]


@pytest.fixture
def serve(exit_stack: ExitStack) -> Opener:
    """The test client of an app, one per app (one event loop, as under a server)."""
    clients: dict[int, TestClient[Any]] = {}

    def open_client(app: Litestar) -> TestClient[Any]:
        if id(app) not in clients:
            client = TestClient(app, base_url="https://testserver.local")
            clients[id(app)] = exit_stack.enter_context(client)
        return clients[id(app)]

    return open_client


@pytest.fixture
def open_browser(serve: Opener) -> Callable[[Litestar], Browser]:
    return lambda app: Browser(httpx_sender(serve(app)))


@pytest.fixture
def manager(store_url: str) -> Iterator[SessionManager]:
    manager = SessionManager(store_url)
    yield manager
    manager.close()


def test_request_session_reads_and_writes(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    client = open_browser(make_app(manager))
    assert client.get("/read").json() == {}
    assert client.post("/write").status == 200
    assert client.last_cookie is not None and "secure" in client.last_cookie.attributes
    client.post("/write")
    assert client.get("/read").json() == {"counter": 2}
    assert client.get("/seen").json() == 2  # other middleware see the session too


def test_untouched_requests_store_nothing_and_set_no_cookie(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    client = open_browser(make_app(manager))
    assert client.get("/read").set_cookies == []
    assert client.token is None


def test_set_session_replaces_the_data(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    client = open_browser(make_app(manager))
    client.post("/write")
    token = client.token
    client.post("/set-dict")
    assert client.token == token
    assert client.get("/read").json() == {"replaced": True}
    client.post("/set-model")
    assert client.get("/read").json() == {"items": ["apple"], "owner": "ann"}


def test_clear_session_ends_the_stored_session(
    manager: SessionManager, user_id: str, open_browser: Callable[[Litestar], Browser]
) -> None:
    client = open_browser(make_app(manager))
    client.post(f"/login/{user_id}")
    client.post("/write")
    token = client.token
    assert len(manager.list_sessions(user_id)) == 1
    client.post("/clear")
    assert client.last_cookie is not None and client.last_cookie.deletes
    assert manager.list_sessions(user_id) == []
    assert client.get("/read", token=token).json() == {}


def test_exclude_and_skip_session(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    client = open_browser(make_app(manager))
    assert client.post("/excluded/write").text == "False"
    assert client.post("/opted-out").text == "False"


def test_typed_dependency_and_websocket(manager: SessionManager, serve: Opener) -> None:
    client = serve(make_app(manager))
    client.post("/write")
    assert client.get("/typed").json() == {"type": "Session", "expiry_age": 1209600, "counter": 1}
    with client.websocket_connect("wss://testserver.local/ws") as ws:
        assert ws.receive_json() == {"counter": 1, "via_scope": 1}


def test_config_middleware_without_the_plugin(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    app = Litestar(
        [read, write], middleware=[SessionaryConfig(manager=manager).middleware], on_shutdown=[manager.aclose]
    )
    client = open_browser(app)
    client.post("/write")
    assert client.get("/read").json() == {"counter": 1}


def test_store_failure_answers_503_and_interruption_400(
    tmp_path: Path, user_id: str, open_browser: Callable[[Litestar], Browser]
) -> None:
    path = tmp_path / "sessions.db"
    manager = SessionManager(f"sqlite:///{path}")

    @post("/revoked-meanwhile", status_code=200)
    async def revoked_meanwhile(session: SessionDep) -> str:
        assert session.handle is not None
        await manager.arevoke(user_id, session.handle)
        session["late"] = "write"
        return "ok"

    app = Litestar([*HANDLERS, revoked_meanwhile], plugins=[SessionaryPlugin(manager=manager)])
    client = open_browser(app)
    client.post(f"/login/{user_id}")
    reply = client.post("/revoked-meanwhile")
    assert reply.status == 400
    assert reply.set_cookies == []

    client = open_browser(app)
    client.post("/write")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessionary_sessions SET data = '[1, 2]'")
    reply = client.get("/read")
    assert reply.status == 503
    assert reply.set_cookies == []


def test_the_session_is_not_an_api_parameter(manager: SessionManager, serve: Opener) -> None:
    schema = serve(make_app(manager)).get("/schema/openapi.json").json()
    assert "parameters" not in schema["paths"]["/typed"]["get"]


def test_get_session_id_does_not_expose_the_token(
    manager: SessionManager, open_browser: Callable[[Litestar], Browser]
) -> None:
    @get("/session-id")
    async def session_id(request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"id": request.get_session_id()}

    client = open_browser(Litestar([write, session_id], plugins=[SessionaryPlugin(manager=manager)]))
    client.post("/write")
    assert client.get("/session-id").json() == {"id": None}
