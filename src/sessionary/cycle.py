"""One request's session, decided in one pure place: load, save, rotate, delete, close.

Nothing here does I/O or reads a clock of its own. Each step takes the session's
:class:`~sessionary.state.SessionState`, a :class:`Context`, the moment (``now``) and a
source of fresh tokens (``fresh``); where it needs the store it yields an operation of
:mod:`sessionary.ops` and receives the store's answer, since later decisions depend on
it (a token collision, a rotation that finds the session gone, a lost compare-and-set).
:mod:`sessionary.shell` runs these generators, sync or async; the Django engine
(:mod:`sessionary.django.engine`) runs the rules it shares with them (the fresh-token
retry loop, the liveness check, the touch throttle, the rotation metadata) from here.

:func:`close` returns the :class:`Outcome` directly when the end of the request needs
no store call, which is most requests: the untouched request costs one function call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from . import caching, cookies, expiry, limits, reuse
from .clock import from_timestamp
from .errors import SessionInterrupted, StoreConflict, StoreError, UnsupportedOperation
from .events import CREATED, EXPIRED, REJECTED, ROTATED
from .ops import CompareAndSet, Create, Decode, Delete, Emit, Encode, Load, Op, Pause, Rotate, Touch, Write
from .serializer import decode_value, encode_value, session_key_name
from .stores.base import Change, Meta, Record, Rotation, Swap
from .takeover.carry import carry_over
from .tokens import store_key

if TYPE_CHECKING:
    from .config import Config
    from .state import SessionState

T = TypeVar("T")
Steps = Generator[Op, Any, T]
"""A step of the cycle: yields store operations, receives their answers, returns a ``T``."""

ATTEMPTS = 10
"""Fresh tokens tried before giving up; with 256-bit tokens a second try means a broken store."""

ATOMIC_ATTEMPTS = 100
"""Compare-and-set rounds an atomic update tries before giving up (each loses only to
another request's successful update of the same key)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What the cycle knows of the app: its config and which kind of store it has."""

    config: Config
    store_name: str
    client_side: bool
    """The store keeps the session in the cookie (``cookie://``): encode, never store."""


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
        vary_cookie = self.vary_cookie
        # A response that hands out a session token must not be stored by a shared
        # cache and replayed to someone else, whatever the app's own Cache-Control.
        never_shared = self.set_cookie is not None
        result = []
        vary: list[str] = []
        cache_control: list[str] = []
        for name, value in headers:  # one pass: the headers this outcome rewrites are set aside
            lowered = name.lower()
            if vary_cookie and lowered == "vary":
                vary.append(value)
            elif never_shared and lowered == "cache-control":
                cache_control.append(value)
            elif not (never_shared and lowered in caching.SHARED_ONLY_HEADERS):
                result.append((name, value))
        if vary_cookie:
            result.append(("Vary", cookies.add_vary_cookie(", ".join(vary) or None)))
        if self.set_cookie is not None:
            result.append(("Cache-Control", caching.private_cache_control(cache_control)))
            result.append(("Set-Cookie", self.set_cookie))
        if self.clear_site_data:
            result.append(("Clear-Site-Data", '"cookies"'))
        result.extend(("Set-Cookie", cookies.expire_named(name)) for name in self.expire_cookies)
        return result

    def additions(self, names: Iterable[str]) -> list[tuple[str, str]] | None:
        """The headers :meth:`apply` would append to a response whose header names are
        ``names``, when it would rewrite none of them (most responses): the adapter then
        appends them and leaves the app's alone. None when it would (the app's own
        ``Vary``, or ``Cache-Control`` beside a cookie): then :meth:`apply` it is."""
        rewritten = _REWRITTEN_TEXT[self.set_cookie is not None, self.vary_cookie]
        if rewritten and any(name.lower() in rewritten for name in names):
            return None
        return self.apply([])

    def apply_raw(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """:meth:`apply` on raw headers (latin-1 bytes, as ASGI carries them).

        When the response has none of the headers this outcome rewrites (most responses),
        the outcome's ``Vary`` and session cookie are appended as :meth:`apply` appends
        them, and the app's headers are never turned to text and back; anything else
        (the app's own ``Vary`` or ``Cache-Control``, other cookies to expire) goes
        through :meth:`apply`.
        """
        if self.changes_nothing:
            return headers
        set_cookie = self.set_cookie
        # No cookie and no Vary: clear_site_data or expire_cookies, which take apply() below.
        rewritten = _REWRITTEN_RAW[set_cookie is not None, self.vary_cookie]
        if (
            self.clear_site_data
            or self.expire_cookies
            or any(name.lower() in rewritten for name, _ in headers)
        ):
            decoded = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
            return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.apply(decoded)]
        if set_cookie is None:
            return [*headers, _RAW_VARY_COOKIE]  # a session read: Vary: Cookie alone
        cookie = (b"Set-Cookie", set_cookie.encode("latin-1"))
        if self.vary_cookie:
            return [*headers, _RAW_VARY_COOKIE, _RAW_NEVER_SHARED, cookie]
        return [*headers, _RAW_NEVER_SHARED, cookie]


def _rewritten(sets_cookie: bool, vary_cookie: bool) -> frozenset[str]:
    """The (lowercased) names of the app's headers an outcome rewrites: ``Vary`` when it
    adds Cookie to it, the caching headers when it sets the cookie (see Outcome.apply)."""
    names = {"vary"} if vary_cookie else set()
    if sets_cookie:
        names |= {"cache-control", *caching.SHARED_ONLY_HEADERS}
    return frozenset(names)


# Keyed by (sets a cookie, adds Vary: Cookie); as text, and as ASGI's raw latin-1 bytes.
_REWRITTEN_TEXT = {(c, v): _rewritten(c, v) for c in (False, True) for v in (False, True)}
_REWRITTEN_RAW = {
    key: frozenset(name.encode("latin-1") for name in names) for key, names in _REWRITTEN_TEXT.items()
}
_RAW_VARY_COOKIE = (b"Vary", cookies.add_vary_cookie(None).encode("latin-1"))
_RAW_NEVER_SHARED = (b"Cache-Control", caching.private_cache_control([]).encode("latin-1"))


# --- rules the Django engine shares ------------------------------------------------------


def expired(record: Record, *, browser_close: bool, now: float, config: Config) -> Emit | None:
    """The liveness check of a loaded record: None when it is live under today's config,
    else the event that reports why it is refused (the caller yields it)."""
    if expiry.is_live(
        record.meta, expires_at=record.expires_at, browser_close=browser_close, now=now, config=config
    ):
        return None
    return Emit(EXPIRED, record.key, record.meta.user_id, "timeout")


def claim_fresh_token(
    operation: Callable[[str], Op], fresh: Callable[[], str], store_name: str
) -> Steps[tuple[str, Op, Any]]:
    """The one fresh-token retry loop: yield ``operation(token)`` for a fresh token until
    the store does not answer that its key is taken (False, ``Rotation.COLLISION``).
    Returns the token, the operation and the store's answer."""
    for _ in range(ATTEMPTS):
        token = fresh()
        op = operation(token)
        answer = yield op
        if answer is not False and answer is not Rotation.COLLISION:
            return token, op, answer
    raise StoreError(store_name, f"no free session key after {ATTEMPTS} fresh tokens")


def refresh_due(
    record: Record,
    *,
    last_seen: float,
    saved_deadline: float,
    browser_close: bool,
    config: Config,
    now: float,
) -> tuple[Meta, float] | None:
    """The touch throttle: the metadata and deadline a write of this request's activity
    (``last_seen``, and Django's ``saved_deadline`` as of now) would give, when that moves
    the stored deadline far enough to be written; else None (most requests, which then
    build nothing)."""
    refreshed = expiry.deadline(
        record.meta,
        browser_close=browser_close,
        config=config,
        last_seen=last_seen,
        saved_deadline=saved_deadline,
    )
    if not expiry.touch_due(
        stored=record.expires_at, refreshed=refreshed, now=now, fraction=config.touch_fraction
    ):
        return None
    return record.meta.with_activity(last_seen, saved_deadline), refreshed


def write_activity(record: Record, meta: Meta, refreshed: float, now: float) -> Steps[Record | None]:
    """Touch the record with ``meta``'s activity: the record as it now stands, or None when
    it is gone (a touch never moves a deadline back)."""
    if not (yield Touch(record.key, now, meta.saved_deadline, refreshed, now)):
        return None
    return replace(record, meta=meta, expires_at=max(refreshed, record.expires_at))


def rotated_meta(meta: Meta, moved: dict[str, Any], now: float) -> Meta:
    """The metadata of a session moving to a new token: the save's changes, issued now.
    The history (creation, sign-in) stays, so the absolute timeout does not restart."""
    return replace(Change(meta=moved).apply_meta(meta), issued_at=now)


# --- what a save sends to the store ------------------------------------------------------


def browser_close(config: Config, data: dict[str, Any]) -> bool:
    return _browser_close(config, data.get(expiry.EXPIRY_KEY))


def _browser_close(config: Config, stored_expiry: Any) -> bool:
    """:func:`browser_close`, given the session's own expiry (``_session_expiry``)."""
    return expiry.expire_at_browser_close(stored_expiry, default=config.expire_at_browser_close)


def saved_deadline(config: Config, data: dict[str, Any], now: float) -> float:
    """Django's expiry date at save time, the deadline a db-backed Django would store."""
    return _saved_deadline(config, data.get(expiry.EXPIRY_KEY), now)


def _saved_deadline(config: Config, stored_expiry: Any, now: float) -> float:
    """:func:`saved_deadline`, given the session's own expiry (``_session_expiry``)."""
    return expiry.expiry_timestamp(stored_expiry, now=now, cookie_age=config.cookie_age)


def encode_data(state: SessionState, config: Config, keys: Iterable[Any]) -> dict[str, str]:
    """The JSON text of each key; the first value that cannot be stored raises, naming it,
    and so does a session that would exceed ``max_session_bytes`` in all."""
    data = state.data or {}
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


def new_meta(state: SessionState, config: Config, data: dict[str, Any], now: float) -> Meta:
    """Metadata for a session stored for the first time."""
    meta = Meta(
        created_at=now,
        issued_at=now,
        last_seen=now,
        saved_deadline=saved_deadline(config, data, now),
        ip=state.client_ip,
        user_agent=state.user_agent,
    )
    for name, value in state.meta_changes.items():
        setattr(meta, name, value)
    return meta


def moved_meta(state: SessionState, config: Config, now: float) -> dict[str, Any]:
    """The metadata a save changes: this request's activity, Django's deadline as of now,
    and whatever the request set (sign-in, per-session timeouts)."""
    moved: dict[str, Any] = dict(state.meta_changes)
    moved["last_seen"] = now
    moved["saved_deadline"] = saved_deadline(config, state.data or {}, now)
    if state.client_ip is not None:
        moved["ip"] = state.client_ip
        moved["user_agent"] = state.user_agent
    return moved


def data_change(state: SessionState, config: Config) -> Change:
    """The keys this request changed (all of them after a ``clear()`` or a hand-set
    ``modified``), as a save or a rotation sends them to the store."""
    data = state.data or {}
    rewrite = state.rewrite
    keys = data.keys() if rewrite else [key for key in state.changed if key in data]
    return Change(
        set=encode_data(state, config, keys),
        removed=frozenset() if rewrite else frozenset(session_key_name(k) for k in state.removed),
        cleared=state.cleared or rewrite,
    )


def change_for(state: SessionState, config: Config, meta: Meta, now: float) -> tuple[Change, Meta]:
    """The delta this request's save writes, and the metadata the record will then hold."""
    change = data_change(state, config)
    change.meta = moved_meta(state, config, now)
    updated = change.apply_meta(meta)
    change.expires_at = expiry.deadline(
        updated, browser_close=browser_close(config, state.data or {}), config=config
    )
    return change, updated


def saves(state: SessionState, config: Config) -> bool:
    """Does this request save its session? Django's rule: when it was modified, or on every
    request with ``save_every_request``; never an empty session."""
    return (state.modified or config.save_every_request) and not state.is_empty()


def refresh_plan(
    state: SessionState, config: Config, now: float, *, rolling: bool
) -> tuple[Meta, float] | None:
    """For a session that is not saved: the activity a touch would write now, if one is due.

    ``rolling`` (save-every-request) also moves Django's deadline, as a save would.
    Returns the refreshed metadata and deadline, or None when the throttle says no.
    """
    data = state.data or {}
    stored_expiry = data.get(expiry.EXPIRY_KEY)
    return _refresh_plan(state, config, now, stored_expiry, _browser_close(config, stored_expiry), rolling)


def _refresh_plan(
    state: SessionState, config: Config, now: float, stored_expiry: Any, closes: bool, rolling: bool
) -> tuple[Meta, float] | None:
    """:func:`refresh_plan`, given the session's own expiry (``_session_expiry``) and
    whether it ends at browser close (:func:`browser_close`)."""
    record = state.record
    assert record is not None
    saved = record.meta.saved_deadline
    if rolling:
        moved = _saved_deadline(config, stored_expiry, now)
        saved = saved if saved > moved else moved  # max(moved, saved), without the call
    return refresh_due(
        record,
        last_seen=now,
        saved_deadline=saved,
        browser_close=closes,
        config=config,
        now=now,
    )


def projected_deadline(state: SessionState, config: Config, now: float) -> float | None:
    """The deadline the store will hold once this request ends, if nothing else changes."""
    data = state.data or {}
    record = state.record
    saving = saves(state, config)
    if record is None:
        if not saving:
            return None
        meta = new_meta(state, config, data, now)
    elif saving and state.modified:
        meta = Change(meta=moved_meta(state, config, now)).apply_meta(record.meta)
    else:
        plan = refresh_plan(state, config, now, rolling=saving)
        return record.expires_at if plan is None else plan[1]
    return expiry.deadline(meta, browser_close=browser_close(config, data), config=config)


def user_id(state: SessionState) -> str | None:
    """The signed-in user, as this request leaves it (the session loaded)."""
    if "user_id" in state.meta_changes:
        value: str | None = state.meta_changes["user_id"]
        return value
    return state.record.meta.user_id if state.record is not None else None


def session_cookie(state: SessionState, config: Config, now: float) -> str:
    """The ``Set-Cookie`` value that hands the browser the session's token."""
    data = state.data or {}
    stored_expiry = data.get(expiry.EXPIRY_KEY)
    return _session_cookie(state, config, now, stored_expiry, _browser_close(config, stored_expiry))


def _session_cookie(state: SessionState, config: Config, now: float, stored_expiry: Any, closes: bool) -> str:
    """:func:`session_cookie`, given the session's own expiry (``_session_expiry``) and
    whether it ends at browser close (:func:`browser_close`)."""
    assert state.token is not None
    if closes:
        max_age = None
    else:
        max_age = (
            expiry.expiry_age(stored_expiry, modification=from_timestamp(now), cookie_age=config.cookie_age)
            if stored_expiry
            else config.cookie_age  # expiry_age's answer for no expiry, without a datetime
        )
        record = state.record
        if record is not None:
            # The cookie never outlives the stored session (an absolute or idle timeout
            # shorter than the expiry age): the browser drops it when the server would.
            # (A millisecond of slack absorbs the float arithmetic of equal deadlines.)
            left = math.floor(record.expires_at - now + 0.001)
            if left < 0:  # min(max_age, max(0, left)), without the two calls
                left = 0
            if left < max_age:
                max_age = left
    return cookies.set_cookie(config, state.token, max_age=max_age, now=now)


# --- the steps ---------------------------------------------------------------------------


def load(state: SessionState, context: Context, now: float, fresh: Callable[[], str]) -> Steps[None]:
    """Fill the session from the store, trying each cookie value sent, in order.

    An unknown, expired or revoked token is never adopted: the session starts empty
    and a new token is issued only if something is saved (or an old library's session
    is taken over, ``Config.takeover``).
    """
    config = context.config
    client_side = context.client_side
    first = state.token
    for token in () if first is None else (first, *state.candidates):
        if client_side:
            key = b""
            record = yield Decode(token, now)
        else:
            key = store_key(token)
            record = yield Load(key, now)
        if record is None:
            continue
        event = expired(record, browser_close=browser_close(config, record.data), now=now, config=config)
        if event is not None:
            yield event
            continue
        state.adopt(token, record, via_alias=not client_side and record.key != key)
        return
    if state.legacy and (yield from _take_over(state, context, now, fresh)):
        return
    presented = None if client_side or first is None else store_key(first)
    if presented is not None and reuse.enabled(context):
        for candidate in (first, *state.candidates):
            if candidate is not None:
                yield from reuse.check(context, store_key(candidate), now)
    yield Emit(REJECTED, presented, None, "unknown, expired or revoked session token")
    state.reject()


def _take_over(state: SessionState, context: Context, now: float, fresh: Callable[[], str]) -> Steps[bool]:
    """The take-over hook (``Config.takeover``): the request brought no live sessionary
    token but an old library's cookie (``state.legacy``). If that names a live old
    session not taken over before, its data becomes a new session with a new token (the
    response sets the cookie) and the old one is retired; otherwise the old cookie is
    refused as any unknown token is. Either way the response deletes the old cookie."""
    takeover = context.config.takeover
    assert takeover is not None
    carried = yield from carry_over(context.config, state.legacy, now)
    state.legacy = ()
    state.had_cookie = True
    if takeover.cookie_name != context.config.session_cookie_name:
        state.expire_cookies = (takeover.cookie_name,)  # dead either way: the browser may drop it
    if carried is None:
        return False
    data, user = carried
    state.token = None
    state.candidates = ()
    state.data = data
    if user is not None:
        state.set_meta(user_id=user)
    yield from create(state, context, now, fresh)
    state.modified = True
    return True


def ensure_loaded(
    state: SessionState, context: Context, now: float, fresh: Callable[[], str]
) -> Steps[dict[str, Any]]:
    """The session's data, loaded first if it is not yet (any use of the data counts as access)."""
    state.accessed = True
    if state.data is None:
        if state.token is None and not state.legacy:
            state.data = {}
        else:
            yield from load(state, context, now, fresh)
    assert state.data is not None
    return state.data


def _stored(state: SessionState, context: Context, now: float) -> Steps[Record | None]:
    """The stored record, read now if the data was replaced without loading (``clear()``)."""
    if state.record is None and state.token is not None:
        token = state.token
        state.record = yield (Decode(token, now) if context.client_side else Load(store_key(token), now))
    return state.record


def create(state: SessionState, context: Context, now: float, fresh: Callable[[], str]) -> Steps[None]:
    """Store the session for the first time, under a fresh token."""
    config = context.config
    data = state.data or {}
    encode_data(state, config, data.keys())
    meta = new_meta(state, config, data, now)
    expires_at = expiry.deadline(meta, browser_close=browser_close(config, data), config=config)
    if context.client_side:
        record = Record(b"", data, meta, expires_at)
        state.token = yield Encode(record)
    else:
        token, op, _ = yield from claim_fresh_token(
            lambda token: Create(Record(store_key(token), data, meta, expires_at), now),
            fresh,
            context.store_name,
        )
        state.token = token
        record = op.record
    state.record = record
    state.saved()
    yield Emit(CREATED, record.key, meta.user_id)


def save(state: SessionState, context: Context, now: float, fresh: Callable[[], str]) -> Steps[None]:
    """Persist the session: a new record with a new token, or this request's changes.

    Raises :class:`SessionInterrupted` when the stored session vanished meanwhile (a
    logout in another request): nothing is written, so it stays deleted.
    """
    if state.data is None:
        yield from ensure_loaded(state, context, now, fresh)
    if state.token is None:
        yield from create(state, context, now, fresh)
        return
    record = yield from _stored(state, context, now)
    if record is None:
        raise SessionInterrupted()
    change, meta = change_for(state, context.config, record.meta, now)
    if context.client_side:
        record = Record(record.key, dict(state.data or {}), meta, change.expires_at)
        state.token = yield Encode(record)
    elif not (yield Write(record.key, change, now)):
        raise SessionInterrupted()
    state.record = replace(record, meta=meta, expires_at=change.expires_at)
    state.saved()


def rotate(
    state: SessionState, context: Context, now: float, fresh: Callable[[], str], *, grace: int | None
) -> Steps[None]:
    """Give the session a new token, keeping its data (Django's ``cycle_key``).

    With ``grace`` None the old token stops working at once; otherwise it keeps
    working for ``grace`` seconds as an alias of the new one (renewal).
    """
    if state.token is None:
        yield from create(state, context, now, fresh)
        state.modified = True
        return
    old = yield from _stored(state, context, now)
    if old is None:
        raise SessionInterrupted()
    config = context.config
    data = state.data or {}
    encode_data(state, config, data.keys())
    # Only this request's changes travel: the rest of the data moves as stored, so a
    # write that landed since this request read the session is not undone.
    change = data_change(state, config)
    meta = rotated_meta(old.meta, moved_meta(state, config, now), now)
    expires_at = expiry.deadline(meta, browser_close=browser_close(config, data), config=config)
    if context.client_side:
        record = Record(old.key, data, meta, expires_at)
        state.token = yield Encode(record)
    else:
        grace_until = None if grace is None else now + grace
        token, op, result = yield from claim_fresh_token(
            lambda token: Rotate(
                old.key, Record(store_key(token), dict(data), meta, expires_at), grace_until, now, change
            ),
            fresh,
            context.store_name,
        )
        if result is Rotation.GONE:
            raise SessionInterrupted()
        state.token = token
        record = op.record
        yield from reuse.retire(context, old.key, record.key, grace_until=grace_until, now=now)
    state.record = record
    state.via_alias = False
    state.modified = True
    state.saved()
    yield Emit(ROTATED, old.key, meta.user_id, None, record.key)


def delete(state: SessionState, context: Context) -> Steps[None]:
    """Remove the session from the store and forget its token (Django's ``delete``)."""
    if not context.client_side:
        if state.record is not None:
            yield Delete(state.record.key)
        elif state.token is not None:
            yield Delete(store_key(state.token))
    state.forget()


def touch(state: SessionState, context: Context, now: float, *, rolling: bool) -> Steps[bool]:
    """Write this request's activity if the throttle says it is due; True if written."""
    record = state.record
    assert record is not None
    plan = refresh_plan(state, context.config, now, rolling=rolling)
    if plan is None:
        return False
    meta, refreshed = plan
    if context.client_side:
        state.record = replace(record, meta=meta, expires_at=refreshed)
        state.token = yield Encode(state.record)
        return True
    touched = yield from write_activity(record, meta, refreshed, now)
    if touched is None:
        return False
    state.record = touched
    return True


def update_atomic(
    state: SessionState,
    context: Context,
    key: str,
    update: Callable[[Any], Any],
    default: Any,
    attempts: int,
    now: Callable[[], float],
    fresh: Callable[[], str],
) -> Steps[Any]:
    """Read-modify-write one session key with no lost update: read the stored value,
    compute ``update(value)``, and store it only if the key still holds what was read
    (the store's compare-and-set); otherwise read again and retry. Returns the new value.

    A session not stored yet has no concurrent requests: the key is just set.
    """
    name = session_key_name(key)
    if context.client_side:
        raise UnsupportedOperation(
            context.store_name,
            "update a session key atomically",
            "each request carries its own signed copy of the session and the last response's "
            "cookie wins; use a server-side store (sqlite://, redis://, postgresql://) for that",
        )
    data = yield from ensure_loaded(state, context, now(), fresh)
    if state.rewrite or state.cleared:
        yield from save(
            state, context, now(), fresh
        )  # a pending rewrite of every key lands first, never after
        data = state.data or {}
    if state.token is None or state.record is None:
        value = update(data.get(name, default))
        data[name] = value
        state.mark_set(name)
        state.modified = True
        return value
    limit = context.config.max_value_bytes
    for attempt in range(attempts):
        moment = now()
        stored = yield Load(state.record.key, moment)
        if stored is None:
            raise SessionInterrupted()
        present = name in stored.data
        expected = encode_value(name, stored.data[name]) if present else None
        value = update(stored.data[name] if present else default)
        text = encode_value(name, value, max_bytes=limit)
        if context.config.max_session_bytes is not None:
            whole = {other: encode_value(other, v) for other, v in stored.data.items() if other != name}
            limits.check_session_size({**whole, name: text}, context.config.max_session_bytes)
        result = yield CompareAndSet(stored.key, name, expected, text, moment)
        if result is Swap.SWAPPED:
            data[name] = decode_value(text)
            state.forget_change(name)
            state.modified = True  # the end of the request moves the deadline, sends the cookie
            return data[name]
        if result is Swap.GONE:
            raise SessionInterrupted()
        # Lost to another request's update: back off a little, at random, and read again.
        yield Pause(min(0.05, 0.001 * 2 ** min(attempt, 6)))
    raise StoreConflict(
        context.store_name,
        f"session key {name!r} changed under {attempts} atomic updates in a row; retry later",
    )


def untouched(state: SessionState, config: Config) -> bool:
    """Whether the end of this request changes nothing, as :func:`close` would decide for
    a session the request never used (most requests): never loaded, nothing to save, no
    cookie to delete, no failure to answer. Adapters ask first, and then skip the close."""
    return (
        state.data is None
        and not state.accessed
        and not state.modified
        and state.failure is None
        and not state.logged_out
        and not state.expire_cookies
        and (state.token is not None or not state.had_cookie)
        and not config.save_every_request
    )


def close(
    state: SessionState,
    context: Context,
    status_code: int,
    now: Callable[[], float],
    fresh: Callable[[], str],
) -> Outcome | Steps[Outcome]:
    """End the request as Django's ``SessionMiddleware`` would: the :class:`Outcome` itself
    when that needs no store call (and no clock), else the steps that save or touch first.

    Raises the failure the app met (a store failure, a vanished session) when its
    framework turned it into an error page, so the shell answers 503 (or 400) instead.
    """
    config = context.config
    if untouched(state, config):
        return Outcome()
    if state.failure is not None and status_code >= 500:
        raise state.failure
    outcome = Outcome(
        vary_cookie=state.accessed,
        clear_site_data=state.logged_out and config.clear_site_data_on_logout,
        expire_cookies=state.expire_cookies,
    )
    if state.had_cookie and state.is_empty():
        outcome.set_cookie = cookies.delete_cookie(config)
        outcome.vary_cookie = True
        return outcome
    if saves(state, config):
        moment = now()
        record = state.record
        data = state.data
        if (
            record is not None
            and data is not None
            and not state.modified
            and status_code < 500
            and (state.via_alias or not expiry.renewal_due(record.meta, now=moment, config=config))
        ):
            stored_expiry = data.get(expiry.EXPIRY_KEY)
            closes = _browser_close(config, stored_expiry)
            if _refresh_plan(state, config, moment, stored_expiry, closes, True) is None:
                # Saved on every request, changed nothing, and the throttle owes the store
                # no write (the common sliding request): what _close_saving would decide,
                # at once.
                state.accessed = True
                if not state.via_alias:
                    outcome.set_cookie = _session_cookie(state, config, moment, stored_expiry, closes)
                outcome.vary_cookie = True
                return outcome
        return _close_saving(state, context, status_code, outcome, moment, fresh)
    record = state.record
    if record is None or status_code >= 500:
        return outcome
    moment = now()
    if (state.via_alias or not expiry.renewal_due(record.meta, now=moment, config=config)) and (
        refresh_plan(state, config, moment, rolling=False) is None
    ):
        return outcome  # read, and the throttle owes the store no touch: nothing to do
    return _close_read(state, context, outcome, moment, fresh)


def _close_read(
    state: SessionState, context: Context, outcome: Outcome, now: float, fresh: Callable[[], str]
) -> Steps[Outcome]:
    """Not saved, but read: the session may owe the store its activity (idle timeout) or
    need a new token (renewal timeout)."""
    config = context.config
    assert state.record is not None
    if expiry.renewal_due(state.record.meta, now=now, config=config) and not state.via_alias:
        try:
            yield from rotate(state, context, now, fresh, grace=config.renewal_grace)
        except SessionInterrupted:
            return outcome
        outcome.set_cookie = session_cookie(state, config, now)
        outcome.vary_cookie = True
    elif (yield from touch(state, context, now, rolling=False)) and context.client_side:
        outcome.set_cookie = session_cookie(state, config, now)
        outcome.vary_cookie = True
    return outcome


def _close_saving(
    state: SessionState,
    context: Context,
    status_code: int,
    outcome: Outcome,
    now: float,
    fresh: Callable[[], str],
) -> Steps[Outcome]:
    config = context.config
    yield from ensure_loaded(state, context, now, fresh)
    if state.is_empty():
        # The cookie named a session that is gone: say so to the browser.
        if state.had_cookie:
            outcome.set_cookie = cookies.delete_cookie(config)
            outcome.vary_cookie = True
        return outcome
    if status_code >= 500:
        return outcome
    record = state.record
    if record is not None and not state.via_alias and expiry.renewal_due(record.meta, now=now, config=config):
        try:
            yield from rotate(state, context, now, fresh, grace=config.renewal_grace)
        except SessionInterrupted:
            if not state.modified:
                raise
            # Another request renewed the session first. This one's changes still land,
            # through the alias that renewal left (within its grace), unless it is gone.
            yield from save(state, context, now, fresh)
            state.via_alias = True
    elif state.modified or record is None:
        yield from save(state, context, now, fresh)
    else:
        yield from touch(state, context, now, rolling=True)
    if not state.via_alias:
        # A request that found the session through a renewed token's alias does not
        # know the new token; sending the old one would undo the renewal.
        outcome.set_cookie = session_cookie(state, config, now)
    outcome.vary_cookie = True
    return outcome
