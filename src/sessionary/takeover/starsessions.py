"""starsessions' Redis store: JSON under ``prefix + session id``, its lifetime the key's TTL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ._redis import client_for, get_with_ttl
from .base import OldSession

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""starsessions issues 32 hex characters; anything outside a plain token is refused unread."""


class Starsessions:
    """Sessions left by starsessions' ``RedisStore`` (with its default ``JsonSerializer``).

    ``prefix`` is the store's ``prefix`` (a string or the same callable), ``cookie_name``
    the middleware's (``"session"`` by default).
    """

    name = "starsessions"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str | Callable[[str], str] = "",
        cookie_name: str = "session",
    ) -> None:
        self.client = client_for(url, client)
        self.prefix = prefix
        self.cookie_name = cookie_name

    def _key(self, session_id: str) -> str:
        return self.prefix(session_id) if callable(self.prefix) else self.prefix + session_id

    def read(self, value: str, now: float) -> OldSession | None:
        if not _SESSION_ID.fullmatch(value):
            return None
        key = self._key(value)
        raw, ttl = get_with_ttl(self.client, key)
        if raw is None or ttl == -2:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        data.pop("__metadata__", None)  # starsessions' own bookkeeping (lifetime, created)
        if not data:
            return None
        # starsessions always sets a TTL; a key without one lives like a session of a day.
        expires_at = now + (ttl / 1000 if ttl >= 0 else 86400)
        return OldSession(identity=key, data=data, expires_at=expires_at)

    def retire(self, old: OldSession) -> None:
        self.client.delete(old.identity)
