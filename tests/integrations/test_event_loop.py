"""Nothing blocks an async framework's event loop, and untouched requests cost no store call.

:class:`EventLoopBehaviour` runs on every async framework (event_loop_apps.py: views
that use the session's *sync* API inside ``async def``) and every store (SQLite, Redis,
PostgreSQL), through each framework's own test client, with
``blocking_store_calls="raise"``: reading, writing, ``set_expiry``, signing in
(rotation), ``cycle_key`` and signing out never raise and never touch the store's sync
face; an explicit sync call that nothing can defer raises ``BlockingCallError`` (or
warns once per call site with ``"warn"``); a request without a cookie makes no store
call, and a request with one at most one read. The ASGI middleware (Starlette) stays
lazy: there a plain sync read is refused under "raise", and ``aload()`` or
``preload=True`` keep it on the async face.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import ClassVar

from sessionary import SessionManager
from sessionary.stores import open_store
from support.spies import Faces

from .event_loop_apps import EVENT_LOOP_APPS
from .frameworks import Browser, sender_for


class EventLoopBehaviour:
    framework: ClassVar[str] = ""
    preloads: ClassVar[bool] = True
    """Reads the session before the view when the request carries a cookie (aiohttp and
    Tornado views load it themselves, through their awaited accessors)."""

    def browser(self, manager: SessionManager, stack: ExitStack) -> Browser:
        return Browser(sender_for(self.framework, EVENT_LOOP_APPS[self.framework](manager), stack))

    def test_the_sync_api_in_async_views_never_blocks(
        self, faces: Faces, exit_stack: ExitStack, user_id: str
    ) -> None:
        manager = SessionManager(faces.store, blocking_store_calls="raise")
        browser = self.browser(manager, exit_stack)
        assert browser.post("/write").status == 200
        assert browser.get("/read").text == "x"
        assert browser.post("/expiry").status == 200
        assert browser.last_cookie is not None and browser.last_cookie.max_age == 60
        before = browser.token
        reply = browser.post(f"/login/{user_id}")
        assert (reply.status, reply.text) == (200, user_id)  # signed in as the view sees it
        assert browser.token not in (None, before)  # a new token (rotation)
        assert browser.get("/read", token=before).text == "None"  # the old one is dead
        assert browser.get("/read").text == "x"
        signed_in = browser.token
        assert browser.post("/cycle").status == 200
        assert browser.token not in (None, signed_in)
        assert browser.get("/read").text == "after-cycle"  # the change after cycle_key landed
        assert browser.get("/read", token=signed_in).text == "None"
        reply = browser.post("/logout")
        assert reply.status == 200
        assert browser.last_cookie is not None and browser.last_cookie.deletes
        assert browser.get("/read").text == "None"
        assert faces.sync == []  # every store call went through the async face
        assert {"create", "load", "rotate", "delete"} <= set(faces.aio)

    def test_a_view_that_signs_out_and_then_fails_still_ends_the_session(
        self, faces: Faces, exit_stack: ExitStack
    ) -> None:
        manager = SessionManager(faces.store, blocking_store_calls="raise")
        browser = self.browser(manager, exit_stack)
        browser.post("/write")
        token = browser.token
        assert browser.post("/logout-then-fail").status == 500
        assert browser.get("/read", token=token).text == "None"  # the stored session is gone
        assert faces.sync == []

    def test_an_explicit_sync_call_raises(self, faces: Faces, exit_stack: ExitStack) -> None:
        manager = SessionManager(faces.store, blocking_store_calls="raise")
        browser = self.browser(manager, exit_stack)
        reply = browser.get("/sync-call")
        assert reply.status == 200
        assert reply.text.startswith("raised: ")
        assert "user_sessions on " in reply.text and "ran on the event loop" in reply.text
        assert "event_loop_apps.py" in reply.text  # where it came from
        assert "await session.aload()" in reply.text and "preload=True" in reply.text
        assert faces.sync == []  # refused before anything was sent

    def test_an_explicit_sync_call_warns_once_per_call_site(
        self, faces: Faces, exit_stack: ExitStack
    ) -> None:
        manager = SessionManager(faces.store, blocking_store_calls="warn")
        browser = self.browser(manager, exit_stack)
        reply = browser.get("/sync-call")
        assert reply.text.startswith("warned: ") and "user_sessions on " in reply.text
        assert browser.get("/sync-call").text == "passed"  # the same call site: said once
        assert faces.sync == ["user_sessions", "user_sessions"]  # both went through

    def test_the_integration_warns_by_default(self, faces: Faces, exit_stack: ExitStack) -> None:
        manager = SessionManager(faces.store)
        browser = self.browser(manager, exit_stack)
        browser.get("/untouched")
        assert manager.blocking_store_calls == "warn"
        assert browser.get("/sync-call").text.startswith("warned: ")

    def test_store_calls_of_untouched_and_preloaded_requests(
        self, faces: Faces, exit_stack: ExitStack
    ) -> None:
        manager = SessionManager(faces.store, blocking_store_calls="raise")
        browser = self.browser(manager, exit_stack)
        assert browser.get("/untouched").set_cookies == []
        assert faces.sync == faces.aio == []  # no cookie: no store call
        browser.post("/write")
        faces.clear()
        reply = browser.get("/untouched")
        assert reply.status == 200 and reply.set_cookies == []
        assert faces.sync == []
        assert faces.aio == (["load"] if self.preloads else [])
        faces.clear()
        assert browser.get("/read").text == "x"
        assert faces.sync == []
        assert faces.aio == ["load"]  # exactly one read, before the view or by its accessor


class TestQuart(EventLoopBehaviour):
    framework = "quart"


class TestSanic(EventLoopBehaviour):
    framework = "sanic"


class TestAiohttp(EventLoopBehaviour):
    framework = "aiohttp"
    preloads = False


class TestTornado(EventLoopBehaviour):
    framework = "tornado"
    preloads = False


class TestBlackSheep(EventLoopBehaviour):
    framework = "blacksheep"


class TestFalconASGI(EventLoopBehaviour):
    framework = "falcon-asgi"


class TestLitestar(EventLoopBehaviour):
    framework = "litestar"


del EventLoopBehaviour


def starlette_app(**options: object) -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from sessionary import BlockingCallError, SessionMiddleware

    async def write(request: Request) -> PlainTextResponse:
        request.session["value"] = "x"
        return PlainTextResponse("ok")

    async def read(request: Request) -> PlainTextResponse:
        try:
            return PlainTextResponse(str(request.session.get("value")))
        except BlockingCallError as error:
            return PlainTextResponse(f"raised: {error}")

    async def aread(request: Request) -> PlainTextResponse:
        await request.session.aload()  # then plain access does no I/O
        return PlainTextResponse(str(request.session.get("value")))

    routes = [Route("/write", write, methods=["POST"]), Route("/read", read), Route("/aread", aread)]
    return SessionMiddleware(Starlette(routes=routes), **options)  # type: ignore[arg-type]


def test_starlette_stays_lazy_and_shows_how_to_keep_loads_off_the_loop(
    faces: Faces, store_url: str, exit_stack: ExitStack
) -> None:
    """The ASGI middleware loads only what a view uses (an untouched request with a cookie
    costs nothing); under "raise" a plain sync read on the loop is refused, and both
    remedies (aload(), preload=True) keep the read on the async face."""
    lazy = SessionManager(faces.store, blocking_store_calls="raise")
    browser = Browser(sender_for("starlette", starlette_app(manager=lazy), exit_stack))
    browser.post("/write")  # a new session: nothing to load
    faces.clear()
    reply = browser.get("/read")
    assert reply.text.startswith("raised: ") and "load on " in reply.text and "preload=True" in reply.text
    assert faces.sync == []
    assert browser.get("/aread").text == "x"
    assert faces.sync == [] and faces.aio == ["load"]
    second = Faces(open_store(store_url))  # its own connections, for the second app's loop
    exit_stack.callback(second.store.close)
    preloaded = SessionManager(second.store, blocking_store_calls="raise")
    other = Browser(sender_for("starlette", starlette_app(manager=preloaded, preload=True), exit_stack))
    assert other.get("/read", token=browser.token).text == "x"
    assert second.sync == [] and second.aio == ["load"]
