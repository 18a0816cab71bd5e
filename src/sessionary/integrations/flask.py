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

from ..config import SETTING_NAMES, Config
from ..errors import ConfigError, SessionInterrupted, StoreError
from ..integrations.wsgi import open_for_environ
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

EXTENSION_KEY = "sessionary"


class FlaskSession(Session, SessionMixin):  # type: ignore[misc]
    """A sessionary :class:`~sessionary.session.Session` with Flask's ``SessionMixin`` surface.

    ``modified`` and ``accessed`` are sessionary's own flags (Django's rules), which
    Flask reads the same way. ``permanent`` is expressed through ``set_expiry``, so it
    is saved like any other change; ``new`` says whether the request brought no live
    session.
    """

    @property
    def permanent(self) -> bool:
        """False when the cookie ends at browser close, True when it has an age."""
        return not self.get_expire_at_browser_close()

    @permanent.setter
    def permanent(self, value: bool) -> None:
        # Setting the value it already has changes nothing, so the common
        # ``session.permanent = True`` in every request does not cause a write.
        if bool(value) == self.permanent:
            return
        self.set_expiry(self.get_session_cookie_age() if value else 0)

    def __bool__(self) -> bool:
        """Whether the session holds data, as for Flask's own (dict) sessions: Flask
        code such as Flask-Login's session protection tests ``if session:``."""
        return len(self) > 0

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True when the request brought no live session (one is created if something is saved)."""
        self.load()
        return self.session_key is None


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
            _become_failure(response, self.manager, error)
            return
        if outcome.changes_nothing:
            return
        headers = outcome.apply(list(response.headers.items()))
        response.headers.clear()
        response.headers.extend(headers)


def _become_failure(response: Response, manager: SessionManager, error: Exception) -> None:
    """Turn ``response`` into the fail-closed answer: a store failure must not look like
    a visitor without a session, and no cookie is set."""
    status, headers, body = failure_response(manager, error)
    response.status_code = status
    response.headers.clear()
    response.headers.extend(headers)
    response.set_data(body)


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
        unknown = set(settings) - SETTING_NAMES
        if unknown:
            raise TypeError(f"unknown sessionary setting(s): {', '.join(sorted(unknown))}")
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
        settings = _flask_cookie_settings(app)
        for name in sorted(SETTING_NAMES):
            key = f"SESSIONARY_{name.upper()}"
            if key in app.config:
                settings[name] = app.config[key]
        settings.update(self.settings)
        given = self.config
        if "cookie_age" not in settings:
            # Flask's own setting for how long a permanent session lasts.
            settings["cookie_age"] = int(app.permanent_session_lifetime.total_seconds())
        if "expire_at_browser_close" not in settings and given is None:
            # Flask's default: a session is not permanent until the app says so.
            settings["expire_at_browser_close"] = True
        config = given.with_changes(**settings) if given is not None else Config(**settings)
        store = self.store or app.config.get("SESSIONARY_STORE") or DEFAULT_STORE
        return SessionManager(store, config)

    @property
    def manager(self) -> SessionManager:
        """The current app's manager (inside an app or request context)."""
        return get_manager()


# Flask's own cookie settings, honoured when the app changed them from Flask's default
# (an unchanged default, such as SESSION_COOKIE_SECURE=False, leaves sessionary's).
_FLASK_COOKIE_SETTINGS = {
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_DOMAIN": "cookie_domain",
    "SESSION_COOKIE_PATH": "cookie_path",
    "SESSION_COOKIE_HTTPONLY": "cookie_httponly",
    "SESSION_COOKIE_SECURE": "cookie_secure",
    "SESSION_COOKIE_SAMESITE": "cookie_samesite",
}


def _flask_cookie_settings(app: Flask) -> dict[str, Any]:
    settings = {}
    for key, name in _FLASK_COOKIE_SETTINGS.items():
        if key in app.config and app.config[key] != Flask.default_config.get(key):
            settings[name] = app.config[key]
    if app.config.get("SESSION_COOKIE_PARTITIONED"):
        raise ConfigError("SESSION_COOKIE_PARTITIONED", "partitioned session cookies are not supported")
    return settings


def get_manager(app: Flask | None = None) -> SessionManager:
    """The :class:`~sessionary.manager.SessionManager` of ``app`` (default: the current app)."""
    app = app or current_app
    try:
        manager: SessionManager = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "sessionary is not set up on this Flask app; call Sessionary(app) or init_app(app)"
        ) from None
    return manager


def _failure_handler(error: Exception) -> Response:
    status, headers, body = failure_response(get_manager(), error)
    return Response(body, status=status, headers=headers)


__all__ = ["FlaskSession", "Sessionary", "SessionaryInterface", "get_manager"]
