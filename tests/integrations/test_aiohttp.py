"""aiohttp.web specifics, through pytest-aiohttp's ``aiohttp_client``: ``get_session``
and ``request["session"]``, aiohttp-session's names on the session, ``new_session``,
redirects raised as exceptions, streamed responses, and a session ended mid-request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from sessionary import SessionManager, alogin
from sessionary.integrations.aiohttp import (
    SessionaryMiddleware,
    get_manager,
    get_session,
    new_session,
    setup,
)

from .cookies import session_cookie

pytestmark = pytest.mark.asyncio

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest_asyncio.fixture
async def manager(store_url: str) -> AsyncIterator[SessionManager]:
    manager = SessionManager(store_url)
    yield manager
    await manager.aclose()
    manager.close()


routes = web.RouteTableDef()


@routes.get("/write")
async def write(request: web.Request) -> web.Response:
    session = await get_session(request)
    session["counter"] = session.get("counter", 0) + 1
    return web.Response(text=str(session["counter"]))


@routes.get("/names")
async def names(request: web.Request) -> web.Response:
    session = await get_session(request)
    return web.json_response(
        {
            "type": type(session).__name__,
            "same": session is request["session"],
            "new": session.new,
            "empty": session.empty,
            "identity": session.identity,
            "created": session.created,
            "max_age": session.max_age,
        }
    )


@routes.get("/plain")
async def plain(request: web.Request) -> web.Response:
    return web.Response(text=str(request["session"].get("counter")))


@routes.get("/keys")
async def keys(request: web.Request) -> web.Response:
    return web.Response(text=",".join(sorted((await get_session(request)).keys())))


@routes.get("/redirect")
async def redirect(request: web.Request) -> web.Response:
    session = await get_session(request)
    session["message"] = "works"
    raise web.HTTPFound("/show")


@routes.get("/show")
async def show(request: web.Request) -> web.Response:
    return web.Response(text=str((await get_session(request)).get("message")))


@routes.get("/new")
async def renew(request: web.Request) -> web.Response:
    session = await new_session(request)
    session["fresh"] = True
    return web.Response(text=str(len(session)))


@routes.get("/invalidate")
async def invalidate(request: web.Request) -> web.Response:
    (await get_session(request)).invalidate()
    return web.Response(text="gone")


@routes.get("/max-age/{seconds}")
async def max_age(request: web.Request) -> web.Response:
    session = await get_session(request)
    seconds = request.match_info["seconds"]
    session.max_age = None if seconds == "none" else int(seconds)
    session["value"] = "x"
    return web.Response(text="ok")


@routes.get("/in-place")
async def in_place(request: web.Request) -> web.Response:
    session = await get_session(request)
    items = session.setdefault("items", [])
    items.append(len(items))
    session.changed()
    return web.Response(text=str(items))


@routes.get("/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    response = web.StreamResponse()
    await response.prepare(request)
    session["late"] = "change"
    await response.write(b"streamed")
    return response


@routes.post("/login/{user_id}")
async def login(request: web.Request) -> web.Response:
    await alogin(await get_session(request), request.match_info["user_id"])
    return web.Response(text="in")


@routes.post("/signed-out-elsewhere/{user_id}")
async def signed_out_elsewhere(request: web.Request) -> web.Response:
    session = await get_session(request)
    assert session.handle is not None
    assert await get_manager(request.app).arevoke(request.match_info["user_id"], session.handle)
    session["late"] = "write"  # must not bring the ended session back
    return web.Response(text="ok")


def make_app(manager: SessionManager) -> web.Application:
    app = web.Application()
    setup(app, manager=manager)
    app.add_routes(routes)
    return app


class Visitor:
    """Carries the session cookie itself (the test server is plain http, the cookie Secure)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.token: str | None = None

    async def get(self, path: str, method: str = "GET", **kwargs: Any) -> tuple[int, str, list[str]]:
        headers = {"Cookie": f"__Host-sessionid={self.token}"} if self.token else {}
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            set_cookies = response.headers.getall("Set-Cookie", [])
            cookie = session_cookie(set_cookies, "__Host-sessionid")
            if cookie is not None:
                self.token = None if cookie.deletes else cookie.value
            return response.status, await response.text(), set_cookies


@pytest_asyncio.fixture
async def visitor(aiohttp_client: MakeClient, manager: SessionManager) -> Visitor:
    return Visitor(await aiohttp_client(make_app(manager)))


async def test_get_session_and_request_session_are_one_sessionary_session(visitor: Visitor) -> None:
    status, text, _ = await visitor.get("/names")
    assert status == 200
    seen = json.loads(text)
    assert seen["type"] == "AiohttpSession"
    assert seen["same"] is True
    assert (seen["new"], seen["empty"], seen["identity"]) == (True, True, None)
    assert seen["max_age"] == 1209600  # sessionary's default cookie age
    assert (await visitor.get("/write"))[1] == "1"
    assert (await visitor.get("/write"))[1] == "2"
    seen = json.loads((await visitor.get("/names"))[1])
    assert (seen["new"], seen["empty"]) == (False, False)
    assert seen["identity"] is not None and seen["identity"] != visitor.token  # the handle, not the token
    assert isinstance(seen["created"], int)
    # request["session"] works without get_session too (loading on first use)
    assert (await visitor.get("/plain"))[1] == "2"


async def test_a_redirect_raised_as_an_exception_carries_the_cookie(visitor: Visitor) -> None:
    status, _, set_cookies = await visitor.get("/redirect", allow_redirects=False)
    assert status == 302
    assert session_cookie(set_cookies, "__Host-sessionid") is not None
    assert (await visitor.get("/show"))[1] == "works"


async def test_new_session_ends_the_old_one_and_issues_a_new_token(visitor: Visitor) -> None:
    await visitor.get("/write")
    old = visitor.token
    status, text, _ = await visitor.get("/new")
    assert (status, text) == (200, "1")
    assert visitor.token not in (None, old)
    visitor.token, new = old, visitor.token
    assert (await visitor.get("/plain"))[1] == "None"  # the old token opens nothing
    visitor.token = new
    assert json.loads((await visitor.get("/names"))[1])["empty"] is False


async def test_invalidate_deletes_the_record_and_the_cookie(
    visitor: Visitor, manager: SessionManager
) -> None:
    await visitor.get("/write")
    old = visitor.token
    _, _, set_cookies = await visitor.get("/invalidate")
    cookie = session_cookie(set_cookies, "__Host-sessionid")
    assert cookie is not None and cookie.deletes
    assert (await manager.astats()).live == 0  # no empty record left behind
    visitor.token = old
    assert (await visitor.get("/plain"))[1] == "None"


async def test_max_age_is_the_cookie_age_and_none_a_browser_session(visitor: Visitor) -> None:
    _, _, set_cookies = await visitor.get("/max-age/60")
    cookie = session_cookie(set_cookies, "__Host-sessionid")
    assert cookie is not None and cookie.max_age == 60
    assert json.loads((await visitor.get("/names"))[1])["max_age"] == 60
    _, _, set_cookies = await visitor.get("/max-age/none")
    cookie = session_cookie(set_cookies, "__Host-sessionid")
    assert cookie is not None and cookie.max_age is None
    assert json.loads((await visitor.get("/names"))[1])["max_age"] is None


async def test_changed_saves_an_in_place_change(visitor: Visitor) -> None:
    assert (await visitor.get("/in-place"))[1] == "[0]"
    assert (await visitor.get("/in-place"))[1] == "[0, 1]"


async def test_a_change_after_the_response_was_streamed_is_not_saved_and_says_so(
    visitor: Visitor, caplog: pytest.LogCaptureFixture
) -> None:
    await visitor.get("/write")
    status, text, set_cookies = await visitor.get("/stream")
    assert (status, text) == (200, "streamed")  # the stream itself is left whole
    assert set_cookies == []
    assert "not saved" in caplog.text
    assert (await visitor.get("/keys"))[1] == "counter"


async def test_a_session_ended_during_the_request_answers_400(
    visitor: Visitor, manager: SessionManager, user_id: str
) -> None:
    await visitor.get(f"/login/{user_id}", method="POST")
    status, _, set_cookies = await visitor.get(f"/signed-out-elsewhere/{user_id}", method="POST")
    assert status == 400
    assert set_cookies == []
    assert await manager.alist_sessions(user_id) == []


async def test_setup_puts_the_middleware_first_and_closes_the_store_at_cleanup(
    aiohttp_client: MakeClient, tmp_path: Any
) -> None:
    app = web.Application(middlewares=[web.normalize_path_middleware()])
    manager = setup(app, store=f"sqlite:///{tmp_path}/s.db", cookie_name="shop")
    assert isinstance(app.middlewares[0], SessionaryMiddleware)
    assert get_manager(app) is manager and manager.config.cookie_name == "shop"
    closed: list[bool] = []
    real = manager.aclose

    async def aclose() -> None:
        closed.append(True)
        await real()

    manager.aclose = aclose  # type: ignore[method-assign]
    client = await aiohttp_client(app)
    await client.close()
    assert closed == [True]


async def test_without_setup_get_session_names_the_fix(aiohttp_client: MakeClient) -> None:
    async def handler(request: web.Request) -> web.Response:
        await get_session(request)
        return web.Response(text="unreachable")

    app = web.Application()
    app.router.add_get("/", handler)
    client = await aiohttp_client(app)
    with pytest.raises(RuntimeError, match=r"setup\(app\)"):
        get_manager(app)
    async with client.get("/") as response:
        assert response.status == 500
