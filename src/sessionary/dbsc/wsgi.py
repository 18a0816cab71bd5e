"""DBSC for any WSGI app: mount it inside ``WSGISessionMiddleware``.

app = WSGISessionMiddleware(DBSCWSGIMiddleware(app), store="sqlite:///sessions.db")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..integrations.wsgi import ENVIRON_KEY
from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig, Reply

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    409: "Conflict",
}


class DBSCWSGIMiddleware:
    def __init__(
        self, app: WSGIApp, /, config: DBSCConfig | None = None, *, environ_key: str = ENVIRON_KEY
    ) -> None:
        self.app = app
        self.config = config or DBSCConfig()
        self.environ_key = environ_key

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        session = environ.get(self.environ_key)
        if not isinstance(session, Session):
            return self.app(environ, start_response)
        pairs = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        headers = protocol.request_headers(pairs)
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        reply = mount.before(session, method, path, headers, self.config)
        if reply is not None:
            return _send(start_response, reply)

        def start_with_registration(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            offer = mount.offer(session, self.config)
            if offer is not None:
                response_headers = [*response_headers, offer]
            return start_response(status, response_headers, *exc)

        return self.app(environ, start_with_registration)


def _send(start_response: Callable[..., Any], reply: Reply) -> list[bytes]:
    status = f"{reply.status} {_REASONS.get(reply.status, 'Error')}"
    start_response(status, [*reply.headers, ("Content-Length", str(len(reply.body)))])
    return [reply.body]
