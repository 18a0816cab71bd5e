"""Taking over a session an old library left: read it, claim it once, retire it.

When a request's session is opened, :func:`note_old_cookie` keeps the old library's
cookie values; its load then runs :func:`carry_over`, a step of the request cycle
(:mod:`sessionary.cycle`) with no I/O of its own: it yields the old library's read and
retire (:class:`~sessionary.ops.ReadOld`,
:class:`~sessionary.ops.RetireOld`, which a shell performs on ``Config.takeover``, in a
worker thread on the async face) and the claim in sessionary's own store. The load of
the request cycle and that of the Django engine run it for a request that brought no
live sessionary token, and store what it returns as a new session under a new token.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ..cookies import MAX_COOKIE_BYTES, cookie_values
from ..errors import SessionValueError, StoreUnavailable
from ..ops import Create, Delete, Op, ReadOld, RetireOld
from ..serializer import encode_value, session_key_name
from ..stores.base import Meta, Record
from .base import OldSession, Source, claim_key, user_id

if TYPE_CHECKING:
    from ..config import Config
    from ..state import SessionState

logger = logging.getLogger("sessionary")

MAX_OLD_VALUES = 3
"""How many values of the old cookie are tried, at most (one read of the old store each)."""


def note_old_cookie(state: SessionState, source: Source, cookie_header: str | None) -> None:
    """Remember the old library's cookie values on a new request's session state (no I/O).

    Values shaped like sessionary tokens are kept too (Flask-Session's ids have the same
    shape): they are tried as the old library's only when no sessionary session loads.
    A session with no token of its own is not "a cookie for a session that is gone"
    until the take-over has been tried, so a request that never uses its session does
    not clear the old cookie before it could be read.
    """
    values = cookie_values(cookie_header, source.cookie_name)
    old = tuple(v for v in values if 0 < len(v) <= MAX_COOKIE_BYTES)
    if not old:
        return
    state.legacy = old[:MAX_OLD_VALUES]
    if state.token is None:
        state.had_cookie = False


def carry_over(
    config: Config, values: tuple[str, ...], now: float
) -> Generator[Op, Any, tuple[dict[str, Any], str | None] | None]:
    """The data (and signed-in user) of the first old session ``values`` name that is
    live and not taken over before; None when there is none.

    The claim is an insert-if-absent of a marker in sessionary's own store, kept until
    the old session's expiry: of two requests replaying one old cookie only one wins,
    and a cookie-borne session (which cannot be deleted) is refused ever after. The old
    library's record is then deleted. A failure of the old store raises
    :class:`StoreUnavailable`: the request fails closed, the browser keeps its cookie.
    """
    source = config.takeover
    assert source is not None
    for value in values:
        try:
            old: OldSession | None = yield ReadOld(value, now)
        except Exception as error:  # the old store's own client failed: fail closed
            raise _unavailable(source.name, error) from error
        if old is None or old.expires_at <= now:
            continue
        claim = claim_key(source, old)
        meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=old.expires_at)
        if not (yield Create(Record(claim, {}, meta, old.expires_at), now)):
            logger.warning(
                "refused a %s session that was taken over already (a replayed cookie?)", source.name
            )
            continue
        try:
            yield RetireOld(old)
        except Exception as error:
            yield Delete(claim)  # not taken over: a later request may try again
            raise _unavailable(source.name, error) from error
        data = storable(source.name, old.data, config.max_value_bytes)
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
