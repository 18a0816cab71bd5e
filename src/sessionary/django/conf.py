"""Django settings to a :class:`~sessionary.manager.SessionManager`, built once and rebuilt on change.

``SESSIONARY_STORE`` names the store; the other ``SESSIONARY_*`` settings map onto
:class:`~sessionary.config.Config`. Every default keeps Django's own behaviour: no idle or
absolute timeout, no server-side limit for browser-close sessions, no cap on a value's
size, no session limit. Django's ``SESSION_*`` settings keep Django's meaning; the ones
every request reads are kept in :class:`SessionSettings` (each ``settings.NAME`` is a
lookup through Django's lazy settings object, a few thousand instructions).

The manager and the ``SessionSettings`` are cached for the process; Django's
``setting_changed`` signal (sent by ``override_settings``) drops them, so tests that
change a setting get fresh ones.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_string

from ..errors import ConfigError
from ..events import Event
from ..manager import SessionManager
from ..serializer import decode_value
from ..takeover.base import Source
from ..takeover.django import DjangoSessions

DEFAULT_STORE = "sqlite:///sessions.db"
"""Used when ``SESSIONARY_STORE`` is not set: a SQLite file in the working directory."""

BATCH_SIZE = 1000
"""Rows per batch when ``clearsessions`` deletes expired sessions."""

# Django setting -> (Config field, default that keeps Django's behaviour).
OPTIONS: dict[str, tuple[str, Any]] = {
    "SESSIONARY_IDLE_TIMEOUT": ("idle_timeout", None),
    "SESSIONARY_ABSOLUTE_TIMEOUT": ("absolute_timeout", None),
    "SESSIONARY_BROWSER_CLOSE_TIMEOUT": ("browser_close_timeout", None),
    "SESSIONARY_MAX_SESSIONS_PER_USER": ("max_sessions_per_user", None),
    "SESSIONARY_TOUCH_FRACTION": ("touch_fraction", 0.25),
    "SESSIONARY_MAX_VALUE_BYTES": ("max_value_bytes", None),
    "SESSIONARY_MAX_SESSION_BYTES": ("max_session_bytes", 4 * 1024 * 1024),
    "SESSIONARY_ACCEPT_DJANGO_KEYS": ("accept_django_keys", False),
    "SESSIONARY_RECORD_CLIENT": ("record_client", False),
    "SESSIONARY_DETECT_TOKEN_REUSE": ("detect_token_reuse", False),
    "SESSIONARY_RETIRED_TOKEN_MEMORY": ("retired_token_memory", 60 * 60 * 24),
    "SESSIONARY_REUSE_ENDS_USER_SESSIONS": ("reuse_ends_user_sessions", False),
    "SESSIONARY_REUSE_GRACE": ("renewal_grace", 30),
    # Django deployments schedule clearsessions; the background cleanup is theirs to turn on.
    "SESSIONARY_CLEANUP_INTERVAL": ("cleanup_interval", None),
    "SESSIONARY_TELEMETRY": ("telemetry", False),
}
OTHER_SETTINGS = frozenset(
    {"SESSIONARY_STORE", "SESSIONARY_ON_EVENT", "SESSIONARY_TAKEOVER", "SESSIONARY_DBSC"}
)
"""Read elsewhere: ``SESSIONARY_DBSC`` by :mod:`sessionary.dbsc.django`."""
KNOWN_SETTINGS = frozenset(OPTIONS) | OTHER_SETTINGS

# Settings whose change must rebuild the manager. Not SECRET_KEY: rotating it must not
# cost a memory:// store its sessions (the event log key follows at the next restart).
_WATCHED = KNOWN_SETTINGS | {"SESSION_SERIALIZER"}


class DjangoClock:
    """Django's ``timezone.now()`` as an aware UTC datetime (naive ones are local time):
    the manager's own work (clearing, listing, revoking) then shares Django's clock."""

    def now(self) -> datetime:
        moment = timezone.now()
        return moment if moment.tzinfo is not None else moment.astimezone(UTC)


_lock = threading.Lock()
_manager: SessionManager | None = None


def get_manager() -> SessionManager:
    """The process's :class:`SessionManager`, built from the settings on first use.

    Use it for what lives beyond one request: ``get_manager().list_sessions(user.pk)``,
    ``get_manager().revoke_all(user.pk)``.
    """
    global _manager
    manager = _manager
    if manager is not None:
        if manager.cleanup is not None:
            manager.cleanup.ensure_running()  # this process's background cleanup, once
        return manager
    with _lock:
        if _manager is None:
            _manager = build_manager()
        return _manager


def build_manager() -> SessionManager:
    """A new manager from the current settings; ImproperlyConfigured names a bad setting."""
    unknown = sorted(
        name for name in dir(settings) if name.startswith("SESSIONARY_") and name not in KNOWN_SETTINGS
    )
    if unknown:
        raise ImproperlyConfigured(
            f"unknown setting {unknown[0]}; sessionary.django knows {', '.join(sorted(KNOWN_SETTINGS))}"
        )
    check_serializer()
    values = {field: getattr(settings, name, default) for name, (field, default) in OPTIONS.items()}
    # Event log ids must name a session the same way in every worker: key them by SECRET_KEY.
    values["log_secret"] = hashlib.sha256(
        b"sessionary.django.events" + str(settings.SECRET_KEY).encode()
    ).digest()
    values["takeover"] = _takeover_source()
    store = getattr(settings, "SESSIONARY_STORE", DEFAULT_STORE)
    if not isinstance(store, str):
        raise ImproperlyConfigured(f"SESSIONARY_STORE must be a store URL string, not {type(store).__name__}")
    try:
        manager = SessionManager(store, clock=DjangoClock(), on_event=_event_hook(), **values)
    except ConfigError as exc:
        setting = _setting_name(exc.setting)
        raise ImproperlyConfigured(f"{setting}: {str(exc).split(': ', 1)[-1]}") from None
    if manager.store.codec is not None:
        manager.close()
        raise ImproperlyConfigured(
            f"SESSIONARY_STORE: {manager.store.name} keeps sessions in the cookie; with Django use "
            "SESSION_ENGINE = 'django.contrib.sessions.backends.signed_cookies' instead"
        )
    return manager


def _takeover_source() -> Source | None:
    """``SESSIONARY_TAKEOVER``: the old ``SESSION_ENGINE`` (a module path) whose sessions are
    taken over, or any reader from :mod:`sessionary.takeover`."""
    value = getattr(settings, "SESSIONARY_TAKEOVER", None)
    if value is None or not isinstance(value, str):
        return value
    try:
        return DjangoSessions(value)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SESSIONARY_TAKEOVER: cannot import {value!r} ({exc})") from None


def _setting_name(field: str) -> str:
    if field == "store":
        return "SESSIONARY_STORE"
    for name, (option, _) in OPTIONS.items():
        if option == field:
            return name
    return f"SESSIONARY_{field.upper()}"


def _event_hook() -> Callable[[Event], None] | None:
    path = getattr(settings, "SESSIONARY_ON_EVENT", None)
    if path is None:
        return None
    if callable(path):
        hook: Callable[[Event], None] = path
        return hook
    try:
        imported: Callable[[Event], None] = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SESSIONARY_ON_EVENT: cannot import {path!r} ({exc})") from None
    return imported


def check_serializer() -> None:
    """Refuse a ``SESSION_SERIALIZER`` whose output is not JSON: the stores keep JSON.

    Any class with ``dumps(obj) -> bytes`` and ``loads(bytes) -> obj`` writing JSON works
    (for instance one that encodes dates with ``DjangoJSONEncoder``); the session is passed
    through it exactly as Django passes it, and each top-level value is stored as JSON.
    """
    path = settings.SESSION_SERIALIZER
    try:
        serializer = import_string(path)
        sample = serializer().dumps({"sessionary": [1, "check"]})
        decode_value(sample)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SESSION_SERIALIZER: cannot import {path!r} ({exc})") from None
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ImproperlyConfigured(
            f"SESSION_SERIALIZER: {path} does not write JSON; sessionary stores every session value "
            "as JSON, so use django.contrib.sessions.serializers.JSONSerializer or a subclass of it"
        ) from None


class SessionSettings:
    """The ``SESSION_*`` settings (and ``USE_TZ``) a request reads, read once (and again
    after a change)."""

    def __init__(self) -> None:
        self.cookie_name: str = settings.SESSION_COOKIE_NAME
        self.cookie_path: Any = settings.SESSION_COOKIE_PATH
        self.cookie_domain: Any = settings.SESSION_COOKIE_DOMAIN
        self.cookie_secure: Any = settings.SESSION_COOKIE_SECURE
        self.cookie_httponly: Any = settings.SESSION_COOKIE_HTTPONLY
        self.cookie_samesite: Any = settings.SESSION_COOKIE_SAMESITE
        self.cookie_age: Any = settings.SESSION_COOKIE_AGE
        self.expire_at_browser_close: Any = settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
        self.save_every_request: Any = settings.SESSION_SAVE_EVERY_REQUEST
        self.use_tz: Any = settings.USE_TZ

    @cached_property
    def serializer(self) -> Any:
        """``SessionBase.__init__``'s ``import_string(settings.SESSION_SERIALIZER)``
        (imported at the first use, where Django imports it)."""
        return import_string(settings.SESSION_SERIALIZER)


kept_settings: SessionSettings | None = None
"""The current :class:`SessionSettings` once read, None until then (the hot paths read
it directly: ``conf.kept_settings or conf.session_settings()``)."""


def session_settings() -> SessionSettings:
    """The current :class:`SessionSettings`."""
    global kept_settings
    found = kept_settings
    if found is None:
        kept_settings = found = SessionSettings()
    return found


def reset() -> None:
    """Forget the manager (closing its store); the next use builds a new one."""
    global _manager
    with _lock:
        manager, _manager = _manager, None
    if manager is not None:
        manager.close()


@receiver(setting_changed, dispatch_uid="sessionary.django.conf.reset")
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    global kept_settings
    if setting.startswith("SESSION_") or setting == "USE_TZ":
        kept_settings = None
    if setting in _WATCHED or setting.startswith("SESSIONARY_"):
        reset()
