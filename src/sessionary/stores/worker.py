"""The async face of a store whose calls are short but blocking (SQLite): each call runs
on the store's own worker thread, so the event loop never waits on a disk or a lock.

A SQLite read takes microseconds, but it is still a system call on a file, and a write
may wait up to ``busy_timeout`` for another process's lock: an async app must not do
that on its loop (a blocking-call detector such as the one Starlette's suite uses fails
it). The hop to a thread and back is then the cost, so it is kept to its floor: one
dedicated thread (no executor bookkeeping, the calls in order) wakes once for whatever
calls are queued, runs them all, and wakes each waiting event loop once for all their
answers, through an ``eventfd`` (a pipe where there is none) the loop watches: one
system call each way per batch, where ``call_soon_threadsafe`` costs a write and two
reads of the loop's self-pipe per answer. On Windows, whose loops cannot watch a pipe,
the answers come through ``call_soon_threadsafe``.

Under trio (anyio) a call goes through ``trio.to_thread``; with no event loop (a plain
``await`` driven by hand) it runs inline. A forked child starts its own thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import queue
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from .backend import AsyncBackend, Backend
from .base import Change, Counts, Record, Rotation, Summary, Swap

T = TypeVar("T")
_STOP: Any = object()

forks = 0
"""How many times this process is a fork's child: a worker or a connection made before
the fork (``made_in != forks``) belongs to the parent (checked without a ``getpid``
call; the SQLite store's connections use it too)."""


def _forked() -> None:
    global forks
    forks += 1
    _inboxes.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Inbox:
    """Where the worker leaves one event loop's answers, and the file descriptor that
    wakes the loop to settle them: the worker rings once per batch, the loop reads once
    and settles every answer waiting (an answer left after a ring always has a ring of
    its own after it, so none is missed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answers: collections.deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = (
            collections.deque()
        )
        if hasattr(os, "eventfd"):
            self.read_fd = self.write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:
            self.read_fd, self.write_fd = os.pipe()
        try:
            os.set_blocking(self.read_fd, False)
            os.set_blocking(self.write_fd, False)
            loop.add_reader(self.read_fd, self.settle)
        except BaseException:
            _close_fds(self.read_fd, self.write_fd)
            raise
        # The descriptors live as long as this object: a worker holding an answer for a
        # loop that is gone still rings a descriptor of its own, never a reused number.
        self._closer = weakref.finalize(self, _close_fds, self.read_fd, self.write_fd)

    def ring(self) -> None:
        # Plain try/except, not contextlib.suppress: this is the last thing the worker does
        # before it waits again, and the loop it wakes may need the GIL the worker holds.
        try:
            if self.read_fd == self.write_fd:
                os.eventfd_write(self.write_fd, 1)
            else:
                os.write(self.write_fd, b"\0")
        except OSError:  # a full pipe: the loop has a ring to read already
            pass

    def settle(self) -> None:
        try:  # noqa: SIM105 (contextlib.suppress costs a context manager on every answer)
            os.read(self.read_fd, 4096)
        except OSError:
            pass
        answers = self.answers
        while answers:
            _settle(*answers.popleft())


def _close_fds(read_fd: int, write_fd: int) -> None:
    for fd in {read_fd, write_fd}:
        with contextlib.suppress(OSError):
            os.close(fd)


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox | None] = weakref.WeakKeyDictionary()
"""Each event loop's inbox (shared by every store's worker); None for a loop that cannot
watch a file descriptor, which is answered through ``call_soon_threadsafe``."""


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox | None:
    try:
        return _inboxes[loop]
    except KeyError:
        pass
    inbox: _Inbox | None = None
    if sys.platform != "win32":
        with contextlib.suppress(NotImplementedError, OSError, RuntimeError):  # a loop that cannot watch it
            inbox = _Inbox(loop)
    _inboxes[loop] = inbox
    return inbox


class _Worker:
    """One daemon thread running calls in order; it ends after a while without work
    (the next call starts a new one), so stores that are dropped leave no thread."""

    IDLE_SECONDS = 10.0

    def __init__(self, owner: WorkerAsync) -> None:
        self.owner = owner
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.made_in = forks
        self.thread = threading.Thread(target=self._run, name="sessionary-store", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        jobs = self.jobs
        while True:
            try:
                job = jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self.owner._lock:
                    if jobs.empty():
                        if self.owner._worker is self:
                            self.owner._worker = None
                        return
                continue
            # Run every call queued by now, then wake each loop once for all its answers.
            to_ring: list[_Inbox] = []
            while job is not _STOP:
                loop, inbox, future, function, args = job
                try:
                    result, error = function(*args), None
                except BaseException as raised:  # handed to the awaiting task
                    result, error = None, raised
                if inbox is not None:
                    inbox.answers.append((future, result, error))
                    if inbox not in to_ring:
                        to_ring.append(inbox)
                else:
                    with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                        loop.call_soon_threadsafe(_settle, future, result, error)
                if jobs.empty():  # (this thread is the only one taking jobs: no exception raised)
                    break
                job = jobs.get()
            for inbox in to_ring:
                inbox.ring()
            if job is _STOP:
                return

    def stop(self) -> None:
        self.jobs.put(_STOP)


class WorkerAsync(AsyncBackend):
    """Runs each call of the wrapped sync store on a worker thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._last_loop: Callable[[], asyncio.AbstractEventLoop | None] = _no_loop
        self._last_inbox: _Inbox | None = None
        """The inbox of the loop of the last call (most stores serve one loop)."""

    def _submit(self, job: tuple[Any, ...]) -> None:
        with self._lock:  # so that an idle worker cannot end between the check and the put
            worker = self._worker
            if worker is None or worker.made_in != forks:
                worker = self._worker = _Worker(self)
            worker.jobs.put(job)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return await _off_loop(function, *args)
        if self._last_loop() is loop:
            inbox = self._last_inbox
        else:
            inbox = self._last_inbox = _inbox(loop)
            self._last_loop = weakref.ref(loop)
        future: asyncio.Future[T] = loop.create_future()
        self._submit((loop, inbox, future, function, args))
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
            await self._call(_nothing)  # the calls queued before this one are done
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
        self.backend.close()


def _nothing() -> None:
    return None


def _no_loop() -> None:
    return None


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
