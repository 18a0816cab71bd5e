"""Taking over a session an old library left: read it, claim it once, retire it.

Written once as async code; ``scripts/unasync.py`` generates the sync twin. The engine's
hook (``engine._take_over``) and the Django engine's (``django_session._take_over``)
call :func:`carry_over` for a request that brought no live sessionary token, and store
what it returns as a new session under a new token.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import SessionValueError, StoreUnavailable
from ..serializer import encode_value, session_key_name
from ..stores.base import Meta, Record
from ..takeover.base import AsyncReader, claim_key, user_id

if TYPE_CHECKING:
    from ..manager import SessionManager

logger = logging.getLogger("sessionary")


async def carry_over(
    manager: SessionManager, values: tuple[str, ...], now: float
) -> tuple[dict[str, Any], str | None] | None:
    """The data (and signed-in user) of the first old session ``values`` name that is
    live and not taken over before; None when there is none.

    The claim is an insert-if-absent of a marker in sessionary's own store, kept until
    the old session's expiry: of two requests replaying one old cookie only one wins,
    and a cookie-borne session (which cannot be deleted) is refused ever after. The old
    library's record is then deleted. A failure of the old store raises
    :class:`StoreUnavailable`: the request fails closed, the browser keeps its cookie.
    """
    source = manager.config.takeover
    assert source is not None
    reader = AsyncReader(source)
    for value in values:
        try:
            old = await reader.read(value, now)
        except Exception as error:  # the old store's own client failed: fail closed
            raise _unavailable(source.name, error) from error
        if old is None or old.expires_at <= now:
            continue
        claim = claim_key(source, old)
        meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=old.expires_at)
        if not await manager.store.aio.create(Record(claim, {}, meta, old.expires_at), now):
            logger.warning(
                "refused a %s session that was taken over already (a replayed cookie?)", source.name
            )
            continue
        try:
            await reader.retire(old)
        except Exception as error:
            await manager.store.aio.delete(claim)  # not taken over: a later request may try again
            raise _unavailable(source.name, error) from error
        data = storable(source.name, old.data, manager.config.max_value_bytes)
        logger.info("took over a %s session", source.name)
        return data, user_id(data)
    return None


def _unavailable(source: str, error: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"takeover from {source}", f"{type(error).__name__}: {error}")


def storable(
    source: str, data: dict[Any, Any], max_bytes: int | None, *, refused: list[str] | None = None
) -> dict[str, Any]:
    """The values sessionary can store; each one it cannot is logged by key, or added to
    ``refused`` for a caller that reports them itself: never dropped without a word."""
    kept: dict[str, Any] = {}
    reasons: list[str] = []
    for key, value in data.items():
        try:
            name = session_key_name(key)
            encode_value(name, value, max_bytes=max_bytes)
        except SessionValueError as error:
            reasons.append(str(error))
            if refused is not None:
                refused.append(error.key)
            continue
        kept[name] = value
    if reasons and refused is None:
        logger.warning("took over a %s session without what cannot be stored: %s", source, "; ".join(reasons))
    return kept
