"""One small app written twice, as a Starlette app (ASGI) and as a Flask app (WSGI), and
each framework's own test client behind the few calls the HTTP tests need.

Every route is a framework-neutral function of the session and the query string, so the
same scenario runs through ``sessionary.SessionMiddleware`` under Starlette's
``TestClient`` and through ``sessionary.WSGISessionMiddleware`` under Flask's test client.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import flask

from sessionary import SessionManager, SessionMiddleware, WSGISessionMiddleware
from sessionary.session import Session

from .sites import Reply

with warnings.catch_warnings():
    # Starlette asks for its httpx fork; its test client works the same on httpx.
    warnings.simplefilter("ignore")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

BASE_URL = "https://testserver"
KINDS = ("asgi", "wsgi")

Hooks = dict[str, Callable[[], None]]
View = Callable[[Session, Mapping[str, str], Hooks], tuple[int, str]]


class Unstorable:
    """A value JSON cannot hold."""


# --- the views, framework-neutral ---------------------------------------------------------


def untouched(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    return int(query.get("status", 200)), "nothing to do with sessions"


def read(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    return int(query.get("status", 200)), f"user={session.get('user', '-')}"


def set_user(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    session["user"] = query.get("user", "Alice")
    return int(query.get("status", 200)), "set"


def set_expiry(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    raw = query["value"]
    session.set_expiry(None if raw == "none" else int(raw))
    session["user"] = query.get("user", "Alice")
    return 200, f"expiry={raw}"


def set_short_session(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    """The tutorial's first view."""
    session.set_expiry(10)
    session["user"] = "Alice"
    return 200, "Session set for 10 seconds"


def check_session(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    """The tutorial's second view."""
    user = session.get("user", "No session")
    return 200, f"User in session: {user}"


def flush(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    session.flush()
    return int(query.get("status", 200)), "flushed"


def clear(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    session.clear()
    return 200, "cleared"


def save_now(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    """Empty the session without loading it and save at once, inside the view."""
    session.clear()
    session.save()
    return 200, "saved"


def int_key(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    session[1] = "one"  # type: ignore[index]
    return 200, "set 1"


def keys(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    return 200, ",".join(sorted(map(str, session.keys())))


BAD_VALUES: dict[str, Callable[[], Any]] = {
    "set": lambda: {1, 2, 3},
    "object": Unstorable,
    "nan": lambda: math.nan,
    "big": lambda: "x" * 2048,  # the tests configure max_value_bytes=1024
}


def bad_value(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    session["fine"] = "would be stored with the rest"
    session["bad"] = BAD_VALUES[query["kind"]]()
    return 200, "stored?"


def read_then_wait(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    """Load the session, let the test run another request, then modify it."""
    before = session.get("user", "-")
    hooks["between"]()
    session["seen"] = True
    return 200, f"user={before}"


def store_error_handled(session: Session, query: Mapping[str, str], hooks: Hooks) -> tuple[int, str]:
    """An app that catches the store's failure and answers by itself."""
    from sessionary import StoreError

    try:
        user = session.get("user", "-")
    except StoreError:
        return 200, "degraded"
    return 200, f"user={user}"


VIEWS: dict[str, View] = {
    "/untouched": untouched,
    "/read": read,
    "/set": set_user,
    "/expiry": set_expiry,
    "/set-short-session": set_short_session,
    "/check-session": check_session,
    "/flush": flush,
    "/clear": clear,
    "/save-now": save_now,
    "/int-key": int_key,
    "/keys": keys,
    "/bad-value": bad_value,
    "/read-then-wait": read_then_wait,
    "/store-error-handled": store_error_handled,
}


# --- the two apps ----------------------------------------------------------------------------


def starlette_app(manager: SessionManager, hooks: Hooks) -> SessionMiddleware:
    def endpoint(view: View) -> Callable[[Request], Any]:
        async def run(request: Request) -> PlainTextResponse:
            status, body = view(request.session, request.query_params, hooks)  # type: ignore[arg-type]
            return PlainTextResponse(body, status_code=status)

        return run

    app = Starlette(routes=[Route(path, endpoint(view)) for path, view in VIEWS.items()])
    # Django's spelling of the cookie's attributes, so that the two kinds' headers compare
    # byte for byte; the default, Starlette's spelling, is tested in test_dropin_starlette.py.
    return SessionMiddleware(app, manager=manager, starlette_spelling=False)


def flask_app(manager: SessionManager, hooks: Hooks, *, testing: bool = True) -> flask.Flask:
    app = flask.Flask(__name__)
    app.testing = testing

    def endpoint(path: str, view: View) -> None:
        def run() -> tuple[str, int]:
            session = flask.request.environ["sessionary.session"]
            status, body = view(session, flask.request.args, hooks)
            return body, status

        app.add_url_rule(path, path, run)

    for path, view in VIEWS.items():
        endpoint(path, view)
    app.wsgi_app = WSGISessionMiddleware(app.wsgi_app, manager=manager)  # type: ignore[method-assign]
    return app


# --- one interface over both test clients ---------------------------------------------------


class Browser:
    """A framework's own test client on the sessionary-wrapped app.

    ``get(path)`` lets the client's cookie jar send and keep cookies, like a browser;
    ``get(path, cookie=...)`` sends exactly that ``Cookie`` header (or none for ``None``)
    from a fresh client whose jar plays no part.
    """

    def __init__(
        self, kind: str, manager: SessionManager, *, hooks: Hooks | None = None, flask_testing: bool = True
    ) -> None:
        self.kind = kind
        self.manager = manager
        self.hooks: Hooks = hooks if hooks is not None else {}
        if kind == "asgi":
            self.app: Any = starlette_app(manager, self.hooks)
        else:
            self.app = flask_app(manager, self.hooks, testing=flask_testing)
        self.raise_server_exceptions = True
        self._jar_client = self._client(use_cookies=True)

    def _client(self, *, use_cookies: bool) -> Any:
        if self.kind == "asgi":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return TestClient(
                    self.app, base_url=BASE_URL, raise_server_exceptions=self.raise_server_exceptions
                )
        return self.app.test_client(use_cookies=use_cookies)

    def get(self, path: str, *, cookie: str | bytes | type[Ellipsis] | None = ..., **query: Any) -> Reply:
        params = {key: str(value) for key, value in query.items()}
        if cookie is ...:
            return self._send(self._jar_client, path, params, None)
        return self._send(self._client(use_cookies=False), path, params, cookie)

    def _send(self, client: Any, path: str, params: dict[str, str], cookie: str | bytes | None) -> Reply:
        headers: dict[str, Any] = {}
        if self.kind == "asgi":
            if cookie is not None:
                headers["cookie"] = cookie
            if client is not self._jar_client:
                client.cookies.clear()
            response = client.get(path, params=params, headers=headers)
            return Reply(
                response.status_code,
                [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers.raw],
                response.text,
            )
        if cookie is not None:
            # A WSGI server hands the app the header's bytes decoded as latin-1 (PEP 3333).
            headers["Cookie"] = cookie.decode("latin-1") if isinstance(cookie, bytes) else cookie
        response = client.get(path, query_string=params, headers=headers, base_url=BASE_URL)
        return Reply(
            response.status_code,
            [(k.lower(), v) for k, v in response.headers.to_wsgi_list()],
            response.get_data(as_text=True),
        )

    def jar_cookie(self, name: str = "__Host-sessionid") -> str | None:
        """The value the client's cookie jar would send for the session cookie."""
        if self.kind == "asgi":
            value: str | None = self._jar_client.cookies.get(name)
            return value
        found = self._jar_client.get_cookie(name, domain="testserver")
        return None if found is None else found.value


def cookie_value(set_cookie: str) -> str:
    """The value of a ``Set-Cookie`` header (``name=value; attributes``)."""
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def attributes(set_cookie: str) -> dict[str, str | None]:
    """A ``Set-Cookie`` header's attributes, names lower-cased (``None`` for flags)."""
    found: dict[str, str | None] = {}
    for part in set_cookie.split(";")[1:]:
        name, separator, value = part.strip().partition("=")
        found[name.lower()] = value if separator else None
    return found
