"""Django's own session backends (``db``, ``cache``, ``cached_db``), read by Django's code.

The old ``SessionStore`` of the named engine decodes the data (its ``SESSION_SERIALIZER``,
``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``) and refuses what Django refuses (an expired
row, a key it never issued, data it cannot verify). Needs Django's settings configured:
a Django project, or any app that calls ``settings.configure(...)``.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

from .base import OldSession

DB = "django.contrib.sessions.backends.db"
CACHE = "django.contrib.sessions.backends.cache"
CACHED_DB = "django.contrib.sessions.backends.cached_db"

_DJANGO_KEY = re.compile(r"[a-z0-9]{32}")
"""What Django's ``get_random_string(32, ascii_lowercase + digits)`` gives."""


class DjangoSessions:
    """Sessions left by one of Django's backends, ``engine`` being its ``SESSION_ENGINE``."""

    name = "django"

    def __init__(self, engine: str = DB, *, cookie_name: str | None = None) -> None:
        from django.conf import settings

        self.engine = engine
        self.store_class: Any = import_module(engine).SessionStore
        self.cookie_name = cookie_name or settings.SESSION_COOKIE_NAME

    def read(self, value: str, now: float) -> OldSession | None:
        if not _DJANGO_KEY.fullmatch(value):
            return None
        old = self.store_class(value)
        data = old.load()  # {} for an unknown, expired or undecodable session
        if not data or old.session_key is None:
            return None
        expires_at = self._expires_at(old, value)
        if expires_at is None or expires_at <= now:
            return None
        return OldSession(identity=value, data=dict(data), expires_at=expires_at)

    def _expires_at(self, old: Any, key: str) -> float | None:
        """The row's ``expire_date`` for ``db`` and ``cached_db``; for ``cache`` (whose
        entries vanish at their timeout) the expiry Django computes for the data."""
        get_model = getattr(old, "get_model_class", None)
        if get_model is not None:
            moment = get_model().objects.filter(session_key=key).values_list("expire_date", flat=True).first()
            if moment is not None:
                return float(moment.timestamp())
            if self.engine != CACHED_DB:
                return None
        return float(old.get_expiry_date().timestamp())

    def retire(self, old: OldSession) -> None:
        self.store_class(old.identity).delete(old.identity)
