"""Sign-in and a user's sessions, decided without I/O, as steps of :mod:`sessionary.cycle`.

Like the request cycle, each function yields the store operations it needs and is run
by :mod:`sessionary.shell`; the Django engine runs :func:`limit_sessions` for its own
sign-ins.
"""

from __future__ import annotations

from collections.abc import Callable

from . import cycle
from .cycle import Context, Steps
from .devices import Device, by_recency, device
from .errors import TooManySessions
from .events import REVOKED
from .ops import DeleteUserSession, Emit, RevokeUser, UserSessions
from .state import SessionState
from .stores.base import Summary
from .tokens import key_from_handle


def login(
    state: SessionState, context: Context, user_id: str, now: float, fresh: Callable[[], str]
) -> Steps[None]:
    """Record the user and issue a new token; see :func:`sessionary.auth.login`."""
    config = context.config
    yield from cycle.ensure_loaded(state, context, now, fresh)
    if cycle.user_id(state) not in (None, user_id):
        # Another user's session: start from nothing rather than inherit their data.
        state.clear_data()
        yield from cycle.delete(state, context)
    limit = config.max_sessions_per_user
    if limit is not None and config.session_limit_policy == "refuse":
        # The cheap check first, so a refused sign-in changes nothing at all.
        live = yield UserSessions(user_id, now)
        current = state.record.key if state.record is not None else None
        if len([s for s in live if s.key != current]) >= limit:
            raise TooManySessions(user_id, limit)
    state.set_meta(user_id=user_id, auth_at=now)
    yield from cycle.rotate(state, context, now, fresh, grace=None)
    if limit is not None:
        yield from _enforce_limit(state, context, user_id, limit, now)


def _signed_in_order(summary: Summary) -> tuple[float, bytes]:
    """Every process orders a user's sessions the same way: by sign-in time, then key."""
    meta = summary.meta
    return (meta.auth_at if meta.auth_at is not None else meta.created_at, summary.key)


def _enforce_limit(
    state: SessionState, context: Context, user_id: str, limit: int, now: float
) -> Steps[None]:
    """Leave at most ``limit`` sessions. Every sign-in orders the user's sessions the same
    way and deletes those outside its keepers, so concurrent sign-ins agree: the newest
    ``limit`` survive (evict_oldest), or the oldest do and a sign-in beyond the limit
    undoes itself (refuse)."""
    assert state.record is not None
    if (yield from limit_sessions(context, user_id, limit, state.record.key, now)):
        yield from cycle.delete(state, context)
        if context.config.session_limit_policy == "refuse":
            raise TooManySessions(user_id, limit)


def limit_sessions(context: Context, user_id: str, limit: int, current: bytes, now: float) -> Steps[bool]:
    """Delete the user's sessions outside the ``limit`` keepers, except ``current``;
    True when ``current`` is outside them too (the caller ends it). Also run by the
    Django engine, whose sign-ins go through ``django.contrib.auth``."""
    live = sorted((yield UserSessions(user_id, now)), key=_signed_in_order)
    if len(live) <= limit:
        return False
    refuse = context.config.session_limit_policy == "refuse"
    doomed = live[limit:] if refuse else live[: len(live) - limit]
    for summary in doomed:
        if summary.key == current:
            continue
        if (yield DeleteUserSession(user_id, summary.key)):
            yield Emit(REVOKED, summary.key, user_id, "session limit reached")
    return current in {s.key for s in doomed}


def list_sessions(
    context: Context, user_id: str, current: SessionState | None, now: float, fresh: Callable[[], str]
) -> Steps[list[Device]]:
    if current is not None:
        yield from cycle.ensure_loaded(current, context, now, fresh)
    current_key = current.record.key if current is not None and current.record is not None else None
    summaries = yield UserSessions(user_id, now)
    return by_recency([device(summary, current_key=current_key) for summary in summaries])


def revoke(user_id: str, handle: str) -> Steps[bool]:
    """End one session of ``user_id``; a handle of someone else's session does nothing."""
    key = key_from_handle(handle)
    if key is None:
        return False
    if (yield DeleteUserSession(user_id, key)):
        yield Emit(REVOKED, key, user_id, "revoked by its user")
        return True
    return False


def revoke_all(
    context: Context, user_id: str, except_current: SessionState | None, now: float, fresh: Callable[[], str]
) -> Steps[int]:
    """End every session of the user, except (when given) the current one, which gets
    a new token so that a "valid after" check made now cannot refuse it."""
    keep = None
    if except_current is not None:
        yield from cycle.ensure_loaded(except_current, context, now, fresh)
    if except_current is not None and except_current.record is not None:
        if cycle.user_id(except_current) != user_id:
            raise ValueError("except_current is not a session of this user")
        yield from cycle.rotate(except_current, context, now, fresh, grace=None)
        assert except_current.record is not None
        keep = except_current.record.key
        now = min(now, except_current.record.meta.issued_at)
    count = yield RevokeUser(user_id, now, keep)
    yield Emit(REVOKED, None, user_id, f"all sessions revoked ({count})")
    return int(count)
