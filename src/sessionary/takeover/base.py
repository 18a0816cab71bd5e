"""What every old-library reader gives: one tiny protocol, and the pieces the hook shares.

A reader (a :class:`Source`) knows one peer library's format: given the value of its
cookie it returns the session that library left (:class:`OldSession`), or None for a
value it would refuse itself (malformed, forged, unknown, expired); and it can retire
that session so the old library's copy is dead. Readers are synchronous (the peers'
stores are read with their ordinary clients); the async engine calls them in a worker
thread through :class:`AsyncReader`.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..session import Session

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


class Reader:
    """A source's sync face (what the generated sync engine uses)."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def read(self, value: str, now: float) -> OldSession | None:
        return self.source.read(value, now)

    def retire(self, old: OldSession) -> None:
        self.source.retire(old)


class AsyncReader:
    """A source's async face: its blocking reads run in a worker thread."""

    def __init__(self, source: Source) -> None:
        self.source = source

    async def read(self, value: str, now: float) -> OldSession | None:
        return await asyncio.to_thread(self.source.read, value, now)

    async def retire(self, old: OldSession) -> None:
        await asyncio.to_thread(self.source.retire, old)


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


MAX_OLD_VALUES = 3
"""How many values of the old cookie are tried, at most (one read of the old store each)."""


def note_old_cookie(session: Session, source: Source, cookie_header: str | None) -> None:
    """Remember the old library's cookie values on a new request's session (no I/O).

    Values shaped like sessionary tokens are kept too (Flask-Session's ids have the same
    shape): they are tried as the old library's only when no sessionary session loads.
    A session with no token of its own is not "a cookie for a session that is gone"
    until the take-over has been tried, so a request that never uses its session does
    not clear the old cookie before it could be read.
    """
    from ..cookies import MAX_COOKIE_BYTES, cookie_values  # not at import: config imports this module

    values = cookie_values(cookie_header, source.cookie_name)
    old = tuple(v for v in values if 0 < len(v) <= MAX_COOKIE_BYTES)
    if not old:
        return
    session._legacy = old[:MAX_OLD_VALUES]
    if session._token is None:
        session._had_cookie = False
