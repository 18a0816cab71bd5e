"""The signed-cookie store behind the ASGI middleware, driven by Starlette's TestClient.

The client talks to ``https://testserver``, so it keeps and sends the Secure cookies
sessionary sets by default, as a browser would.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import CookieTooLarge, SessionManager, SessionMiddleware, alogin, alogout
from sessionary.testing import FakeClock
from support.http_apps import attributes

KEY = "first-signing-key-0123456789"
OLD_KEY = "older-signing-key-0123456789"
NAME = "__Host-sessionid"


async def show(request: Request) -> JSONResponse:
    return JSONResponse({"data": dict(request.session), "user": request.session.user_id})


async def put(request: Request) -> JSONResponse:
    request.session.update(dict(request.query_params))
    return JSONResponse({"ok": True})


async def expire(request: Request) -> JSONResponse:
    request.session["a"] = "short"
    request.session.set_expiry(int(request.query_params["seconds"]))
    return JSONResponse({"ok": True})


async def big(request: Request) -> JSONResponse:
    request.session["blob"] = secrets.token_urlsafe(int(request.query_params["size"]))
    return JSONResponse({"ok": True})


async def big_saved_in_the_view(request: Request) -> JSONResponse:
    request.session["blob"] = secrets.token_urlsafe(int(request.query_params["size"]))
    try:
        await request.session.asave()
    except CookieTooLarge as exc:
        del request.session["blob"]
        return JSONResponse({"error": str(exc)}, status_code=413)
    return JSONResponse({"ok": True})


async def cycle(request: Request) -> JSONResponse:
    await request.session.acycle_key()
    return JSONResponse({"ok": True})


async def signin(request: Request) -> JSONResponse:
    await alogin(request.session, request.query_params["user"])
    return JSONResponse({"ok": True})


async def signout(request: Request) -> JSONResponse:
    await alogout(request.session)
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/", show),
    Route("/put", put),
    Route("/expire", expire),
    Route("/big", big),
    Route("/big-in-view", big_saved_in_the_view),
    Route("/cycle", cycle),
    Route("/login", signin),
    Route("/logout", signout),
]


@pytest.fixture
def clock() -> FakeClock:
    # The client's cookie jar judges Max-Age by the real clock: start there.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


def app(clock: FakeClock, *keys: str, **settings: object) -> SessionMiddleware:
    manager = SessionManager("cookie://", clock=clock, secret_keys=keys or (KEY,), **settings)
    return SessionMiddleware(Starlette(routes=ROUTES), manager=manager)


def client(asgi: SessionMiddleware, **options: object) -> TestClient:
    return TestClient(asgi, base_url="https://testserver", **options)  # type: ignore[arg-type]


def session_cookie(response: object) -> str | None:
    """The value the response sets ("" when it deletes the cookie), None if it sets nothing."""
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    for header in headers:
        name, _, rest = header.partition("=")
        if name == NAME:
            value = rest.split(";", 1)[0]
            return "" if value in ('""', "") or "Max-Age=0" in header else value
    return None


def replay(asgi: SessionMiddleware, value: str, path: str = "/") -> object:
    """A request carrying ``value`` from a client with an empty jar (a copied cookie)."""
    with client(asgi) as fresh:
        return fresh.get(path, headers={"cookie": f"{NAME}={value}"})


def test_round_trip_through_the_browser(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        response = browser.get("/put", params={"cart": "3 apples"})
        cookie = response.headers["set-cookie"]
        flags = attributes(cookie)
        assert "secure" in flags and "httponly" in flags and (flags["samesite"] or "").lower() == "lax"
        assert browser.get("/").json()["data"] == {"cart": "3 apples"}
        browser.get("/put", params={"note": "é ü"})
        assert browser.get("/").json()["data"] == {"cart": "3 apples", "note": "é ü"}
        # Reading sends no cookie back: nothing changed and no touch is due.
        assert session_cookie(browser.get("/")) is None


def test_set_expiry_is_honoured_on_the_server(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        response = browser.get("/expire", params={"seconds": "30"})
        value = session_cookie(response)
        assert value and "Max-Age=30" in response.headers["set-cookie"]
    clock.advance(29)
    assert replay(asgi, value).json()["data"] == {"a": "short", "_session_expiry": 30}
    clock.advance(1)
    replayed = replay(asgi, value)
    assert replayed.json()["data"] == {}
    assert session_cookie(replayed) == ""


@pytest.mark.parametrize("damage", ["tamper", "truncate", "forge"])
def test_bad_cookies_give_an_empty_session_and_are_deleted(clock: FakeClock, damage: str) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        value = session_cookie(browser.get("/put", params={"user": "alice"}))
    assert value
    if damage == "tamper":
        middle = len(value) // 3
        bad = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    elif damage == "truncate":
        bad = value[: len(value) // 2]
    else:
        with client(app(clock, "an-attackers-own-key-0123")) as attacker:
            bad = session_cookie(attacker.get("/put", params={"user": "admin"}))
    response = replay(asgi, bad)
    assert response.json() == {"data": {}, "user": None}
    assert session_cookie(response) == ""


def test_key_rotation(clock: FakeClock) -> None:
    with client(app(clock, OLD_KEY)) as browser:
        old = session_cookie(browser.get("/put", params={"a": "1"}))
    assert old
    rotated = app(clock, KEY, OLD_KEY)
    assert replay(rotated, old).json()["data"] == {"a": "1"}
    with client(rotated) as browser:
        browser.cookies.set(NAME, old, domain="testserver.local")
        resigned = session_cookie(browser.get("/put", params={"b": "2"}))
    assert resigned and resigned != old
    only_new = app(clock, KEY)
    assert replay(only_new, resigned).json()["data"] == {"a": "1", "b": "2"}
    assert replay(only_new, old).json()["data"] == {}


def test_too_large_fails_the_request_and_keeps_the_previous_cookie(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        browser.get("/put", params={"small": "1"})
        with pytest.raises(CookieTooLarge, match="server-side store"):
            browser.get("/big", params={"size": "4000"})
        assert browser.get("/").json()["data"] == {"small": "1"}
    # What a server does with the unhandled error: a 500, and no Set-Cookie at all.
    with client(asgi, raise_server_exceptions=False) as browser:
        browser.get("/put", params={"small": "1"})
        failed = browser.get("/big", params={"size": "4000"})
        assert failed.status_code == 500
        assert "set-cookie" not in failed.headers
        assert browser.get("/").json()["data"] == {"small": "1"}


def test_a_view_that_saves_explicitly_can_handle_the_limit(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        browser.get("/put", params={"small": "1"})
        response = browser.get("/big-in-view", params={"size": "4000"})
        assert response.status_code == 413
        assert "bytes" in response.json()["error"]
        assert browser.get("/").json()["data"] == {"small": "1"}


def test_cycle_key_and_login_set_a_new_value(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        first = session_cookie(browser.get("/put", params={"cart": "1"}))
        clock.advance(1)
        cycled = session_cookie(browser.get("/cycle"))
        assert cycled and cycled != first
        clock.advance(1)
        signed_in = session_cookie(browser.get("/login", params={"user": "alice"}))
        assert signed_in and signed_in not in (first, cycled)
        assert browser.get("/").json() == {"data": {"cart": "1"}, "user": "alice"}
    # The cookie from before the login never carries the user.
    assert replay(asgi, first).json()["user"] is None


def test_logout_deletes_the_cookie(clock: FakeClock) -> None:
    asgi = app(clock)
    with client(asgi) as browser:
        browser.get("/login", params={"user": "alice"})
        copied = browser.cookies[NAME]
        response = browser.get("/logout")
        assert session_cookie(response) == ""
        assert response.headers["clear-site-data"] == '"cookies"'
        assert browser.get("/").json() == {"data": {}, "user": None}
    # The documented limit: a copy made before the logout is still valid until its deadline.
    assert replay(asgi, copied).json()["user"] == "alice"


def test_idle_timeout_slides_by_reissuing_the_cookie(clock: FakeClock) -> None:
    asgi = app(clock, idle_timeout=600)
    with client(asgi) as browser:
        first = session_cookie(browser.get("/put", params={"a": "1"}))
        for _ in range(4):  # twenty minutes of activity, a request every five
            clock.advance(300)
            response = browser.get("/")
            assert response.json()["data"] == {"a": "1"}
            assert session_cookie(response)  # re-issued with a deadline ten minutes on
        current = browser.cookies[NAME]
    assert first and current != first
    assert replay(asgi, first).json()["data"] == {}  # the first cookie's deadline is long past
    clock.advance(599)
    assert replay(asgi, current).json()["data"] == {"a": "1"}
    clock.advance(1)
    assert replay(asgi, current).json()["data"] == {}
