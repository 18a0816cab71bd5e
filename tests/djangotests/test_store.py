"""``sessionary.django.SessionStore``'s storage primitives against Django's contract, and its
configuration: create / save / load / delete / exists / clear_expired, the async face,
the serializer, the settings."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signing import JSONSerializer
from django.test.utils import override_settings

from sessionary.django import SessionStore, conf, get_manager
from sessionary.django.apps import check_settings
from sessionary.errors import SessionValueError, StoreError
from sessionary.stores import Store, register_scheme
from sessionary.stores.inline import InlineAsync
from sessionary.stores.memory import open_memory
from sessionary.tokens import store_key

from .conftest import DjangoClock, Engines


def stored(key: str | None) -> bool:
    return key is not None and get_manager().store.sync.exists(store_key(key))


def test_create_saves_at_once_under_a_token(ours: None) -> None:
    session = SessionStore()
    session.create()
    assert session.modified is True
    assert len(session.session_key or "") == 43
    assert stored(session.session_key)
    assert session.exists(session.session_key) is True


class Colliding(SessionStore):
    """Draws a key that is taken before fresh ones (as a broken random source would)."""

    taken: list[str] = []

    def _get_new_session_key(self) -> str:
        if self.taken:
            return self.taken.pop()
        return super()._get_new_session_key()


def test_create_retries_on_a_collision(ours: None) -> None:
    existing = SessionStore()
    existing["owner"] = "first"
    existing.save()
    Colliding.taken = [existing.session_key or ""]
    session = Colliding()
    session["owner"] = "second"
    session.create()
    assert session.session_key != existing.session_key
    assert Colliding.taken == []
    assert SessionStore(existing.session_key).get("owner") == "first"
    assert SessionStore(session.session_key).get("owner") == "second"


def test_create_gives_up_when_every_key_is_taken(ours: None) -> None:
    existing = SessionStore()
    existing.save()

    class AlwaysTaken(SessionStore):
        def _get_new_session_key(self) -> str:
            return existing.session_key or ""

    with pytest.raises(StoreError, match="no free session key"):
        AlwaysTaken().create()


def test_must_create_refuses_a_taken_key(ours: None) -> None:
    first = SessionStore()
    first.save()
    second = SessionStore(first.session_key)
    with pytest.raises(CreateError):
        second.save(must_create=True)


def test_update_of_a_deleted_session_raises_and_does_not_resurrect(ours: None) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    key = session.session_key
    reloaded = SessionStore(key)
    reloaded["a"] = 2
    SessionStore().delete(key)  # a concurrent logout
    with pytest.raises(UpdateError):
        reloaded.save()
    assert not stored(key)
    cleared = SessionStore(key)
    cleared.clear()  # replaces the data without loading: still no resurrection
    with pytest.raises(UpdateError):
        cleared.save()
    assert not stored(key)


def test_unknown_key_loads_empty_and_is_never_adopted(ours: None) -> None:
    for key in ("Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg", "someunknownkey", "ünïcode-key-✓-1234"):
        session = SessionStore(key)
        assert session.load() == {}
        assert session.session_key is None
        assert session.exists(key) is False
        session["a"] = 1
        session.save()
        assert session.session_key != key


def test_exists_ignores_expiry_like_django(ours: None, djclock: DjangoClock) -> None:
    session = SessionStore()
    session.set_expiry(10)
    session.save()
    djclock.advance(11)
    assert session.exists(session.session_key) is True
    assert SessionStore(session.session_key).load() == {}


def test_delete_and_flush(ours: None) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    key = session.session_key
    session.delete("unknown-key-of-some-length")  # nothing to delete: no error
    session.flush()
    assert session.session_key is None
    assert not stored(key)
    assert session.is_empty()


def test_cycle_key_keeps_data_and_kills_the_old_key(ours: None) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    old = session.session_key
    session["b"] = 2  # not saved yet: moves with the key, as in Django
    session.cycle_key()
    assert session.session_key != old
    assert not stored(old)
    assert dict(SessionStore(session.session_key).items()) == {"a": 1, "b": 2}


def test_cycle_key_of_a_vanished_session_creates_it_anew(ours: None) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    old = session.session_key
    SessionStore().delete(old)
    session.cycle_key()
    assert session.session_key not in (None, old)
    assert dict(SessionStore(session.session_key).items()) == {"a": 1}


def test_clear_expired_and_clearsessions(ours: None, djclock: DjangoClock) -> None:
    keys = []
    for expiry in (10, 10, 1000):
        session = SessionStore()
        session.set_expiry(expiry)
        session.save()
        keys.append(session.session_key)
    djclock.advance(11)
    SessionStore.clear_expired()
    assert [stored(key) for key in keys] == [False, False, True]
    djclock.advance(1000)
    call_command("clearsessions")
    assert not stored(keys[2])


def test_aclear_expired(ours: None, djclock: DjangoClock) -> None:
    session = SessionStore()
    session.set_expiry(5)
    session.save()
    djclock.advance(6)
    asyncio.run(SessionStore.aclear_expired())
    assert not stored(session.session_key)


def test_only_changed_keys_are_written(ours: None) -> None:
    """A save sends the keys whose JSON changed (values mutated in place included), so
    two requests that change different keys do not undo each other."""
    first = SessionStore()
    first.update({"a": 1, "b": [1], "c": 3})
    first.save()
    one, two = SessionStore(first.session_key), SessionStore(first.session_key)
    one.load(), two.load()
    one["a"] = 10
    two["b"].append(2)
    two.modified = True
    del two["c"]
    one.save()
    two.save()
    assert dict(SessionStore(first.session_key).items()) == {"a": 10, "b": [1, 2]}


def test_a_value_json_cannot_hold_fails_the_save_and_writes_nothing(ours: None) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    session["when"] = object()
    with pytest.raises(TypeError):
        session.save()
    assert dict(SessionStore(session.session_key).items()) == {"a": 1}
    nan = SessionStore(session.session_key)
    nan["x"] = float("nan")
    with pytest.raises(SessionValueError, match="'x'"):
        nan.save()


# --- the async face ----------------------------------------------------------------------------


class Recording:
    """Forwards to a store face and notes each call with the thread that made it."""

    def __init__(self, target: Any, calls: list[tuple[str, int]]) -> None:
        self._target = target
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, threading.get_ident()))
            return attribute(*args, **kwargs)

        return call


SYNC_CALLS: list[tuple[str, int]] = []
ASYNC_CALLS: list[tuple[str, int]] = []


def open_recording(url: str, *, config: Any = None) -> Store:
    inner = open_memory("memory://", config=config)
    return Store(Recording(inner.sync, SYNC_CALLS), Recording(InlineAsync(inner.sync), ASYNC_CALLS))  # type: ignore[arg-type]


register_scheme("recording", "djangotests.test_store:open_recording")


@pytest.fixture
def recording() -> Iterator[None]:
    SYNC_CALLS.clear()
    ASYNC_CALLS.clear()
    with override_settings(SESSIONARY_STORE="recording://"):
        yield
    conf.reset()


def test_async_api_runs_on_the_async_face_in_the_event_loop(recording: None) -> None:
    """No sync_to_async: every store call of the a* API is made by the event loop's thread."""

    async def scenario() -> tuple[int, dict[str, Any]]:
        session = SessionStore()
        await session.aset("a", 1)
        await session.aset_expiry(timedelta(seconds=60))
        await session.asave()
        again = SessionStore(session.session_key)
        assert await again.aget("a") == 1
        assert await again.aexists(session.session_key)
        await again.acycle_key()
        await again.aset("b", 2)
        await again.asave()
        items = dict(await SessionStore(again.session_key).aitems())
        await again.aflush()
        await SessionStore.aclear_expired()
        fresh = SessionStore()
        await fresh.acreate()
        await fresh.adelete()
        return threading.get_ident(), items

    loop_thread, items = asyncio.run(scenario())
    assert items["b"] == 2 and items["a"] == 1
    assert SYNC_CALLS == []
    called = {name for name, _ in ASYNC_CALLS}
    assert {"create", "load", "exists", "rotate", "write", "delete", "clear_expired"} <= called
    assert {thread for _, thread in ASYNC_CALLS} == {loop_thread}


# --- SESSION_SERIALIZER -----------------------------------------------------------------------


class DatesSerializer(JSONSerializer):
    """A JSON serializer that also stores dates (as Django's DjangoJSONEncoder writes them)."""

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), cls=DjangoJSONEncoder).encode("latin-1")


class PickleSerializer:
    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


def test_a_json_serializer_of_ones_own_is_used(
    engines: Engines, store_name: str, djclock: DjangoClock
) -> None:
    with engines.activate(store_name, SESSION_SERIALIZER="djangotests.test_store.DatesSerializer"):
        session = SessionStore()
        session["when"] = djclock.now()
        session.save()
        assert SessionStore(session.session_key)["when"] == djclock.now().isoformat().replace("+00:00", "Z")


def test_a_serializer_that_does_not_write_json_is_refused_at_start_up(ours: None) -> None:
    with override_settings(SESSION_SERIALIZER="djangotests.test_store.PickleSerializer"):
        with pytest.raises(ImproperlyConfigured, match="does not write JSON"):
            get_manager()
        errors = check_settings()
        assert [error.id for error in errors] == ["sessionary.E001"]
    with (
        override_settings(SESSION_SERIALIZER="djangotests.nowhere.Serializer"),
        pytest.raises(ImproperlyConfigured, match="cannot import"),
    ):
        get_manager()


# --- settings ----------------------------------------------------------------------------------


def test_settings_errors_name_the_setting(ours: None) -> None:
    with (
        override_settings(SESSIONARY_IDLE_TIMEOUT=-5),
        pytest.raises(ImproperlyConfigured, match="SESSIONARY_IDLE_TIMEOUT"),
    ):
        get_manager()
    with (
        override_settings(SESSIONARY_IDLE_TIMOUT=60),
        pytest.raises(ImproperlyConfigured, match="SESSIONARY_IDLE_TIMOUT"),
    ):
        get_manager()
    with (
        override_settings(SESSIONARY_STORE="nosuch://x"),
        pytest.raises(ImproperlyConfigured, match="SESSIONARY_STORE"),
    ):
        get_manager()
    with (
        override_settings(SESSIONARY_STORE=42),
        pytest.raises(ImproperlyConfigured, match="SESSIONARY_STORE"),
    ):
        get_manager()
    assert check_settings() == []
    found = [m.id for m in checks.run_checks() if m.id and m.id.startswith("sessionary")]
    assert found == ["sessionary.W001"], "only: the tests' settings keep Django's own session middleware"


def test_a_changed_setting_rebuilds_the_manager(engines: Engines, tmp_path: Any) -> None:
    with engines.activate("sqlite"):
        first = get_manager()
        assert get_manager() is first
        with override_settings(
            SESSIONARY_STORE=f"sqlite:///{tmp_path / 'other.db'}", SESSIONARY_IDLE_TIMEOUT=60
        ):
            second = get_manager()
            assert second is not first
            assert second.store.name.endswith("other.db")
            assert second.config.idle_timeout == 60
        assert get_manager().config.idle_timeout is None


def test_defaults_keep_djangos_behaviour(ours: None) -> None:
    config = get_manager().config
    assert config.idle_timeout is None
    assert config.absolute_timeout is None
    assert config.browser_close_timeout is None
    assert config.max_sessions_per_user is None
    assert config.max_value_bytes is None
    assert config.accept_django_keys is False


def test_a_new_session_holds_what_sessionbase_init_gives_it() -> None:
    """``SessionStore.__init__`` does ``SessionBase.__init__``'s work with the serializer
    and the cookie age taken from the kept settings, which follow a change; sessionary's
    own state starts as the class's defaults."""
    for key in (None, "", "short", "k" * 7, "k" * 8, "k" * 43):
        made = SessionStore(key)
        reference = SessionStore.__new__(SessionStore)
        SessionBase.__init__(reference, key)
        assert vars(made) == vars(reference)
        assert (made._record, made._loaded, made._signed_in, made._client) == (None, None, False, None)
    assert SessionStore().serializer is JSONSerializer
    with override_settings(
        SESSION_SERIALIZER="djangotests.test_store.DatesSerializer", SESSION_COOKIE_AGE=60
    ):
        assert SessionStore().serializer is DatesSerializer
        assert SessionStore().get_session_cookie_age() == 60 == SessionBase().get_session_cookie_age()
    assert SessionStore().serializer is JSONSerializer
    assert SessionStore().get_session_cookie_age() == SessionBase().get_session_cookie_age()


def test_key_salt_is_djangos() -> None:
    """Named SessionStore, so data Django's db backend encoded decodes here too (importer)."""
    assert SessionStore().key_salt == "django.contrib.sessions.SessionStore"


def test_a_subclass_with_a_key_rule_of_its_own_keeps_it() -> None:
    class Strict(SessionStore):
        def _validate_session_key(self, key: str | None) -> bool:
            return bool(key) and len(key or "") >= 40

    assert Strict("k" * 20).session_key is None
    assert Strict("k" * 43).session_key == "k" * 43
    assert SessionStore("k" * 20).session_key == "k" * 20


def test_is_empty_answers_as_sessionbase_does() -> None:
    """The engine reads the key without its property; the answer is SessionBase's own."""
    cases = []
    for key in (None, "", "short", "k" * 43):
        for cache in (None, {}, {"a": 1}):
            made = SessionStore(key)
            if cache is not None:
                made._session_cache = cache
            cases.append(made)
    for made in cases:
        assert made.is_empty() == SessionBase.is_empty(made), (made.session_key, vars(made))
    assert [made.is_empty() for made in cases].count(True) == 6  # no key, and no data
