"""Tornado: a ``RequestHandler`` mixin giving ``self.session``.

    from tornado.web import Application, RequestHandler
    from sessionary.integrations.tornado import SessionMixin, setup

    class Home(SessionMixin, RequestHandler):
        async def get(self) -> None:
            session = await self.get_session()      # loaded with one async read
            session["visits"] = session.get("visits", 0) + 1
            self.write("ok")

    app = Application([(r"/", Home)])
    setup(app, store="sqlite:///sessions.db")

``self.session`` is the same session, lazy: made on first use from the request's
cookie, read from the store only when its data is used, so a handler that never looks
at it costs nothing. In ``async`` handlers read it through ``await self.get_session()``
or the ``a*`` methods (plain ``self.session["key"]`` before that loads through the
store's sync face). The save runs on the store's async face when the handler finishes
(``finish()``, including ``redirect()`` and error pages), before the headers leave;
change the session before any explicit ``flush()``. A store failure answers 503 and a
session ended mid-request 400, neither with a cookie.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from tornado.web import Application, RequestHandler

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import Outcome, failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

SETTINGS_KEY = "sessionary_manager"

logger = logging.getLogger("sessionary")

if TYPE_CHECKING:  # the mixin is typed as the handler it joins
    _Base = RequestHandler
else:
    _Base = object


def setup(
    app: Application,
    store: str | Store = DEFAULT_STORE,
    config: Config | None = None,
    *,
    manager: SessionManager | None = None,
    **settings: Any,
) -> SessionManager:
    """Give ``app`` its :class:`~sessionary.manager.SessionManager` (kept in
    ``app.settings["sessionary_manager"]``; ``await manager.aclose()`` at shutdown)."""
    manager = manager or SessionManager(store, config, **settings)
    manager.serve_async_views()
    app.settings[SETTINGS_KEY] = manager
    return manager


def get_manager(app: Application) -> SessionManager:
    try:
        manager: SessionManager = app.settings[SETTINGS_KEY]
    except KeyError:
        raise RuntimeError("sessionary is not set up on this app: call setup(app)") from None
    return manager


class SessionMixin(_Base):
    """Put it before ``RequestHandler`` in the bases: ``class H(SessionMixin, RequestHandler)``."""

    _sessionary_session: Session | None = None
    _sessionary_finishing: asyncio.Future[None] | None = None
    _sessionary_settling: asyncio.Future[None] | None = None

    @property
    def session_manager(self) -> SessionManager:
        return get_manager(self.application)

    @property
    def session(self) -> Session:
        """The request's session (lazy: no store call until its data is used)."""
        session = self._sessionary_session
        if session is None:
            request = self.request
            session = self.session_manager.open(
                ", ".join(request.headers.get_list("Cookie")) or None,
                client_ip=request.remote_ip,
                user_agent=request.headers.get("User-Agent"),
            )
            session.state.defers = True  # finish() ends the request on the async face
            self._sessionary_session = session
        return session

    async def get_session(self) -> Session:
        """The request's session, loaded with one asynchronous read (none without a cookie)."""
        session = self.session
        await session.aload()
        return session

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Save the session (asynchronously) and add its headers, then finish."""
        if self._sessionary_finishing is not None:
            # finish() again while the save runs (redirect() finishes, then Tornado's
            # auto-finish asks again): the same finish, once.
            return self._sessionary_finishing
        session = self._sessionary_session
        if session is None or self._finished or self._headers_written:
            if session is not None and session.modified and self._headers_written:
                logger.error(
                    "%s %s: the session changed after flush() sent the headers, so the "
                    "change is not saved; change it before flush()",
                    self.request.method,
                    self.request.path,
                )
            if session is not None and session.state.deferred:
                # Not saved (headers gone), but a sign-out must still reach the store.
                self._sessionary_settling = asyncio.ensure_future(session.asettle())
            finished: asyncio.Future[None] = super().finish(chunk)
            return finished
        self._sessionary_session = None
        self._sessionary_finishing = asyncio.ensure_future(self._close_then_finish(session, chunk))
        return self._sessionary_finishing

    async def _close_then_finish(self, session: Session, chunk: str | bytes | dict[str, Any] | None) -> None:
        manager = self.session_manager
        try:
            outcome = await manager.aclose_session(session, self.get_status())
        except (StoreError, SessionInterrupted) as error:
            self._become_failure(manager, error)
            chunk = None
        except Exception:
            # A value that cannot be stored (SessionValueError), a cookie too large...:
            # answer 500 as Tornado does for a handler's error, and finish all the same.
            self.log_exception(*sys.exc_info())
            self.clear()
            self.set_status(500)
            self.__dict__.pop("_new_cookie", None)
            self.write_error(500, exc_info=sys.exc_info())
            chunk = None
        else:
            self._apply(outcome)
        await super().finish(chunk)

    def _apply(self, outcome: Outcome) -> None:
        if outcome.changes_nothing:
            return
        current = list(self._headers.get_all())
        for name in {name for name, _ in current}:
            self.clear_header(name)
        for name, value in outcome.apply(current):
            self.add_header(name, value)

    def _become_failure(self, manager: SessionManager, error: Exception) -> None:
        """The fail-closed answer in place of the handler's: no cookie, no body of its own."""
        status, headers, body = failure_response(manager, error)
        self.clear()
        self.set_status(status)
        for name, value in headers:
            self.set_header(name, value)
        self.__dict__.pop("_new_cookie", None)  # cookies the handler set (set_cookie) go too
        self.write(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A store failure (or a session ended mid-request) raised by the handler
        answers as the save would: 503 (or 400), without a cookie."""
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, StoreError | SessionInterrupted):
            self._sessionary_session = None  # nothing of this request is saved
            self._become_failure(self.session_manager, error)
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StoreError | SessionInterrupted):
            return  # failure_response logs the store's failure in one line
        super().log_exception(typ, value, tb)


__all__ = ["SessionMixin", "get_manager", "setup"]
