"""The default SQLite store never blocks an async app's event loop (issue 14): its async
face runs each call on a worker thread, checked with the blocking-call detector
Starlette's own suite uses; ``?async=inline`` keeps the calls on the loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

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
    import asyncio

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
