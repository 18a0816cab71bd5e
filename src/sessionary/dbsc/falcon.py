"""DBSC for Falcon (WSGI and ASGI apps), after sessionary's middleware.

    sessions = SessionMiddleware(store="sqlite:///sessions.db")
    app = falcon.App(middleware=[sessions, DBSCMiddleware()])   # or falcon.asgi.App

``process_request`` (``process_request_async`` in an ASGI app) answers the endpoints and
refuses a bound session without a live bound cookie, by completing the response
(``resp.complete``: Falcon then skips routing, so the endpoints need no route);
``process_response`` adds the registration header, and runs before sessionary's, which
saves the session (Falcon runs response middleware in reverse order).
"""

from __future__ import annotations

from falcon import Request, Response

from ..session import Session
from . import mount, protocol
from .protocol import DBSCConfig, Reply


class DBSCMiddleware:
    def __init__(self, config: DBSCConfig | None = None, *, context_name: str = "session") -> None:
        self.config = config or DBSCConfig()
        self.context_name = context_name

    def _session(self, req: Request) -> Session | None:
        session = getattr(req.context, self.context_name, None)
        return session if isinstance(session, Session) else None

    def process_request(self, req: Request, resp: Response) -> None:
        session = self._session(req)
        if session is not None:
            headers = protocol.request_headers(req.headers.items())
            _answer(resp, mount.before(session, req.method, req.path, headers, self.config))

    async def process_request_async(self, req: Request, resp: Response) -> None:
        session = self._session(req)
        if session is not None:
            headers = protocol.request_headers(req.headers.items())
            _answer(resp, await mount.abefore(session, req.method, req.path, headers, self.config))

    def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        session = self._session(req)
        if session is not None:
            offer = mount.offer(session, self.config)
            if offer is not None:
                resp.append_header(*offer)

    async def process_response_async(
        self, req: Request, resp: Response, resource: object, req_succeeded: bool
    ) -> None:
        self.process_response(req, resp, resource, req_succeeded)


def _answer(resp: Response, reply: Reply | None) -> None:
    if reply is None:
        return
    resp.status = reply.status
    for name, value in reply.headers:
        resp.append_header(name, value)
    resp.data = reply.body
    resp.complete = True


__all__ = ["DBSCMiddleware"]
