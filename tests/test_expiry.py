"""``sessionary.expiry`` on its own: Django's arithmetic and sessionary's timeouts, given moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sessionary import expiry
from sessionary.config import Config
from sessionary.stores.base import Meta

MOMENT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T = MOMENT.timestamp()


def meta(**fields: float | int | None) -> Meta:
    values: dict[str, float | int | None] = {
        "created_at": T,
        "issued_at": T,
        "last_seen": T,
        "saved_deadline": T + 1000,
    }
    values.update(fields)
    return Meta(**values)  # type: ignore[arg-type]


# --- Django's arithmetic ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (300, 300),
        (0, 0),
        (2.5, 2.5),
        (MOMENT + timedelta(hours=1), "2026-01-01T13:00:00+00:00"),
        (timedelta(minutes=5), "2026-01-01T12:05:00+00:00"),
    ],
)
def test_stored_expiry(value: int | float | datetime | timedelta, stored: object) -> None:
    assert expiry.stored_expiry(value, now=MOMENT) == stored


def test_stored_expiry_refuses_a_naive_datetime_and_names_it() -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-01-01T12:00:00"):
        expiry.stored_expiry(datetime(2026, 1, 1, 12), now=MOMENT)


@pytest.mark.parametrize("value", [True, "300", None])
def test_stored_expiry_refuses_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="set_expiry"):
        expiry.stored_expiry(value, now=MOMENT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "age"),
    [
        (None, 1209600),  # unset: the cookie age
        (0, 1209600),  # browser close: Django still answers the cookie age
        (300, 300),  # a number is returned as it is
        ("2026-01-01T12:10:00+00:00", 600),
        ("2026-01-01T12:10:00", 600),  # naive, as old Django wrote: UTC
        ("2026-01-01T11:59:59.5+00:00", -1),  # floored, negative once past
        ("2026-01-01T13:10:00+01:00", 600),
    ],
)
def test_expiry_age(stored: object, age: int) -> None:
    assert expiry.expiry_age(stored, modification=MOMENT, cookie_age=1209600) == age


def test_expiry_date() -> None:
    assert expiry.expiry_date(None, modification=MOMENT, cookie_age=60) == MOMENT + timedelta(seconds=60)
    assert expiry.expiry_date(300, modification=MOMENT, cookie_age=60) == MOMENT + timedelta(seconds=300)
    instant = datetime(2026, 2, 1, tzinfo=timezone(timedelta(hours=2)))
    assert expiry.expiry_date(instant, modification=MOMENT, cookie_age=60) == instant
    assert expiry.expiry_date(instant.isoformat(), modification=MOMENT, cookie_age=60) == instant


def test_expiry_timestamp_is_the_expiry_date_to_the_last_bit() -> None:
    """Its shortcut for whole seconds gives the float the datetime arithmetic gives
    (microsecond rounding, half to even, included), and the rest goes through it."""
    import random

    from sessionary.errors import SessionValueError

    rng = random.Random(16)
    moments = [T, 0.0, 1.5, 0.0000005, 0.0000015, 1_700_000_000.9999996, 1_700_000_000.0000005]
    moments += [rng.uniform(0, 2e9) for _ in range(20_000)] + [
        round(rng.uniform(0, 2e9), 3) for _ in range(5000)
    ]
    ages = [None, 0, 1, 3600, 1_209_600, -5, 10**8, 2.5, "2030-01-01T00:00:00+00:00"]
    for now in moments:
        for stored in ages:
            modification = datetime.fromtimestamp(now, UTC)
            expected = expiry.expiry_date(stored, modification=modification, cookie_age=1_209_600).timestamp()
            assert expiry.expiry_timestamp(stored, now=now, cookie_age=1_209_600) == expected, (now, stored)
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert expiry.expiry_timestamp(None, now=last - 10, cookie_age=10) == last
    with pytest.raises(SessionValueError, match="_session_expiry"):
        expiry.expiry_timestamp(10**12, now=T, cookie_age=60)


@pytest.mark.parametrize(
    ("stored", "default", "closes"),
    [
        (None, False, False),
        (None, True, True),
        (0, False, True),
        (300, True, False),
        ("2030-01-01", True, False),
    ],
)
def test_expire_at_browser_close(stored: object, default: bool, closes: bool) -> None:
    assert expiry.expire_at_browser_close(stored, default=default) is closes


# --- sessionary's timeouts ------------------------------------------------------------


def test_deadline_is_the_earliest_rule() -> None:
    config = Config(idle_timeout=600, absolute_timeout=5000, browser_close_timeout=100)
    assert expiry.deadline(meta(), browser_close=False, config=config) == T + 600
    assert expiry.deadline(meta(last_seen=T + 4900), browser_close=False, config=config) == T + 1000
    assert expiry.deadline(
        meta(saved_deadline=T + 9000, last_seen=T + 4900), browser_close=False, config=config
    ) == (T + 5000)
    assert expiry.deadline(meta(), browser_close=True, config=config) == T + 100


def test_the_absolute_timeout_counts_from_sign_in() -> None:
    config = Config(idle_timeout=None, absolute_timeout=500)
    assert expiry.deadline(meta(auth_at=T + 200), browser_close=False, config=config) == T + 700


def test_a_per_session_timeout_wins_and_zero_switches_it_off() -> None:
    config = Config(idle_timeout=600, absolute_timeout=None)
    assert expiry.deadline(meta(idle_timeout=60), browser_close=False, config=config) == T + 60
    assert expiry.deadline(meta(idle_timeout=0), browser_close=False, config=config) == T + 1000


@pytest.mark.parametrize(
    ("stored", "refreshed", "due"),
    [
        (T + 100, T + 100, False),  # no gain
        (T + 200, T + 100, False),  # a touch never moves the deadline back
        (T + 80, T + 100, False),  # 20 s gain < 25 % of the 100 s left
        (T + 75, T + 100, True),
        (T, T + 100, True),
    ],
)
def test_touch_due(stored: float, refreshed: float, due: bool) -> None:
    assert expiry.touch_due(stored=stored, refreshed=refreshed, now=T, fraction=0.25) is due


def test_touch_due_with_no_throttle_touches_on_any_gain() -> None:
    assert expiry.touch_due(stored=T + 99.9, refreshed=T + 100, now=T, fraction=0)


def test_renewal_due() -> None:
    config = Config(renewal_timeout=3600)
    assert not expiry.renewal_due(meta(), now=T + 3599, config=config)
    assert expiry.renewal_due(meta(), now=T + 3600, config=config)
    assert not expiry.renewal_due(meta(), now=T + 10**9, config=Config())


def test_is_live_applies_todays_config_and_the_revocation_switch() -> None:
    record_meta = meta()
    assert expiry.is_live(record_meta, expires_at=T + 1000, browser_close=False, now=T + 999, config=Config())
    assert not expiry.is_live(
        record_meta, expires_at=T + 1000, browser_close=False, now=T + 1000, config=Config()
    )
    shortened = Config(idle_timeout=60)
    assert not expiry.is_live(
        record_meta, expires_at=T + 1000, browser_close=False, now=T + 60, config=shortened
    )
    revoked = Config(revoked_before=T + 1)
    assert not expiry.is_live(
        record_meta, expires_at=T + 1000, browser_close=False, now=T + 2, config=revoked
    )


_timeouts = st.one_of(st.none(), st.just(0), st.integers(1, 10**6))  # per session: 0 is off
_configured = st.one_of(st.none(), st.integers(1, 10**6))


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    per_idle=_timeouts,
    per_absolute=_timeouts,
    idle=_configured,
    absolute=_configured,
    browser_timeout=_configured,
    browser_close=st.booleans(),
    signed_in=st.booleans(),
    last_seen=st.one_of(st.none(), st.floats(1.7e9, 1.8e9)),
    saved_deadline=st.one_of(st.none(), st.floats(1.7e9, 1.9e9)),
)
def test_deadline_is_the_minimum_of_the_rules_as_each_is_stated(
    per_idle: int | None,
    per_absolute: int | None,
    idle: int | None,
    absolute: int | None,
    browser_timeout: int | None,
    browser_close: bool,
    signed_in: bool,
    last_seen: float | None,
    saved_deadline: float | None,
) -> None:
    """``deadline`` writes the rules out inline; it must agree with them as the module
    states them (``idle_timeout``, ``absolute_timeout``, ``min``)."""
    now = 1.75e9
    meta = Meta(
        now - 500,
        now - 400,
        now - 300,
        now + 10**5,
        auth_at=now - 200 if signed_in else None,
        idle_timeout=per_idle,
        absolute_timeout=per_absolute,
    )
    config = Config(idle_timeout=idle, absolute_timeout=absolute, browser_close_timeout=browser_timeout)
    ends = meta.saved_deadline if saved_deadline is None else saved_deadline
    started = meta.auth_at if meta.auth_at is not None else meta.created_at
    if expiry.idle_timeout(meta, config):
        ends = min(
            ends, (meta.last_seen if last_seen is None else last_seen) + expiry.idle_timeout(meta, config)
        )
    if expiry.absolute_timeout(meta, config):
        ends = min(ends, started + expiry.absolute_timeout(meta, config))
    if browser_close and config.browser_close_timeout is not None:
        ends = min(ends, started + config.browser_close_timeout)
    got = expiry.deadline(
        meta, browser_close=browser_close, config=config, last_seen=last_seen, saved_deadline=saved_deadline
    )
    assert got == ends
