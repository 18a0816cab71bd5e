"""Where a request's session begins and how a failed one ends, for every adapter.

``open_session`` turns a ``Cookie`` header into a lazy :class:`Session` (no store call).
At the end of the request :meth:`SessionManager.close_session` runs
:func:`sessionary.cycle.close`, which decides, exactly as Django's ``SessionMiddleware``
does, whether to save and which cookie to send, and returns an :class:`Outcome`; an
adapter only copies the outcome's headers onto its framework's response, or answers
with :func:`failure_response` when the store failed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import cookies
from .cycle import Outcome
from .errors import SessionInterrupted
from .events import REJECTED
from .session import Session, noting_failure, opened
from .state import SessionState, presented
from .tokens import is_well_formed

if TYPE_CHECKING:
    from .manager import SessionManager

logger = logging.getLogger("sessionary")

MAX_CANDIDATES = 3
"""How many values of a duplicated session cookie are tried, at most (one lookup each)."""


def open_session(
    manager: SessionManager,
    cookie_header: str | None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    session_class: type[Session] | None = None,
) -> Session:
    """A lazy session for a request; nothing is read from the store until it is used.

    A cookie value that is not shaped like a token is dropped here, before any store
    query, and reported as a ``rejected`` event; the session then starts empty.
    ``session_class`` lets a framework adapter hand out a subclass that adds the
    attributes its framework expects of a session object (Flask's ``permanent``).
    """
    if session_class is None:
        session_class = Session
    config = manager.config
    if not config.record_client:
        client_ip = user_agent = None
    elif user_agent:
        user_agent = user_agent[:512]
    name = config.session_cookie_name
    if cookie_header and name in cookie_header:
        # Most requests with a session: one cookie, well formed (a signed cookie's value:
        # one plain value within the size limit).
        token = cookies.session_token(cookie_header, name, manager.store.codec is not None)
        if token is not None:
            return opened(session_class, manager, presented(token, client_ip, user_agent))
    values = cookies.cookie_values(cookie_header, name)
    if not values:  # most requests without a session: nothing to check
        return opened(session_class, manager, SessionState(None, (), False, client_ip, user_agent))
    if manager.store.codec is not None:
        candidates = [v for v in values if 0 < len(v) <= cookies.MAX_COOKIE_BYTES]
    elif len(values) == 1 and is_well_formed(values[0], accept_django_keys=config.accept_django_keys):
        candidates = values  # one well-formed value: the common case
    else:
        django_keys = config.accept_django_keys
        candidates = [v for v in values if is_well_formed(v, accept_django_keys=django_keys)]
    if len(candidates) < len(values):
        manager.emit(REJECTED, None, reason="malformed session cookie")
    state = SessionState(
        candidates[0] if candidates else None, candidates[1:MAX_CANDIDATES], True, client_ip, user_agent
    )
    return opened(session_class, manager, state)


# --- when the session cannot be served ----------------------------------------------------


_REASONS = {400: "Bad Request", 503: "Service Unavailable"}


def failure_response(manager: SessionManager, error: Exception) -> tuple[int, list[tuple[str, str]], bytes]:
    """The response for a request whose session failed: fail closed, never silently anonymous.

    A store failure answers ``config.store_failure_status`` (503) and logs a line naming
    the store and the cause; a session deleted mid-request answers 400, as Django does.
    No cookie is set, so the browser keeps the one it has for when the store is back.
    """
    if isinstance(error, SessionInterrupted):
        status = 400
        body = "The session ended while this request was running (signed out elsewhere?). Please retry.\n"
    else:
        status = manager.config.store_failure_status
        body = "The session store is unavailable; please retry shortly.\n"
        logger.error("session store failed, answering %s: %s", status, error)
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body.encode()))),
    ]
    if status == 503:
        headers.append(("Retry-After", "5"))
    return status, headers, body.encode()


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


__all__ = ["MAX_CANDIDATES", "Outcome", "failure_response", "noting_failure", "open_session", "status_line"]
