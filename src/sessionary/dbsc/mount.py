"""The steps every DBSC mount runs on a sessionary session, in the order the protocol
needs them; a framework's mount only translates its request and response.

Before the app: :func:`abefore` (or :func:`before`, for sync frameworks) loads the
session when needed and returns the :class:`~sessionary.dbsc.protocol.Reply` to send
instead of the app's response, or ``None``. After the app, before the session is saved:
:func:`offer` gives the registration header to add, or ``None``.
"""

from __future__ import annotations

from ..session import Session
from . import protocol
from .protocol import DBSCConfig, Reply


async def abefore(
    session: Session, method: str, path: str, headers: dict[str, str], dbsc: DBSCConfig
) -> Reply | None:
    """The endpoints' answer or the bound-cookie refusal, on the store's async face."""
    manager = session.manager
    if protocol.must_load(session.session_key, method, path, dbsc):
        await session.aload()
    reply = protocol.answer(session, method, path, headers, manager.config, dbsc, manager.now())
    if reply is not None and reply.rotate:
        await session.arenew(grace=manager.config.renewal_grace)
    return reply


def before(
    session: Session, method: str, path: str, headers: dict[str, str], dbsc: DBSCConfig
) -> Reply | None:
    """:func:`abefore` on the store's sync face."""
    manager = session.manager
    if protocol.must_load(session.session_key, method, path, dbsc):
        session.load()
    reply = protocol.answer(session, method, path, headers, manager.config, dbsc, manager.now())
    if reply is not None and reply.rotate:
        session.renew(grace=manager.config.renewal_grace)
    return reply


def offer(session: Session, dbsc: DBSCConfig) -> tuple[str, str] | None:
    """The ``Secure-Session-Registration`` header for the app's response, when the
    request loaded a signed-in session never offered DBSC (a session the request never
    read is not read for this)."""
    if session.state.data is None:
        return None
    value = protocol.announce(session, dbsc, session.manager.now())
    return None if value is None else (protocol.REGISTRATION_HEADER, value)
