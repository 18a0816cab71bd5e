"""The default SQLite store never blocks an async app's event loop (issue 14): its async
face runs each call on a worker thread, checked with the blocking-call detector
Starlette's own suite uses; ``?async=inline`` keeps the calls on the loop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blockbuster import BlockBuster
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import ConfigError, SessionMiddleware, alogin
from sessionary.stores import open_store
from sessionary.stores.inline import InlineAsync
from sessionary.stores.worker import WorkerAsync


async def write(request: Request) -> PlainTextResponse:
    await alogin(request.session, "alice")
    await request.session.aset("n", (await request.session.aget("n", 0)) + 1)
    return PlainTextResponse("ok")


async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(await request.session.aget("n")))


@pytest.fixture
def detector() -> Iterator[None]:
    bb = BlockBuster("sessionary")  # flags blocking calls made from sessionary's code on the loop
    bb.functions["io.BufferedReader.read"].can_block_in("/starlette/testclient.py", "receive")
    bb.activate()
    try:
        yield
    finally:
        bb.deactivate()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_default_sqlite_store_passes_a_blocking_call_detector(
    tmp_path: Path, detector: None, backend: str
) -> None:
    app = Starlette(routes=[Route("/write", write), Route("/read", read)])
    with TestClient(SessionMiddleware(app, store=f"sqlite:///{tmp_path}/s.db"), backend=backend) as client:
        client.get("/write")
        client.get("/write")
        assert client.get("/read").text == "2"


def test_inline_calls_sqlite_on_the_loop(tmp_path: Path, detector: None) -> None:
    app = Starlette(routes=[Route("/write", write)])
    middleware = SessionMiddleware(app, store=f"sqlite:///{tmp_path}/s.db?async=inline")
    with (
        TestClient(middleware, raise_server_exceptions=True) as client,
        pytest.raises(Exception, match="Blocking call"),
    ):
        client.get("/write")


def test_the_async_option(tmp_path: Path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/a.db").aio, WorkerAsync)
    assert isinstance(open_store(f"sqlite:///{tmp_path}/b.db?async=inline").aio, InlineAsync)
    with pytest.raises(ConfigError, match="async="):
        open_store(f"sqlite:///{tmp_path}/c.db?async=sometimes")


def test_the_worker_thread_ends_when_idle_and_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionary.stores import worker

    monkeypatch.setattr(worker._Worker, "IDLE_SECONDS", 0.05)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    aio = store.aio
    assert isinstance(aio, WorkerAsync)

    async def count() -> int:
        return (await aio.count(0.0)).live

    assert asyncio.run(count()) == 0
    first = aio._worker
    assert first is not None and first.thread.is_alive()
    first.thread.join(timeout=5)
    assert not first.thread.is_alive() and aio._worker is None  # no thread left behind
    assert asyncio.run(count()) == 0  # a new one starts
    assert aio._worker is not None and aio._worker.thread.name == "sessionary-store"
    asyncio.run(aio.aclose())
    assert threading.active_count() >= 1


def test_calls_queued_together_are_answered_with_one_wake_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the worker waits on another process's lock, the calls queued behind it are
    run as one batch and their loop is woken once for all the answers."""
    import sqlite3

    from sessionary.stores import worker

    rings: list[int] = []
    ring = worker._Inbox.ring

    def counted_ring(self: worker._Inbox) -> None:
        rings.append(len(self.answers))
        ring(self)

    monkeypatch.setattr(worker._Inbox, "ring", counted_ring)
    store = open_store(f"sqlite:///{tmp_path}/s.db?busy_timeout=5000")
    store.sync.count(0.0)  # the schema exists
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)

    async def run() -> list[int]:
        aio = store.aio
        await aio.count(0.0)  # the worker and this loop's inbox exist
        rings.clear()
        other.execute("BEGIN IMMEDIATE")  # another process's write lock
        blocked = asyncio.ensure_future(aio.delete(b"x" * 32))  # waits for the lock
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(aio.count(0.0)) for _ in range(20)]
        await asyncio.sleep(0.05)
        other.execute("COMMIT")
        assert await blocked is False
        counts = [(await call).live for call in queued]
        await aio.aclose()
        return counts

    assert asyncio.run(run()) == [0] * 20
    assert sum(rings) == 22  # every answer (and aclose's own) came through a ring...
    assert len(rings) <= 3  # ...in at most a ring or two for the 21 calls, not one each
    other.close()


class _LoopWithoutReaders(asyncio.SelectorEventLoop):
    """An event loop that cannot watch a file descriptor, as Windows' proactor loop."""

    def add_reader(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError


def test_a_loop_that_cannot_watch_a_descriptor_gets_its_answers_all_the_same(tmp_path: Path) -> None:
    from sessionary.stores import worker

    store = open_store(f"sqlite:///{tmp_path}/s.db")
    loop = _LoopWithoutReaders()
    try:

        async def run() -> list[int]:
            counts = await asyncio.gather(*(store.aio.count(0.0) for _ in range(10)))
            return [c.live for c in counts]

        assert loop.run_until_complete(run()) == [0] * 10
        assert worker._inboxes[loop] is None  # answered through call_soon_threadsafe
        loop.run_until_complete(store.aclose())
    finally:
        loop.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_worker_of_its_own(tmp_path: Path) -> None:
    """A server that used the store before forking its workers: the child's calls run on
    a thread of its own and come back to its own loop."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")

    async def live() -> int:
        return (await store.aio.count(0.0)).live

    assert asyncio.run(live()) == 0  # the parent's worker thread and inbox exist
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = 0 if asyncio.run(asyncio.wait_for(live(), 20)) == 0 else 2
        finally:
            os._exit(status)
    deadline = time.monotonic() + 30
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's call never came back")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    assert asyncio.run(live()) == 0  # and the parent goes on with its own
    asyncio.run(store.aclose())
