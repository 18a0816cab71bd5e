"""sessionary's Session against Django's own SessionBase, step by step.

Random operation sequences (set, delete, pop, setdefault, update, clear, set_expiry with
every value kind, clock advances, saves with a reload, flush, cycle_key) run through a
sessionary session on a real store and through Django's ``SessionBase`` with an
in-memory backend written to Django's store contract. After every step both must agree
on the data, the ``accessed`` / ``modified`` flags, emptiness, the expiry age and date
(also with ``modification=`` and ``expiry=``) and the browser-close answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

django = pytest.importorskip("django")

from django.conf import settings as django_settings  # noqa: E402

if not django_settings.configured:
    django_settings.configure(USE_TZ=True, SECRET_KEY="differential-test-key-" + "x" * 32)
    django.setup()

from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from sessionary import Config, SessionInterrupted, SessionManager  # noqa: E402
from sessionary.session import Session  # noqa: E402
from sessionary.testing import FakeClock  # noqa: E402

COOKIE_AGE = 3600


class MemoryDjangoStore(SessionBase):
    """A Django backend keeping sessions in a dict, with the db backend's semantics:
    the deadline is ``get_expiry_date()`` at save time and is enforced on load."""

    records: dict[str, tuple[dict[str, Any], datetime]] = {}

    def exists(self, session_key: str) -> bool:
        return session_key in self.records

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if must_create and self.session_key in self.records:
            raise CreateError
        if not must_create and self.session_key not in self.records:
            raise UpdateError
        self.records[self.session_key] = (
            self.serializer().loads(self.serializer().dumps(data)),
            self.get_expiry_date(),
        )

    def delete(self, session_key: str | None = None) -> None:
        self.records.pop(session_key or self.session_key or "", None)

    def load(self) -> dict[str, Any]:
        found = self.records.get(self.session_key or "")
        if found is None or found[1] <= timezone.now():
            self._session_key = None
            return {}
        return self.serializer().loads(self.serializer().dumps(found[0]))


# --- the operations ---------------------------------------------------------------------

keys = st.sampled_from(["a", "b", "c", "user"])
values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
expiries = st.one_of(
    st.none(),
    st.just(0),
    st.integers(-100, 3 * COOKIE_AGE),
    st.floats(1, 5000).map(lambda f: round(f, 3)),
    st.integers(-3600, 7 * 86400).map(lambda s: ("timedelta", s)),
    st.integers(-3600, 7 * 86400).map(lambda s: ("datetime", s)),
)
operations = st.one_of(
    st.tuples(st.just("set"), keys, values),
    st.tuples(st.just("delete"), keys),
    st.tuples(st.just("pop"), keys),
    st.tuples(st.just("pop_default"), keys, values),
    st.tuples(st.just("setdefault"), keys, values),
    st.tuples(st.just("update"), st.dictionaries(keys, values, max_size=2)),
    st.tuples(st.just("get"), keys),
    st.tuples(st.just("contains"), keys),
    st.tuples(st.just("clear")),
    st.tuples(st.just("set_expiry"), expiries),
    st.tuples(st.just("advance"), st.floats(0, 2 * COOKIE_AGE)),
    # Saving is where deltas meet the store: make it as likely as all edits together.
    *[st.tuples(st.just("save_and_reload"))] * 6,
    st.tuples(st.just("reload")),
    st.tuples(st.just("flush")),
    st.tuples(st.just("cycle_key")),
)


SYNC_NAMES = {
    "set": "__setitem__",
    "delete": "__delitem__",
    "pop": "pop",
    "pop_default": "pop",
    "setdefault": "setdefault",
    "update": "update",
    "get": "get",
    "contains": "__contains__",
    "clear": "clear",
    "flush": "flush",
}


class Pair:
    """One Django session and one sessionary session, driven in lockstep."""

    def __init__(self, manager: SessionManager, clock: FakeClock) -> None:
        self.manager = manager
        self.clock = clock
        self.django: SessionBase = MemoryDjangoStore()
        self.ours: Session = manager.open(None)

    def both(self, action: str, *args: Any) -> None:
        results = []
        for session in (self.django, self.ours):
            try:
                results.append(("ok", getattr(session, action)(*args)))
            except KeyError as exc:
                results.append(("KeyError", str(exc)))
        assert results[0] == results[1], f"{action}{args}: django={results[0]} sessionary={results[1]}"

    def run(self, operation: tuple[Any, ...]) -> None:
        name, *args = operation
        if name in SYNC_NAMES:
            self.both(SYNC_NAMES[name], *args)
        elif name == "set_expiry":
            self.both("set_expiry", self.expiry_value(args[0]))
        elif name == "advance":
            self.clock.advance(*args)
        elif name == "save_and_reload":
            if self.expired_mid_request("save"):
                return
            self.django.save()
            self.ours.save()
            self.reload()
        elif name == "reload":
            self.reload()
        elif name == "cycle_key":
            if self.expired_mid_request("cycle_key"):
                return
            self.both("cycle_key")
            assert (self.django.session_key is None) == (self.ours.session_key is None)

    def expiry_value(self, value: Any) -> Any:
        if not isinstance(value, tuple):
            return value
        kind, seconds = value
        if kind == "timedelta":
            return timedelta(seconds=seconds)
        return self.clock.now() + timedelta(seconds=seconds, microseconds=123)

    def expired_mid_request(self, action: str) -> bool:
        """The one deliberate difference: a session whose stored deadline passed while the
        request ran is not extended (nor moved to a new key) by that request; like a
        concurrent logout, the save is refused. Django's db backend would write it again.
        When that case arises, check sessionary refuses, then both sides start afresh."""
        key = self.django.session_key
        record = MemoryDjangoStore.records.get(key or "")
        if record is None or record[1] > timezone.now():
            return False
        with pytest.raises(SessionInterrupted):
            getattr(self.ours, action)()
        self.django = MemoryDjangoStore()
        self.ours = self.manager.open(None)
        return True

    def reload(self) -> None:
        """A new request: each side opens its session from the key it issued."""
        django_key, our_key = self.django.session_key, self.ours.session_key
        assert (django_key is None) == (our_key is None)
        self.django = MemoryDjangoStore(django_key)
        self.ours = self.manager.open(None if our_key is None else f"__Host-sessionid={our_key}")

    def compare(self) -> None:
        """Everything observable, read in the same order on both sides."""
        django, ours = self.django, self.ours
        assert ours.is_empty() == django.is_empty()
        assert (ours.session_key is None) == (django.session_key is None)
        assert ours.accessed == django.accessed
        assert ours.modified == django.modified
        assert dict(ours.items()) == dict(django.items())
        now = self.clock.now()
        assert ours.get_expiry_age() == django.get_expiry_age()
        assert ours.get_expiry_date() == django.get_expiry_date()
        later = now + timedelta(seconds=1234.5678)
        assert ours.get_expiry_age(modification=later) == django.get_expiry_age(modification=later)
        assert ours.get_expiry_date(modification=later) == django.get_expiry_date(modification=later)
        assert ours.get_expiry_age(expiry=None) == django.get_expiry_age(expiry=None)
        assert ours.get_expiry_age(expiry=60) == django.get_expiry_age(expiry=60)
        stamp = now + timedelta(seconds=90, microseconds=500)
        assert ours.get_expiry_age(expiry=stamp) == django.get_expiry_age(expiry=stamp)
        assert ours.get_expiry_age(expiry=stamp.isoformat()) == django.get_expiry_age(
            expiry=stamp.isoformat()
        )
        assert ours.get_expiry_date(expiry=stamp) == django.get_expiry_date(expiry=stamp)
        assert ours.get_expire_at_browser_close() == django.get_expire_at_browser_close()
        assert ours.accessed == django.accessed
        assert ours.modified == django.modified


@pytest.fixture
def fake_django_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


def differential_manager(tmp_path: Any, clock: FakeClock, *, browser_close: bool) -> SessionManager:
    # Pure Django semantics: sessionary's additional timeouts are switched off.
    config = Config(
        cookie_age=COOKIE_AGE,
        expire_at_browser_close=browser_close,
        absolute_timeout=None,
        browser_close_timeout=None,
    )
    return SessionManager(f"sqlite:///{tmp_path}/differential.db", config, clock=clock)


@pytest.mark.parametrize("browser_close", [False, True])
@example(sequence=[("set", "a", 1), ("save_and_reload",), ("clear",), ("save_and_reload",)])
@example(
    sequence=[("set", "a", 1), ("save_and_reload",), ("pop", "a"), ("set", "b", [1]), ("save_and_reload",)]
)
@example(sequence=[("set", "a", 1), ("save_and_reload",), ("flush",), ("set", "b", 2), ("save_and_reload",)])
@example(sequence=[("set", "a", 1), ("save_and_reload",), ("set", "b", 2), ("cycle_key",), ("reload",)])
@example(sequence=[("set_expiry", 10), ("save_and_reload",), ("set_expiry", None), ("save_and_reload",)])
@example(sequence=[("set_expiry", 10), ("save_and_reload",), ("advance", 11.0), ("reload",)])
@example(sequence=[("set_expiry", ("timedelta", 30)), ("save_and_reload",), ("advance", 29.5), ("reload",)])
@example(sequence=[("clear",), ("save_and_reload",), ("update", {"a": None}), ("save_and_reload",)])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(operations, min_size=1, max_size=30))
def test_random_sequences_match_django(
    tmp_path: Any, fake_django_clock: FakeClock, browser_close: bool, sequence: list[tuple[Any, ...]]
) -> None:
    fake_django_clock.set(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    with override_settings(
        USE_TZ=True, SESSION_COOKIE_AGE=COOKIE_AGE, SESSION_EXPIRE_AT_BROWSER_CLOSE=browser_close
    ):
        manager = differential_manager(tmp_path, fake_django_clock, browser_close=browser_close)
        MemoryDjangoStore.records = {}
        pair = Pair(manager, fake_django_clock)
        for operation in sequence:
            pair.run(operation)
            pair.compare()
        manager.close()


def test_the_documented_probe_values(tmp_path: Any, fake_django_clock: FakeClock) -> None:
    """The table in the reference's §1.6, row by row."""
    with override_settings(USE_TZ=True, SESSION_COOKIE_AGE=1209600, SESSION_EXPIRE_AT_BROWSER_CLOSE=False):
        manager = SessionManager(f"sqlite:///{tmp_path}/probe.db", Config(), clock=fake_django_clock)
        now = fake_django_clock.now()
        session = manager.open(None)
        session.set_expiry(300)
        assert session["_session_expiry"] == 300
        assert session.get_expiry_age() == 300
        assert session.get_expiry_date() == now + timedelta(seconds=300)
        assert session.get_expire_at_browser_close() is False
        session.set_expiry(0)
        assert session.get_expiry_age() == 1209600
        assert session.get_expire_at_browser_close() is True
        session.set_expiry(None)
        assert "_session_expiry" not in session
        assert session.get_expiry_date() == now + timedelta(days=14)
        session.set_expiry(timedelta(seconds=90))
        assert session["_session_expiry"] == (now + timedelta(seconds=90)).isoformat()
        assert session.get_expiry_age() == 90
        session.set_expiry(now + timedelta(hours=1))
        assert session.get_expiry_age() == 3600
        session.set_expiry(-10)
        assert session.get_expiry_age() == -10
        # Whole seconds, floored: 10.999999 s gives 10 and -0.5 s gives -1.
        assert session.get_expiry_age(expiry=now + timedelta(seconds=10.999999)) == 10
        assert session.get_expiry_age(expiry=now - timedelta(seconds=0.5)) == -1
        manager.close()


def test_flag_table(tmp_path: Any, fake_django_clock: FakeClock) -> None:
    """The reference's §1.2 table, for the cases random sequences reach rarely."""
    manager = SessionManager(f"sqlite:///{tmp_path}/flags.db", Config(), clock=fake_django_clock)
    session = manager.open(None)
    assert session.is_empty() and not session.accessed and not session.modified
    session.clear()
    assert session.accessed and session.modified
    session = manager.open(None)
    session.update({})
    assert session.modified
    session = manager.open(None)
    assert session.pop("missing", None) is None
    assert session.accessed and not session.modified
    with pytest.raises(KeyError):
        session.pop("missing")
    session.setdefault("k", 1)
    assert session.modified
    session = manager.open(None)
    session["k"] = 1
    session.save()
    reopened = manager.open(f"__Host-sessionid={session.session_key}")
    assert reopened.setdefault("k", 2) == 1
    assert reopened.accessed and not reopened.modified
    nested = manager.open(f"__Host-sessionid={session.session_key}")
    nested["box"] = {"inner": 1}
    nested.save()
    again = manager.open(f"__Host-sessionid={session.session_key}")
    again["box"]["inner"] = 2
    assert not again.modified, "in-place mutation is invisible, as in Django"
    again.modified = True
    again.save()
    assert manager.open(f"__Host-sessionid={session.session_key}")["box"] == {"inner": 2}
    manager.close()


def test_session_key_is_read_only(tmp_path: Any, clock: FakeClock) -> None:
    manager = SessionManager(f"sqlite:///{tmp_path}/ro.db", clock=clock)
    session = manager.open(None)
    with pytest.raises(AttributeError):
        session.session_key = "x" * 43  # type: ignore[misc]
    manager.close()


ASYNC_NAMES = {
    "set": "aset",
    "pop": "apop",
    "pop_default": "apop",
    "setdefault": "asetdefault",
    "update": "aupdate",
    "get": "aget",
    "contains": "ahas_key",
    "set_expiry": "aset_expiry",
    "flush": "aflush",
    "cycle_key": "acycle_key",
}


async def run_async(pair: Pair, operation: tuple[Any, ...]) -> None:
    name, *args = operation
    if name not in ASYNC_NAMES:
        pair.run(operation)
        return
    if name == "set_expiry" and isinstance(args[0], tuple):
        kind, seconds = args[0]
        args = [
            timedelta(seconds=seconds)
            if kind == "timedelta"
            else pair.clock.now() + timedelta(seconds=seconds)
        ]
    if name == "cycle_key" and pair.expired_mid_request("cycle_key"):
        return
    results = []
    for session in (pair.django, pair.ours):
        try:
            results.append(("ok", await getattr(session, ASYNC_NAMES[name])(*args)))
        except KeyError as exc:
            results.append(("KeyError", str(exc)))
    assert results[0] == results[1], f"{name}{args}: django={results[0]} sessionary={results[1]}"


async def compare_async(pair: Pair) -> None:
    django, ours = pair.django, pair.ours
    assert dict(await ours.aitems()) == dict(await django.aitems())
    assert sorted(await ours.akeys()) == sorted(await django.akeys())
    assert await ours.aget_expiry_age() == await django.aget_expiry_age()
    assert await ours.aget_expiry_date() == await django.aget_expiry_date()
    assert await ours.aget_expire_at_browser_close() == await django.aget_expire_at_browser_close()
    assert ours.accessed == django.accessed
    assert ours.modified == django.modified


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(operations, min_size=1, max_size=20))
def test_async_api_matches_django(
    tmp_path: Any, fake_django_clock: FakeClock, sequence: list[tuple[Any, ...]]
) -> None:
    import asyncio

    fake_django_clock.set(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))

    async def scenario() -> None:
        manager = differential_manager(tmp_path, fake_django_clock, browser_close=False)
        MemoryDjangoStore.records = {}
        pair = Pair(manager, fake_django_clock)
        for operation in sequence:
            await run_async(pair, operation)
            await compare_async(pair)
        await manager.aclose()

    with override_settings(USE_TZ=True, SESSION_COOKIE_AGE=COOKIE_AGE, SESSION_EXPIRE_AT_BROWSER_CLOSE=False):
        asyncio.run(scenario())
