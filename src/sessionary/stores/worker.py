"""The async face of a store whose calls are short but blocking (SQLite): each call runs
on the store's own worker thread, so the event loop never waits on a disk or a lock.

A SQLite read takes microseconds, but it is still a system call on a file, and a write
may wait up to ``busy_timeout`` for another process's lock: an async app must not do
that on its loop (a blocking-call detector such as the one Starlette's suite uses fails
it). One dedicated thread, rather than the loop's default executor, keeps the hop short
(no executor bookkeeping, one wake-up each way) and keeps the store's calls in order.

Under asyncio the result comes back with ``call_soon_threadsafe``; under trio (anyio)
through ``trio.to_thread``; with no event loop (a plain ``await`` driven by hand) the call
runs inline. A forked child starts its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from .._async.backend import AsyncBackend
from .._sync.backend import Backend
from .base import Change, Counts, Record, Rotation, Summary, Swap

T = TypeVar("T")
_STOP: Any = object()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Worker:
    """One daemon thread running calls in order; it ends after a while without work
    (the next call starts a new one), so stores that are dropped leave no thread."""

    IDLE_SECONDS = 10.0

    def __init__(self, owner: WorkerAsync) -> None:
        self.owner = owner
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="sessionary-store", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.owner._lock:
                    if self.jobs.empty():
                        if self.owner._worker is self:
                            self.owner._worker = None
                        return
                continue
            if job is _STOP:
                return
            loop, future, call = job
            try:
                result, error = call(), None
            except BaseException as raised:  # handed to the awaiting task
                result, error = None, raised
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, future, result, error)

    def stop(self) -> None:
        self.jobs.put(_STOP)


class WorkerAsync(AsyncBackend):
    """Runs each call of the wrapped sync store on a worker thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self._worker: _Worker | None = None
        self._lock = threading.Lock()

    def _submit(self, job: tuple[Any, ...]) -> None:
        with self._lock:  # so that an idle worker cannot end between the check and the put
            worker = self._worker
            if worker is None or worker.pid != os.getpid():
                worker = self._worker = _Worker(self)
            worker.jobs.put(job)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return await _off_loop(function, *args)
        future: asyncio.Future[T] = loop.create_future()
        self._submit((loop, future, lambda: function(*args)))
        return await future

    async def load(self, key: bytes, now: float) -> Record | None:
        return await self._call(self.backend.load, key, now)

    async def create(self, record: Record, now: float) -> bool:
        return await self._call(self.backend.create, record, now)

    async def write(self, key: bytes, change: Change, now: float) -> bool:
        return await self._call(self.backend.write, key, change, now)

    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        return await self._call(self.backend.touch, key, last_seen, saved_deadline, expires_at, now)

    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        return await self._call(self.backend.compare_and_set, key, name, expected, value, now)

    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        return await self._call(self.backend.rotate, old_key, record, grace_until, now, change)

    async def delete(self, key: bytes) -> bool:
        return await self._call(self.backend.delete, key)

    async def exists(self, key: bytes) -> bool:
        return await self._call(self.backend.exists, key)

    async def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        batches: Iterator[int] = self.backend.clear_expired(now, batch_size)
        while True:
            count = await self._call(next, batches, None)
            if count is None:
                return
            yield count

    async def count(self, now: float) -> Counts:
        return await self._call(self.backend.count, now)

    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        return await self._call(self.backend.user_sessions, user_id, now)

    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        return await self._call(self.backend.delete_user_session, user_id, key)

    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        return await self._call(self.backend.revoke_user, user_id, valid_after, keep)

    async def aclose(self) -> None:
        if self._worker is not None:
            await self._call(lambda: None)  # the calls queued before this one are done
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
        self.backend.close()


async def _off_loop(function: Callable[..., T], *args: Any) -> T:
    """Not on asyncio: trio's own worker threads when trio runs this task, else inline."""
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            result: T = await trio.to_thread.run_sync(lambda: function(*args))
            return result
    return function(*args)


# --- network stores under trio -------------------------------------------------------

_CALLS = (
    "load",
    "create",
    "write",
    "touch",
    "compare_and_set",
    "rotate",
    "delete",
    "exists",
    "count",
    "user_sessions",
    "delete_user_session",
    "revoke_user",
)


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def any_event_loop(aio: AsyncBackend, sync: Backend) -> AsyncBackend:
    """``aio`` (an asyncio client: Redis, PostgreSQL), made to serve trio (anyio) too: off
    asyncio each call goes to the store's sync face on one of trio's worker threads.

    The object stays what it was (its class becomes a subclass of its own), so on asyncio
    nothing changes but one check per call.
    """
    if isinstance(aio, WorkerAsync) or getattr(aio, "_sync_face", None) is not None:
        return aio
    aio.__class__ = _any_loop_class(type(aio))
    aio._sync_face = sync  # type: ignore[attr-defined]
    return aio


_classes: dict[type, type] = {}


def _any_loop_class(base: type) -> type:
    made = _classes.get(base)
    if made is not None:
        return made
    namespace: dict[str, Any] = {"__doc__": base.__doc__, "__module__": base.__module__}
    for name in _CALLS:
        namespace[name] = _forward(base, name)

    def clear_expired(self: Any, now: float, batch_size: int) -> AsyncIterator[int]:
        if _on_asyncio():
            batches: AsyncIterator[int] = base.clear_expired(self, now, batch_size)  # type: ignore[attr-defined]
            return batches
        return _sync_batches(self._sync_face.clear_expired(now, batch_size))

    async def aclose(self: Any) -> None:
        if _on_asyncio():
            await base.aclose(self)  # type: ignore[attr-defined]
        else:
            await _off_loop(self._sync_face.close)

    namespace["clear_expired"] = clear_expired
    namespace["aclose"] = aclose
    made = type(base.__name__, (base,), namespace)
    _classes[base] = made
    return made


def _forward(base: type, name: str) -> Callable[..., Any]:
    native = getattr(base, name)

    async def call(self: Any, *args: Any) -> Any:
        if _on_asyncio():
            return await native(self, *args)
        return await _off_loop(getattr(self._sync_face, name), *args)

    call.__name__ = name
    return call


async def _sync_batches(batches: Iterator[int]) -> AsyncIterator[int]:
    while True:
        count = await _off_loop(next, batches, None)
        if count is None:
            return
        yield count
