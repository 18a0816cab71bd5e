"""The store calls of stolen-cookie detection (see :mod:`sessionary.reuse`).

Written once as async code; ``scripts/unasync.py`` generates the sync twin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..events import TOKEN_REUSED
from ..reuse import MAX_HOPS, next_key, retired_key, retirement, successor

if TYPE_CHECKING:
    from ..manager import SessionManager


def enabled(manager: SessionManager) -> bool:
    """Detection needs a server-side store (a signed-cookie store keeps no memory)."""
    return manager.config.detect_token_reuse and manager.store.codec is None


async def retire(
    manager: SessionManager, old_key: bytes, new_key: bytes, *, grace_until: float | None
) -> None:
    """Remember that ``old_key`` was replaced by ``new_key`` (after a successful rotation).

    Reuse counts from the end of the rotation's grace; a rotation without one (sign-in,
    ``cycle_key``) still allows ``renewal_grace`` seconds for requests already in flight.
    """
    if not enabled(manager):
        return
    now = manager.now()
    config = manager.config
    detect_after = grace_until if grace_until is not None else now + config.renewal_grace
    record = retirement(
        old_key, new_key, detect_after=detect_after, now=now, memory=config.retired_token_memory
    )
    await manager.store.aio.create(record, now)


async def check(manager: SessionManager, key: bytes) -> bool:
    """For a presented token that opened nothing: True when it is a retired token
    presented after its grace, in which case the session it was retired for has been
    ended (every token of it), a ``token_reused`` event emitted and, with
    ``reuse_ends_user_sessions``, every session of its user ended too."""
    if not enabled(manager):
        return False
    store = manager.store.aio
    now = manager.now()
    tombstone = await store.load(retired_key(key), now)
    if tombstone is None:
        return False
    current = successor(tombstone, now)
    if current is None:
        return False  # within the rotation's grace: a request in flight, not a thief
    ended: bytes | None = None
    user_id: str | None = None
    for _ in range(MAX_HOPS):
        record = await store.load(current, now)
        if record is not None:
            # The live session (``record.key`` differs when ``current`` is a renewal
            # alias): delete it and the alias, so no token of it opens anything.
            await store.delete(record.key)
            if record.key != current:
                await store.delete(current)
            ended, user_id = record.key, record.meta.user_id
            break
        following = await store.load(retired_key(current), now)
        if following is None:
            break
        current = next_key(following)
        if current is None:
            break
    reason = "retired token presented again: session ended" if ended else "retired token presented again"
    if ended is not None and user_id is not None and manager.config.reuse_ends_user_sessions:
        count = await store.revoke_user(user_id, now, None)
        reason += f", with every session of its user ({count})"
    manager.emit(TOKEN_REUSED, key, user_id=user_id, reason=reason, new_key=ended)
    return True
