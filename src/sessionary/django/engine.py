"""The storage primitives of ``sessionary.django.SessionStore``, as steps of the request cycle.

Django's ``SessionBase`` decides everything about the data, the flags and the expiry; a
backend only loads, creates, saves, deletes and clears. These steps do that on a
sessionary store, keyed by the SHA-256 of the session key, with Django's contract:
an unknown or expired key loads as ``{}`` and is dropped (never adopted), a create that
finds its key taken raises ``CreateError``, and an update of a session that is gone raises
``UpdateError`` and writes nothing (so the middleware answers ``SessionInterrupted``).

Like :mod:`sessionary.cycle` they do no I/O: they yield store operations, and
``SessionStore`` runs them with :func:`sessionary.shell.run` or :func:`~sessionary.shell.arun`.
The rules come from the cycle: its liveness check, fresh-token retry loop, touch throttle
and rotation metadata; the data and metadata from :mod:`sessionary.django.records`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib.sessions.backends.base import CreateError, UpdateError

from .. import accounts, cycle, reuse
from ..cycle import Context, Steps
from ..events import CREATED, REJECTED, ROTATED
from ..ops import Create, Delete, Emit, Exists, Load, Rotate, Write
from ..stores.base import Record, Rotation
from ..takeover.carry import carry_over
from ..tokens import is_well_formed, store_key
from . import records

if TYPE_CHECKING:
    from .store import SessionStore


def load(
    session: SessionStore, context: Context, moment: records.Moment, fresh: Callable[[], str]
) -> Steps[dict[str, Any]]:
    """The session's data, or ``{}`` with the key dropped when it names no live session."""
    config = context.config
    key = records.key_for(session.session_key, config)
    record = None if key is None else (yield Load(key, moment.epoch))
    closes = False
    if record is not None:
        closes = records.browser_close(record.data)
        event = cycle.expired(record, browser_close=closes, now=moment.epoch, config=config)
        if event is not None:
            yield event
            record = None
    if record is None:
        taken = yield from _take_over(session, context, moment, fresh)
        if taken is not None:
            return taken
        if key is not None:
            yield from reuse.check(context, key, moment.epoch)
        yield Emit(REJECTED, key, None, "unknown, expired or revoked session key")
        session._session_key = None
        session._forget()
        return {}
    # Record this read as activity when that moves the deadline enough (idle timeout).
    touched = yield from _refresh(config, record, record.meta.saved_deadline, closes, moment)
    if touched is not None:
        record = touched
    session._record = record
    session._loaded = records.Loaded(record.data)
    return records.from_store(session, record.data)


def _take_over(
    session: SessionStore, context: Context, moment: records.Moment, fresh: Callable[[], str]
) -> Steps[dict[str, Any] | None]:
    """The take-over hook of the Django engine (``SESSIONARY_TAKEOVER``): a key that names
    no sessionary session may name one the old engine left. If it does (live, not taken
    over before), its data is stored under a new key, which the middleware sends, since
    the session is now modified; the old engine's copy is deleted."""
    old_key = session.session_key
    if context.config.takeover is None or not old_key or is_well_formed(old_key):
        return None
    carried = yield from carry_over(context.config, (old_key,), moment.epoch)
    if carried is None:
        return None
    data = records.from_store(session, carried[0])
    session._session_cache = data
    yield from create(session, data, context, moment, fresh)
    return data


def _refresh(
    config: Any, record: Record, saved_deadline: float, closes: bool, moment: records.Moment
) -> Steps[Record | None]:
    """Write this request's activity (and Django's ``saved_deadline``) if the cycle's
    touch throttle says it is due: the record as it now stands, or None when it is gone."""
    due = cycle.refresh_due(
        record,
        last_seen=moment.epoch,
        saved_deadline=saved_deadline,
        browser_close=closes,
        config=config,
        now=moment.epoch,
    )
    if due is None:
        return record
    return (yield from cycle.write_activity(record, *due, moment.epoch))


def exists(session_key: str | None, context: Context) -> Steps[bool]:
    """Whether a record is stored under the key, expired or not (Django's ``exists``)."""
    key = records.key_for(session_key, context.config)
    return key is not None and bool((yield Exists(key)))


def _stored_form(
    session: SessionStore, data: dict[str, Any], config: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The data as the store keeps it, and each value's text, checked against the size
    limits before anything is written."""
    values = records.to_store(session, data)
    encoded = records.encode(
        values, max_bytes=config.max_value_bytes, max_session_bytes=config.max_session_bytes
    )
    return values, encoded


def _new_record(
    session: SessionStore, values: dict[str, Any], key: bytes, config: Any, moment: records.Moment
) -> Record:
    meta = records.new_meta(session, values, moment)
    return Record(key, values, meta, records.deadline(meta, values, config))


def create(
    session: SessionStore,
    data: dict[str, Any],
    context: Context,
    moment: records.Moment,
    fresh: Callable[[], str],
) -> Steps[None]:
    """Store the session under a fresh 256-bit key (the cycle's retry loop draws again on
    a collision)."""
    config = context.config
    values, encoded = _stored_form(session, data, config)
    token, op, _ = yield from cycle.claim_fresh_token(
        lambda token: Create(_new_record(session, values, store_key(token), config, moment), moment.epoch),
        fresh,
        context.store_name,
    )
    session._session_key = token
    yield Emit(CREATED, op.record.key, op.record.meta.user_id)
    yield from _keep(session, op.record, encoded, None, context, moment)
    session.modified = True


def save(
    session: SessionStore, data: dict[str, Any], must_create: bool, context: Context, moment: records.Moment
) -> Steps[None]:
    """Insert (``must_create``, under the session's own key) or update the session,
    writing only what changed."""
    config = context.config
    if must_create:
        values, encoded = _stored_form(session, data, config)
        key = records.key_for(session.session_key, config)
        if key is None:
            raise CreateError
        record = _new_record(session, values, key, config, moment)
        if not (yield Create(record, moment.epoch)):
            raise CreateError
        yield Emit(CREATED, key, record.meta.user_id)
        yield from _keep(session, record, encoded, None, context, moment)
        return
    stored = yield from _stored(session, session.session_key, config, moment)
    if stored is None:
        raise UpdateError
    if not session.modified and records.unchanged(session, data):
        # Only SESSION_SAVE_EVERY_REQUEST asks for this save, and nothing changed (most
        # such requests, told without encoding the data): only the activity is written,
        # at most once per touch_fraction of the window.
        yield from _roll(session, stored, data, config, moment)
        return
    values, encoded = _stored_form(session, data, config)
    change = records.diff(values, encoded, session._loaded)
    if not (session.modified or change.set or change.removed or change.cleared):
        yield from _roll(session, stored, values, config, moment)
        return
    change.meta = records.moved_meta(session, values, stored.meta, moment)
    meta = change.apply_meta(stored.meta)
    change.expires_at = records.deadline(meta, values, config)
    if stored.expires_at <= moment.epoch and change.expires_at <= moment.epoch:
        # This request already stored the session with a deadline now past (set_expiry
        # to now, then cycle_key): the store refuses writes to a dead record, and the
        # record stays dead either way. Django's update of its expired row succeeds, so
        # this save succeeds with nothing to write.
        session._record = Record(stored.key, values, meta, change.expires_at)
        return
    if not (yield Write(stored.key, change, moment.epoch)):
        raise UpdateError
    record = Record(stored.key, values, meta, change.expires_at)
    yield from _keep(session, record, encoded, stored.meta.user_id, context, moment)


def rolls_without_write(
    session: SessionStore, data: dict[str, Any], config: Any, moment: records.Moment
) -> bool:
    """Whether a save (not ``must_create``) of this session writes nothing at all: only
    SESSION_SAVE_EVERY_REQUEST asks for it, nothing changed, and the touch throttle owes
    the store no write (most such requests). :func:`save` decides the same in its steps;
    this tells it without running them, so the common request never builds them."""
    stored = session._record
    if stored is None or session.modified or not records.unchanged(session, data):
        return False
    due = cycle.refresh_due(
        stored,
        last_seen=moment.epoch,
        saved_deadline=records.saved_deadline(session, moment),
        browser_close=records.browser_close(data),
        config=config,
        now=moment.epoch,
    )
    return due is None


def _roll(
    session: SessionStore, stored: Record, values: dict[str, Any], config: Any, moment: records.Moment
) -> Steps[None]:
    """A save of a session that did not change: its activity and Django's deadline as of
    now, written when the cycle's touch throttle says so."""
    rolled = yield from _refresh(
        config, stored, records.saved_deadline(session, moment), records.browser_close(values), moment
    )
    if rolled is None:
        raise UpdateError
    session._record = rolled


def _stored(
    session: SessionStore, session_key: str | None, config: Any, moment: records.Moment
) -> Steps[Record | None]:
    """The record this session updates: the one it loaded, or (when its data was replaced
    without loading, by ``clear()``) the one stored now under ``session_key``."""
    if session._record is not None:
        return session._record
    key = records.key_for(session_key, config)
    if key is None:
        return None
    record: Record | None = yield Load(key, moment.epoch)
    return record


def _keep(
    session: SessionStore,
    record: Record,
    encoded: dict[str, str],
    previous_user: str | None,
    context: Context,
    moment: records.Moment,
) -> Steps[None]:
    """The session now stands as ``record``; a sign-in with it counts against the limit."""
    session._record = record
    session._loaded = records.Loaded(record.data, encoded)
    session._signed_in = False
    limit = context.config.max_sessions_per_user
    user = records.newly_signed_in(record.meta, previous_user)
    if limit is not None and user is not None:
        yield from accounts.limit_sessions(context, user, limit, record.key, moment.epoch)


def delete(session: SessionStore, session_key: str | None, context: Context) -> Steps[None]:
    """Remove the record under the key (the session's own when None); nothing if absent."""
    if session_key is None:
        if session.session_key is None:
            return
        session_key = session.session_key
    key = records.key_for(session_key, context.config)
    if key is not None:
        yield Delete(key)
    if session_key == session.session_key:
        session._forget()


def cycle_key(
    session: SessionStore,
    data: dict[str, Any],
    context: Context,
    moment: records.Moment,
    fresh: Callable[[], str],
) -> Steps[None]:
    """Move the data to a new key in one store operation; the old key dies at once.

    The record keeps its history (creation, sign-in), so a new key does not restart the
    absolute timeout. A session that is not stored (new, or gone meanwhile) is created
    under a new key instead, as Django's ``cycle_key`` does.
    """
    config = context.config
    old_key = session.session_key
    stored = yield from _stored(session, old_key, config, moment)
    if stored is not None:
        values, encoded = _stored_form(session, data, config)
        moved = records.moved_meta(session, values, stored.meta, moment)
        meta = cycle.rotated_meta(stored.meta, moved, moment.epoch)
        expires_at = records.deadline(meta, values, config)
        token, op, result = yield from cycle.claim_fresh_token(
            lambda token: Rotate(
                stored.key, Record(store_key(token), values, meta, expires_at), None, moment.epoch
            ),
            fresh,
            context.store_name,
        )
        if result is Rotation.ROTATED:
            record = op.record
            session._session_key = token
            session.modified = True
            yield from reuse.retire(context, stored.key, record.key, grace_until=None, now=moment.epoch)
            yield Emit(ROTATED, stored.key, meta.user_id, None, record.key)
            yield from _keep(session, record, encoded, stored.meta.user_id, context, moment)
            return
        # Rotation.GONE: store it afresh below.
    session._forget()
    yield from create(session, data, context, moment, fresh)
    session._session_cache = data
    if old_key:
        yield from delete(session, old_key, context)
