"""The two shells: each operation a step yields is performed on the store's sync or async
face (or the event hook), its answer sent back, and a store's exception thrown into the
step where it waits."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from sessionary import SessionManager
from sessionary.errors import StoreError
from sessionary.events import Event
from sessionary.ops import Create, Emit, Load, Op
from sessionary.shell import arun, run
from sessionary.stores.base import Meta, Record
from sessionary.testing import FakeClock

pytestmark = pytest.mark.anyio

KEY = b"k" * 32


def record() -> Record:
    meta = Meta(created_at=1.0, issued_at=1.0, last_seen=1.0, saved_deadline=10**10)
    return Record(KEY, {"a": 1}, meta, 10**10)


def steps(seen: list[Any]) -> Generator[Op, Any, str]:
    created = yield Create(record(), 2.0)
    again = yield Create(record(), 2.0)  # the key is taken now
    loaded = yield Load(KEY, 2.0)
    seen.extend([created, again, loaded.data])
    yield Emit("created", KEY, "u1", "a reason")
    return "done"


def manager(events: list[Event]) -> SessionManager:
    return SessionManager("memory://", clock=FakeClock(), on_event=events.append)


def test_run_performs_each_operation_on_the_sync_face() -> None:
    events: list[Event] = []
    seen: list[Any] = []
    assert run(steps(seen), manager(events)) == "done"
    assert seen == [True, False, {"a": 1}]
    assert [(e.kind, e.user_id, e.reason) for e in events] == [("created", "u1", "a reason")]


async def test_arun_performs_each_operation_on_the_async_face() -> None:
    events: list[Event] = []
    seen: list[Any] = []
    assert await arun(steps(seen), manager(events)) == "done"
    assert seen == [True, False, {"a": 1}]
    assert len(events) == 1


class Failing:
    name = "failing://"

    def load(self, key: bytes, now: float) -> Record | None:
        raise StoreError(self.name, "down")

    async def aload(self, key: bytes, now: float) -> Record | None:
        raise StoreError(self.name, "down")


def handles(caught: list[Exception]) -> Generator[Op, Any, str]:
    try:
        yield Load(KEY, 1.0)
    except StoreError as error:
        caught.append(error)
        return "handled"
    return "not reached"


def test_a_store_error_is_thrown_into_the_step_where_it_waits() -> None:
    sessions = manager([])
    sessions.store.sync.load = Failing().load  # type: ignore[method-assign]
    caught: list[Exception] = []
    assert run(handles(caught), sessions) == "handled"
    assert isinstance(caught[0], StoreError)


async def test_the_async_shell_throws_it_too() -> None:
    sessions = manager([])
    sessions.store.aio.load = Failing().aload  # type: ignore[method-assign]
    caught: list[Exception] = []
    assert await arun(handles(caught), sessions) == "handled"
    assert isinstance(caught[0], StoreError)


def test_an_error_the_step_does_not_handle_reaches_the_caller() -> None:
    sessions = manager([])
    sessions.store.sync.load = Failing().load  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="down"):
        run(steps([]), sessions)
