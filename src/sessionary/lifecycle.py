"""The framework-neutral request cycle, the part that needs no I/O.

``open_session`` turns a ``Cookie`` header into a lazy :class:`Session` (no store call).
At the end of the request, :func:`sessionary._async.engine.close` (or its sync twin)
decides, exactly as Django's ``SessionMiddleware`` does, whether to save and which cookie
to send, and returns an :class:`Outcome`; an adapter only copies the outcome's headers
onto its framework's response. The helpers below build what a save sends to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import caching, cookies, expiry, limits
from .clock import from_timestamp, to_timestamp
from .errors import SessionInterrupted, StoreError
from .events import REJECTED
from .serializer import encode_value, session_key_name
from .stores.base import Change, Meta
from .tokens import is_well_formed

if TYPE_CHECKING:
    from .manager import SessionManager
    from .session import Session

logger = logging.getLogger("sessionary")

MAX_CANDIDATES = 3
"""How many values of a duplicated session cookie are tried, at most (one lookup each)."""


def open_session(
    manager: SessionManager,
    cookie_header: str | None,
    *,
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
        from .session import Session

        session_class = Session

    config = manager.config
    if not config.record_client:
        client_ip = user_agent = None
    elif user_agent:
        user_agent = user_agent[:512]
    values = cookies.cookie_values(cookie_header, config.session_cookie_name)
    if not values:  # most requests without a session: nothing to check
        return session_class(manager, client_ip=client_ip, user_agent=user_agent)
    if manager.store.codec is not None:
        candidates = [v for v in values if 0 < len(v) <= cookies.MAX_COOKIE_BYTES]
    else:
        django_keys = config.accept_django_keys
        candidates = [v for v in values if is_well_formed(v, accept_django_keys=django_keys)]
    if len(candidates) < len(values):
        manager.emit(REJECTED, None, reason="malformed session cookie")
    return session_class(
        manager,
        candidates[0] if candidates else None,
        candidates=candidates[1:MAX_CANDIDATES],
        had_cookie=True,
        client_ip=client_ip,
        user_agent=user_agent,
    )


@dataclass(slots=True)
class Outcome:
    """What the end of a request does to the response's headers."""

    set_cookie: str | None = None
    """A complete ``Set-Cookie`` value (setting or deleting the session cookie)."""
    vary_cookie: bool = False
    clear_site_data: bool = False
    expire_cookies: tuple[str, ...] = ()
    """Other cookies to delete: an old library's, once its session was taken over or refused."""

    @property
    def changes_nothing(self) -> bool:
        """True for most requests (a session not used, or only read): the response is
        passed on as the app made it."""
        return (
            self.set_cookie is None
            and not self.vary_cookie
            and not self.clear_site_data
            and not self.expire_cookies
        )

    def apply(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers`` (name, value pairs) with this outcome's headers added (``headers``
        itself when there are none to add)."""
        if self.changes_nothing:
            return headers
        result = list(headers)
        if self.vary_cookie:
            existing = [value for name, value in result if name.lower() == "vary"]
            result = [(name, value) for name, value in result if name.lower() != "vary"]
            result.append(("Vary", cookies.add_vary_cookie(", ".join(existing) or None)))
        if self.set_cookie is not None:
            # A response that hands out a session token must not be stored by a shared
            # cache and replayed to someone else, whatever the app's own Cache-Control.
            result = caching.never_shared(result)
            result.append(("Set-Cookie", self.set_cookie))
        if self.clear_site_data:
            result.append(("Clear-Site-Data", '"cookies"'))
        result.extend(("Set-Cookie", cookies.expire_named(name)) for name in self.expire_cookies)
        return result


# --- what a save sends to the store ------------------------------------------------------


def browser_close(session: Session, data: dict[str, Any]) -> bool:
    return expiry.expire_at_browser_close(
        data.get(expiry.EXPIRY_KEY), default=session._manager.config.expire_at_browser_close
    )


def saved_deadline(session: Session, data: dict[str, Any], now: float) -> float:
    """Django's expiry date at save time, the deadline a db-backed Django would store."""
    moment = expiry.expiry_date(
        data.get(expiry.EXPIRY_KEY),
        modification=from_timestamp(now),
        cookie_age=session._manager.config.cookie_age,
    )
    return to_timestamp(moment)


def encode_data(session: Session, keys: Any) -> dict[str, str]:
    """The JSON text of each key; the first value that cannot be stored raises, naming it,
    and so does a session that would exceed ``max_session_bytes`` in all."""
    data = session._cache or {}
    config = session._manager.config
    limit = config.max_value_bytes
    encoded = {}
    for key in keys:
        name = session_key_name(key)
        encoded[name] = encode_value(name, data[key], max_bytes=limit)
    if config.max_session_bytes is not None and not limits.fits(data, config.max_session_bytes):
        whole = dict(encoded)
        for key, value in data.items():
            name = session_key_name(key)
            if name not in whole:
                whole[name] = encode_value(name, value)
        limits.check_session_size(whole, config.max_session_bytes)
    return encoded


def new_meta(session: Session, data: dict[str, Any], now: float) -> Meta:
    """Metadata for a session stored for the first time."""
    meta = Meta(
        created_at=now,
        issued_at=now,
        last_seen=now,
        saved_deadline=saved_deadline(session, data, now),
        ip=session._client_ip,
        user_agent=session._user_agent,
    )
    for name, value in session._meta_changes.items():
        setattr(meta, name, value)
    return meta


def moved_meta(session: Session, now: float) -> dict[str, Any]:
    """The metadata a save changes: this request's activity, Django's deadline as of now,
    and whatever the request set (sign-in, per-session timeouts)."""
    moved: dict[str, Any] = dict(session._meta_changes)
    moved["last_seen"] = now
    moved["saved_deadline"] = saved_deadline(session, session._cache or {}, now)
    if session._client_ip is not None:
        moved["ip"] = session._client_ip
        moved["user_agent"] = session._user_agent
    return moved


def data_change(session: Session) -> Change:
    """The keys this request changed (all of them after a ``clear()`` or a hand-set
    ``modified``), as a save or a rotation sends them to the store."""
    data = session._cache or {}
    rewrite = session._rewrite
    keys = data.keys() if rewrite else [key for key in session._changed if key in data]
    return Change(
        set=encode_data(session, keys),
        removed=frozenset() if rewrite else frozenset(session_key_name(k) for k in session._removed),
        cleared=session._cleared or rewrite,
    )


def change_for(session: Session, meta: Meta, now: float) -> tuple[Change, Meta]:
    """The delta this request's save writes, and the metadata the record will then hold."""
    data = session._cache or {}
    change = data_change(session)
    change.meta = moved_meta(session, now)
    updated = change.apply_meta(meta)
    change.expires_at = expiry.deadline(
        updated, browser_close=browser_close(session, data), config=session._manager.config
    )
    return change, updated


def refresh_plan(session: Session, now: float, *, rolling: bool) -> tuple[Meta, float] | None:
    """For a session that is not saved: the activity a touch would write now, if one is due.

    ``rolling`` (save-every-request) also moves Django's deadline, as a save would.
    Returns the refreshed metadata and deadline, or None when the stored deadline is
    close enough to the exact one (the throttle of :func:`sessionary.expiry.touch_due`).
    """
    record = session._record
    assert record is not None
    data = session._cache or {}
    saved = saved_deadline(session, data, now) if rolling else record.meta.saved_deadline
    meta = record.meta.with_activity(now, max(saved, record.meta.saved_deadline))
    config = session._manager.config
    refreshed = expiry.deadline(meta, browser_close=browser_close(session, data), config=config)
    if not expiry.touch_due(
        stored=record.expires_at, refreshed=refreshed, now=now, fraction=config.touch_fraction
    ):
        return None
    return meta, refreshed


def projected_deadline(session: Session, now: float) -> float | None:
    """The deadline the store will hold once this request ends, if nothing else changes."""
    config = session._manager.config
    data = session._cache or {}
    record = session._record
    saving = (session.modified or config.save_every_request) and not session.is_empty()
    if record is None:
        if not saving:
            return None
        meta = new_meta(session, data, now)
    elif saving and session.modified:
        meta = Change(meta=moved_meta(session, now)).apply_meta(record.meta)
    else:
        plan = refresh_plan(session, now, rolling=saving)
        return record.expires_at if plan is None else plan[1]
    return expiry.deadline(meta, browser_close=browser_close(session, data), config=config)


def reset_tracking(session: Session) -> None:
    """After a successful save: nothing is pending any more (``modified`` stays as it was,
    so the response still sets the cookie)."""
    session._changed.clear()
    session._removed.clear()
    session._cleared = False
    session._rewrite = False
    session._meta_changes.clear()


# --- when the session cannot be served ----------------------------------------------------


@contextmanager
def noting_failure(session: Session) -> Iterator[None]:
    """Remember on the session a store failure (or a vanished session) met by a store call.

    Frameworks turn an exception raised in a view into their own 500 page before the
    middleware sees it; the end of the request uses this note to answer 503 (or 400)
    instead, as it does when the exception reaches it.
    """
    try:
        yield
    except (StoreError, SessionInterrupted) as error:
        session._failure = error
        raise


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
