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
that opens a session. No I/O here: :func:`retire` and :func:`check` are steps of the
request cycle (:mod:`sessionary.cycle`), yielding the store operations they need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .events import TOKEN_REUSED
from .ops import Create, Delete, Emit, Load, Op, RevokeUser
from .stores.base import Meta, Record

if TYPE_CHECKING:
    from .cycle import Context

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


# --- the steps: the store calls of detection, as operations of the request cycle ---------------


def enabled(context: Context) -> bool:
    """Detection needs a server-side store (a signed-cookie store keeps no memory)."""
    return context.config.detect_token_reuse and not context.client_side


def retire(
    context: Context, old_key: bytes, new_key: bytes, *, grace_until: float | None, now: float
) -> Generator[Op, Any, None]:
    """Remember that ``old_key`` was replaced by ``new_key`` (after a successful rotation).

    Reuse counts from the end of the rotation's grace; a rotation without one (sign-in,
    ``cycle_key``) still allows ``renewal_grace`` seconds for requests already in flight.
    """
    if not enabled(context):
        return
    config = context.config
    detect_after = grace_until if grace_until is not None else now + config.renewal_grace
    record = retirement(
        old_key, new_key, detect_after=detect_after, now=now, memory=config.retired_token_memory
    )
    yield Create(record, now)


def check(context: Context, key: bytes, now: float) -> Generator[Op, Any, bool]:
    """For a presented token that opened nothing: True when it is a retired token
    presented after its grace, in which case the session it was retired for has been
    ended (every token of it), a ``token_reused`` event emitted and, with
    ``reuse_ends_user_sessions``, every session of its user ended too."""
    if not enabled(context):
        return False
    tombstone = yield Load(retired_key(key), now)
    if tombstone is None:
        return False
    current = successor(tombstone, now)
    if current is None:
        return False  # within the rotation's grace: a request in flight, not a thief
    ended: bytes | None = None
    user_id: str | None = None
    for _ in range(MAX_HOPS):
        record = yield Load(current, now)
        if record is not None:
            # The live session (``record.key`` differs when ``current`` is a renewal
            # alias): delete it and the alias, so no token of it opens anything.
            yield Delete(record.key)
            if record.key != current:
                yield Delete(current)
            ended, user_id = record.key, record.meta.user_id
            break
        following = yield Load(retired_key(current), now)
        if following is None:
            break
        current = next_key(following)
        if current is None:
            break
    reason = "retired token presented again: session ended" if ended else "retired token presented again"
    if ended is not None and user_id is not None and context.config.reuse_ends_user_sessions:
        count = yield RevokeUser(user_id, now, None)
        reason += f", with every session of its user ({count})"
    yield Emit(TOKEN_REUSED, key, user_id, reason, ended)
    return True
