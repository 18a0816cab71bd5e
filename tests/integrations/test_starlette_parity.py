"""sessionary.SessionMiddleware as a drop-in for Starlette's own SessionMiddleware.

The same Starlette app (same views, same middleware position) runs once with
Starlette's middleware and once with sessionary's; what the views see must be the same.
The one intended difference is at the cookie level: Starlette's ``session.clear()``
deletes its (signed, client-side) cookie, sessionary keeps the token and stores the
empty session, as Django does; ``flush()`` / ``sessionary.auth.logout`` end it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.sessions import SessionMiddleware as StarletteSessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionary import SessionMiddleware

VALUES = {"text": "héllo ✓", "number": 3, "float": 1.5, "flag": True, "none": None, "nested": {"a": [1, 2]}}


async def write(request: Request) -> Response:
    request.session["counter"] = request.session.get("counter", 0) + 1
    request.session.update(VALUES)
    request.session.setdefault("first", "kept")
    return PlainTextResponse("ok")


async def read(request: Request) -> Response:
    session = request.session
    return JSONResponse(
        {
            "dict": dict(session),
            "keys": sorted(session.keys()),
            "items": sorted(k for k, _ in session.items()),
            "len": len(session),
            "in": "counter" in session,
            "iter": sorted(session),
        }
    )


async def pop(request: Request) -> Response:
    return JSONResponse(
        {"popped": request.session.pop("counter", None), "missing": request.session.pop("nope", "d")}
    )


async def delete(request: Request) -> Response:
    del request.session["number"]
    return PlainTextResponse("ok")


async def clear(request: Request) -> Response:
    request.session.clear()
    return PlainTextResponse("ok")


async def untouched(request: Request) -> Response:
    return PlainTextResponse("ok")


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {"counter": websocket.session.get("counter"), "text": websocket.session["text"]}
    )
    await websocket.close()


class SeesSession(BaseHTTPMiddleware):
    """A middleware placed after the session middleware, as an auth middleware would be."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-counter"] = str(request.session.get("counter"))
        return response


def build(session_middleware: Middleware) -> Starlette:
    return Starlette(
        routes=[
            Route("/write", write),
            Route("/read", read),
            Route("/pop", pop),
            Route("/delete", delete),
            Route("/clear", clear),
            Route("/untouched", untouched),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[session_middleware, Middleware(SeesSession)],
    )


Factory = Callable[[Path], Starlette]
KINDS: dict[str, Factory] = {
    "starlette": lambda tmp: build(Middleware(StarletteSessionMiddleware, secret_key="s" * 32)),
    # The only line that changes: the middleware (here with Starlette's cookie name).
    "sessionary": lambda tmp: build(
        Middleware(SessionMiddleware, store=f"sqlite:///{tmp}/sessions.db", cookie_name="session")
    ),
}


def run(kind: str, tmp_path: Path) -> list[Any]:
    """Drive the app; return everything a view or a client observes."""
    client = TestClient(KINDS[kind](tmp_path), base_url="https://testserver")
    seen: list[Any] = []

    def step(path: str) -> None:
        response = client.get(path)
        seen.append(
            (
                path,
                response.status_code,
                response.json() if response.headers["content-type"].startswith("application/json") else None,
                response.headers.get("x-counter"),
                "Cookie" in response.headers.get("vary", ""),
            )
        )

    step("/untouched")
    step("/read")
    step("/write")
    step("/write")
    step("/read")
    with client.websocket_connect("wss://testserver/ws") as websocket:
        seen.append(websocket.receive_json())
    step("/pop")
    step("/delete")
    step("/read")
    step("/clear")
    step("/read")
    return seen


def test_views_see_the_same_session_with_either_middleware(tmp_path: Path) -> None:
    assert run("sessionary", tmp_path) == run("starlette", tmp_path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cookie_only_when_the_session_changes(kind: str, tmp_path: Path) -> None:
    client = TestClient(KINDS[kind](tmp_path), base_url="https://testserver")
    assert "set-cookie" not in client.get("/untouched").headers
    assert "set-cookie" not in client.get("/read").headers
    assert "set-cookie" in client.get("/write").headers
    assert "set-cookie" not in client.get("/read").headers


def test_request_session_without_the_middleware_fails_the_same_way(tmp_path: Path) -> None:
    app = Starlette(routes=[Route("/read", read)])
    with pytest.raises(AssertionError, match="SessionMiddleware must be installed"):
        TestClient(app).get("/read")


def test_clear_keeps_the_token_and_stores_the_empty_session(tmp_path: Path) -> None:
    client = TestClient(KINDS["sessionary"](tmp_path), base_url="https://testserver")
    client.get("/write")
    token = client.cookies["__Host-session"]
    client.get("/clear")
    assert client.cookies["__Host-session"] == token
    assert client.get("/read").json()["len"] == 0
