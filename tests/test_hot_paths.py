"""What the common requests ask of a store, counted on every store of the conformance
registry: a request that never uses its session asks nothing, through every middleware;
a rolling (save-every-request) session that is only read writes at most once per
throttle window, not once per request."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import fields, replace
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

import pytest
from flask import Flask, request

from sessionary import SessionManager
from sessionary.integrations.asgi import SessionMiddleware as ASGIMiddleware
from sessionary.integrations.flask import Sessionary
from sessionary.integrations.wsgi import SessionMiddleware as WSGIMiddleware
from sessionary.state import SessionState, presented
from sessionary.stores import Store
from sessionary.stores.base import META_FIELDS, Meta
from sessionary.testing import FakeClock
from support.spies import counting_store

WRITES = {"create", "write", "touch", "rotate", "delete", "compare_and_set"}


def _seeded(store: Store, **settings: Any) -> tuple[SessionManager, list[str], str, FakeClock]:
    """A manager on the counted store, a stored session of ten keys, and its cookie."""
    counted, calls = counting_store(store)
    # Near the real time: stores with a server-side TTL (Redis) drop records by it.
    clock = FakeClock(datetime.now(UTC))
    manager = SessionManager(counted, clock=clock, cookie_secure=False, **settings)
    session = manager.open(None)
    session.update({f"k{i}": f"value {i}" for i in range(10)})
    manager.close_session(session, 200)
    calls.clear()
    return manager, calls, f"{manager.config.session_cookie_name}={session.session_key}; other=1", clock


def _asgi(app: Any, cookie: str) -> list[tuple[bytes, bytes]]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"host", b"test"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    headers: list[tuple[bytes, bytes]] = sent[0]["headers"]
    return headers


def _wsgi(app: Any, cookie: str) -> list[tuple[str, str]]:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))

    body: Iterable[bytes] = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": cookie}, start_response
    )
    b"".join(body)
    assert started[0][0].startswith("200")
    headers: list[tuple[str, str]] = started[0][1]
    return headers


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_an_untouched_session_asks_nothing_of_the_store(store: Store) -> None:
    """A cookie is sent, the app never uses the session: no store call, and the response
    leaves the middleware exactly as the app made it."""
    manager, calls, cookie, _ = _seeded(store)

    headers = _asgi(ASGIMiddleware(_asgi_app, manager=manager), cookie)
    assert calls == []
    assert headers == [(b"content-type", b"text/plain")]

    assert _wsgi(WSGIMiddleware(_wsgi_app, manager=manager), cookie) == [("Content-Type", "text/plain")]
    assert calls == []

    flask_app = Flask(__name__)
    # Flask's default SESSION_REFRESH_EACH_REQUEST slides a permanent session on every
    # request that brings it, which takes reading it (docs/frameworks.md); off here.
    flask_app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    name = manager.config.session_cookie_name
    seen: list[str | None] = []
    flask_app.get("/")(lambda: seen.append(request.cookies.get(name)) or "ok")
    Sessionary(flask_app, manager=manager)
    client = flask_app.test_client()
    token = cookie.split(";")[0].split("=", 1)[1]
    client.set_cookie(name, token)  # Werkzeug's client sends its own jar, not a Cookie header
    response = client.get("/")
    assert seen == [token]  # the cookie did reach the app
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    assert calls == []


def test_an_untouched_request_still_deletes_a_malformed_cookie(store: Store) -> None:
    """The untouched request's shortcut keeps Django's rule: a session cookie that names
    no session (here, not even shaped like a token) is deleted, with no store call."""
    manager, calls, _, _ = _seeded(store)
    name = manager.config.session_cookie_name
    cookie = f"theme=dark; {name}=not-a-token"

    def deleted(values: list[str]) -> bool:
        return any(value.startswith(f'{name}=""') and "Max-Age=0" in value for value in values)

    headers = _asgi(ASGIMiddleware(_asgi_app, manager=manager, starlette_spelling=False), cookie)
    assert deleted([value.decode() for key, value in headers if key == b"Set-Cookie"])
    wsgi = _wsgi(WSGIMiddleware(_wsgi_app, manager=manager), cookie)
    assert deleted([value for key, value in wsgi if key == "Set-Cookie"])
    flask_app = Flask(__name__)
    flask_app.get("/")(lambda: "ok")
    Sessionary(flask_app, manager=manager)
    client = flask_app.test_client()
    client.set_cookie(name, "not-a-token")  # Werkzeug's client sends its own jar, not a Cookie header
    assert deleted(client.get("/").headers.getlist("Set-Cookie"))
    assert calls == []


def test_a_rolling_cookie_has_the_right_expiry_in_every_second(store: Store) -> None:
    """save_every_request sets the cookie on every response from what is kept between
    responses (the formatted date, the spelled attributes): each one still carries the
    Max-Age and Expires of its own moment, across seconds, with no store write."""
    manager, calls, cookie, clock = _seeded(store, save_every_request=True)

    async def reads(scope: Any, receive: Any, send: Any) -> None:
        await scope["session"].aget("k3")
        await _asgi_app(scope, receive, send)

    app = ASGIMiddleware(reads, manager=manager)
    deadline = manager.now() + manager.config.cookie_age  # as the store keeps it (set up now)
    for step in (0.2, 0.3, 0.6, 1.0, 3.7, 61.0):
        clock.advance(step)
        now = manager.now()
        headers = dict(_asgi(app, cookie))
        max_age = min(manager.config.cookie_age, math.floor(deadline - now + 0.001))
        value = headers[b"Set-Cookie"].decode()
        assert f"; Max-Age={max_age};" in value
        assert f"; expires={formatdate(math.floor(now + max_age), usegmt=True)};" in value
        assert headers[b"Vary"] == b"Cookie" and headers[b"Cache-Control"] == b"private, no-store"
    assert [call for call in calls if call in WRITES] == []


def test_a_read_session_is_loaded_once_and_not_written(store: Store) -> None:
    manager, calls, cookie, _ = _seeded(store)

    async def reads(scope: Any, receive: Any, send: Any) -> None:
        assert await scope["session"].aget("k3") == "value 3"
        await _asgi_app(scope, receive, send)

    def wsgi_reads(environ: Any, start_response: Any) -> list[bytes]:
        assert environ["sessionary.session"]["k3"] == "value 3"
        return _wsgi_app(environ, start_response)

    headers = _asgi(ASGIMiddleware(reads, manager=manager), cookie)
    assert calls == ["load"]
    assert (b"Vary", b"Cookie") in headers
    _wsgi(WSGIMiddleware(wsgi_reads, manager=manager), cookie)
    assert calls == ["load", "load"]


def test_a_rolling_read_writes_once_per_throttle_window(store: Store) -> None:
    """save_every_request on a session that is only read: the deadline slides (the
    cookie is sent again each time), but the store is written only when the slide
    reaches ``touch_fraction`` of the window."""
    if store.codec is not None:
        pytest.skip("a cookie-borne session has no store to write")
    manager, calls, cookie, clock = _seeded(store, save_every_request=True)
    window = manager.config.touch_fraction * manager.config.cookie_age

    def reads(environ: Any, start_response: Any) -> list[bytes]:
        environ["sessionary.session"].get("k3")
        return _wsgi_app(environ, start_response)

    app = WSGIMiddleware(reads, manager=manager)
    for _ in range(5):  # well inside one window: reads only
        clock.advance(window / 10)
        assert any(name == "Set-Cookie" for name, _ in _wsgi(app, cookie))
    assert [call for call in calls if call in WRITES] == []

    clock.advance(window / 2 + 1)  # the slide now exceeds the window: one write
    _wsgi(app, cookie)
    _wsgi(app, cookie)
    assert [call for call in calls if call in WRITES] == ["touch"]
    assert calls.count("load") == 7


def test_with_activity_is_replace_of_the_activity_fields() -> None:
    """The hand-written copy keeps every other field (it must follow Meta's fields)."""
    meta = Meta(
        created_at=1.0,
        issued_at=2.0,
        last_seen=3.0,
        saved_deadline=4.0,
        auth_at=5.0,
        user_id="u",
        ip="1.2.3.4",
        user_agent="agent",
        idle_timeout=6,
        absolute_timeout=7,
    )
    assert set(META_FIELDS) == {f.name for f in fields(Meta)} and len(META_FIELDS) == 10
    assert meta.with_activity(8.0, 9.0) == replace(meta, last_seen=8.0, saved_deadline=9.0)


@pytest.mark.parametrize("client", [(None, None), ("10.0.0.1", None), ("10.0.0.1", "agent")])
def test_presented_is_the_state_the_class_makes(client: tuple[str | None, str | None]) -> None:
    """The state of a request with one well-formed token, made without the class call,
    is exactly the one ``SessionState(token, (), True, ip, agent)`` makes."""
    token = "T" * 43
    made, shortcut = SessionState(token, (), True, *client), presented(token, *client)
    assert type(shortcut) is SessionState
    assert vars(shortcut) == vars(made)
