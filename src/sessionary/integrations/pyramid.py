"""Pyramid: ``request.session`` is a sessionary session, through Pyramid's ``ISession``.

    config = Configurator(settings={"sessionary.store": "sqlite:///sessions.db"})
    config.include("sessionary.integrations.pyramid")

or, with the settings in code, ``use_sessionary(config, store=..., cookie_age=3600)``.
Either sets the session factory (Pyramid's ``set_session_factory``) and the views that
answer 503 when the store fails and 400 when the session was ended elsewhere while the
request ran. ``request.session`` keeps Pyramid's API, ``flash`` / ``pop_flash`` /
``peek_flash``, ``new_csrf_token`` / ``get_csrf_token`` (so Pyramid's CSRF checks, which
keep the token in the session by default, work as before), ``invalidate``, ``changed``,
``created`` and ``new``, and adds sessionary's (Django's) API: ``set_expiry``,
``cycle_key``, :func:`sessionary.auth.login` / :func:`~sessionary.auth.logout`.

Settings come from the ``sessionary.<setting>`` keys of the app's settings (an ``.ini``
file's strings are converted to each setting's type), overridden by keyword arguments.
The session is read from the store only when a view uses it; the save and the cookie
happen in a response callback, so exception views' responses get them too.
"""

from __future__ import annotations

import secrets
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import ISession
from pyramid.request import Request
from pyramid.response import Response
from pyramid.settings import asbool, aslist
from zope.interface import classImplements

from ..config import SETTING_NAMES, Config
from ..errors import ConfigError, SessionInterrupted, StoreError
from ..lifecycle import failure_response, status_line
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store
from .wsgi import open_for_environ

REGISTRY_KEY = "sessionary.manager"
SETTINGS_PREFIX = "sessionary."
CSRF_KEY = "_csrft_"
FLASH_PREFIX = "_f_"


class PyramidSession(Session):
    """A sessionary :class:`~sessionary.session.Session` with Pyramid's ``ISession`` surface.

    Flash queues and the CSRF token are plain keys (``_f_<queue>``, ``_csrft_``), the
    names Pyramid's own sessions use, so data moved from them keeps working.
    """

    @property
    def created(self) -> float:
        """When the session was created (epoch seconds); now, for one not saved yet."""
        created = self.created_at
        return created.timestamp() if created is not None else self._manager.now()

    @property
    def new(self) -> bool:
        """True when the request brought no live session."""
        self.load()
        return self.session_key is None

    def invalidate(self) -> None:
        """Pyramid's ``invalidate``: the stored session is deleted and the data dropped; what
        the view stores afterwards goes into a new session with a new token."""
        self.flush()

    def changed(self) -> None:
        """A mutable value was changed in place: the next save writes every key."""
        self.load()
        self.modified = True

    def popitem(self) -> tuple[str, Any]:
        for key in self:
            return key, self.pop(key)
        raise KeyError("popitem(): the session is empty")

    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        messages = list(self.get(FLASH_PREFIX + queue, []))
        if allow_duplicate or msg not in messages:
            messages.append(msg)
            self[FLASH_PREFIX + queue] = messages  # a new list, so the change is saved

    def pop_flash(self, queue: str = "") -> list[Any]:
        messages: list[Any] = self.pop(FLASH_PREFIX + queue, [])
        return messages

    def peek_flash(self, queue: str = "") -> list[Any]:
        messages: list[Any] = self.get(FLASH_PREFIX + queue, [])
        return messages

    def new_csrf_token(self) -> str:
        token = secrets.token_hex(20)  # Pyramid's shape: 40 hexadecimal characters
        self[CSRF_KEY] = token
        return token

    def get_csrf_token(self) -> str:
        token = self.get(CSRF_KEY)
        return token if isinstance(token, str) else self.new_csrf_token()


classImplements(PyramidSession, ISession)


class SessionaryFactory:
    """Pyramid's ``ISessionFactory``: ``config.set_session_factory(SessionaryFactory(...))``.

    Pyramid calls it the first time a request uses ``request.session``; a request that
    never does costs nothing. ``session_class`` is a :class:`PyramidSession` subclass,
    for an app that adds attributes of its own.
    """

    def __init__(
        self,
        store: str | Store = DEFAULT_STORE,
        config: Config | None = None,
        *,
        manager: SessionManager | None = None,
        session_class: type[PyramidSession] = PyramidSession,
        **settings: Any,
    ) -> None:
        self.manager = manager or SessionManager(store, config, **settings)
        self.session_class = session_class

    def __call__(self, request: Request) -> PyramidSession:
        session = open_for_environ(self.manager, request.environ, session_class=self.session_class)
        assert isinstance(session, PyramidSession)
        request.add_response_callback(self._closer(session))
        return session

    def _closer(self, session: Session) -> Callable[[Request, Response], None]:
        manager = self.manager

        def close(request: Request, response: Response) -> None:
            try:
                outcome = manager.close_session(session, response.status_int)
            except (StoreError, SessionInterrupted) as error:
                _become_failure(response, manager, error)
                return
            if not outcome.changes_nothing:
                response.headerlist = outcome.apply(list(response.headerlist))

        return close


def _become_failure(response: Response, manager: SessionManager, error: Exception) -> None:
    """Make ``response`` the fail-closed answer, with no session cookie."""
    status, headers, body = failure_response(manager, error)
    response.status = status_line(status)
    response.headerlist = headers
    response.body = body


def failure_view(error: Exception, request: Request) -> Response:
    """The exception view for a store failure (503) or a session ended mid-request (400)."""
    status, headers, body = failure_response(get_manager(request), error)
    return Response(body=body, status=status_line(status), headerlist=headers)


def use_sessionary(
    config: Configurator,
    store: str | Store | None = None,
    sessionary_config: Config | None = None,
    *,
    manager: SessionManager | None = None,
    **settings: Any,
) -> SessionManager:
    """Make sessionary the app's session factory; returns its manager (also
    :func:`get_manager` of any request). Keyword settings override ``sessionary.*`` ones."""
    unknown = set(settings) - SETTING_NAMES
    if unknown:
        raise TypeError(f"unknown sessionary setting(s): {', '.join(sorted(unknown))}")
    if manager is None:
        from_app = settings_from(config.get_settings() or {})
        store = store or from_app.pop("store", DEFAULT_STORE)
        from_app.pop("store", None)
        from_app.update(settings)
        if sessionary_config is not None:
            sessionary_config = sessionary_config.with_changes(**from_app)
            from_app = {}
        manager = SessionManager(store, sessionary_config, **from_app)
    config.registry[REGISTRY_KEY] = manager
    config.set_session_factory(SessionaryFactory(manager=manager))
    for error in (StoreError, SessionInterrupted):
        config.add_exception_view(failure_view, context=error)
    return manager


def includeme(config: Configurator) -> None:
    """``config.include("sessionary.integrations.pyramid")``: sessionary with the app's
    ``sessionary.*`` settings."""
    use_sessionary(config)


def get_manager(request: Request) -> SessionManager:
    """The app's :class:`~sessionary.manager.SessionManager` (a user's sessions, revocation)."""
    try:
        manager: SessionManager = request.registry[REGISTRY_KEY]
    except KeyError:
        raise RuntimeError(
            "sessionary is not set up on this Pyramid app; "
            'call config.include("sessionary.integrations.pyramid") or use_sessionary(config)'
        ) from None
    return manager


def settings_from(app_settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``sessionary.*`` entries of Pyramid settings, strings turned into each setting's type."""
    types = typing.get_type_hints(Config)
    found: dict[str, Any] = {}
    for key, value in app_settings.items():
        if not key.startswith(SETTINGS_PREFIX):
            continue
        name = key[len(SETTINGS_PREFIX) :]
        if name == "store":
            found[name] = value
        elif name not in SETTING_NAMES:
            raise ConfigError(key, f"not a sessionary setting (known: {', '.join(sorted(SETTING_NAMES))})")
        else:
            found[name] = _typed(key, types[name], value) if isinstance(value, str) else value
    return found


def _typed(key: str, hint: Any, text: str) -> Any:
    options = set(typing.get_args(hint)) or {hint}
    if type(None) in options and text.strip().lower() in ("", "none"):
        return None
    try:
        if bool in options:
            return asbool(text)
        if int in options:
            return int(text)
        if float in options:
            return float(text)
        if typing.get_origin(hint) is tuple:
            return tuple(aslist(text))
    except ValueError:
        raise ConfigError(key, f"{text!r} is not a {hint}") from None
    return text.strip()


__all__ = ["PyramidSession", "SessionaryFactory", "get_manager", "includeme", "use_sessionary"]
