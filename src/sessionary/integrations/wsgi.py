"""WSGI middleware: ``environ["sessionary.session"]`` is a sessionary session.

    app = SessionMiddleware(app, store="sqlite:///sessions.db")

The session is loaded only when the app uses it; the save and the cookie happen when the
app calls ``start_response``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response, status_line
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

ENVIRON_KEY = "sessionary.session"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def open_for_environ(
    manager: SessionManager, environ: dict[str, Any], *, session_class: type[Session] | None = None
) -> Session:
    return manager.open(
        environ.get("HTTP_COOKIE"),
        client_ip=environ.get("REMOTE_ADDR"),
        user_agent=environ.get("HTTP_USER_AGENT"),
        session_class=session_class,
    )


class SessionMiddleware:
    """Server-side sessions for any WSGI app (Flask, Bottle, Pyramid, plain WSGI)."""

    def __init__(
        self,
        app: WSGIApp,
        /,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        environ_key: str = ENVIRON_KEY,
        **settings: Any,
    ) -> None:
        self.app = app
        self.manager = manager or SessionManager(store, config, **settings)
        self.environ_key = environ_key

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        manager = self.manager
        session = open_for_environ(manager, environ)
        environ[self.environ_key] = session
        started = False

        def start_with_session(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal started
            outcome = manager.close_session(session, int(status.split(" ", 1)[0]))
            started = True
            return start_response(status, outcome.apply(headers), exc_info)

        try:
            return self.app(environ, start_with_session)
        except (StoreError, SessionInterrupted) as error:
            status, headers, body = failure_response(manager, error)
            # exc_info tells the server to replace a response already started; passed when
            # none was, servers may (and Werkzeug's test client does) re-raise it instead.
            start_response(status_line(status), headers, sys.exc_info() if started else None)
            return [body]
