"""Stolen-cookie detection: what a rotation remembers of the token it retired.

After a rotation (sign-in, ``cycle_key``, renewal) the old token opens nothing. If it is
presented again once the rotation's grace is over, two parties held the same cookie: the
browser that received the new token would never send the old one. So the store keeps,
for ``retired_token_memory`` seconds, a *retirement record* under a key derived from the
retired token's store key, naming the store key that replaced it. A retired token that
comes back after its grace ends the whole session (whatever token it holds by then), and
a ``token_reused`` event is emitted (keyed hashes only).

Bounded in space and time: one retirement record per rotation, each expiring on its own
after ``retired_token_memory``; following a session through later rotations stops after
``MAX_HOPS`` records. The derived key is SHA-256 over a label and the store key, so no
token a browser could present names a retirement record, and a store dump holds nothing
that opens a session. This module is pure; the store calls are in ``_async/reuse.py``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .stores.base import Meta, Record

MAX_HOPS = 64
"""Rotations followed from a retired token to the session's current token, at most."""
_LABEL = b"sessionary retired token\x00"


def retired_key(key: bytes) -> bytes:
    """The store key of the retirement record of the token whose store key is ``key``."""
    return hashlib.sha256(_LABEL + key).digest()


def retirement(old_key: bytes, new_key: bytes, *, detect_after: float, now: float, memory: int) -> Record:
    """The record a rotation leaves: ``old_key`` was replaced by ``new_key``; presenting the
    old token from ``detect_after`` on (the end of the rotation's grace) is reuse."""
    until = now + memory
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=until)
    return Record(retired_key(old_key), {"next": new_key.hex(), "after": detect_after}, meta, until)


def successor(record: Record, now: float) -> bytes | None:
    """The key that replaced a retired one, when presenting it now counts as reuse."""
    data: dict[str, Any] = record.data
    following, after = data.get("next"), data.get("after")
    if not isinstance(following, str) or not isinstance(after, int | float) or now < after:
        return None
    try:
        return bytes.fromhex(following)
    except ValueError:
        return None


def next_key(record: Record) -> bytes | None:
    """The key a retirement record names, whatever its grace (for following a chain)."""
    following = record.data.get("next")
    try:
        return bytes.fromhex(following) if isinstance(following, str) else None
    except ValueError:
        return None
