"""Falcon: ``req.context.session`` in WSGI and ASGI apps, through ``falcon.testing.TestClient``.

The shared behaviour (cookies, expiry, rotation, logout, fail closed, store calls) runs
on both kinds of app; then what is Falcon's own: one middleware object for either kind,
the ASGI side never using the store's sync face, a custom context attribute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import falcon
import falcon.asgi
import pytest
from spies import Counting

from sessionary import SessionManager, alogin, alogout, login, logout
from sessionary.integrations.falcon import SessionMiddleware
from sessionary.stores import Store, open_store

from .behaviour import Behaviour, Serve
from .frameworks import Browser, falcon_sender


class Routes:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def on_get_untouched(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = "ok"

    def on_get_read(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = str(req.context.session.get("value"))

    def on_post_write(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.session["value"] = "x"
        resp.text = "ok"

    def on_post_expiry(self, req: falcon.Request, resp: falcon.Response, seconds: int) -> None:
        req.context.session["value"] = "x"
        req.context.session.set_expiry(seconds)

    def on_post_login(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        login(req.context.session, user)

    def on_post_logout(self, req: falcon.Request, resp: falcon.Response) -> None:
        logout(req.context.session)

    def on_get_devices(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = req.context.session
        resp.text = json.dumps(
            [d.handle for d in self.manager.list_sessions(session.user_id, current=session)]
        )

    def on_post_ended(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = req.context.session
        session.load()
        assert self.manager.revoke(session.user_id, session.handle)
        session["late"] = "write"

    def on_get_boom(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("unrelated")


class AsyncRoutes:
    """The same routes with the async API (``alogin``, ``aset``, the manager's ``a*``)."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    async def on_get_untouched(self, req: Any, resp: Any) -> None:
        resp.text = "ok"

    async def on_get_read(self, req: Any, resp: Any) -> None:
        resp.text = str(await req.context.session.aget("value"))

    async def on_post_write(self, req: Any, resp: Any) -> None:
        await req.context.session.aset("value", "x")
        resp.text = "ok"

    async def on_post_expiry(self, req: Any, resp: Any, seconds: int) -> None:
        await req.context.session.aset("value", "x")
        await req.context.session.aset_expiry(seconds)

    async def on_post_login(self, req: Any, resp: Any, user: str) -> None:
        await alogin(req.context.session, user)

    async def on_post_logout(self, req: Any, resp: Any) -> None:
        await alogout(req.context.session)

    async def on_get_devices(self, req: Any, resp: Any) -> None:
        session = req.context.session
        devices = await self.manager.alist_sessions(session.user_id, current=session)
        resp.text = json.dumps([d.handle for d in devices])

    async def on_post_ended(self, req: Any, resp: Any) -> None:
        session = req.context.session
        await session.aload()
        assert await self.manager.arevoke(session.user_id, session.handle)
        await session.aset("late", "write")

    async def on_get_boom(self, req: Any, resp: Any) -> None:
        raise RuntimeError("unrelated")


def make_app(manager: SessionManager, *, asgi: bool, **options: Any) -> Any:
    app: Any = (
        falcon.asgi.App(middleware=[SessionMiddleware(manager=manager, **options)])
        if asgi
        else falcon.App(middleware=[SessionMiddleware(manager=manager, **options)])
    )
    routes = (AsyncRoutes if asgi else Routes)(manager)
    for path, suffix in [
        ("/untouched", "untouched"),
        ("/read", "read"),
        ("/write", "write"),
        ("/expiry/{seconds:int}", "expiry"),
        ("/login/{user}", "login"),
        ("/logout", "logout"),
        ("/devices", "devices"),
        ("/ended-elsewhere", "ended"),
        ("/boom", "boom"),
    ]:
        app.add_route(path, routes, suffix=suffix)
    return app


class TestFalconWSGI(Behaviour):
    @pytest.fixture
    def serve(self) -> Serve:
        return lambda manager: Browser(falcon_sender(make_app(manager, asgi=False)))


class TestFalconASGI(Behaviour):
    preloads: ClassVar[bool] = True

    @pytest.fixture
    def serve(self) -> Serve:
        return lambda manager: Browser(falcon_sender(make_app(manager, asgi=True)))


def faces_counted(store: Store) -> tuple[Store, list[str], list[str]]:
    sync_calls: list[str] = []
    async_calls: list[str] = []
    counted = Store(Counting(store.sync, sync_calls), Counting(store.aio, async_calls), store.codec)  # type: ignore[arg-type]
    return counted, sync_calls, async_calls


def test_an_asgi_app_never_uses_the_stores_sync_face(tmp_path: Path, user_id: str) -> None:
    store, sync_calls, async_calls = faces_counted(open_store(f"sqlite:///{tmp_path}/faces.db"))
    manager = SessionManager(store)
    try:
        browser = Browser(falcon_sender(make_app(manager, asgi=True)))
        browser.post("/write")
        browser.post(f"/login/{user_id}")
        assert browser.get("/read").text == "x"
        browser.get("/devices")
        browser.post("/logout")
        assert sync_calls == []
        assert {"create", "load", "rotate", "user_sessions", "delete"} <= set(async_calls)
    finally:
        manager.close()


def test_preload_reads_before_the_responder_so_plain_access_does_no_io(tmp_path: Path) -> None:
    store, sync_calls, async_calls = faces_counted(open_store(f"sqlite:///{tmp_path}/faces.db"))
    manager = SessionManager(store)

    class Plain:
        async def on_get(self, req: Any, resp: Any) -> None:
            resp.text = str(req.context.session.get("value"))  # no await: already loaded

    try:
        app = make_app(manager, asgi=True)
        app.add_route("/plain", Plain())
        browser = Browser(falcon_sender(app))
        browser.post("/write")
        async_calls.clear()
        assert browser.get("/plain").text == "x"
        assert (sync_calls, async_calls) == ([], ["load"])
    finally:
        manager.close()


def test_without_preload_an_asgi_request_with_a_cookie_reads_only_when_used(tmp_path: Path) -> None:
    store, sync_calls, async_calls = faces_counted(open_store(f"sqlite:///{tmp_path}/faces.db"))
    manager = SessionManager(store)
    try:
        browser = Browser(falcon_sender(make_app(manager, asgi=True, preload=False)))
        browser.post("/write")
        async_calls.clear()
        browser.get("/untouched")
        assert async_calls == []
        assert browser.get("/read").text == "x"
        assert (sync_calls, async_calls) == ([], ["load"])
    finally:
        manager.close()


@pytest.mark.parametrize("asgi", [False, True])
def test_one_middleware_object_serves_either_kind_and_a_custom_attribute(tmp_path: Path, asgi: bool) -> None:
    sessions = SessionMiddleware(f"sqlite:///{tmp_path}/s.db", context_name="web_session", cookie_age=600)

    class Visits:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            req.context.web_session["n"] = req.context.web_session.get("n", 0) + 1
            resp.text = str(req.context.web_session["n"])

    class AsyncVisits:
        async def on_get(self, req: Any, resp: Any) -> None:
            await req.context.web_session.aset("n", await req.context.web_session.aget("n", 0) + 1)
            resp.text = str(req.context.web_session["n"])

    app: Any = falcon.asgi.App(middleware=[sessions]) if asgi else falcon.App(middleware=[sessions])
    app.add_route("/", AsyncVisits() if asgi else Visits())
    browser = Browser(falcon_sender(app))
    try:
        assert [browser.get("/").text for _ in range(3)] == ["1", "2", "3"]
        assert browser.last_cookie is not None and browser.last_cookie.max_age == 600
    finally:
        sessions.manager.close()
