"""What every old-library reader gives: one tiny protocol, and the pieces the hook shares.

A reader (a :class:`Source`) knows one peer library's format: given the value of its
cookie it returns the session that library left (:class:`OldSession`), or None for a
value it would refuse itself (malformed, forged, unknown, expired); and it can retire
that session so the old library's copy is dead. Readers are synchronous (the peers'
stores are read with their ordinary clients); the async shell calls them in a worker
thread (:mod:`sessionary.shell`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

USER_ID_KEYS = ("_auth_user_id", "_user_id")
"""Data keys where Django's auth and Flask-Login keep the signed-in user's id."""


@dataclass(frozen=True, slots=True)
class OldSession:
    """A session as the old library left it."""

    identity: str
    """What names this session in the old library (its store key, or the cookie value
    for a cookie-borne session): a session is taken over at most once per identity."""
    data: dict[str, Any]
    expires_at: float
    """When the old library would have ended it (epoch seconds)."""


@runtime_checkable
class Source(Protocol):
    """One old library's sessions, as the take-over reads them."""

    name: str
    """A short label for logs and events (``"starsessions"``)."""
    cookie_name: str
    """The cookie the old library set; read as well as sessionary's own."""

    def read(self, value: str, now: float) -> OldSession | None:
        """The live session ``value`` names, or None (refused as an unknown token is)."""

    def retire(self, old: OldSession) -> None:
        """Make the old library's copy dead (delete its record); nothing for a cookie."""


def claim_key(source: Source, old: OldSession) -> bytes:
    """The store key of the marker that says ``old`` was taken over.

    A SHA-256 like every store key, of a text no sessionary token can be (tokens hash
    as themselves), so the marker can never be loaded as a session.
    """
    return hashlib.sha256(f"sessionary-takeover\0{source.name}\0{old.identity}".encode()).digest()


def user_id(data: dict[str, Any]) -> str | None:
    """The signed-in user's id, where Django's auth or Flask-Login keeps it."""
    for key in USER_ID_KEYS:
        value = data.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None
