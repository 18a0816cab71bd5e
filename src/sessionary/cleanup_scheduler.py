"""Cleanup that schedules itself: expired records removed in the background.

Stores that keep expired records until someone deletes them (SQLite, PostgreSQL) would
otherwise grow until an operator schedules ``sessionary clear-expired``, which is the
step most deployments forget. Each process of the app runs a daemon thread that, about
once per ``Config.cleanup_interval``, tries to take the store's ``cleanup`` lease and, if
it got it, deletes expired records in batches of ``Config.cleanup_batch_size``. The lease
lasts one interval and lives in the store, so of many processes sharing a store only one
cleans at a time and the store is cleaned about once per interval, not once per process.

A store takes part by having ``lease(name, holder, until, now) -> bool`` on its sync face;
Redis expires its own keys and has none. Runs are logged on ``sessionary.cleanup`` and
counted in :attr:`CleanupScheduler.totals` (and in OpenTelemetry, when it is on).
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from .errors import SessionaryError
from .stores import worker

if TYPE_CHECKING:
    from .manager import SessionManager

logger = logging.getLogger("sessionary.cleanup")

LEASE = "cleanup"
FIRST_ATTEMPT_AT_MOST = 300
"""Seconds after a process starts before its first attempt, at most: a fleet that is
redeployed more often than the interval still cleans (the lease stops a second run)."""

Outcome = Literal["cleaned", "skipped", "failed"]


class Leasing(Protocol):
    def lease(self, name: str, holder: str, until: float, now: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class CleanupRun:
    """One attempt: ``cleaned`` (this process held the lease and ran), ``skipped`` (another
    process holds it), or ``failed`` (the store failed; ``error`` says how)."""

    outcome: Outcome
    removed: int
    started_at: float
    seconds: float
    error: str | None = None


@dataclass(slots=True)
class CleanupTotals:
    """What this process's scheduler did since it started."""

    cleaned: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    last: CleanupRun | None = field(default=None)


def leasing(manager: SessionManager) -> Leasing | None:
    """The store that keeps the lease: the manager's own, or the database behind a cache;
    None for stores that expire records by themselves."""
    backend = manager.store.sync
    for candidate in (backend, getattr(backend, "database", None)):
        if callable(getattr(candidate, "lease", None)):
            found: Leasing = candidate  # type: ignore[assignment]
            return found
    return None


def supports_cleanup(manager: SessionManager) -> bool:
    """Whether the manager's store keeps expired records for a cleanup to delete."""
    return leasing(manager) is not None


class CleanupScheduler:
    """The background cleanup of one manager's store, one thread per process."""

    def __init__(
        self,
        manager: SessionManager,
        *,
        interval: float,
        batch_size: int,
    ) -> None:
        self.manager = manager
        self.interval = interval
        self.batch_size = batch_size
        self.observers: list[Callable[[CleanupRun], None]] = []
        """Called with every run (telemetry counts them here)."""
        self.totals = CleanupTotals()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.started_in: int | None = None
        """``worker.forks`` when the thread started (None: not started); another value
        than this process's count means the thread is a parent process's."""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start this process's thread unless it runs already (cheap; called per request).

        A forked worker inherits the object but not the thread: it starts its own (told
        by the fork counter, as the stores' connections are, not by a ``getpid`` system
        call per request)."""
        if self.started_in == worker.forks:
            return
        with self._lock:
            if self.started_in == worker.forks:
                return
            self.started_in = worker.forks
            self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=_loop,
                args=(weakref.ref(self), self._stop, min(self.interval, FIRST_ATTEMPT_AT_MOST)),
                name="sessionary-cleanup",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread (after the batch it may be deleting)."""
        self._stop.set()
        thread = self._thread
        if (
            thread is not None
            and thread is not threading.current_thread()
            and self.started_in == worker.forks
        ):
            thread.join(timeout)
        self._thread = None
        self.started_in = None

    def run_once(self) -> CleanupRun:
        """One attempt: take the lease or skip, then delete expired records batch by batch."""
        backend = leasing(self.manager)
        assert backend is not None
        started_at = self.manager.now()
        started = time.monotonic()
        removed = 0
        try:
            if not backend.lease(LEASE, self.holder, started_at + self.interval, started_at):
                return self._finish(CleanupRun("skipped", 0, started_at, time.monotonic() - started))
            for count in self.manager.clear_expired(self.batch_size):
                removed += count
                if self._stop.is_set():
                    break
                now = self.manager.now()
                # A long backlog: keep the lease for as long as this process works on it.
                backend.lease(LEASE, self.holder, now + self.interval, now)
        except SessionaryError as exc:
            run = CleanupRun("failed", removed, started_at, time.monotonic() - started, str(exc))
            return self._finish(run)
        return self._finish(CleanupRun("cleaned", removed, started_at, time.monotonic() - started))

    def _finish(self, run: CleanupRun) -> CleanupRun:
        totals = self.totals
        totals.removed += run.removed
        totals.last = run
        store = self.manager.store.name
        if run.outcome == "cleaned":
            totals.cleaned += 1
            logger.info(
                "cleanup removed %d expired sessions from %s in %.3fs", run.removed, store, run.seconds
            )
        elif run.outcome == "skipped":
            totals.skipped += 1
            logger.debug("cleanup skipped: another process holds the lease on %s", store)
        else:
            totals.failed += 1
            logger.warning("cleanup of %s failed after removing %d: %s", store, run.removed, run.error)
        for observer in self.observers:
            try:
                observer(run)
            except Exception:
                logger.exception("a cleanup observer failed")
        return run


def _loop(ref: weakref.ref[CleanupScheduler], stop: threading.Event, first: float) -> None:
    """The thread's life. It holds its scheduler only while a run lasts, so a manager the
    app dropped without closing is collected, and its thread ends at its next wake-up."""
    delay = first * random.uniform(0.5, 1.0)
    while not stop.wait(delay):
        scheduler = ref()
        if scheduler is None:
            return
        scheduler.run_once()
        delay = scheduler.interval * random.uniform(0.9, 1.1)
        del scheduler
