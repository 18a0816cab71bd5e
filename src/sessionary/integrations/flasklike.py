"""What the Flask and Quart integrations share: Flask's ``SessionMixin`` surface on a
sessionary session, and settings read from a Flask-style app config.

Quart keeps Flask's session API and config names (it imports ``SessionMixin`` from
Flask), so the two integrations differ only in being sync or async; this module is the
part that is neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from flask.sessions import SessionMixin

from ..config import SETTING_NAMES, Config
from ..errors import ConfigError
from ..lifecycle import failure_response
from ..manager import DEFAULT_STORE, SessionManager
from ..session import Session
from ..stores import Store

EXTENSION_KEY = "sessionary"


class FlaskSession(Session, SessionMixin):
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


class FlaskLikeResponse(Protocol):
    """A Flask (Werkzeug) or Quart response, as far as failing closed goes."""

    status_code: int
    headers: Any

    def set_data(self, value: bytes) -> None: ...


def become_failure(response: FlaskLikeResponse, manager: SessionManager, error: Exception) -> None:
    """Turn ``response`` into the fail-closed answer: a store failure must not look like
    a visitor without a session, and no cookie is set."""
    status, headers, body = failure_response(manager, error)
    response.status_code = status
    response.headers.clear()
    response.headers.extend(headers)
    response.set_data(body)


class FlaskLikeApp(Protocol):
    """A Flask or Quart app, as far as settings go."""

    config: Any
    default_config: Any
    extensions: dict[str, Any]

    @property
    def permanent_session_lifetime(self) -> timedelta: ...


def check_settings(settings: Mapping[str, Any]) -> None:
    unknown = set(settings) - SETTING_NAMES
    if unknown:
        raise TypeError(f"unknown sessionary setting(s): {', '.join(sorted(unknown))}")


def build_manager(
    app: FlaskLikeApp, store: str | Store | None, config: Config | None, settings: Mapping[str, Any]
) -> SessionManager:
    """The manager for ``app``: keyword ``settings``, else ``SESSIONARY_<NAME>`` in the
    app's config, else its ``SESSION_COOKIE_*`` where changed from the framework's default."""
    merged = _cookie_settings(app)
    for name in sorted(SETTING_NAMES):
        key = f"SESSIONARY_{name.upper()}"
        if key in app.config:
            merged[name] = app.config[key]
    merged.update(settings)
    if "cookie_age" not in merged:
        # Flask's (and Quart's) own setting for how long a permanent session lasts.
        merged["cookie_age"] = int(app.permanent_session_lifetime.total_seconds())
    if "expire_at_browser_close" not in merged and config is None:
        # Flask's default: a session is not permanent until the app says so.
        merged["expire_at_browser_close"] = True
    built = config.with_changes(**merged) if config is not None else Config(**merged)
    return SessionManager(store or app.config.get("SESSIONARY_STORE") or DEFAULT_STORE, built)


# The app's own cookie settings, honoured when the app changed them from the default
# (an unchanged default, such as SESSION_COOKIE_SECURE=False, leaves sessionary's).
_COOKIE_SETTINGS = {
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_DOMAIN": "cookie_domain",
    "SESSION_COOKIE_PATH": "cookie_path",
    "SESSION_COOKIE_HTTPONLY": "cookie_httponly",
    "SESSION_COOKIE_SECURE": "cookie_secure",
    "SESSION_COOKIE_SAMESITE": "cookie_samesite",
}


def _cookie_settings(app: FlaskLikeApp) -> dict[str, Any]:
    settings = {}
    for key, name in _COOKIE_SETTINGS.items():
        if key in app.config and app.config[key] != app.default_config.get(key):
            settings[name] = app.config[key]
    if app.config.get("SESSION_COOKIE_PARTITIONED"):
        raise ConfigError("SESSION_COOKIE_PARTITIONED", "partitioned session cookies are not supported")
    return settings


def manager_of(app: FlaskLikeApp, framework: str) -> SessionManager:
    try:
        manager: SessionManager = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            f"sessionary is not set up on this {framework} app; call Sessionary(app) or init_app(app)"
        ) from None
    return manager
