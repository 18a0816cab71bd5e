"""BlackSheep: a store for BlackSheep's pluggable sessions, so ``request.session`` is sessionary's.

    from blacksheep import Application
    from sessionary.integrations.blacksheep import use_sessions

    app = Application()
    store = use_sessions(app, store="sqlite:///sessions.db")   # store.manager: a user's sessions

    @post("/login")
    async def login(request):
        await sessionary.alogin(request.session, user.id)

``use_sessions`` puts BlackSheep's session middleware, with a :class:`SessionaryStore`
plugged in, where ``app.use_sessions`` would. Everything runs on the store's async face:
the session is read (one store call) before the handler whenever the request carries a
session cookie, so plain ``request.session["key"]`` never waits on the store, and the
save happens after the handler. Use the ``a*`` forms for what does I/O in a handler:
``alogin``, ``alogout``, ``acycle_key``, ``aflush``, ``manager.alist_sessions``.

The middleware ``use_sessions`` installs is BlackSheep's own with one change: it ends
every request through sessionary (which writes only when Django's rules say so), where
BlackSheep's calls its store only for a modified session; so an expired session's
cookie is deleted, an idle timeout is refreshed by reads and a renewal timeout gives a
new token. A store failure answers 503 (``store_failure_status``) with no session
cookie; a session ended elsewhere while the request ran answers 400.
``app.use_sessions(SessionaryStore(...))`` also works, with BlackSheep's middleware and
so without those three, and with BlackSheep's 500 page for a store failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from blacksheep import Application, Request, Response
from blacksheep.contents import Content
from blacksheep.middlewares import MiddlewareCategory
from blacksheep.sessions import SessionMiddleware as BlackSheepSessionMiddleware
from blacksheep.sessions.abc import Session as BlackSheepSessionBase
from blacksheep.sessions.abc import SessionStore

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from .asgi import Scope, open_for_scope
from .headers import apply_outcome

Handler = Callable[[Request], Awaitable[Response]]


class BlackSheepSession(Session, BlackSheepSessionBase):
    """A sessionary session that is also a BlackSheep ``Session`` (``set``, ``to_dict``)."""

    __eq__ = object.__eq__  # BlackSheep's compares its own dict, which this class does not keep
    __hash__ = object.__hash__  # type: ignore[assignment]  # Session is a dict (unhashable)

    def set(self, name: str, value: Any) -> None:
        self[name] = value

    def to_dict(self) -> dict[str, Any]:
        return dict(self.items())


class SessionaryStore(SessionStore):
    """BlackSheep's ``SessionStore`` on a :class:`~sessionary.manager.SessionManager`."""

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        preload: bool = True,
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)
        self.preload = preload
        if preload:
            self.manager.serve_async_views()

    async def load(self, request: Request) -> BlackSheepSession:
        session = open_for_scope(self.manager, cast(Scope, request.scope), session_class=BlackSheepSession)
        assert isinstance(session, BlackSheepSession)
        if self.preload and request.scope.get("type") == "http":
            session.state.defers = True
        if self.preload and session.loadable:
            await session.aload()
        return session

    async def save(self, request: Request, response: Response, session: BlackSheepSessionBase) -> None:
        """Save as Django's rules say and put the cookie on ``response``; raises
        :class:`~sessionary.errors.StoreError` or :class:`~sessionary.errors.SessionInterrupted`."""
        assert isinstance(session, Session)
        outcome = await self.manager.aclose_session(session, response.status)
        if outcome.changes_nothing:
            return
        existing = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers]
        apply_outcome(
            outcome,
            existing,
            lambda name, value: response.set_header(name.encode("latin-1"), value.encode("latin-1")),
            lambda name, value: response.add_header(name.encode("latin-1"), value.encode("latin-1")),
        )


class SessionMiddleware(BlackSheepSessionMiddleware):
    """BlackSheep's session middleware ending every request through sessionary, and
    answering 503 / 400 when the store fails.

    An exception a handler raises is answered by ``app`` (its exception handlers, as
    BlackSheep would) before the session is ended, so a 4xx page still saves the session
    and a 5xx one does not."""

    def __init__(self, store: SessionaryStore, app: Application | None = None) -> None:
        super().__init__(store)
        self.sessionary = store
        self.app = app

    async def __call__(self, request: Request, handler: Handler) -> Response:
        store = self.sessionary
        try:
            session = await store.load(request)
            request.session = session
            try:
                response = await handler(request)
            except (StoreError, SessionInterrupted):
                raise
            except Exception as error:
                if self.app is None:
                    await session.asettle_after_error()
                    raise
                response = await self.app.handle_request_handler_exception(request, error)
            await store.save(request, response, session)
        except (StoreError, SessionInterrupted) as error:
            return _failure(store.manager, error)
        return response


def _failure(manager: SessionManager, error: Exception) -> Response:
    status, headers, body = failure_response(manager, error)
    content_type = next(value for name, value in headers if name == "Content-Type")
    others = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    kept = [(name, value) for name, value in others if name not in (b"Content-Type", b"Content-Length")]
    return Response(status, kept, Content(content_type.encode("latin-1"), body))


def use_sessions(
    app: Application,
    store: str | Store = DEFAULT_STORE,
    config: Config | None = None,
    *,
    manager: SessionManager | None = None,
    preload: bool = True,
    **settings: Any,
) -> SessionaryStore:
    """Sessionary sessions for ``app``, where ``app.use_sessions`` puts BlackSheep's own;
    returns the store (``store.manager`` lists and ends a user's sessions)."""
    sessionary = SessionaryStore(store, config, manager=manager, preload=preload, **settings)
    app.middlewares.append(SessionMiddleware(sessionary, app), MiddlewareCategory.SESSION)
    return sessionary


__all__ = ["BlackSheepSession", "SessionMiddleware", "SessionaryStore", "use_sessions"]
