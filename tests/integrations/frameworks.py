"""The example apps, and a browser that drives them through each framework's own test client.

The browser keeps the session cookie itself (as a browser on ``http://localhost``
would, Secure included), so a test can read every ``Set-Cookie`` and replay an old
token on purpose.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from sessionary import SessionManager
from support.sites import Reply

from .cookies import SetCookie, session_cookie

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMEWORKS = ("flask", "starlette", "fastapi", "litestar")
# Falcon, Pyramid, Bottle and BlackSheep (falcon-asgi: the same example on falcon.asgi).
FRAMEWORKS += ("falcon", "falcon-asgi", "pyramid", "bottle", "blacksheep")
FRAMEWORKS += ("quart", "aiohttp", "tornado", "sanic")  # the async frameworks: see async_clients.py


def load_example(framework: str) -> ModuleType:
    """``examples/<framework>/app.py`` as a module (they are scripts, not a package)."""
    framework = EXAMPLE_OF.get(framework, framework)
    name = f"sessionary_example_{framework}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / framework / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


Send = Callable[[str, str, dict[str, str], dict[str, str] | None], Reply]


@dataclass
class Browser:
    """Sends requests with the cookie it holds and keeps what ``Set-Cookie`` says."""

    send: Send
    cookie_name: str = "__Host-sessionid"
    token: str | None = None
    last_cookie: SetCookie | None = field(default=None, repr=False)

    def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, token: str | None = None
    ) -> Reply:
        """``token`` sends that token instead, as another browser would: the cookie
        this browser holds is then left as it was."""
        replay = token is not None
        token = self.token if token is None else token
        headers = {"Cookie": f"{self.cookie_name}={token}"} if token else {}
        reply = self.send(method, path, headers, form)
        cookie = session_cookie(reply.set_cookies, self.cookie_name)
        self.last_cookie = cookie
        if cookie is not None and not replay:
            self.token = None if cookie.deletes else cookie.value
        return reply

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)


def flask_sender(app: Any) -> Send:
    client = app.test_client(use_cookies=False)

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        response = client.open(path, method=method, headers=headers, data=form)
        return Reply(response.status_code, list(response.headers.items()), response.get_data(as_text=True))

    return send


def httpx_sender(client: Any) -> Send:
    """For the httpx-based test clients (Starlette's, FastAPI's, Litestar's)."""

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        client.cookies.clear()  # the Browser holds the cookie, not the client's jar
        response = client.request(method, path, headers=headers, data=form)
        return Reply(response.status_code, list(response.headers.multi_items()), response.text)

    return send


EXAMPLE_OF = {"falcon-asgi": "falcon"}
"""Entries of FRAMEWORKS served by another entry's example (with ``EXAMPLE_OPTIONS``)."""
EXAMPLE_OPTIONS: dict[str, dict[str, Any]] = {"falcon-asgi": {"asgi": True}}
EXAMPLE_ARGS: dict[str, list[str]] = {"falcon-asgi": ["--asgi"]}
"""The command-line options that start such an example the same way."""


def falcon_sender(app: Any) -> Send:
    """Through ``falcon.testing.TestClient``, for WSGI and ASGI apps alike (an ASGI app's
    requests all run on the one event loop Falcon's client keeps)."""
    from urllib.parse import urlencode

    from falcon.testing import TestClient as FalconClient

    client = FalconClient(app)

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        if form is not None:
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        result = client.simulate_request(
            method,
            path,
            headers=headers,
            body=urlencode(form) if form is not None else None,
            protocol="https",
        )
        return Reply(result.status_code, list(result.headers.items()), result.text)

    return send


def webtest_sender(app: Any) -> Send:
    """Through WebTest (real WSGI calls, checked by its WSGI lint), for Pyramid and Bottle."""
    import webtest

    client = webtest.TestApp(app, extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "testserver"})

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        client.cookiejar.clear()  # the Browser holds the cookie, not WebTest's jar
        response = client.request(path, method=method, headers=headers, POST=form, expect_errors=True)
        return Reply(response.status_int, list(response.headerlist), response.text)

    return send


def blacksheep_sender(app: Any, stack: ExitStack) -> Send:
    """Through BlackSheep's ``TestClient``, every request on one event loop (as under a
    server), the app started first and stopped when ``stack`` closes."""
    import asyncio

    from blacksheep.contents import FormContent
    from blacksheep.testing import TestClient as BlackSheepClient

    runner = stack.enter_context(asyncio.Runner())
    runner.run(app.start())
    stack.callback(lambda: runner.run(app.stop()))
    client = BlackSheepClient(app)

    def send(method: str, path: str, headers: dict[str, str], form: dict[str, str] | None) -> Reply:
        async def request() -> Reply:
            encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
            if method == "GET":
                response = await client.get(path, headers=encoded)
            else:
                assert method == "POST", method
                content = FormContent(list(form.items())) if form is not None else None
                response = await client.post(path, headers=encoded, content=content)
            pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
            return Reply(response.status, pairs, await response.text())

        return runner.run(request())

    return send


def sender_for(framework: str, app: Any, stack: ExitStack) -> Send:
    """A sender on ``app`` through its framework's test client.

    An ASGI test client is entered (and left when ``stack`` closes): it then runs the
    app's lifespan and every request on one event loop, as a server does, so a store's
    async connections are opened, used and closed on the same loop. Browsers that
    share one app share one sender.
    """
    if framework == "flask":
        return flask_sender(app)
    if framework in ("falcon", "falcon-asgi"):
        return falcon_sender(app)
    if framework in ("pyramid", "bottle"):
        return webtest_sender(app)
    if framework == "blacksheep":
        return blacksheep_sender(app, stack)
    from .async_clients import ASYNC_FRAMEWORKS, async_sender

    if framework in ASYNC_FRAMEWORKS:
        return async_sender(framework, app, stack)
    if framework == "litestar":
        from litestar.testing import TestClient as LitestarClient

        return httpx_sender(stack.enter_context(LitestarClient(app, base_url="https://testserver.local")))
    from starlette.testclient import TestClient

    return httpx_sender(stack.enter_context(TestClient(app, base_url="https://testserver")))


def example_sender(framework: str, manager: SessionManager, stack: ExitStack) -> Send:
    """A sender on the example app of ``framework``, served with ``manager``."""
    options = EXAMPLE_OPTIONS.get(framework, {})
    return sender_for(framework, load_example(framework).create_app(manager=manager, **options), stack)
