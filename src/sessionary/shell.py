"""The two shells that run the pure cycle's steps: :func:`run` (sync) and :func:`arun` (async).

A step (:mod:`sessionary.cycle`, :mod:`sessionary.accounts`, the Django engine) yields
operations of :mod:`sessionary.ops`; a shell performs each on the manager's store (its
sync or async face), its cookie codec, its event hook or the clock, and sends the answer
back (an old library's read of a take-over runs in a worker thread on the async face).
The sync shell refuses, or reports, its first call that waits on I/O while an asyncio
event loop runs in the same thread (``Config.blocking_store_calls``, :func:`check_blocking`);
:func:`start` runs steps only up to that call, for :func:`arun` to finish them later.
An exception from the store is thrown into the step where it waits, as if raised
there, so the step's own handlers see it. The two shells differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import warnings
from asyncio.events import _get_running_loop
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import BlockingCallError, BlockingCallWarning, blocking_message
from .ops import SOURCE_METHODS, STORE_METHODS, Decode, Emit, Encode, Op, Pause

if TYPE_CHECKING:
    from .manager import SessionManager
    from .takeover.base import Source

T = TypeVar("T")


def run(steps: Generator[Op, Any, T], manager: SessionManager, pending: Suspended | None = None) -> T:
    """Run ``steps`` to the end on the sync face of the manager's store (``pending``: steps
    :func:`start` suspended, whose waiting operation comes first)."""
    backend = manager.store.sync
    answer: Any = None
    error: Exception | None = None
    checked = manager.blocking_store_calls == "allow"
    first = None
    if pending is not None:
        steps, first = pending.steps, pending.op
    while True:
        if first is not None:
            op, first = first, None
        else:
            try:
                op = steps.send(answer) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        error = None
        if not checked and _waits(op):
            checked = True
            check_blocking(manager, call_name(op), waits=waits_always(op))
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


class Suspended:
    """Steps stopped at their first operation that waits on I/O (``op``, not yet done)."""

    __slots__ = ("op", "steps")

    def __init__(self, steps: Generator[Op, Any, Any], op: Op) -> None:
        self.steps = steps
        self.op = op


def start(steps: Generator[Op, Any, Any], manager: SessionManager) -> Suspended | None:
    """Run ``steps`` up to their first operation that waits on I/O and return them stopped
    there, for :func:`arun` or :func:`run` (``pending=``) to finish; None when they
    ended without one. What comes before (the pure decisions, events, the cookie codec)
    happens now."""
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            op = steps.send(answer) if error is None else steps.throw(error)
        except StopIteration:
            return None
        error = None
        if _waits(op):
            return Suspended(steps, op)
        try:
            answer = _local(op, manager)
        except Exception as exc:
            error = exc


def _waits(op: Op) -> bool:
    kind = type(op)
    return kind in STORE_METHODS or kind is Pause or kind in SOURCE_METHODS


def waits_always(op: Op) -> bool | None:
    """True for an operation that waits whatever the store (a pause, an old library's
    read), None for a store call (the store says: ``Store.sync_blocks_loop``)."""
    return type(op) not in STORE_METHODS or None


def call_name(op: Op) -> str:
    """How a blocking-call report names ``op``."""
    kind = type(op)
    if kind is Pause:
        return "a pause between atomic update attempts (time.sleep)"
    if kind in SOURCE_METHODS:
        return f"{SOURCE_METHODS[kind]} of the old library's store"
    return STORE_METHODS[kind]


def check_blocking(manager: SessionManager, call: str, *, waits: bool | None = None) -> None:
    """Apply ``blocking_store_calls`` to a sync call about to wait on I/O (``waits``: None
    asks the store): nothing when no asyncio event loop runs in this thread, or the store
    never waits (``memory://``, ``cookie://``); else raise, warn (once per manager and
    call site) or let it through."""
    policy = manager.blocking_store_calls
    if policy == "allow" or _get_running_loop() is None:
        return
    if not (manager.store.sync_blocks_loop if waits is None else waits):
        return
    site = _call_site()
    where = None if site is None else f"{site[2]}() at {site[0]}:{site[1]}"
    if policy == "raise":
        raise BlockingCallError(call, manager.store.name, where)
    if site in manager.warned_sites:
        return
    manager.warned_sites.add(site)
    message = blocking_message(call, manager.store.name, where)
    if site is None:
        warnings.warn(message, BlockingCallWarning, stacklevel=3)
    else:
        warnings.warn_explicit(message, BlockingCallWarning, site[0], site[1], module=site[3])


def _call_site() -> tuple[str, int, str, str] | None:
    """The innermost frame outside sessionary: the code that asked for the store call."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "sessionary" and not module.startswith("sessionary."):
            return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, module
        frame = frame.f_back  # type: ignore[assignment]
    return None


async def arun(steps: Generator[Op, Any, T], manager: SessionManager, pending: Suspended | None = None) -> T:
    """Run ``steps`` to the end on the async face of the manager's store (``pending``:
    steps :func:`start` suspended, whose waiting operation comes first)."""
    backend = manager.store.aio
    answer: Any = None
    error: Exception | None = None
    first = None
    if pending is not None:
        steps, first = pending.steps, pending.op
    while True:
        if first is not None:
            op, first = first, None
        else:
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
