"""Falcon (WSGI and ASGI apps): ``req.context.session`` is a sessionary session.

    import falcon            # or falcon.asgi
    from sessionary.integrations.falcon import SessionMiddleware

    sessions = SessionMiddleware(store="sqlite:///sessions.db")
    app = falcon.App(middleware=[sessions])          # falcon.asgi.App(middleware=[sessions])

One middleware object serves either kind of app: a WSGI app calls its sync methods, an
ASGI app its ``*_async`` ones, which use the store's async face only. In an ASGI app
the session is read (asynchronously) before the responder runs whenever the request
carries a session cookie (``preload``), so plain ``req.context.session["key"]`` in an
``async def`` responder never does I/O on the event loop; ``await session.aget(...)``
and the other ``a*`` methods are there too. A request without a session cookie, or a
WSGI request that never uses its session, costs no store call.

A store failure answers 503 (``store_failure_status``) with no session cookie, also when
the responder caught nothing and Falcon made its own 500 of the exception; a session
ended elsewhere while the request ran answers 400.
"""

from __future__ import annotations

from typing import Any

from falcon import Request, Response

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import Outcome, failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from .headers import apply_outcome
from .wsgi import open_for_environ


class SessionMiddleware:
    """Falcon middleware that puts a sessionary session in ``req.context.session``.

    ``manager`` (a :class:`~sessionary.manager.SessionManager`) is there for what lives
    beyond one request: ``sessions.manager.list_sessions(user_id)`` and friends.
    """

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        preload: bool = True,
        context_name: str = "session",
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)
        self.preload = preload
        self.context_name = context_name
        self._serving_async = False

    # --- WSGI apps ---------------------------------------------------------------------

    def process_request(self, req: Request, resp: Response) -> None:
        setattr(req.context, self.context_name, open_for_environ(self.manager, req.env))

    def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        session = self._session(req)
        if session is None:
            return  # an earlier middleware failed before this one opened a session
        try:
            outcome = self.manager.close_session(session, resp.status_code)
        except (StoreError, SessionInterrupted) as error:
            _become_failure(resp, self.manager, error)
            return
        _apply(resp, outcome)

    # --- ASGI apps ---------------------------------------------------------------------

    async def process_request_async(self, req: Request, resp: Response) -> None:
        # Falcon's request has the headers (its test client passes the scope's headers as
        # an iterator, which the request has consumed).
        session = self.manager.open(
            req.get_header("Cookie"), client_ip=req.remote_addr, user_agent=req.user_agent
        )
        setattr(req.context, self.context_name, session)
        if self.preload:
            if not self._serving_async:
                self._serving_async = True
                self.manager.serve_async_views()
            session.state.defers = True
        if self.preload and session.loadable:
            # A store failure here becomes Falcon's 500, which process_response_async
            # turns into the 503 (the session noted the failure).
            await session.aload()

    async def process_response_async(
        self, req: Request, resp: Response, resource: object, req_succeeded: bool
    ) -> None:
        session = self._session(req)
        if session is None:
            return
        try:
            outcome = await self.manager.aclose_session(session, resp.status_code)
        except (StoreError, SessionInterrupted) as error:
            _become_failure(resp, self.manager, error)
            return
        _apply(resp, outcome)

    def _session(self, req: Request) -> Session | None:
        session = getattr(req.context, self.context_name, None)
        return session if isinstance(session, Session) else None


def _apply(resp: Response, outcome: Outcome) -> None:
    if not outcome.changes_nothing:
        apply_outcome(outcome, resp.headers.items(), resp.set_header, resp.append_header)


def _become_failure(resp: Response, manager: SessionManager, error: Exception) -> None:
    """Make ``resp`` the fail-closed answer: a store failure must not look like a visitor
    without a session, and the session cookie is not sent."""
    status, headers, body = failure_response(manager, error)
    for name in list(resp.headers):
        resp.delete_header(name)
    resp.status = status
    resp.set_headers(headers)
    resp.text = body.decode("utf-8")
    resp.stream = None


__all__ = ["SessionMiddleware"]
