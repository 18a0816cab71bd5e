# Generated from sessionary/_async by scripts/unasync.py: edit the async source, not this file.
"""The storage primitives of ``sessionary.django.SessionStore``, on the store contract.

Django's ``SessionBase`` decides everything about the data, the flags and the expiry; a
backend only loads, creates, saves, deletes and clears. These functions do that on a
sessionary store, keyed by the SHA-256 of the session key, with Django's contract:
an unknown or expired key loads as ``{}`` and is dropped (never adopted), a create that
finds its key taken raises ``CreateError``, and an update of a session that is gone raises
``UpdateError`` and writes nothing (so the middleware answers ``SessionInterrupted``).

Written once as async code; ``scripts/unasync.py`` generates the sync twin.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from django.contrib.sessions.backends.base import CreateError, UpdateError

from .. import expiry
from ..django import records
from ..django.conf import BATCH_SIZE, get_manager
from ..errors import StoreError
from ..events import CREATED, EXPIRED, REJECTED, ROTATED
from ..stores.base import Change, Meta, Record, Rotation
from ..tokens import is_well_formed, new_token, store_key
from . import engine, reuse
from .engine import ATTEMPTS, limit_sessions
from .takeover import carry_over

if TYPE_CHECKING:
    from ..django.store import SessionStore
    from ..manager import SessionManager


def load(session: SessionStore) -> dict[str, Any]:
    """The session's data, or ``{}`` with the key dropped when it names no live session."""
    manager = get_manager()
    moment = records.now()
    key = records.key_for(session.session_key, manager.config)
    record = None if key is None else manager.store.sync.load(key, moment.epoch)
    if record is not None and not expiry.is_live(
        record.meta,
        expires_at=record.expires_at,
        browser_close=records.browser_close(record.data),
        now=moment.epoch,
        config=manager.config,
    ):
        manager.emit(EXPIRED, record.key, user_id=record.meta.user_id, reason="timeout")
        record = None
    if record is None:
        taken = _take_over(session, manager, moment)
        if taken is not None:
            return taken
        if key is not None:
            reuse.check(manager, key)
        manager.emit(REJECTED, key, reason="unknown, expired or revoked session key")
        session._session_key = None
        session._forget()
        return {}
    record = _touch(manager, record, moment)
    session._record = record
    session._loaded = records.encode(record.data)
    return records.from_store(session, record.data)


def _take_over(
    session: SessionStore, manager: SessionManager, moment: records.Moment
) -> dict[str, Any] | None:
    """The take-over hook of the Django engine (``SESSIONARY_TAKEOVER``): a key that names
    no sessionary session may name one the old engine left. If it does (live, not taken
    over before), its data is stored under a new key, which the middleware sends, since
    the session is now modified; the old engine's copy is deleted."""
    old_key = session.session_key
    if manager.config.takeover is None or not old_key or is_well_formed(old_key):
        return None
    carried = carry_over(manager, (old_key,), moment.epoch)
    if carried is None:
        return None
    data = records.from_store(session, carried[0])
    session._session_cache = data
    create(session)
    return data


def _touch(manager: SessionManager, record: Record, moment: records.Moment) -> Record:
    """Record this read as activity when that moves the deadline enough (idle timeout)."""
    meta = record.meta.with_activity(moment.epoch, record.meta.saved_deadline)
    refreshed = _refresh(manager, record, meta, record.data, moment)
    return record if refreshed is None else refreshed


def _roll(
    manager: SessionManager,
    record: Record,
    values: dict[str, Any],
    session: SessionStore,
    moment: records.Moment,
) -> Record:
    """Move Django's sliding deadline (``SESSION_SAVE_EVERY_REQUEST``) when that is due."""
    saved_deadline = records.saved_deadline(session, moment)
    meta = record.meta.with_activity(moment.epoch, saved_deadline)
    refreshed = _refresh(manager, record, meta, values, moment)
    if refreshed is None:
        raise UpdateError
    return refreshed


def _refresh(
    manager: SessionManager, record: Record, meta: Meta, values: dict[str, Any], moment: records.Moment
) -> Record | None:
    """Write ``meta``'s activity and its deadline if that is due (the touch throttle):
    the record as it now stands, or None when it is gone."""
    refreshed = records.deadline(meta, values, manager.config)
    if not expiry.touch_due(
        stored=record.expires_at,
        refreshed=refreshed,
        now=moment.epoch,
        fraction=manager.config.touch_fraction,
    ):
        return record
    if not manager.store.sync.touch(
        record.key, moment.epoch, meta.saved_deadline, refreshed, moment.epoch
    ):
        return None
    return replace(record, meta=meta, expires_at=max(refreshed, record.expires_at))


def exists(session_key: str | None) -> bool:
    """Whether a record is stored under the key, expired or not (Django's ``exists``)."""
    manager = get_manager()
    key = records.key_for(session_key, manager.config)
    return key is not None and manager.store.sync.exists(key)


def create(session: SessionStore) -> None:
    """Store the session under a fresh 256-bit key, drawing again on a collision."""
    for _ in range(ATTEMPTS):
        session._session_key = session._get_new_session_key()
        try:
            save(session, must_create=True)
        except CreateError:
            continue
        session.modified = True
        return
    store = get_manager().store
    raise StoreError(store.name, f"no free session key after {ATTEMPTS} fresh tokens")


def save(session: SessionStore, must_create: bool) -> None:
    """Insert (``must_create``) or update the session, writing only what changed."""
    if session.session_key is None:
        create(session)
        return
    data = session._get_session(no_load=must_create)
    manager = get_manager()
    moment = records.now()
    values = records.to_store(session, data)
    encoded = records.encode(
        values,
        max_bytes=manager.config.max_value_bytes,
        max_session_bytes=manager.config.max_session_bytes,
    )
    key = records.key_for(session.session_key, manager.config)
    if must_create:
        if key is None:
            raise CreateError
        meta = records.new_meta(session, values, moment)
        record = Record(key, values, meta, records.deadline(meta, values, manager.config))
        if not manager.store.sync.create(record, moment.epoch):
            raise CreateError
        manager.emit(CREATED, key, user_id=meta.user_id)
        previous_user = None
    else:
        stored = _stored(session, key, moment)
        if stored is None:
            raise UpdateError
        change = records.diff(encoded, session._loaded)
        if not (session.modified or change.set or change.removed or change.cleared):
            # Only SESSION_SAVE_EVERY_REQUEST asks for this save: nothing changed but the
            # activity, which is written at most once per touch_fraction of the window.
            session._record = _roll(manager, stored, values, session, moment)
            return
        change.meta = records.moved_meta(session, values, stored.meta, moment)
        meta = change.apply_meta(stored.meta)
        change.expires_at = records.deadline(meta, values, manager.config)
        if not manager.store.sync.write(stored.key, change, moment.epoch):
            raise UpdateError
        record = Record(stored.key, values, meta, change.expires_at)
        previous_user = stored.meta.user_id
    session._record = record
    session._loaded = encoded
    session._signed_in = False
    _limit_sessions(manager, record, previous_user)


def _stored(session: SessionStore, key: bytes | None, moment: records.Moment) -> Record | None:
    """The record this session updates: the one it loaded, or (when its data was replaced
    without loading, by ``clear()``) the one stored now."""
    if session._record is not None:
        return session._record
    if key is None:
        return None
    return get_manager().store.sync.load(key, moment.epoch)


def _limit_sessions(manager: SessionManager, record: Record, previous_user: str | None) -> None:
    limit = manager.config.max_sessions_per_user
    user = records.newly_signed_in(record.meta, previous_user)
    if limit is not None and user is not None:
        limit_sessions(manager, user, limit, record.key)


def delete(session: SessionStore, session_key: str | None) -> None:
    """Remove the record under the key (the session's own when None); nothing if absent."""
    if session_key is None:
        if session.session_key is None:
            return
        session_key = session.session_key
    manager = get_manager()
    key = records.key_for(session_key, manager.config)
    if key is not None:
        manager.store.sync.delete(key)
    if session_key == session.session_key:
        session._forget()


def cycle_key(session: SessionStore) -> None:
    """Move the data to a new key in one store operation; the old key dies at once.

    The record keeps its history (creation, sign-in), so a new key does not restart the
    absolute timeout. A session that is not stored (new, or gone meanwhile) is created
    under a new key instead, as Django's ``cycle_key`` does.
    """
    data = session._get_session()
    old_key = session.session_key
    manager = get_manager()
    moment = records.now()
    stored = _stored(session, records.key_for(old_key, manager.config), moment)
    if stored is not None:
        values = records.to_store(session, data)
        encoded = records.encode(
            values,
            max_bytes=manager.config.max_value_bytes,
            max_session_bytes=manager.config.max_session_bytes,
        )
        moved = records.moved_meta(session, values, stored.meta, moment)
        meta = replace(Change(meta=moved).apply_meta(stored.meta), issued_at=moment.epoch)
        expires_at = records.deadline(meta, values, manager.config)
        for _ in range(ATTEMPTS):
            token = new_token()
            record = Record(store_key(token), values, meta, expires_at)
            result = manager.store.sync.rotate(stored.key, record, None, moment.epoch)
            if result is Rotation.COLLISION:
                continue
            if result is Rotation.ROTATED:
                session._session_key = token
                session._record = record
                session._loaded = encoded
                session._signed_in = False
                session.modified = True
                reuse.retire(manager, stored.key, record.key, grace_until=None)
                manager.emit(ROTATED, stored.key, user_id=meta.user_id, new_key=record.key)
                _limit_sessions(manager, record, stored.meta.user_id)
                return
            break  # Rotation.GONE: store it afresh below.
        else:
            raise StoreError(manager.store.name, f"no free session key after {ATTEMPTS} fresh tokens")
    session._forget()
    create(session)
    session._session_cache = data
    if old_key:
        delete(session, old_key)


def clear_expired() -> None:
    """Delete expired sessions in short batches (``manage.py clearsessions``)."""
    for _ in engine.clear_expired(get_manager(), BATCH_SIZE):
        pass
