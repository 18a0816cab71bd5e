"""DBSC for any WSGI app: mount it inside ``WSGISessionMiddleware``.

app = WSGISessionMiddleware(DBSCWSGIMiddleware(app), store="sqlite:///sessions.db")
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..integrations.wsgi import ENVIRON_KEY
from ..session import Session
from . import protocol
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
        manager = session.manager
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        path = environ.get("PATH_INFO", "")
        dbsc = self.config
        if path in (dbsc.registration_path, dbsc.refresh_path):
            if environ.get("REQUEST_METHOD") != "POST":
                return _send(start_response, Reply(405, [("Allow", "POST")]))
            session.load()
            now = manager.now()
            if path == dbsc.registration_path:
                reply = protocol.register(session, headers, manager.config, dbsc, now)
            else:
                reply = protocol.refresh(
                    session, headers, manager.config, dbsc, now, manager.config.renewal_grace
                )
            if reply.rotate:
                session.renew(grace=manager.config.renewal_grace)
            return _send(start_response, reply)
        if session.session_key is not None:
            session.load()
            if not protocol.allows(session, headers.get("cookie"), manager.config, manager.now()):
                return _send(start_response, protocol.refresh_needed(dbsc))

        def start_with_registration(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            if session.state.data is not None:
                offer = protocol.announce(session, dbsc, manager.now())
                if offer is not None:
                    response_headers = [*response_headers, (protocol.REGISTRATION_HEADER, offer)]
            return start_response(status, response_headers, *exc)

        return self.app(environ, start_with_registration)


def _send(start_response: Callable[..., Any], reply: Reply) -> list[bytes]:
    status = f"{reply.status} {_REASONS.get(reply.status, 'Error')}"
    start_response(status, [*reply.headers, ("Content-Length", str(len(reply.body)))])
    return [reply.body]
