"""BlackSheep: ``request.session`` from sessionary's store in BlackSheep's session
middleware, through BlackSheep's ``TestClient`` (one event loop per test, as under a
server): the shared behaviour with the async API, then what is BlackSheep's own: the
session is also a BlackSheep ``Session``, the store's sync face is never used, HTTP
exceptions still save, and ``app.use_sessions(SessionaryStore(...))`` with BlackSheep's
own middleware."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar

import pytest
from blacksheep import Application, Request, Response, text
from blacksheep.exceptions import Forbidden
from blacksheep.server.routing import Router
from blacksheep.sessions import Session as BlackSheepSession
from spies import Counting

from sessionary import Session, SessionManager, alogin, alogout
from sessionary.integrations.blacksheep import SessionaryStore, use_sessions
from sessionary.stores import Store, open_store

from .behaviour import Behaviour, Serve
from .frameworks import Browser, Send, blacksheep_sender


def make_app(manager: SessionManager, *, plain: bool = False) -> Application:
    app = Application(router=Router())
    if plain:
        app.use_sessions(SessionaryStore(manager=manager))
    else:
        use_sessions(app, manager=manager)
    get, post = app.router.add_get, app.router.add_post

    async def untouched(request: Request) -> Response:
        return text("ok")

    async def read(request: Request) -> Response:
        return text(str(request.session.get("value")))  # loaded before the handler

    async def write(request: Request) -> Response:
        request.session["value"] = "x"
        return text("ok")

    async def expiry(request: Request, seconds: int) -> Response:
        request.session["value"] = "x"
        await request.session.aset_expiry(seconds)
        return text("ok")

    async def sign_in(request: Request, user: str) -> Response:
        await alogin(request.session, user)
        return text("in")

    async def sign_out(request: Request) -> Response:
        await alogout(request.session)
        return text("out")

    async def devices(request: Request) -> Response:
        session = request.session
        found = await manager.alist_sessions(session.user_id, current=session)
        return text(json.dumps([d.handle for d in found]))

    async def ended_elsewhere(request: Request) -> Response:
        session = request.session
        assert await manager.arevoke(session.user_id, session.handle)
        await session.aset("late", "write")
        return text("ok")

    async def boom(request: Request) -> Response:
        raise RuntimeError("unrelated")

    async def forbidden(request: Request) -> Response:
        request.session["value"] = "forbidden"
        raise Forbidden()

    async def kind(request: Request) -> Response:
        session = request.session
        session.set("value", "set")
        return text(
            f"{isinstance(session, Session)} {isinstance(session, BlackSheepSession)} {session.to_dict()}"
        )

    get("/untouched", untouched)
    get("/read", read)
    post("/write", write)
    post("/expiry/{int:seconds}", expiry)
    post("/login/{user}", sign_in)
    post("/logout", sign_out)
    get("/devices", devices)
    post("/ended-elsewhere", ended_elsewhere)
    get("/boom", boom)
    post("/forbidden", forbidden)
    post("/kind", kind)
    return app


class TestBlackSheep(Behaviour):
    preloads: ClassVar[bool] = True

    @pytest.fixture
    def serve(self, exit_stack: ExitStack) -> Serve:
        """One app (and one event loop) per manager; browsers on it share its sender."""
        senders: dict[int, Send] = {}

        def serve(manager: SessionManager) -> Browser:
            if id(manager) not in senders:
                senders[id(manager)] = blacksheep_sender(make_app(manager), exit_stack)
            return Browser(senders[id(manager)])

        return serve


@pytest.fixture
def manager(store_url: str) -> Iterator[SessionManager]:
    manager = SessionManager(store_url)
    yield manager
    manager.close()


def test_the_session_is_both_a_sessionary_and_a_blacksheep_session(
    manager: SessionManager, exit_stack: ExitStack
) -> None:
    browser = Browser(blacksheep_sender(make_app(manager), exit_stack))
    assert browser.post("/kind").text == "True True {'value': 'set'}"
    assert browser.get("/read").text == "set"


def test_an_http_exception_still_saves_as_a_4xx_does(manager: SessionManager, exit_stack: ExitStack) -> None:
    browser = Browser(blacksheep_sender(make_app(manager), exit_stack))
    assert browser.post("/forbidden").status == 403
    assert browser.get("/read").text == "forbidden"


def test_only_the_stores_async_face_is_used(tmp_path: Path, exit_stack: ExitStack, user_id: str) -> None:
    real = open_store(f"sqlite:///{tmp_path}/faces.db")
    sync_calls: list[str] = []
    async_calls: list[str] = []
    store = Store(Counting(real.sync, sync_calls), Counting(real.aio, async_calls), real.codec)  # type: ignore[arg-type]
    manager = SessionManager(store)
    browser = Browser(blacksheep_sender(make_app(manager), exit_stack))
    browser.post("/write")
    browser.post(f"/login/{user_id}")
    assert browser.get("/read").text == "x"
    browser.get("/devices")
    browser.post("/logout")
    assert sync_calls == []
    assert {"create", "load", "rotate", "user_sessions", "delete"} <= set(async_calls)


def test_blacksheeps_own_middleware_with_the_store(manager: SessionManager, exit_stack: ExitStack) -> None:
    """``app.use_sessions(SessionaryStore(...))``: reads and writes work; BlackSheep's
    middleware calls the store only for a modified session (the documented limits)."""
    browser = Browser(blacksheep_sender(make_app(manager, plain=True), exit_stack))
    browser.post("/write")
    assert browser.last_cookie is not None and {"secure", "httponly"} <= set(browser.last_cookie.attributes)
    assert browser.get("/read").text == "x"
    assert browser.post("/kind").text.startswith("True True")
    assert browser.get("/read").text == "set"


def test_preload_off_reads_only_when_used(tmp_path: Path, exit_stack: ExitStack) -> None:
    real = open_store(f"sqlite:///{tmp_path}/lazy.db")
    calls: list[str] = []
    store = Store(Counting(real.sync, calls), Counting(real.aio, calls), real.codec)  # type: ignore[arg-type]
    manager = SessionManager(store)
    app: Any = Application(router=Router())
    use_sessions(app, manager=manager, preload=False)

    async def visits(request: Request) -> Response:
        count = await request.session.aget("n", 0) + 1
        await request.session.aset("n", count)
        return text(str(count))

    async def untouched(request: Request) -> Response:
        return text("ok")

    app.router.add_post("/visits", visits)
    app.router.add_get("/untouched", untouched)
    browser = Browser(blacksheep_sender(app, exit_stack))
    assert [browser.post("/visits").text for _ in range(2)] == ["1", "2"]
    calls.clear()
    browser.get("/untouched")
    assert calls == []
