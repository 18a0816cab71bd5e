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

from .cookies import SetCookie, session_cookie

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMEWORKS = ("flask", "starlette", "fastapi", "litestar")


def load_example(framework: str) -> ModuleType:
    """``examples/<framework>/app.py`` as a module (they are scripts, not a package)."""
    name = f"sessionary_example_{framework}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / framework / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    def json(self) -> Any:
        import json

        return json.loads(self.text)


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


def sender_for(framework: str, app: Any, stack: ExitStack) -> Send:
    """A sender on ``app`` through its framework's test client.

    An ASGI test client is entered (and left when ``stack`` closes): it then runs the
    app's lifespan and every request on one event loop, as a server does, so a store's
    async connections are opened, used and closed on the same loop. Browsers that
    share one app share one sender.
    """
    if framework == "flask":
        return flask_sender(app)
    if framework == "litestar":
        from litestar.testing import TestClient as LitestarClient

        return httpx_sender(stack.enter_context(LitestarClient(app, base_url="https://testserver.local")))
    from starlette.testclient import TestClient

    return httpx_sender(stack.enter_context(TestClient(app, base_url="https://testserver")))


def example_sender(framework: str, manager: SessionManager, stack: ExitStack) -> Send:
    """A sender on the example app of ``framework``, served with ``manager``."""
    return sender_for(framework, load_example(framework).create_app(manager=manager), stack)
