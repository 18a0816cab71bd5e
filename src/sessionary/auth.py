"""Sign-in and sign-out, for any framework.

``login`` is where a session becomes privileged, so it always issues a new token
(defeating session fixation) and starts the absolute timeout. ``logout`` deletes the
record, not just the cookie, so a copied cookie is dead too.
"""

from __future__ import annotations

from . import accounts, cycle
from .events import REVOKED
from .session import Session, noting_failure
from .shell import arun
from .tokens import new_token


def login(session: Session, user_id: str | int) -> None:
    """Record ``user_id`` on the session and move it to a new token, keeping its data.

    If the session belonged to another user it is emptied first. With
    ``max_sessions_per_user`` set, the sessions signed in longest ago are ended
    (``evict_oldest``), or :class:`~sessionary.errors.TooManySessions` is raised and
    nothing changes (``refuse``). Also call it after a privilege change
    (re-authentication, a new role): every call issues a new token. In an async view of
    an integration that reads the session first, the new token is issued (and
    ``TooManySessions`` raised) when the request ends, not blocking the event loop;
    ``await alogin(...)`` does it at once.
    """
    manager = session.manager
    steps = accounts.login(session.state, manager.context, str(user_id), manager.now(), new_token)
    try:
        session.run_or_defer(steps)
    finally:
        session.mirror()


async def alogin(session: Session, user_id: str | int) -> None:
    if session.state.deferred:
        await session.asettle()
    manager = session.manager
    steps = accounts.login(session.state, manager.context, str(user_id), manager.now(), new_token)
    with noting_failure(session):
        try:
            await arun(steps, manager)
        finally:
            session.mirror()


def recently_authenticated(session: Session, max_age: int) -> bool:
    """Whether the user signed in (or re-authenticated, through :func:`login`) within
    ``max_age`` seconds: guard sensitive actions with it ("sudo mode", step-up)."""
    signed_in = session.auth_at
    if signed_in is None:
        return False
    return (session.manager.clock.now() - signed_in).total_seconds() <= max_age


def logout(session: Session) -> None:
    """End the session: the record is deleted, the cookie expired, and (by default) the
    response says ``Clear-Site-Data: "cookies"``."""
    _note_logout(session)
    session.flush()


async def alogout(session: Session) -> None:
    _note_logout(session)
    await session.aflush()


def _note_logout(session: Session) -> None:
    state = session.state
    state.logged_out = True
    session.manager.emit(
        REVOKED,
        state.record.key if state.record is not None else None,
        user_id=cycle.user_id(state),
        reason="logout",
    )
