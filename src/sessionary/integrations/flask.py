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

from operator import itemgetter
from typing import Any

from flask import Flask, Request, Response, current_app
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import Headers

from .. import cycle
from ..config import SETTING_NAMES, Config
from ..errors import SessionInterrupted, StoreError
from ..integrations.wsgi import open_for_environ
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from . import flasklike
from .flasklike import EXTENSION_KEY, become_failure, check_settings, manager_of

_TAGGER = TaggedJSONSerializer()
"""Flask's own tags (Markup, tuple, bytes, datetime, UUID, ...), so that a value comes
back as the type Flask's cookie session would give back."""

_UNTAGGED = frozenset((str, int, float, bool, type(None)))
"""The types none of Flask's tags apply to (exactly these: a ``str`` subclass such as
``Markup`` is tagged)."""

_REMEMBER_CLEAR = ("_remember", "clear")
"""What Flask-Login's ``logout_user()`` leaves in the session so that its
``after_request`` hook deletes the remember-me cookie."""


def _untag(value: Any) -> Any:
    """A stored value with Flask's tags turned back into their types (innermost first,
    as Flask's ``TaggedJSONSerializer.loads`` does)."""
    if isinstance(value, dict):
        return _TAGGER.untag({key: _untag(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_untag(item) for item in value]
    return value


class FlaskSession(flasklike.FlaskSession):
    """Flask's session surface (:class:`~sessionary.integrations.flasklike.FlaskSession`)
    with what Flask's own session does besides: values come back as the types Flask's
    tagged serializer gives back, and Flask-Login's sign-out flag outlives ``flush``.
    """

    def _data(self) -> dict[str, Any]:
        loading = self.state.data is None
        data = super()._data()
        if loading and data:
            untagged = False
            for key, value in data.items():
                if isinstance(value, dict | list):
                    data[key] = _untag(value)
                    untagged = True
            if untagged:
                self.mirror()  # the load mirrored the values as stored
        return data

    def flush(self) -> None:
        """Django's ``flush``, keeping the one flag Flask-Login's ``logout_user()`` left:
        its ``after_request`` hook reads it (to delete the remember-me cookie) and pops it,
        so sign-out really signs out and nothing is stored for the flag."""
        remember = self.state.data.get(_REMEMBER_CLEAR[0]) if self.state.data else None
        super().flush()
        if remember == _REMEMBER_CLEAR[1]:
            self[_REMEMBER_CLEAR[0]] = remember

    def _tag_values(self) -> dict[str, Any]:
        """For the save: every value in Flask's tagged form. Returns the values it
        replaced, which :meth:`_untag_values` puts back (code after the request, such as
        a test client's preserved context, still reads the session)."""
        data = self.state.data
        replaced: dict[str, Any] = {}
        if not data:
            return replaced
        for key, value in data.items():
            if type(value) in _UNTAGGED:
                continue  # Flask's serializer leaves these as they are: no need to ask it
            tagged = _TAGGER.tag(value)
            if tagged is not value:
                replaced[key] = value
                data[key] = tagged
        return replaced

    def _untag_values(self, replaced: dict[str, Any]) -> None:
        data = self.state.data
        if data is not None:
            for key, value in replaced.items():
                if key in data:
                    data[key] = value


class SessionaryInterface(SessionInterface):
    """The ``SessionInterface`` :class:`Sessionary` installs: opens and closes sessions
    through a :class:`~sessionary.manager.SessionManager`."""

    pickle_based = False

    def __init__(self, manager: SessionManager, explicit: frozenset[str] | None = None) -> None:
        self.manager = manager
        self.explicit = frozenset(SETTING_NAMES) if explicit is None else explicit
        """Settings given to sessionary itself; Flask's own settings never override them."""
        self._managers: dict[tuple[tuple[str, Any], ...], SessionManager] = {}
        self._by_settings: dict[tuple[Any, ...], SessionManager] = {}
        """The manager for each combination of the raw values _flask_settings reads."""
        self._last: tuple[tuple[Any, ...] | None, SessionManager | None] = (None, None)
        """The last combination looked up, and its manager (one pair, replaced at once)."""

    def manager_for(self, app: Flask, **changes: Any) -> SessionManager:
        """The manager for this request: Flask reads its ``SESSION_COOKIE_*`` settings
        (and the permanent lifetime) on every request, so an app may change them after
        set-up. Each distinct combination gets one manager, sharing the one store; the
        manager for the settings as they stand is found from their raw values (one
        lookup), and worked out only when they change."""
        seen: tuple[Any, ...] | None = None
        if not changes:
            try:
                seen = _FLASK_SETTINGS(app.config)
                last_seen, known = self._last
                if seen != last_seen:  # the settings as the last request found them: no hashing
                    known = self._by_settings.get(seen)
            except (KeyError, TypeError):  # a setting deleted, or a value not hashable
                seen = known = None
            if known is not None:
                self._last = (seen, known)
                return known
        base = self.manager
        wanted = {
            name: value
            for name, value in {**_flask_settings(app), **changes}.items()
            if name not in self.explicit and getattr(base.config, name) != value
        }
        manager = base
        if wanted:
            key = tuple(sorted(wanted.items()))
            manager = self._managers.get(key) or SessionManager(
                base.store, base.config.with_changes(**wanted), clock=base.clock, on_event=base._on_event
            )
            self._managers[key] = manager
        if seen is not None:
            if len(self._by_settings) >= 64:  # settings that change all the time: keep few
                self._by_settings.clear()
            self._by_settings[seen] = manager
        return manager

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        session = open_for_environ(self.manager_for(app), request.environ, session_class=FlaskSession)
        return session  # type: ignore[return-value]  # made of that class (an ABC: isinstance costs a call)

    def is_null_session(self, obj: object) -> bool:
        """Flask's own test, asked on every response; one of ours is never its null
        session (answered without ``isinstance``, which on an ABC costs calls)."""
        if type(obj) is FlaskSession:
            return False
        return super().is_null_session(obj)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, Session):
            return  # Flask's null session: open_session failed, nothing to save
        manager = session._manager
        if cycle.untouched(session.state, manager.config) and not (
            app.config.get("SESSION_REFRESH_EACH_REQUEST") and isinstance(session, FlaskSession)
        ):
            return  # what the close would say, at once: nothing to save, no header
        replaced: dict[str, Any] = {}
        try:
            if isinstance(session, FlaskSession):
                if _refreshes(app, session, manager, response.status_code):
                    # Flask's SESSION_REFRESH_EACH_REQUEST: a permanent session slides on
                    # every request (Django's save-every-request, for this session).
                    manager = self.manager_for(app, save_every_request=True)
                    session._manager = manager
                if session.state.data:
                    replaced = session._tag_values()
            outcome = manager.close_session(session, response.status_code)
        except (StoreError, SessionInterrupted) as error:
            become_failure(response, manager, error)
            return
        finally:
            if replaced:
                assert isinstance(session, FlaskSession)
                session._untag_values(replaced)
        if outcome.changes_nothing:
            return
        added = outcome.additions(response.headers.keys())
        if added is not None:  # most responses: nothing of the app's rewritten
            if type(response.headers) is Headers:
                # Werkzeug checks each value for newlines when the response leaves (its
                # get_wsgi_headers copies the headers through Headers.add): these, made
                # by the outcome with none in them, are checked there once, not twice.
                response.headers._list.extend(added)
            else:
                response.headers.extend(added)
            return
        headers = outcome.apply(list(response.headers.items()))
        response.headers.clear()
        response.headers.extend(headers)


def _refreshes(app: Flask, session: FlaskSession, manager: SessionManager, status: int) -> bool:
    if not app.config.get("SESSION_REFRESH_EACH_REQUEST") or manager.config.save_every_request:
        return False
    if session.state.failure is not None or status >= 500:
        return False
    if session.session_key is None and not session.state.data:
        return False
    accessed = session.accessed
    permanent = session.permanent  # reads the session, as Flask reads its cookie
    session.accessed = accessed
    return permanent


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
        if self._manager is not None:
            interface = SessionaryInterface(self._manager)
        else:
            interface = SessionaryInterface(self._build_manager(app), self._explicit(app))
        manager = interface.manager
        app.session_interface = interface
        app.extensions[EXTENSION_KEY] = manager
        for error in (StoreError, SessionInterrupted):
            app.register_error_handler(error, _failure_handler)

    def _explicit(self, app: Flask) -> frozenset[str]:
        """The settings sessionary was given (arguments, a Config, SESSIONARY_*)."""
        if self.config is not None:
            return frozenset(SETTING_NAMES)
        return frozenset(
            name
            for name in SETTING_NAMES
            if name in self.settings or f"SESSIONARY_{name.upper()}" in app.config
        )

    def _build_manager(self, app: Flask) -> SessionManager:
        settings = _flask_settings(app)
        for name in sorted(SETTING_NAMES):
            key = f"SESSIONARY_{name.upper()}"
            if key in app.config:
                settings[name] = app.config[key]
        settings.update(self.settings)
        given = self.config
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


_FLASK_SETTINGS = itemgetter(
    "SESSION_COOKIE_PATH",
    "APPLICATION_ROOT",
    "SESSION_COOKIE_HTTPONLY",
    "PERMANENT_SESSION_LIFETIME",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_PARTITIONED",
)
"""Every app setting :func:`_flask_settings` reads, as they stand."""


def _flask_settings(app: Flask) -> dict[str, Any]:
    """sessionary's settings as Flask's configuration gives them now, read as Flask
    reads them: the path falls back to ``APPLICATION_ROOT``, a leading dot (and a port)
    of the domain is dropped, the permanent lifetime is the cookie's age. Where Flask's
    default is weaker than sessionary's (``SESSION_COOKIE_SECURE=False``, no
    ``SameSite``, the cookie name ``session``), sessionary's default stays."""
    config = app.config
    settings: dict[str, Any] = {
        "cookie_path": config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/",
        "cookie_httponly": bool(config.get("SESSION_COOKIE_HTTPONLY", True)),
        "cookie_age": int(app.permanent_session_lifetime.total_seconds()),
    }
    domain = config.get("SESSION_COOKIE_DOMAIN")
    settings["cookie_domain"] = domain.partition(":")[0].lstrip(".") or None if domain else None
    name = config.get("SESSION_COOKIE_NAME")
    if name and name != Flask.default_config.get("SESSION_COOKIE_NAME"):
        settings["cookie_name"] = name
    if config.get("SESSION_COOKIE_SECURE"):
        settings["cookie_secure"] = True
    if config.get("SESSION_COOKIE_SAMESITE"):
        settings["cookie_samesite"] = config["SESSION_COOKIE_SAMESITE"]
    if config.get("SESSION_COOKIE_PARTITIONED"):
        settings["cookie_partitioned"] = True
    return settings


def get_manager(app: Flask | None = None) -> SessionManager:
    """The :class:`~sessionary.manager.SessionManager` of ``app`` (default: the current app)."""
    return manager_of(app or current_app, "Flask")


def _failure_handler(error: Exception) -> Response:
    status, headers, body = failure_response(get_manager(), error)
    return Response(body, status=status, headers=headers)


__all__ = ["FlaskSession", "Sessionary", "SessionaryInterface", "get_manager"]
