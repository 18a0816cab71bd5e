"""One small app on every framework integration, for the hardening tests (issue 17).

Each route is a framework-neutral view of the session and the query string that returns
a status, a body and extra response headers. ``Site(framework, manager)`` serves the
views through that framework's sessionary integration and its own test client:

* ``starlette``: ``sessionary.SessionMiddleware`` under Starlette's ``TestClient``;
* ``fastapi``: the same middleware on a FastAPI app (FastAPI's ``TestClient``);
* ``litestar``: ``SessionaryPlugin`` under Litestar's ``TestClient``;
* ``flask``: ``sessionary.integrations.flask.Sessionary`` under Flask's test client;
* ``wsgi``: ``sessionary.WSGISessionMiddleware`` on a bare WSGI app, under Werkzeug's.

The site holds no cookie jar: every request sends exactly the ``Cookie`` header asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

from litestar import Request, Response

from sessionary import SessionManager, login, logout
from sessionary.dbsc.asgi import DBSCMiddleware
from sessionary.dbsc.wsgi import DBSCWSGIMiddleware
from sessionary.session import Session
from support.sites import Reply, SiteClient

FRAMEWORKS = ("starlette", "fastapi", "litestar", "flask", "wsgi")
PROPAGATING = ("starlette", "fastapi", "flask", "wsgi")
"""Frameworks whose test client re-raises an error from the middleware (Litestar answers 500)."""

Result = tuple[int, str, dict[str, str]]
View = Callable[[Session, Mapping[str, str]], Result]


# --- the views -------------------------------------------------------------------------------


def set_user(session: Session, query: Mapping[str, str]) -> Result:
    session["user"] = query.get("user", "Alice")
    return 200, "set", {}


def read(session: Session, query: Mapping[str, str]) -> Result:
    return 200, f"user={session.get('user', '-')}", {}


def sign_in(session: Session, query: Mapping[str, str]) -> Result:
    login(session, query.get("user", "alice"))
    session["user"] = query.get("user", "alice")
    return 200, "signed in", {}


def sign_out(session: Session, query: Mapping[str, str]) -> Result:
    logout(session)
    return 200, "signed out", {}


def cycle(session: Session, query: Mapping[str, str]) -> Result:
    session.cycle_key()
    return 200, "cycled", {}


def surrogate_value(session: Session, query: Mapping[str, str]) -> Result:
    session["fine"] = "would be stored with the rest"
    session["comment"] = "caf\ud800"  # what json.loads('"caf\\ud800"') gives any JSON body
    return 200, "stored?", {}


def surrogate_key(session: Session, query: Mapping[str, str]) -> Result:
    session["fine"] = "would be stored with the rest"
    session["\udfff"] = 1
    return 200, "stored?", {}


def huge_expiry(session: Session, query: Mapping[str, str]) -> Result:
    session["fine"] = "would be stored with the rest"
    session.set_expiry(int(query.get("seconds", 10**12)))
    return 200, "stored?", {}


def big(session: Session, query: Mapping[str, str]) -> Result:
    """``count`` values of ``size`` bytes each, under fresh keys."""
    prefix = query.get("prefix", "v")
    for index in range(int(query["count"])):
        session[f"{prefix}{index}"] = "x" * int(query["size"])
    return 200, "stored?", {}


PUBLIC = {"Cache-Control": "public, max-age=600"}


def public_set(session: Session, query: Mapping[str, str]) -> Result:
    """A page the app marks cacheable, whose request also stores something in the session."""
    session["user"] = query.get("user", "Alice")
    return 200, "a public page", dict(PUBLIC)


def public_read(session: Session, query: Mapping[str, str]) -> Result:
    """A cacheable page that reads the session without changing it."""
    return 200, f"a public page for {session.get('user', '-')}", dict(PUBLIC)


def public_cdn(session: Session, query: Mapping[str, str]) -> Result:
    """A page whose app also tells CDNs to keep it (RFC 9213), and stores something."""
    session["user"] = query.get("user", "Alice")
    return 200, "a public page", {"CDN-Cache-Control": "max-age=600", "Surrogate-Control": "max-age=600"}


def public_untouched(session: Session, query: Mapping[str, str]) -> Result:
    return 200, "a public page", dict(PUBLIC)


VIEWS: dict[str, View] = {
    "/set": set_user,
    "/read": read,
    "/login": sign_in,
    "/logout": sign_out,
    "/cycle": cycle,
    "/surrogate-value": surrogate_value,
    "/surrogate-key": surrogate_key,
    "/huge-expiry": huge_expiry,
    "/big": big,
    "/public-set": public_set,
    "/public-read": public_read,
    "/public-cdn": public_cdn,
    "/public-untouched": public_untouched,
}


# --- the apps ----------------------------------------------------------------------------------


def _starlette(manager: SessionManager, fastapi: bool, dbsc: bool = False) -> Any:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from sessionary import SessionMiddleware

    def endpoint(view: View) -> Callable[[Request], Any]:
        async def run(request: Request) -> PlainTextResponse:
            status, body, headers = view(request.scope["session"], request.query_params)
            return PlainTextResponse(body, status_code=status, headers=headers)

        return run

    routes = [Route(path, endpoint(view), methods=["GET", "POST"]) for path, view in VIEWS.items()]
    if fastapi:
        from fastapi import FastAPI

        app: Any = FastAPI(routes=routes)
        if dbsc:
            app.add_middleware(DBSCMiddleware)  # inside the session middleware, added next
        app.add_middleware(SessionMiddleware, manager=manager)
        return app
    from starlette.applications import Starlette

    inner: Any = Starlette(routes=routes)
    return SessionMiddleware(DBSCMiddleware(inner) if dbsc else inner, manager=manager)


def _litestar(manager: SessionManager) -> Any:
    from litestar import Litestar, route

    from sessionary.integrations.litestar import SessionaryPlugin

    def handler(path: str, view: View) -> Any:
        @route(path, http_method=["GET", "POST"], sync_to_thread=False, name=path)
        def run(request: Request[Any, Any, Any]) -> Response[str]:
            status, body, headers = view(request.scope["session"], request.query_params)  # type: ignore[typeddict-item]
            return Response(body, status_code=status, headers=headers, media_type="text/plain")

        return run

    handlers = [handler(path, view) for path, view in VIEWS.items()]
    return Litestar(handlers, plugins=[SessionaryPlugin(manager=manager)])


def _flask(manager: SessionManager) -> Any:
    import flask

    from sessionary.integrations.flask import Sessionary

    app = flask.Flask(__name__)
    app.testing = True

    def endpoint(path: str, view: View) -> None:
        def run() -> Any:
            status, body, headers = view(flask.session, flask.request.args)  # type: ignore[arg-type]
            return body, status, headers

        app.add_url_rule(path, path, run, methods=["GET", "POST"])

    for path, view in VIEWS.items():
        endpoint(path, view)
    Sessionary(app, manager=manager)
    return app


def _wsgi(manager: SessionManager, dbsc: bool = False) -> Any:
    from urllib.parse import parse_qsl

    from sessionary import WSGISessionMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        view = VIEWS.get(environ["PATH_INFO"])
        if view is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        status, body, headers = view(environ["sessionary.session"], query)
        reason = {200: "OK"}.get(status, "Status")
        start_response(f"{status} {reason}", [("Content-Type", "text/plain"), *headers.items()])
        return [body.encode()]

    return WSGISessionMiddleware(DBSCWSGIMiddleware(app) if dbsc else app, manager=manager)


def directives(reply: Reply) -> dict[str, str]:
    """The response's Cache-Control directives, names lower-cased."""
    found: dict[str, str] = {}
    for value in reply.header("cache-control").split(",") if reply.header("cache-control") else []:
        name, _, argument = value.strip().partition("=")
        if name:
            found[name.lower()] = argument
    return found


def shared_cache_may_store(reply: Reply) -> bool:
    """RFC 9111 §3 for a shared cache: a 200 to a GET may be stored unless ``no-store``
    or ``private`` say otherwise; ``CDN-Cache-Control`` (RFC 9213) overrides
    ``Cache-Control`` for the CDN it targets."""
    cdn = reply.header("cdn-cache-control") or reply.header("surrogate-control")
    if cdn is not None:
        return "no-store" not in cdn.lower() and "private" not in cdn.lower()
    found = directives(reply)
    return "no-store" not in found and "private" not in found


def varies_on_cookie(reply: Reply) -> bool:
    vary = reply.header("vary") or ""
    return any(item.strip().lower() in ("cookie", "*") for item in vary.split(","))


class Site(SiteClient):
    """The views on ``framework``'s integration, served with ``manager``."""

    def __init__(
        self, framework: str, manager: SessionManager, stack: ExitStack, *, dbsc: bool = False
    ) -> None:
        self.framework = framework
        self.manager = manager
        self.cookie_name = manager.config.session_cookie_name
        if framework in ("starlette", "fastapi"):
            from starlette.testclient import TestClient

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = TestClient(
                    _starlette(manager, framework == "fastapi", dbsc), base_url="https://testserver"
                )
            self._client = stack.enter_context(client)
        elif framework == "litestar":
            from litestar.testing import TestClient as LitestarClient

            self._client = stack.enter_context(
                LitestarClient(_litestar(manager), base_url="https://testserver.local")
            )
        elif framework == "flask":
            self._client = _flask(manager).test_client(use_cookies=False)
        else:
            from werkzeug.test import Client

            self._client = Client(_wsgi(manager, dbsc), use_cookies=False)

    def send(self, method: str, target: str, headers: dict[str, str]) -> Reply:
        if self.framework in ("starlette", "fastapi", "litestar"):
            self._client.cookies.clear()
            response = self._client.request(method, target, headers=headers)
            return Reply(
                response.status_code,
                [(k.lower(), v) for k, v in response.headers.multi_items()],
                response.text,
            )
        response = self._client.open(target, method=method, headers=headers)
        return Reply(
            response.status_code,
            [(k.lower(), v) for k, v in response.headers.items()],
            response.get_data(as_text=True),
        )

    def token_of(self, reply: Reply) -> str | None:
        """The session token the reply's ``Set-Cookie`` hands out (None: none, or a deletion)."""
        for value in reply.set_cookies:
            name, _, rest = value.partition("=")
            if name == self.cookie_name:
                token = rest.split(";", 1)[0].strip('"')
                return token or None
        return None


@contextmanager
def site(framework: str, manager: SessionManager) -> Iterator[Site]:
    with ExitStack() as stack:
        yield Site(framework, manager, stack)
