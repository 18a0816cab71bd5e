"""Bottle: a plugin that makes ``bottle.request.session`` a sessionary session.

    from bottle import Bottle, request
    from sessionary.integrations.bottle import SessionPlugin

    app = Bottle()
    sessions = app.install(SessionPlugin(store="sqlite:///sessions.db"))

    @app.post("/login")
    def login():
        sessionary.login(request.session, user.id)

The session is read from the store only when a route uses it; the save and the cookie
go onto the response the route produced (Bottle's ``response``, or an ``HTTPResponse``
it returned or raised, such as a ``redirect``). A store failure answers 503
(``store_failure_status``) with no session cookie, and a session ended elsewhere while
the request ran answers 400. ``sessions.manager`` lists and ends a user's sessions.
A route can opt out with ``skip=["sessionary"]``, as for any Bottle plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import BaseResponse, Bottle, HTTPResponse, Route, request, response

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from .headers import apply_outcome
from .wsgi import open_for_environ

ENVIRON_KEY = "bottle.request.ext.session"
"""Where Bottle looks up ``request.session`` (its extension attributes live in the environ)."""


class SessionPlugin:
    """Bottle plugin (API 2): ``app.install(SessionPlugin(store=...))``."""

    name = "sessionary"
    api = 2

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)

    def setup(self, app: Bottle) -> None:
        for other in app.plugins:
            if isinstance(other, SessionPlugin) and other is not self:
                raise RuntimeError("a sessionary SessionPlugin is already installed on this app")

    def apply(self, callback: Callable[..., Any], route: Route) -> Callable[..., Any]:
        manager = self.manager

        def with_session(*args: Any, **kwargs: Any) -> Any:
            session = open_for_environ(manager, request.environ)
            request.environ[ENVIRON_KEY] = session
            try:
                body = callback(*args, **kwargs)
            except HTTPResponse as answer:  # raised: redirect(), abort(), HTTPError
                raise _closed(manager, session, answer) or answer from None
            except (StoreError, SessionInterrupted) as error:
                return _failure(manager, error)
            target = body if isinstance(body, HTTPResponse) else response
            return _closed(manager, session, target) or body

        return with_session

    def close(self) -> None:
        self.manager.close()


def _closed(manager: SessionManager, session: Session, target: BaseResponse) -> HTTPResponse | None:
    """Save the session and put its headers on ``target``; the fail-closed answer instead
    when the store fails."""
    try:
        outcome = manager.close_session(session, target.status_code)
    except (StoreError, SessionInterrupted) as error:
        return _failure(manager, error)
    if not outcome.changes_nothing:
        apply_outcome(outcome, target.headerlist, target.set_header, target.add_header)
    return None


def _failure(manager: SessionManager, error: Exception) -> HTTPResponse:
    status, headers, body = failure_response(manager, error)
    return HTTPResponse(body, status, headers)


__all__ = ["SessionPlugin"]
