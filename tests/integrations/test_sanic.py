"""Sanic specifics, through sanic-testing's client on a real Sanic server:
``request.ctx.session`` and ``get_session``, the app's own middleware seeing the session,
redirects, an exception in a handler, a session ended mid-request, and the store closed
when the server stops."""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sanic import HTTPResponse, Request, Sanic, redirect, text

from sessionary import SessionManager, alogin
from sessionary.integrations.sanic import get_manager, get_session, setup

from .async_clients import sanic_sender
from .frameworks import Browser


def make_app(manager: SessionManager) -> Sanic[Any, Any]:
    app = Sanic(f"sessionary_test_{secrets.token_hex(4)}")
    setup(app, manager=manager)

    @app.on_request
    async def tag(request: Request) -> None:
        # The app's own middleware runs after sessionary's and sees the session.
        request.ctx.seen = type(request.ctx.session).__name__

    @app.get("/write")
    async def write(request: Request) -> HTTPResponse:
        session = await get_session(request)
        session["counter"] = session.get("counter", 0) + 1
        return text(str(session["counter"]))

    @app.get("/read")
    async def read(request: Request) -> HTTPResponse:
        return text(f"{await request.ctx.session.aget('counter')} {request.ctx.seen}")

    @app.get("/redirect")
    async def moved(request: Request) -> HTTPResponse:
        await request.ctx.session.aset("counter", 7)
        return redirect("/read")

    @app.get("/fails")
    async def fails(request: Request) -> HTTPResponse:
        await request.ctx.session.aset("counter", 99)
        raise RuntimeError("the view broke")

    @app.post("/login/<user_id>")
    async def login(request: Request, user_id: str) -> HTTPResponse:
        await alogin(await get_session(request), user_id)
        return text("in")

    @app.post("/signed-out-elsewhere/<user_id>")
    async def signed_out_elsewhere(request: Request, user_id: str) -> HTTPResponse:
        session = await get_session(request)
        assert session.handle is not None
        assert await get_manager(request.app).arevoke(user_id, session.handle)
        session["late"] = "write"  # must not bring the ended session back
        return text("ok")

    return app


@pytest.fixture
def manager(store_url: str) -> SessionManager:
    return SessionManager(store_url)


@pytest.fixture
def browser(manager: SessionManager, exit_stack: ExitStack) -> Browser:
    return Browser(sanic_sender(make_app(manager), exit_stack))


def test_request_ctx_session_is_a_sessionary_session(browser: Browser) -> None:
    assert browser.get("/write").text == "1"
    assert browser.token is not None
    assert browser.get("/write").text == "2"
    assert browser.get("/read").text == "2 Session"


def test_a_redirect_carries_the_cookie(browser: Browser) -> None:
    reply = browser.get("/redirect")
    assert reply.status == 302
    assert browser.last_cookie is not None and not browser.last_cookie.deletes
    assert browser.get("/read").text == "7 Session"


def test_an_exception_in_the_handler_saves_nothing(browser: Browser) -> None:
    browser.get("/write")
    reply = browser.get("/fails")
    assert reply.status == 500
    assert reply.set_cookies == []
    assert browser.get("/read").text == "1 Session"


def test_a_session_ended_during_the_request_answers_400(
    browser: Browser, manager: SessionManager, user_id: str
) -> None:
    browser.post(f"/login/{user_id}")
    reply = browser.post(f"/signed-out-elsewhere/{user_id}")
    assert reply.status == 400
    assert reply.set_cookies == []
    assert manager.list_sessions(user_id) == []


def test_the_store_is_closed_when_the_server_stops(tmp_path: Path) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db")
    closed: list[bool] = []
    real = manager.aclose

    async def aclose() -> None:
        closed.append(True)
        await real()

    manager.aclose = aclose  # type: ignore[method-assign]
    with ExitStack() as stack:
        send = sanic_sender(make_app(manager), stack)
        assert Browser(send).get("/write").text == "1"
        assert closed == []
    assert closed == [True]


def test_get_manager_without_setup_names_the_fix() -> None:
    with pytest.raises(RuntimeError, match=r"setup\(app\)"):
        get_manager(Sanic(f"bare_{secrets.token_hex(4)}"))
