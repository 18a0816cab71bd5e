"""Django's own ``db`` backend and ``sessionary.django`` on every store, request by request.

Each scenario runs through Django's test client (middleware, views, ``contrib.auth``)
once with Django's backend and once with sessionary's, with Django's clock held at the
same instants, and every observation must be equal: status, body (the session's data,
expiry age and date, browser-close answer, flags), ``Vary`` and the cookie's attributes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import DjangoClock, Engines, make_user
from .differential import PASSWORD, compare, run

REPORT = {"report": "1"}


def ops(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    return ("ops", list(operations), {**REPORT, **options})


def aops(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    return ("aops", list(operations), {**REPORT, **options})


def quiet(*operations: list[Any], **options: Any) -> tuple[Any, ...]:
    """Operations without the report, so an untouched session stays untouched."""
    return ("ops", list(operations), options)


TUTORIAL = [
    ops(["expiry", "int", 10], ["set", "user", "Alice"]),
    ops(["get", "user"]),
    ("advance", 5),
    ops(["get", "user"]),
    ("advance", 6),
    ops(["get", "user"]),
    ops(["get", "user"]),
]

SCENARIOS: dict[str, list[Any]] = {
    "tutorial": TUTORIAL,
    "dict api": [
        ops(["set", "a", 1], ["set", "b", [1, 2]], ["update", {"c": {"d": None}}]),
        ops(["pop", "a"], ["pop", "zz", "default"], ["setdefault", "b", 9], ["setdefault", "e", "x"]),
        ops(["del", "nope"], ["pop", "nope"], ["contains", "c"], ["keys"]),
        ops(["mutate", "b", 3]),
        ops(["mutate", "b", 4], ["modified"]),
        ops(["update", {}]),
        ops(["clear"]),
        ops(["set", "after", "clear"]),
    ],
    "read only and untouched": [
        quiet(),
        ops(["set", "a", 1]),
        quiet(),
        ops(["get", "a"]),
        quiet(["contains", "a"]),
    ],
    "expiry kinds": [
        ops(["expiry", "int", 300]),
        ("advance", 100),
        ops(["get", "x"]),
        ops(["expiry", "float", 90.5]),
        ops(["expiry", "zero", 0]),
        ("advance", 3600),
        ops(["get", "x"]),
        ops(["expiry", "none", None]),
        ops(["expiry", "none", None]),
        ops(["expiry", "timedelta", 600]),
        ("advance", 300),
        ops(["set", "x", 1]),
        ("advance", 301),
        ops(["get", "x"]),
    ],
    "expiry boundary": [
        ops(["expiry", "int", 10], ["set", "a", 1]),
        ("advance", 9),
        ops(["get", "a"]),
        ("advance", 1),  # exactly at the deadline: gone
        ops(["get", "a"]),
    ],
    "absolute datetime": [
        ops(["expiry", "datetime", 120], ["set", "x", 1]),
        ("advance", 60),
        ops(["set", "y", 2]),
        ("advance", 61),
        ops(["get", "x"]),
    ],
    "negative expiry": [
        ops(["set", "x", 1], ["expiry", "int", -10]),
        ops(["get", "x"]),
    ],
    "sliding expiry refreshed by saves only": [
        ops(["set", "n", 0], ["expiry", "int", 60]),
        ("advance", 40),
        ops(["get", "n"]),
        ("advance", 40),
        ops(["get", "n"]),
        ops(["set", "n", 1]),
        ("advance", 40),
        ops(["set", "n", 2]),
        ("advance", 59),
        ops(["get", "n"]),
    ],
    "flush and cycle": [
        ops(["set", "a", 1]),
        ops(["cycle_key"]),
        ops(["get", "a"]),
        ops(["flush"]),
        ops(["get", "a"]),
        ops(["flush"], ["set", "b", 2]),
        ops(["get", "b"]),
        quiet(["flush"]),
    ],
    "expired by set_expiry, then a new key": [
        ops(["set", "a", 1]),
        ops(["expiry", "timedelta", 0], ["cycle_key"]),
        ops(["get", "a"]),
        ops(["expiry", "timedelta", 0], ["cycle_key"]),
        ops(["get", "a"]),
        ops(["set", "b", 2], ["cycle_key"], ["expiry", "timedelta", 0]),
        ops(["get", "b"]),
    ],
    "test cookie": [
        ops(["test_cookie_set"]),
        ops(["test_cookie_worked"], ["test_cookie_delete"]),
        ops(["test_cookie_worked"]),
    ],
    "errors are not saved": [
        ops(["set", "a", 1]),
        ops(["set", "a", 2], status="500"),
        ops(["get", "a"]),
        ops(["flush"], status="500"),
        ops(["get", "a"]),
    ],
    "explicit save in a view": [
        ops(["set", "a", 1], ["save"]),
        ops(["set", "b", 2], ["save"], ["set", "c", 3]),
        ops(["get", "c"]),
    ],
    "session deleted while the request ran": [
        ops(["set", "a", 1]),
        ops(["set", "a", 2], ["interrupt"]),
        ops(["get", "a"]),
    ],
    "unknown and malformed cookies": [
        ("cookie", "abcdefghijklmnopqrstuvwxyz012345"),
        quiet(),
        ops(["get", "a"]),
        ("cookie", "tiny"),
        quiet(),
        ("cookie", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"),
        ops(["set", "a", 1]),
        ops(["get", "a"]),
    ],
    "non-string keys and unicode": [
        ops(["set", "ünï", "välue ✓"], ["update", {"1": [True, None, 1.5]}]),
        ops(["get", "ünï"]),
    ],
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario(scenario: str, engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    compare(engines, store_name, SCENARIOS[scenario], djclock)


ASYNC_SCENARIOS: dict[str, list[Any]] = {
    "async dict api": [
        aops(["set", "a", 1], ["update", {"b": 2}], ["setdefault", "c", 3]),
        aops(["pop", "a"], ["pop", "zz", 0], ["get", "b"], ["contains", "b"], ["keys"]),
        aops(["pop", "nope"]),
        aops(["clear"], ["set", "d", 4]),
    ],
    "async expiry, cycle and flush": [
        aops(["expiry", "int", 30], ["set", "a", 1]),
        ("advance", 20),
        aops(["cycle_key"]),
        aops(["expiry", "timedelta", 50]),
        aops(["expiry", "none", None]),
        aops(["test_cookie_set"]),
        aops(["test_cookie_worked"], ["test_cookie_delete"]),
        aops(["save"]),
        aops(["flush"]),
        aops(["get", "a"]),
    ],
    "sync and async requests share a session": [
        ops(["set", "a", 1], ["expiry", "int", 100]),
        aops(["get", "a"], ["set", "b", 2]),
        ("advance", 99),
        ops(["get", "b"]),
        ("advance", 101),
        aops(["get", "b"]),
    ],
}


@pytest.mark.parametrize("scenario", sorted(ASYNC_SCENARIOS))
def test_async_scenario(scenario: str, engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    compare(engines, store_name, ASYNC_SCENARIOS[scenario], djclock)


SETTINGS_VARIANTS: dict[str, dict[str, Any]] = {
    "cookie attributes": {
        "SESSION_COOKIE_NAME": "app_session",
        "SESSION_COOKIE_DOMAIN": ".example.com",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": False,
        "SESSION_COOKIE_SAMESITE": "None",
    },
    "strict, no samesite age": {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_AGE": 120},
    "no samesite": {"SESSION_COOKIE_SAMESITE": False},
    "expire at browser close": {"SESSION_EXPIRE_AT_BROWSER_CLOSE": True},
    "save every request": {"SESSION_SAVE_EVERY_REQUEST": True},
    "save every request, browser close, short age": {
        "SESSION_SAVE_EVERY_REQUEST": True,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        "SESSION_COOKIE_AGE": 50,
    },
    "without time zones": {"USE_TZ": False},
    "without time zones, browser close": {"USE_TZ": False, "SESSION_EXPIRE_AT_BROWSER_CLOSE": True},
}

SETTINGS_STEPS = [
    quiet(),
    ops(["get", "a"]),
    ops(["set", "a", 1]),
    quiet(),
    ("advance", 40),
    ops(["get", "a"]),
    ops(["expiry", "int", 300]),
    ("advance", 30),
    ops(["expiry", "zero", 0]),
    ("advance", 30),
    ops(["get", "a"]),
    ops(["expiry", "timedelta", 45]),
    ("advance", 30),
    ops(["expiry", "datetime", 90]),
    ("advance", 95),
    ops(["get", "a"]),
    ops(["set", "b", 1], ["expiry", "none", None]),
    ("advance", 70),
    ops(["get", "b"]),
    ops(["flush"]),
]


@pytest.mark.parametrize("variant", sorted(SETTINGS_VARIANTS))
def test_settings(variant: str, engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    compare(engines, store_name, SETTINGS_STEPS, djclock, **SETTINGS_VARIANTS[variant])


def test_naive_expiry_with_time_zones(engines: Engines, store_name: str, djclock: DjangoClock) -> None:
    """A naive datetime under ``USE_TZ = True`` breaks Django's arithmetic (a 500); the same here."""
    steps = [ops(["set", "a", 1]), ops(["expiry", "naive", 60]), ops(["get", "a"])]
    compare(engines, store_name, steps, djclock)


# --- contrib.auth --------------------------------------------------------------------------


def _login(username: str, password: str = PASSWORD, **extra: Any) -> tuple[Any, ...]:
    return ("post", "/login/", {"username": username, "password": password, **extra})


def _alogin(username: str, password: str = PASSWORD) -> tuple[Any, ...]:
    return ("apost", "/alogin/", {"username": username, "password": password})


WHOAMI = ("post", "/whoami/")
AWHOAMI = ("apost", "/awhoami/")


@pytest.fixture
def two_users() -> tuple[str, str]:
    return make_user().get_username(), make_user().get_username()


def test_login_logout(
    engines: Engines, store_name: str, djclock: DjangoClock, two_users: tuple[str, str]
) -> None:
    alice, bob = two_users
    steps = [
        ops(["set", "cart", [1, 2]]),
        _login(alice, "wrong"),
        _login(alice),  # anonymous -> signed in: new key, data kept
        ops(["get", "cart"]),
        WHOAMI,
        _login(alice),  # the same user again: no new key
        _login(bob),  # another user: flushed, new key
        ops(["get", "cart"]),
        ("post", "/logout/"),
        WHOAMI,
        ops(["get", "cart"]),
    ]
    compare(engines, store_name, steps, djclock, users=[alice, bob])


def test_login_with_tutorial_expiry(
    engines: Engines, store_name: str, djclock: DjangoClock, two_users: tuple[str, str]
) -> None:
    alice, _ = two_users
    steps = [
        _login(alice, expiry="300"),
        ops(["get", "x"]),
        ("advance", 200),
        WHOAMI,
        ops(["set", "x", 1]),
        ("advance", 299),
        WHOAMI,
        ("advance", 2),
        WHOAMI,
        ops(["get", "x"]),
    ]
    compare(engines, store_name, steps, djclock, users=[alice])


def test_password_change(
    engines: Engines, store_name: str, djclock: DjangoClock, two_users: tuple[str, str]
) -> None:
    alice, _ = two_users
    steps = [
        _login(alice),
        ("post", "/password/", {"password": "new-password-1"}),  # keeps this session: new key
        WHOAMI,
        ops(["get", "x"]),
        ("post", "/password/", {"password": "new-password-2", "keep": "0"}),
        WHOAMI,  # the hash no longer matches: flushed
        _login(alice, "new-password-2"),
        ("post", "/set-password/", {"username": alice, "password": "new-password-3"}),
        WHOAMI,  # changed elsewhere: signed out here too
    ]
    compare(engines, store_name, steps, djclock, users=[alice])


def test_async_login_logout(
    engines: Engines, store_name: str, djclock: DjangoClock, two_users: tuple[str, str]
) -> None:
    alice, bob = two_users
    steps = [
        aops(["set", "a", 1]),
        _alogin(alice),
        AWHOAMI,
        aops(["get", "a"]),
        _alogin(bob),
        AWHOAMI,
        ("apost", "/alogout/"),
        AWHOAMI,
    ]
    compare(engines, store_name, steps, djclock, users=[alice, bob])


def test_secret_key_fallbacks(
    engines: Engines, store_name: str, djclock: DjangoClock, two_users: tuple[str, str]
) -> None:
    """A rotated SECRET_KEY with the old one in SECRET_KEY_FALLBACKS: still signed in, with a
    new key and the auth hash upgraded (Django's get_user), on every engine."""
    alice, _ = two_users
    from django.conf import settings as django_settings

    old = django_settings.SECRET_KEY
    steps = [
        _login(alice),
        ops(["set", "a", 1]),
        ("settings", {"SECRET_KEY": "a-brand-new-secret-key-" + "z" * 40, "SECRET_KEY_FALLBACKS": [old]}),
        WHOAMI,
        WHOAMI,
        ops(["get", "a"]),
    ]
    compare(engines, store_name, steps, djclock, users=[alice])


# --- random sequences ------------------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c"])
values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4), st.lists(st.integers(0, 3), max_size=2)
)
operation = st.one_of(
    st.tuples(st.just("set"), keys, values).map(list),
    st.tuples(st.just("del"), keys).map(list),
    st.tuples(st.just("pop"), keys, values).map(list),
    st.tuples(st.just("setdefault"), keys, values).map(list),
    st.tuples(st.just("get"), keys).map(list),
    st.just(["clear"]),
    st.just(["flush"]),
    st.just(["cycle_key"]),
    st.just(["modified"]),
    st.tuples(st.just("expiry"), st.just("int"), st.integers(-5, 400)).map(list),
    st.tuples(st.just("expiry"), st.sampled_from(["timedelta", "datetime"]), st.integers(-5, 400)).map(list),
    st.just(["expiry", "zero", 0]),
    st.just(["expiry", "none", None]),
)


def loaded_before_clear(operations: list[list[Any]]) -> list[list[Any]]:
    """A read before a request's first ``clear()``. Django's ``clear()`` does not load, so
    on a session that expired between requests its ``db`` backend writes the expired row
    back; sessionary refuses to revive it (a documented difference, tested on its own in
    ``test_clear_without_reading_an_expired_session_revives_nothing``)."""
    out: list[list[Any]] = []
    for op in operations:
        if op == ["clear"] and ["get", "a"] not in out:
            out.append(["get", "a"])
        out.append(op)
    return out


step = st.one_of(
    st.lists(operation, max_size=3).map(lambda o: ops(*loaded_before_clear(o))),
    st.lists(operation, max_size=2).map(lambda o: quiet(*loaded_before_clear(o))),
    st.lists(operation, max_size=2).map(lambda o: ops(*loaded_before_clear(o), status="500")),
    st.integers(1, 200).map(lambda s: ("advance", s)),
)


@pytest.mark.parametrize("store", ["sqlite", "memory"])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_random_sequences(store: str, steps: list[Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    from django.utils import timezone

    engines = Engines(tmp_path_factory.mktemp("random"))
    clock = DjangoClock()
    original = timezone.now
    timezone.now = clock.now  # type: ignore[assignment]
    try:
        compare(engines, store, steps, clock)
    finally:
        timezone.now = original  # type: ignore[assignment]
        engines.close()


def test_reports_are_json() -> None:
    """The views' operations are JSON all the way (a guard on the harness itself)."""
    assert json.loads(json.dumps(SCENARIOS))


def test_clear_without_reading_an_expired_session_revives_nothing(
    engines: Engines, store_name: str, djclock: DjangoClock
) -> None:
    """The one place the random sequences avoid: ``clear()`` as a request's first use of
    a session that expired since the last request. Django's ``db`` backend updates the
    expired row (the old key lives again, 200); sessionary finds no live session to
    update and answers as for a concurrent logout (``UpdateError``: 400), writing nothing."""
    steps = [ops(["set", "a", 1], ["expiry", "int", 1]), ("advance", 1), ops(["clear"]), ops(["get", "a"])]
    django_db = run(engines, "db", steps, djclock)
    ours = run(engines, store_name, steps, djclock)
    # One answer per request (the clock's advance is not one).
    assert [r["status"] for r in django_db[1:]] == [200, 200]
    assert django_db[1]["cookie"]["value"] == "same"  # the expired key, revived
    assert ours[1]["status"] == 400 and ours[1]["cookie"] is None
    assert ours[2]["status"] == 200 and ours[2]["body"]["results"] == [["ok", None]]
