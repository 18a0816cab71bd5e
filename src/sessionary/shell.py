"""The two shells that run the pure cycle's steps: :func:`run` (sync) and :func:`arun` (async).

A step (:mod:`sessionary.cycle`, :mod:`sessionary.accounts`, the Django engine) yields
operations of :mod:`sessionary.ops`; a shell performs each on the manager's store (its
sync or async face), its cookie codec, its event hook or the clock, and sends the answer
back (an old library's read of a take-over runs in a worker thread on the async face).
An exception from the store is thrown into the step where it waits, as if raised
there, so the step's own handlers see it. The two shells differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from .ops import SOURCE_METHODS, STORE_METHODS, Decode, Emit, Encode, Op, Pause

if TYPE_CHECKING:
    from .manager import SessionManager
    from .takeover.base import Source

T = TypeVar("T")


def run(steps: Generator[Op, Any, T], manager: SessionManager) -> T:
    """Run ``steps`` to the end on the sync face of the manager's store."""
    backend = manager.store.sync
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            op = steps.send(answer) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            method = STORE_METHODS.get(type(op))
            if method is not None:
                answer = getattr(backend, method)(*op)
            elif type(op) is Pause:
                time.sleep(random.uniform(0, op.seconds))
                answer = None
            elif type(op) in SOURCE_METHODS:
                answer = getattr(_source(manager), SOURCE_METHODS[type(op)])(*op)
            else:
                answer = _local(op, manager)
        except Exception as exc:
            error = exc


async def arun(steps: Generator[Op, Any, T], manager: SessionManager) -> T:
    """Run ``steps`` to the end on the async face of the manager's store."""
    backend = manager.store.aio
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            op = steps.send(answer) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            method = STORE_METHODS.get(type(op))
            if method is not None:
                answer = await getattr(backend, method)(*op)
            elif type(op) is Pause:
                await asyncio.sleep(random.uniform(0, op.seconds))
                answer = None
            elif type(op) in SOURCE_METHODS:
                # The old libraries are read with their ordinary (blocking) clients.
                method = getattr(_source(manager), SOURCE_METHODS[type(op)])
                answer = await asyncio.to_thread(method, *op)
            else:
                answer = _local(op, manager)
        except Exception as exc:
            error = exc


def _source(manager: SessionManager) -> Source:
    source = manager.config.takeover
    assert source is not None, "an old library's operation with no Config.takeover"
    return source


def _local(op: Op, manager: SessionManager) -> Any:
    """An operation that needs no store round trip: an event, or the cookie codec."""
    kind = type(op)
    if kind is Emit:
        manager.emit(op.kind, op.key, user_id=op.user_id, reason=op.reason, new_key=op.new_key)
        return None
    codec = manager.store.codec
    assert codec is not None, f"{kind.__name__} on a store that keeps no cookie codec"
    if kind is Decode:
        return codec.decode(op.token, op.now)
    if kind is Encode:
        return codec.encode(op.record)
    raise TypeError(f"not an operation of sessionary.ops: {op!r}")
