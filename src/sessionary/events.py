"""Security events of a session's life, for audit logs and alerting.

An event never carries a token, nor the store key: only a keyed hash of the store key
(``Config.log_secret``), which names a session consistently in the logs but cannot be
presented as a cookie or looked up in a store dump.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

CREATED = "created"
ROTATED = "rotated"
EXPIRED = "expired"
REVOKED = "revoked"
REJECTED = "rejected"
TOKEN_REUSED = "token_reused"
"""A retired token came back after its grace: two parties held one cookie; the session was ended."""
KINDS = (CREATED, ROTATED, EXPIRED, REVOKED, REJECTED, TOKEN_REUSED)

logger = logging.getLogger("sessionary.events")


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    """One of ``created``, ``rotated``, ``expired``, ``revoked``, ``rejected``, ``token_reused``."""
    session: str | None
    """Keyed hash naming the session (None when there is none, e.g. a malformed cookie)."""
    at: datetime
    user_id: str | None = None
    reason: str | None = None
    new_session: str | None = None
    """For ``rotated``: the keyed hash of the session's new token; for ``token_reused``:
    of the token the session held when it was ended (None if it had ended already)."""


EventHook = Callable[[Event], None]


def log_event(event: Event) -> None:
    """The default destination: the ``sessionary.events`` logger (rejections as warnings,
    a reused token as an error: it means a stolen cookie)."""
    level = {REJECTED: logging.WARNING, TOKEN_REUSED: logging.ERROR}.get(event.kind, logging.INFO)
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "session %s %s%s%s",
            event.kind,
            event.session or "-",
            f" user={event.user_id}" if event.user_id else "",
            f" ({event.reason})" if event.reason else "",
        )
