"""Sign-in and sign-out, for any framework.

``login`` is where a session becomes privileged, so it always issues a new token
(defeating session fixation) and starts the absolute timeout. ``logout`` deletes the
record, not just the cookie, so a copied cookie is dead too.
"""

from __future__ import annotations

from ._async import engine as async_engine
from ._sync import engine as sync_engine
from .events import REVOKED
from .lifecycle import noting_failure
from .session import Session


def login(session: Session, user_id: str | int) -> None:
    """Record ``user_id`` on the session and move it to a new token, keeping its data.

    If the session belonged to another user it is emptied first. With
    ``max_sessions_per_user`` set, the sessions signed in longest ago are ended
    (``evict_oldest``), or :class:`~sessionary.errors.TooManySessions` is raised and
    nothing changes (``refuse``). Also call it after a privilege change
    (re-authentication, a new role): every call issues a new token.
    """
    with noting_failure(session):
        sync_engine.login(session, str(user_id))


async def alogin(session: Session, user_id: str | int) -> None:
    with noting_failure(session):
        await async_engine.login(session, str(user_id))


def recently_authenticated(session: Session, max_age: int) -> bool:
    """Whether the user signed in (or re-authenticated, through :func:`login`) within
    ``max_age`` seconds: guard sensitive actions with it ("sudo mode", step-up)."""
    signed_in = session.auth_at
    if signed_in is None:
        return False
    return (session._manager.clock.now() - signed_in).total_seconds() <= max_age


def logout(session: Session) -> None:
    """End the session: the record is deleted, the cookie expired, and (by default) the
    response says ``Clear-Site-Data: "cookies"``."""
    _note_logout(session)
    session.flush()


async def alogout(session: Session) -> None:
    _note_logout(session)
    await session.aflush()


def _note_logout(session: Session) -> None:
    key = session._record.key if session._record is not None else None
    session._logged_out = True
    session._manager.emit(
        REVOKED,
        key,
        user_id=session._meta_changes.get("user_id")
        or (session._record.meta.user_id if session._record is not None else None),
        reason="logout",
    )
