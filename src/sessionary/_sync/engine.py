# Generated from sessionary/_async by scripts/unasync.py: edit the async source, not this file.
"""The store I/O of a session's life: load, save, rotate, delete, and the end of a request.

Written once as async code; ``scripts/unasync.py`` generates the sync twin. Every rule
comes from :mod:`sessionary.expiry` and every header from :mod:`sessionary.lifecycle`;
this module only sequences the store calls.
"""

from __future__ import annotations

import time
import math
import random
from collections.abc import Iterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import cookies, expiry, lifecycle, limits
from ..clock import from_timestamp
from ..devices import Device, by_recency, device
from ..errors import SessionInterrupted, StoreConflict, StoreError, TooManySessions, UnsupportedOperation
from ..events import CREATED, EXPIRED, REJECTED, REVOKED, ROTATED
from ..serializer import decode_value, encode_value, session_key_name
from ..stores.base import Change, Counts, Record, Rotation, Summary, Swap
from ..tokens import key_from_handle, new_token, store_key
from . import reuse
from .takeover import carry_over

if TYPE_CHECKING:
    from ..manager import SessionManager
    from ..session import Session

ATTEMPTS = 10
"""Fresh tokens tried before giving up; with 256-bit tokens a second try means a broken store."""


def _browser_close(session: Session, data: dict[str, object]) -> bool:
    return lifecycle.browser_close(session, data)


def _fetch(session: Session, token: str, now: float, key: bytes | None = None) -> Record | None:
    """The record ``token`` names (``key``: its store key, when the caller has it already)."""
    store = session._manager.store
    if store.codec is not None:
        return store.codec.decode(token, now)
    return store.sync.load(store_key(token) if key is None else key, now)


def load(session: Session) -> None:
    """Fill the session from the store, trying each cookie value sent, in order.

    An unknown, expired or revoked token is never adopted: the session starts empty
    and a new token is issued only if something is saved.
    """
    manager = session._manager
    now = manager.now()
    codec = manager.store.codec
    tokens = () if session._token is None else (session._token, *session._candidates)
    for token in tokens:
        key = store_key(token) if codec is None else b""
        record = _fetch(session, token, now, key)
        if record is None:
            continue
        browser_close = _browser_close(session, record.data)
        if not expiry.is_live(
            record.meta,
            expires_at=record.expires_at,
            browser_close=browser_close,
            now=now,
            config=manager.config,
        ):
            manager.emit(EXPIRED, record.key, user_id=record.meta.user_id, reason="timeout")
            continue
        session._token = token
        session._record = record
        session._cache = record.data
        session._via_alias = codec is None and record.key != key
        session._candidates = ()
        return
    if session._legacy and _take_over(session, now):
        return
    presented = None if codec is not None or session._token is None else store_key(session._token)
    if presented is not None and reuse.enabled(manager):
        for candidate in (session._token, *session._candidates):
            if candidate is not None:
                reuse.check(manager, store_key(candidate))
    manager.emit(REJECTED, presented, reason="unknown, expired or revoked session token")
    session._token = None
    session._record = None
    session._candidates = ()
    session._cache = {}


def _take_over(session: Session, now: float) -> bool:
    """The take-over hook (``Config.takeover``): the request brought no live sessionary
    token but an old library's cookie (``session._legacy``). If that names a live old
    session not taken over before, its data becomes a new session with a new token (the
    response sets the cookie) and the old one is retired; otherwise the old cookie is
    refused as any unknown token is. Either way the response deletes the old cookie."""
    manager = session._manager
    carried = carry_over(manager, session._legacy, now)
    session._legacy = ()
    session._had_cookie = True
    assert manager.config.takeover is not None
    old_name = manager.config.takeover.cookie_name
    if old_name != manager.config.session_cookie_name:
        session._expire_cookies = (old_name,)  # dead either way: the browser may drop it
    if carried is None:
        return False
    data, user_id = carried
    session._token = None
    session._candidates = ()
    session._cache = data
    if user_id is not None:
        session._meta_changes["user_id"] = user_id
    _create(session, now)
    session._modified = True
    return True


def _record(session: Session, now: float) -> Record | None:
    """The stored record, read now if the data was replaced without loading (``clear()``)."""
    if session._record is None and session._token is not None:
        session._record = _fetch(session, session._token, now)
    return session._record


def _create(session: Session, now: float) -> None:
    manager = session._manager
    store = manager.store
    data = session._cache or {}
    lifecycle.encode_data(session, data.keys())
    meta = lifecycle.new_meta(session, data, now)
    expires_at = expiry.deadline(meta, browser_close=_browser_close(session, data), config=manager.config)
    if store.codec is not None:
        record = Record(b"", data, meta, expires_at)
        session._token = store.codec.encode(record)
    else:
        for _ in range(ATTEMPTS):
            token = new_token()
            record = Record(store_key(token), data, meta, expires_at)
            if store.sync.create(record, now):
                break
        else:
            raise StoreError(store.name, f"no free session key after {ATTEMPTS} fresh tokens")
        session._token = token
    session._record = record
    lifecycle.reset_tracking(session)
    manager.emit(CREATED, record.key, user_id=meta.user_id)


def save(session: Session) -> None:
    """Persist the session: a new record with a new token, or this request's changes.

    Raises :class:`SessionInterrupted` when the stored session vanished meanwhile (a
    logout in another request): nothing is written, so it stays deleted.
    """
    manager = session._manager
    now = manager.now()
    if session._cache is None:
        session._data()
    if session._token is None:
        _create(session, now)
        return
    record = _record(session, now)
    if record is None:
        raise SessionInterrupted()
    change, meta = lifecycle.change_for(session, record.meta, now)
    codec = manager.store.codec
    if codec is not None:
        record = Record(record.key, dict(session._cache or {}), meta, change.expires_at)
        session._token = codec.encode(record)
    elif not manager.store.sync.write(record.key, change, now):
        raise SessionInterrupted()
    session._record = replace(record, meta=meta, expires_at=change.expires_at)
    lifecycle.reset_tracking(session)


def rotate(session: Session, *, grace: int | None) -> None:
    """Give the session a new token, keeping its data (Django's ``cycle_key``).

    With ``grace`` None the old token stops working at once; otherwise it keeps
    working for ``grace`` seconds as an alias of the new one (renewal).
    """
    manager = session._manager
    store = manager.store
    now = manager.now()
    if session._token is None:
        _create(session, now)
        session._modified = True
        return
    old = _record(session, now)
    if old is None:
        raise SessionInterrupted()
    data = session._cache or {}
    lifecycle.encode_data(session, data.keys())
    # Only this request's changes travel: the rest of the data moves as stored, so a
    # write that landed since this request read the session is not undone.
    change = lifecycle.data_change(session)
    meta = replace(Change(meta=lifecycle.moved_meta(session, now)).apply_meta(old.meta), issued_at=now)
    expires_at = expiry.deadline(meta, browser_close=_browser_close(session, data), config=manager.config)
    if store.codec is not None:
        record = Record(old.key, data, meta, expires_at)
        session._token = store.codec.encode(record)
    else:
        grace_until = None if grace is None else now + grace
        for _ in range(ATTEMPTS):
            token = new_token()
            record = Record(store_key(token), dict(data), meta, expires_at)
            result = store.sync.rotate(old.key, record, grace_until, now, change)
            if result is Rotation.ROTATED:
                break
            if result is Rotation.GONE:
                raise SessionInterrupted()
        else:
            raise StoreError(store.name, f"no free session key after {ATTEMPTS} fresh tokens")
        session._token = token
        reuse.retire(manager, old.key, record.key, grace_until=grace_until)
    session._record = record
    session._via_alias = False
    session._modified = True
    lifecycle.reset_tracking(session)
    manager.emit(ROTATED, old.key, user_id=meta.user_id, new_key=record.key)


ATOMIC_ATTEMPTS = 100
"""Compare-and-set rounds an atomic update tries before giving up (each loses only to
another request's successful update of the same key)."""


def update_atomic(
    session: Session, key: str, update: Callable[[Any], Any], default: Any, attempts: int
) -> Any:
    """Read-modify-write one session key with no lost update: read the stored value,
    compute ``update(value)``, and store it only if the key still holds what was read
    (the store's compare-and-set); otherwise read again and retry. Returns the new value.

    A session not stored yet has no concurrent requests: the key is just set.
    """
    manager = session._manager
    store = manager.store
    name = session_key_name(key)
    if store.codec is not None:
        raise UnsupportedOperation(
            store.name,
            "update a session key atomically",
            "each request carries its own signed copy of the session and the last response's "
            "cookie wins; use a server-side store (sqlite://, redis://, postgresql://) for that",
        )
    session._data()
    if session._rewrite or session._cleared:
        save(session)  # a pending rewrite of every key lands first, never after
    data = session._cache
    assert data is not None
    if session._token is None or session._record is None:
        value = update(data.get(name, default))
        session[name] = value
        return value
    limit = manager.config.max_value_bytes
    for attempt in range(attempts):
        now = manager.now()
        fresh = store.sync.load(session._record.key, now)
        if fresh is None:
            raise SessionInterrupted()
        present = name in fresh.data
        expected = encode_value(name, fresh.data[name]) if present else None
        value = update(fresh.data[name] if present else default)
        text = encode_value(name, value, max_bytes=limit)
        if manager.config.max_session_bytes is not None:
            whole = {other: encode_value(other, v) for other, v in fresh.data.items() if other != name}
            limits.check_session_size({**whole, name: text}, manager.config.max_session_bytes)
        result = store.sync.compare_and_set(fresh.key, name, expected, text, now)
        if result is Swap.SWAPPED:
            data[name] = decode_value(text)
            session._changed.discard(name)
            session._removed.discard(name)
            session._modified = True  # the end of the request moves the deadline, sends the cookie
            return data[name]
        if result is Swap.GONE:
            raise SessionInterrupted()
        # Lost to another request's update: back off a little, at random, and read again.
        time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))
    raise StoreConflict(
        store.name, f"session key {name!r} changed under {attempts} atomic updates in a row; retry later"
    )


def delete(session: Session) -> None:
    """Remove the session from the store and forget its token (Django's ``delete``)."""
    manager = session._manager
    if manager.store.codec is None:
        if session._record is not None:
            manager.store.sync.delete(session._record.key)
        elif session._token is not None:
            manager.store.sync.delete(store_key(session._token))
    session._token = None
    session._record = None
    session._via_alias = False
    session._candidates = ()
    lifecycle.reset_tracking(session)


def _touch(session: Session, now: float, *, rolling: bool) -> bool:
    """Write this request's activity if it is due; True if something was written."""
    manager = session._manager
    record = session._record
    assert record is not None
    plan = lifecycle.refresh_plan(session, now, rolling=rolling)
    if plan is None:
        return False
    meta, refreshed = plan
    if manager.store.codec is not None:
        session._record = replace(record, meta=meta, expires_at=refreshed)
        session._token = manager.store.codec.encode(session._record)
        return True
    if manager.store.sync.touch(record.key, now, meta.saved_deadline, refreshed, now):
        session._record = replace(record, meta=meta, expires_at=max(refreshed, record.expires_at))
        return True
    return False


def _session_cookie(session: Session, now: float) -> str:
    manager = session._manager
    data = session._cache or {}
    assert session._token is not None
    if _browser_close(session, data):
        max_age = None
    else:
        max_age = expiry.expiry_age(
            data.get(expiry.EXPIRY_KEY),
            modification=from_timestamp(now),
            cookie_age=manager.config.cookie_age,
        )
        record = session._record
        if record is not None:
            # The cookie never outlives the stored session (an absolute or idle timeout
            # shorter than the expiry age): the browser drops it when the server would.
            # (A millisecond of slack absorbs the float arithmetic of equal deadlines.)
            max_age = min(max_age, max(0, math.floor(record.expires_at - now + 0.001)))
    return cookies.set_cookie(manager.config, session._token, max_age=max_age, now=now)


def close(session: Session, status_code: int) -> lifecycle.Outcome:
    """End the request: save or touch as Django's ``SessionMiddleware`` would, and say
    which headers to add. Raises :class:`SessionInterrupted` (answer 400) when a save
    finds the session deleted meanwhile."""
    manager = session._manager
    config = manager.config
    if session._failure is not None and status_code >= 500:
        # The app met a store failure (or a vanished session) and its framework turned
        # it into an error page: answer 503 (or 400) as for one raised to the middleware.
        raise session._failure
    outcome = lifecycle.Outcome(
        vary_cookie=session.accessed,
        clear_site_data=session._logged_out and config.clear_site_data_on_logout,
        expire_cookies=session._expire_cookies,
    )
    if session._had_cookie and session.is_empty():
        outcome.set_cookie = cookies.delete_cookie(config)
        outcome.vary_cookie = True
        return outcome
    if not ((session.modified or config.save_every_request) and not session.is_empty()):
        # Not saved. A session that was read may still owe the store its activity
        # (idle timeout) or need a new token (renewal timeout).
        if session._record is not None and status_code < 500:
            now = manager.now()
            if expiry.renewal_due(session._record.meta, now=now, config=config) and not session._via_alias:
                try:
                    rotate(session, grace=config.renewal_grace)
                except SessionInterrupted:
                    return outcome
                outcome.set_cookie = _session_cookie(session, now)
                outcome.vary_cookie = True
            elif _touch(session, now, rolling=False) and manager.store.codec is not None:
                outcome.set_cookie = _session_cookie(session, now)
                outcome.vary_cookie = True
        return outcome
    now = manager.now()
    session._data()
    if session.is_empty():
        # The cookie named a session that is gone: say so to the browser.
        if session._had_cookie:
            outcome.set_cookie = cookies.delete_cookie(config)
            outcome.vary_cookie = True
        return outcome
    if status_code >= 500:
        return outcome
    record = session._record
    if (
        record is not None
        and not session._via_alias
        and expiry.renewal_due(record.meta, now=now, config=config)
    ):
        try:
            rotate(session, grace=config.renewal_grace)
        except SessionInterrupted:
            if not session.modified:
                raise
            # Another request renewed the session first. This one's changes still land,
            # through the alias that renewal left (within its grace), unless it is gone.
            save(session)
            session._via_alias = True
    elif session.modified or record is None:
        save(session)
    else:
        _touch(session, now, rolling=True)
    if not session._via_alias:
        # A request that found the session through a renewed token's alias does not
        # know the new token; sending the old one would undo the renewal.
        outcome.set_cookie = _session_cookie(session, now)
    outcome.vary_cookie = True
    return outcome


# --- sign-in, and a user's sessions ------------------------------------------------------


def login(session: Session, user_id: str) -> None:
    """Record the user and issue a new token; see :func:`sessionary.auth.login`."""
    manager = session._manager
    config = manager.config
    session._data()
    if session.user_id not in (None, user_id):
        # Another user's session: start from nothing rather than inherit their data.
        session.clear()
        delete(session)
    limit = config.max_sessions_per_user
    if limit is not None and config.session_limit_policy == "refuse":
        # The cheap check first, so a refused sign-in changes nothing at all.
        live = manager.store.sync.user_sessions(user_id, manager.now())
        current = session._record.key if session._record is not None else None
        if len([s for s in live if s.key != current]) >= limit:
            raise TooManySessions(user_id, limit)
    session._meta_changes.update(user_id=user_id, auth_at=manager.now())
    rotate(session, grace=None)
    if limit is not None:
        _enforce_limit(session, user_id, limit)


def _signed_in_order(summary: Summary) -> tuple[float, bytes]:
    """Every process orders a user's sessions the same way: by sign-in time, then key."""
    meta = summary.meta
    return (meta.auth_at if meta.auth_at is not None else meta.created_at, summary.key)


def _enforce_limit(session: Session, user_id: str, limit: int) -> None:
    """Leave at most ``limit`` sessions. Every sign-in orders the user's sessions the same
    way and deletes those outside its keepers, so concurrent sign-ins agree: the newest
    ``limit`` survive (evict_oldest), or the oldest do and a sign-in beyond the limit
    undoes itself (refuse)."""
    assert session._record is not None
    if limit_sessions(session._manager, user_id, limit, session._record.key):
        delete(session)
        if session._manager.config.session_limit_policy == "refuse":
            raise TooManySessions(user_id, limit)


def limit_sessions(manager: SessionManager, user_id: str, limit: int, current: bytes) -> bool:
    """Delete the user's sessions outside the ``limit`` keepers, except ``current``;
    True when ``current`` is outside them too (the caller ends it). Also used by the
    Django integration, whose sign-ins go through ``django.contrib.auth``."""
    live = sorted(manager.store.sync.user_sessions(user_id, manager.now()), key=_signed_in_order)
    if len(live) <= limit:
        return False
    refuse = manager.config.session_limit_policy == "refuse"
    doomed = live[limit:] if refuse else live[: len(live) - limit]
    for summary in doomed:
        if summary.key == current:
            continue
        if manager.store.sync.delete_user_session(user_id, summary.key):
            manager.emit(REVOKED, summary.key, user_id=user_id, reason="session limit reached")
    return current in {s.key for s in doomed}


def list_sessions(manager: SessionManager, user_id: str, current: Session | None) -> list[Device]:
    if current is not None:
        current._data()
    current_key = current._record.key if current is not None and current._record is not None else None
    summaries = manager.store.sync.user_sessions(user_id, manager.now())
    return by_recency([device(summary, current_key=current_key) for summary in summaries])


def revoke(manager: SessionManager, user_id: str, handle: str) -> bool:
    """End one session of ``user_id``; a handle of someone else's session does nothing."""
    key = key_from_handle(handle)
    if key is None:
        return False
    if manager.store.sync.delete_user_session(user_id, key):
        manager.emit(REVOKED, key, user_id=user_id, reason="revoked by its user")
        return True
    return False


def revoke_all(manager: SessionManager, user_id: str, except_current: Session | None) -> int:
    """End every session of the user, except (when given) the current one, which gets
    a new token so that a "valid after" check made now cannot refuse it."""
    now = manager.now()
    keep = None
    if except_current is not None:
        except_current._data()
    if except_current is not None and except_current._record is not None:
        if except_current.user_id != user_id:
            raise ValueError("except_current is not a session of this user")
        rotate(except_current, grace=None)
        assert except_current._record is not None
        keep = except_current._record.key
        now = min(now, except_current._record.meta.issued_at)
    count = manager.store.sync.revoke_user(user_id, now, keep)
    manager.emit(REVOKED, None, user_id=user_id, reason=f"all sessions revoked ({count})")
    return count


def clear_expired(manager: SessionManager, batch_size: int) -> Iterator[int]:
    for count in manager.store.sync.clear_expired(manager.now(), batch_size):
        yield count


def stats(manager: SessionManager) -> Counts:
    return manager.store.sync.count(manager.now())
