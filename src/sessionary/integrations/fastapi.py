"""FastAPI: the session as a typed dependency.

    from fastapi import FastAPI
    from sessionary import SessionMiddleware
    from sessionary.integrations.fastapi import SessionDep

    app = FastAPI()
    app.add_middleware(SessionMiddleware, store="sqlite:///sessions.db")

    @app.get("/")
    async def home(session: SessionDep) -> str:
        session.set_expiry(300)
        return session.get("user", "nobody")

The middleware does the work (``request.session`` works too, as with Starlette's);
the dependency hands the endpoint the same object typed as
:class:`~sessionary.session.Session`, already loaded with one asynchronous store read,
so plain ``session["key"]`` access in an ``async def`` endpoint never blocks the event
loop. It works in WebSocket endpoints as well (to read: a WebSocket sets no cookie).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from ..session import Session


async def get_session(connection: HTTPConnection) -> Session:
    """The request's (or WebSocket's) sessionary session, loaded."""
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError(
            "no sessionary session on this request: add the middleware with "
            "app.add_middleware(sessionary.SessionMiddleware, store=...)"
            + ("" if session is None else f" (found a {type(session).__name__} from another middleware)")
        )
    await session.aload()
    return session


SessionDep = Annotated[Session, Depends(get_session)]
"""An endpoint parameter ``session: SessionDep`` receives the loaded session."""

__all__ = ["SessionDep", "get_session"]
