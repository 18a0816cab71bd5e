"""When a session ends: Django's expiry arithmetic and sessionary's timeouts, as pure functions.

This is the only place these rules live. Nothing here does I/O or reads a clock: every
function takes the moment it reasons about. Stores receive the deadlines computed here
and merely refuse records whose deadline has passed.

Django's model (``_session_expiry`` in the session data):

=================  =============================  =====================================
``set_expiry(v)``  stored                         meaning
=================  =============================  =====================================
``None``           key removed                    the configured default
``0``              ``0``                          cookie ends at browser close
int / float        the number                     that many seconds after each save
``datetime``       ISO-8601 string                an absolute instant
``timedelta``      ISO-8601 string of now + v     an absolute instant, fixed when called
=================  =============================  =====================================

On top of it, per config and per session: an idle timeout (from the last recorded
activity), an absolute timeout (from sign-in, or creation), a server-side limit for
browser-close sessions, and a renewal timeout (when to issue a new token).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .errors import SessionValueError

if TYPE_CHECKING:
    from .config import Config
    from .stores.base import Meta

EXPIRY_KEY = "_session_expiry"

StoredExpiry = int | float | str
"""What ``_session_expiry`` holds once set: a number of seconds or an ISO-8601 instant."""


# --- Django's arithmetic -------------------------------------------------------------


def stored_expiry(value: int | float | datetime | timedelta, *, now: datetime) -> StoredExpiry:
    """What ``set_expiry(value)`` stores (``None`` is handled by removing the key)."""
    check_expiry(value, now=now)
    if isinstance(value, timedelta):
        value = now + value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"set_expiry() got the naive datetime {value.isoformat()}; "
                "pass an aware datetime (for example with tzinfo=datetime.UTC)"
            )
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"set_expiry() takes an int, float, datetime, timedelta or None, not {type(value).__name__}"
        )
    return value


def check_expiry(value: object, *, now: datetime) -> None:
    """Raise :class:`SessionValueError` when ``set_expiry(value)`` names no date at all
    (``10**12`` seconds, ``timedelta.max``, NaN): Python's ``OverflowError`` would be a 500
    at the first save, on every store."""
    if isinstance(value, timedelta):
        try:
            now + value
        except OverflowError:
            raise SessionValueError(
                EXPIRY_KEY, f"set_expiry({value!r}) lands after the last date there is (the year 9999)"
            ) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        expiry_date(value, modification=now, cookie_age=0)


def parse_instant(value: str) -> datetime:
    """An ISO-8601 expiry as an aware datetime (naive ones, as old Django wrote, are UTC)."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expiry_age(expiry: object, *, modification: datetime, cookie_age: int) -> int | float:
    """Django's ``get_expiry_age()``: whole seconds from ``modification``, floored, maybe negative.

    A number is returned unchanged (it is a sliding age, not an instant).
    """
    if not expiry:
        return cookie_age
    if isinstance(expiry, str):
        expiry = parse_instant(expiry)
    if not isinstance(expiry, datetime):
        return expiry  # type: ignore[return-value]
    delta = expiry - modification
    return delta.days * 86400 + delta.seconds


def expiry_date(expiry: object, *, modification: datetime, cookie_age: int) -> datetime:
    """Django's ``get_expiry_date()``: the instant, or ``modification`` plus the age."""
    if isinstance(expiry, datetime):
        return expiry
    if isinstance(expiry, str):
        return parse_instant(expiry)
    seconds = expiry or cookie_age
    try:
        return modification + timedelta(seconds=seconds)  # type: ignore[arg-type,no-any-return]
    except (OverflowError, ValueError):
        # 10**12 seconds, or NaN: no date holds it (Python raises OverflowError, which
        # would be a 500 on every store); name the value instead, before any write.
        raise SessionValueError(
            EXPIRY_KEY,
            f"an expiry of {seconds!r} seconds from now is no date (the last one is in the year 9999)",
        ) from None


_LAST_INSTANT = 253402300799.0
"""9999-12-31 23:59:59 UTC, the last second a ``datetime`` holds."""

_FLOAT_EXACT_SECONDS = 4_000_000_000
"""Below this (the year 2096), a moment and an age in whole seconds, summed and counted in
microseconds, stay under 2**53: float arithmetic on them is exact."""


def expiry_timestamp(expiry: object, *, now: float, cookie_age: int) -> float:
    """:func:`expiry_date` of ``now`` as epoch seconds, the form a store keeps.

    An age in whole seconds (the default, and ``set_expiry(3600)``), which every save and
    every sliding request computes, takes a shortcut that gives the same float as the
    datetime arithmetic, microsecond rounding included; anything else goes through it.
    """
    seconds = expiry or cookie_age
    if type(seconds) is int and now >= 0:
        fraction = now % 1.0  # exact, as math.modf's fraction
        micro = round(fraction * 1_000_000)  # as datetime.fromtimestamp rounds (half to even)
        if -_FLOAT_EXACT_SECONDS < seconds < _FLOAT_EXACT_SECONDS and now < _FLOAT_EXACT_SECONDS:
            # Every step below is exact in floats (integers under 2**53) and the one
            # division correctly rounded, as int / int is: the same float, without big ints.
            return ((now - fraction + seconds) * 1_000_000 + micro) / 1_000_000
        result = ((int(now - fraction) + seconds) * 1_000_000 + micro) / 1_000_000
        if result <= _LAST_INSTANT:
            return result
    return expiry_date(
        expiry, modification=datetime.fromtimestamp(now, UTC), cookie_age=cookie_age
    ).timestamp()


def expire_at_browser_close(expiry: object, *, default: bool) -> bool:
    """Django's ``get_expire_at_browser_close()``: ``expiry == 0``, or the setting when unset."""
    if expiry is None:
        return default
    return expiry == 0


# --- sessionary's timeouts ------------------------------------------------------------


def _effective(per_session: int | None, configured: int | None) -> int | None:
    """A per-session value wins over the config; 0 switches the timeout off."""
    value = configured if per_session is None else per_session
    return value or None


def idle_timeout(meta: Meta, config: Config) -> int | None:
    return _effective(meta.idle_timeout, config.idle_timeout)


def absolute_timeout(meta: Meta, config: Config) -> int | None:
    return _effective(meta.absolute_timeout, config.absolute_timeout)


def deadline(
    meta: Meta,
    *,
    browser_close: bool,
    config: Config,
    last_seen: float | None = None,
    saved_deadline: float | None = None,
) -> float:
    """The instant (epoch seconds) a stored session ends: the earliest of every rule.

    * Django's expiry date as of the last save (``meta.saved_deadline``);
    * the idle timeout after the last recorded activity;
    * the absolute timeout after sign-in (or creation, before sign-in);
    * for a browser-close session, ``browser_close_timeout`` after the same start.

    ``last_seen`` and ``saved_deadline``, when given, stand for ``meta``'s: the deadline a
    write of this request's activity would give, without a copy of the metadata.
    """
    ends = meta.saved_deadline if saved_deadline is None else saved_deadline
    started = meta.auth_at if meta.auth_at is not None else meta.created_at
    # _effective()'s rule written out, and min() as comparisons (the same result: the
    # first of equals): every read comes here twice, and calls cost more than the rest.
    idle = config.idle_timeout if meta.idle_timeout is None else meta.idle_timeout
    if idle:  # None or 0: no idle timeout
        candidate = (meta.last_seen if last_seen is None else last_seen) + idle
        if candidate < ends:
            ends = candidate
    absolute = config.absolute_timeout if meta.absolute_timeout is None else meta.absolute_timeout
    if absolute:
        candidate = started + absolute
        if candidate < ends:
            ends = candidate
    if browser_close and config.browser_close_timeout is not None:
        candidate = started + config.browser_close_timeout
        if candidate < ends:
            ends = candidate
    return ends


def touch_due(*, stored: float, refreshed: float, now: float, fraction: float) -> bool:
    """Whether a read-only request should write its activity to the store.

    ``stored`` is the deadline the store holds, ``refreshed`` the one a write now would
    give. Writing only when it extends the deadline by at least ``fraction`` of the
    remaining lifetime bounds both the writes (at most one per ``fraction`` of the
    window) and the error (a session ends at most that share of its window early).
    """
    gain = refreshed - stored
    if gain <= 0:
        return False
    return gain >= fraction * (refreshed - now)


def renewal_due(meta: Meta, *, now: float, config: Config) -> bool:
    """Whether the token has been in use for ``renewal_timeout`` and should be replaced."""
    return config.renewal_timeout is not None and now - meta.issued_at >= config.renewal_timeout


def is_live(meta: Meta, *, expires_at: float, browser_close: bool, now: float, config: Config) -> bool:
    """Whether a loaded session is still valid now, under today's config.

    Stores already refuse records past their stored deadline; re-checking the rules on
    load makes a shortened timeout apply at once to sessions stored before the change,
    and ``config.revoked_before`` end every session issued before it.
    """
    if config.revoked_before is not None and meta.issued_at < config.revoked_before:
        return False
    return min(expires_at, deadline(meta, browser_close=browser_close, config=config)) > now
