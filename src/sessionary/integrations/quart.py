"""Quart: ``quart.session`` is a sessionary session, the async twin of the Flask integration.

    from quart import Quart, session
    from sessionary.integrations.quart import Sessionary

    app = Quart(__name__)
    Sessionary(app, store="sqlite:///sessions.db")

Everything the Flask integration says holds (``session.permanent``, settings from
keywords, ``SESSIONARY_<NAME>`` or Quart's ``SESSION_COOKIE_*``, no ``secret_key``),
sharing its code (:mod:`sessionary.integrations.flasklike`). What differs is async: the
save runs on the store's async face, views use the ``a*`` methods
(``await session.aget("user")``, :func:`sessionary.auth.alogin`,
:func:`~sessionary.auth.alogout`), and the session is read (asynchronously) before the
view whenever the request carries a session cookie (``preload``, on by default), so
plain ``session["key"]`` never waits on the store inside the event loop; a request
without the cookie makes no store call. ``login`` / ``logout`` / ``session.cycle_key()``
called in a view leave their store calls to the async save. ``preload=False`` loads on
first use instead, through the store's sync face (``blocking_store_calls``).
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, current_app, session
from quart.sessions import SessionInterface, SessionMixin
from quart.wrappers import BaseRequestWebsocket, Websocket
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..lifecycle import failure_response
from ..manager import SessionManager
from ..session import Session
from ..stores import Store
from .flasklike import (
    EXTENSION_KEY,
    FlaskSession,
    become_failure,
    build_manager,
    check_settings,
    manager_of,
)


class QuartSession(FlaskSession):
    """``quart.session``: the Flask session surface (Quart's own ``SessionMixin`` is Flask's)."""


class SessionaryInterface(SessionInterface):
    """The ``SessionInterface`` :class:`Sessionary` installs: opens and closes sessions
    through a :class:`~sessionary.manager.SessionManager`, asynchronously."""

    def __init__(self, manager: SessionManager, *, preload: bool = True) -> None:
        self.manager = manager
        self.preload = preload
        if preload:
            manager.serve_async_views()

    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> QuartSession:
        headers = request.headers
        session = self.manager.open(
            ", ".join(headers.getlist("Cookie")) or None,
            client_ip=request.remote_addr,
            user_agent=headers.get("User-Agent"),
            session_class=QuartSession,
        )
        assert isinstance(session, QuartSession)
        if self.preload:
            if isinstance(request, Websocket):
                return session  # nothing ends a WebSocket's session on the async face
            session.state.defers = True
            if session.loadable:
                try:
                    await session.aload()
                except (StoreError, SessionInterrupted):
                    # Quart opens the session outside its error handling: the failure is
                    # noted on the session and raised before the view (_raise_preload_failure).
                    return session
                session.accessed = False  # the interface's read, not the view's (no Vary)
        return session

    async def save_session(
        self, app: Quart, session: SessionMixin, response: Response | WerkzeugResponse | None
    ) -> None:
        if response is None or not isinstance(session, Session):
            return  # a WebSocket (no response to carry a cookie), or Quart's null session
        try:
            outcome = await self.manager.aclose_session(session, response.status_code)
        except (StoreError, SessionInterrupted) as error:
            become_failure(response, self.manager, error)
            return
        if outcome.changes_nothing:
            return
        headers = outcome.apply(list(response.headers.items()))
        response.headers.clear()
        response.headers.extend(headers)


class Sessionary:
    """The Quart extension: ``Sessionary(app, store=...)`` or ``init_app(app)`` later.

    As for Flask, each app gets its own :class:`~sessionary.manager.SessionManager`
    (``app.extensions["sessionary"]``, :func:`get_manager`); it is closed when the app
    stops serving.
    """

    def __init__(
        self,
        app: Quart | None = None,
        store: str | Store | None = None,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        preload: bool = True,
        **settings: Any,
    ) -> None:
        check_settings(settings)
        self.store = store
        self.config = config
        self.settings = settings
        self.preload = preload
        self._manager = manager
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        manager = self._manager or build_manager(app, self.store, self.config, self.settings)
        app.session_interface = SessionaryInterface(manager, preload=self.preload)  # type: ignore[assignment]
        app.extensions[EXTENSION_KEY] = manager
        for error in (StoreError, SessionInterrupted):
            app.register_error_handler(error, _failure_handler)
        app.before_request(_raise_preload_failure)
        app.after_serving(manager.aclose)

    @property
    def manager(self) -> SessionManager:
        """The current app's manager (inside an app or request context)."""
        return get_manager()


def get_manager(app: Quart | None = None) -> SessionManager:
    """The :class:`~sessionary.manager.SessionManager` of ``app`` (default: the current app)."""
    return manager_of(app or current_app, "Quart")


async def _raise_preload_failure() -> None:
    """The failure of the read before the view, answered as one in the view (503 / 400)."""
    current = session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, Session) and current.state.failure is not None and current.state.data is None:
        raise current.state.failure


async def _failure_handler(error: Exception) -> Response:
    status, headers, body = failure_response(get_manager(), error)
    return Response(body, status=status, headers=Headers(headers))


__all__ = ["QuartSession", "Sessionary", "SessionaryInterface", "get_manager"]
