"""Flask: ``flask.session`` is a sessionary session.

    from flask import Flask, session
    from sessionary.integrations.flask import Sessionary

    app = Flask(__name__)
    Sessionary(app, store="sqlite:///sessions.db")

or, with an app factory, ``sessions = Sessionary()`` at import time and
``sessions.init_app(app)`` in the factory. No ``app.secret_key`` is needed: the cookie
holds only a random token, and the data stays in the store.

``session.permanent`` keeps Flask's meaning: False (Flask's default) is a cookie that
ends when the browser closes, True one that lasts ``app.permanent_session_lifetime``
(the configured ``cookie_age``). Everything else is sessionary's (Django's) API:
``set_expiry``, ``cycle_key``, ``flush``, and :func:`sessionary.auth.login` /
:func:`~sessionary.auth.logout`, which work on ``flask.session`` directly.

Settings come from keyword arguments, else from ``app.config["SESSIONARY_<NAME>"]``
(``SESSIONARY_STORE``, ``SESSIONARY_COOKIE_NAME``, ``SESSIONARY_IDLE_TIMEOUT``, ...),
else from Flask's ``SESSION_COOKIE_*`` settings where the app changed them from Flask's
defaults (Flask's insecure defaults, such as ``SESSION_COOKIE_SECURE=False``, do not
override sessionary's secure ones).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, current_app
from flask.sessions import SessionInterface, SessionMixin

from ..config import Config
from ..errors import SessionInterrupted, StoreError
from ..integrations.wsgi import open_for_environ
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


class SessionaryInterface(SessionInterface):
    """The ``SessionInterface`` :class:`Sessionary` installs: opens and closes sessions
    through a :class:`~sessionary.manager.SessionManager`."""

    pickle_based = False

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        session = open_for_environ(self.manager, request.environ, session_class=FlaskSession)
        assert isinstance(session, FlaskSession)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, Session):
            return  # Flask's null session: open_session failed, nothing to save
        try:
            outcome = self.manager.close_session(session, response.status_code)
        except (StoreError, SessionInterrupted) as error:
            become_failure(response, self.manager, error)
            return
        if outcome.changes_nothing:
            return
        headers = outcome.apply(list(response.headers.items()))
        response.headers.clear()
        response.headers.extend(headers)


class Sessionary:
    """The Flask extension: ``Sessionary(app, store=...)`` or ``init_app(app)`` later.

    One ``Sessionary`` object can serve several apps (an app factory, tests); each app
    gets its own :class:`~sessionary.manager.SessionManager`, kept in
    ``app.extensions["sessionary"]`` and reachable as :attr:`manager` while handling a
    request (for ``manager.list_sessions(user_id)`` and friends).
    """

    def __init__(
        self,
        app: Flask | None = None,
        store: str | Store | None = None,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        **settings: Any,
    ) -> None:
        check_settings(settings)
        self.store = store
        self.config = config
        self.settings = settings
        self._manager = manager
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        manager = self._manager or self._build_manager(app)
        app.session_interface = SessionaryInterface(manager)
        app.extensions[EXTENSION_KEY] = manager
        for error in (StoreError, SessionInterrupted):
            app.register_error_handler(error, _failure_handler)

    def _build_manager(self, app: Flask) -> SessionManager:
        return build_manager(app, self.store, self.config, self.settings)

    @property
    def manager(self) -> SessionManager:
        """The current app's manager (inside an app or request context)."""
        return get_manager()


def get_manager(app: Flask | None = None) -> SessionManager:
    """The :class:`~sessionary.manager.SessionManager` of ``app`` (default: the current app)."""
    return manager_of(app or current_app, "Flask")


def _failure_handler(error: Exception) -> Response:
    status, headers, body = failure_response(get_manager(), error)
    return Response(body, status=status, headers=headers)


__all__ = ["FlaskSession", "Sessionary", "SessionaryInterface", "get_manager"]
