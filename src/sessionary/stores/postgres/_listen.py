"""The PostgreSQL store's near-cache and the ``LISTEN`` connection that keeps it coherent.

One :class:`Listener` per store and process, shared by both faces: a daemon thread with a
connection of its own that listens on the store's channel (:attr:`Tables.channel`). The
triggers ``sessionary migrate`` creates send, in the same transaction as each change,
deletion or revocation, the session's key (or ``u:<user id>`` for a revocation); this
thread hands each to the pure :class:`~sessionary.nearcache.NearCache`, which decides
what may be served. A thread rather than a task on the async face: it serves every event
loop the store meets and never runs on one.

Exactness:

* the channel is up (copies kept and served) only after ``LISTEN`` succeeded on a server
  whose tables have both triggers, and only until ``near_cache_lease`` seconds after the
  last answered heartbeat (a ``SELECT 1`` every quarter lease);
* connection lost, an error, or a stop: ``channel_down`` (every copy dropped, every read
  bypassed) before anything else; after a reconnect, a new epoch;
* a read is served from a copy only if the listening socket has nothing unread and the
  thread is not handling what it read: a notification that has reached this process
  but is not yet applied already stops the copy being served;
* a forked process drops its parent's copies and starts its own thread.
"""

from __future__ import annotations

import logging
import math
import os
import select
import threading
import time
import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ...nearcache import NearCache
from ..base import Kept
from . import PostgresSettings

logger = logging.getLogger("sessionary.stores.postgres")

Row = tuple[Any, ...]

SETTLE_WAIT = 0.0001
"""Seconds a read waits for the listener to apply a notification that has already reached
this process, before it asks the server instead."""

_TRIGGERS = "SELECT count(*) FROM pg_trigger WHERE tgrelid IN (to_regclass(%s), to_regclass(%s)) AND tgname = ANY (%s)"


def _halt(stop: threading.Event, wake: int, pid: int) -> None:
    """Tell a listening thread to end (once: from ``stop()`` or when its store is collected).

    Only in the process that started it: a forked child that exits runs the finalizers it
    inherited, and must not wake its parent's thread through the pipe they share."""
    if os.getpid() != pid:
        return
    stop.set()
    try:
        os.write(wake, b"x")
    except OSError:
        pass  # the thread has already ended and closed its end
    finally:
        os.close(wake)


class Listener:
    """The near-cache of one store in this process, and its listening thread.

    The thread holds the :class:`_Channel`, never this object: a store dropped without
    ``close()`` (an app built per test) is collected, and its thread then ends and closes
    its connection.
    """

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self.cache: NearCache[Kept | Row] = NearCache(
            max_bytes=settings.near_cache_bytes, lease=settings.near_cache_lease
        )
        self._channel = _Channel(settings, self.cache)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._halt: weakref.finalize[Any, Any] | None = None
        self._pid = os.getpid()
        self._inherited: list[object] = []

    # --- the read path (request threads and event loops) --------------------------------

    def get(self, key: bytes) -> Kept | Row | None:
        """The copy of ``key`` if one may be served now; starts the thread on first use."""
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            self.start()
            return None
        hit = self.cache.get(key, time.monotonic())
        if hit is None:
            return None
        channel = self._channel
        if channel.busy or channel.pending():
            # A notification has reached this process and is not applied yet (most
            # often the one a save of this very session sent): the thread applies it in
            # microseconds once it holds the interpreter, so hand it over for a moment
            # rather than pay a round trip, then ask the cache again.
            deadline = time.monotonic() + SETTLE_WAIT
            while channel.busy or channel.pending():
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0)
            hit = self.cache.get(key, time.monotonic())
            if hit is None:
                return None
        return hit.value

    def ticket(self, key: bytes) -> Any:
        return self.cache.ticket(key)

    def put(self, ticket: Any, kept: Kept, owner: str | None, *, size: int) -> None:
        """Keep what a read found, decoded (``size``: about the bytes the copy takes)."""
        self.cache.put(ticket, kept, expires_at=math.inf, owner=owner, size=size, now=time.monotonic())

    def keep_written(self, ticket: Any, row: Row, owner: str | None) -> None:
        """Keep the row this process's own write returned: the write's trigger sends one
        notification, delivered in commit order among the others (the cache's rule).
        Kept as the row (decoded by the read that is served it, not by the write)."""
        self.cache.keep_written(
            ticket, row, expires_at=math.inf, owner=owner, size=_size(row), now=time.monotonic()
        )

    def invalidate(self, key: bytes) -> None:
        """This process changed ``key`` itself: its copy goes before the notification comes."""
        self.cache.invalidate(key, here=True)

    def invalidate_owner(self, user_id: str) -> None:
        self.cache.invalidate_owner(user_id, here=True)

    # --- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the listening thread (again, in a forked process); idempotent."""
        with self._lock:
            pid = os.getpid()
            if self._pid != pid:
                # Forked: the parent's thread did not come along, its socket and wake-up
                # pipe are the parent's (set aside, never closed nor written to), and its
                # copies are not ours to trust.
                self.cache.channel_down()
                if self._halt is not None:
                    self._halt.detach()
                self._inherited.append(self._channel)
                self._channel = _Channel(self.settings, self.cache)
                self._thread, self._halt = None, None
                self._pid = pid
            if self._thread is not None and self._thread.is_alive():
                return
            stop = threading.Event()
            wake_read, wake_write = os.pipe()
            if self._halt is not None:
                self._halt()  # a thread that ended on its own: its pipe closed
            self._halt = weakref.finalize(self, _halt, stop, wake_write, pid)
            self._thread = threading.Thread(
                target=self._channel.run,
                args=(stop, wake_read),
                name="sessionary-postgres-listener",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection; the next read starts it again."""
        with self._lock:
            thread, halt = self._thread, self._halt
            if self._pid != os.getpid() or thread is None or halt is None:
                return
            self._thread, self._halt = None, None
        halt()
        thread.join(10)
        self.cache.channel_down()

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection, while it is up."""
        conn = self._channel.conn
        return conn.info.backend_pid if conn is not None and not conn.closed else None


class _Channel:
    """What the listening thread works with: its connection and the cache it feeds."""

    def __init__(self, settings: PostgresSettings, cache: NearCache[Kept | Row]) -> None:
        self.settings = settings
        self.cache = cache
        params = conninfo_to_dict(settings.conninfo)
        self.application_name = f"{params.get('application_name') or 'sessionary'} listener"
        self.interval = settings.near_cache_lease / 4
        self.conn: psycopg.Connection[Any] | None = None
        self.fd = -1
        self.busy = False
        self.warned = False

    def pending(self) -> bool:
        """Whether the listening socket holds something the thread has not read yet."""
        fd = self.fd
        if fd < 0:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def run(self, stop: threading.Event, wake: int) -> None:
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    self._listen(stop, wake)
                    backoff = 0.1
                except psycopg.Error as exc:
                    logger.debug("%s: the near-cache's LISTEN connection failed: %s", self.settings.name, exc)
                except Exception:  # never let the thread end: the cache would stay bypassed for good
                    logger.exception("%s: the near-cache's listener failed", self.settings.name)
                if stop.is_set():
                    break
                _wait(wake, backoff)
                backoff = min(2 * backoff, 2.0)
        finally:
            os.close(wake)

    def _listen(self, stop: threading.Event, wake: int) -> None:
        settings = self.settings
        tables = settings.tables
        conn = psycopg.Connection.connect(
            settings.conninfo, autocommit=True, application_name=self.application_name
        )
        try:
            ((found,),) = conn.execute(
                _TRIGGERS, (tables.sessions, tables.users, list(tables.triggers))
            ).fetchall()
            if found != 2:
                if not self.warned:
                    self.warned = True
                    logger.warning(
                        "%s: the near-cache stays off: the tables have no change triggers yet; "
                        "run `sessionary migrate --store %s` once more to add them",
                        settings.name,
                        settings.name,
                    )
                _wait(wake, 30)
                return
            conn.execute(f'LISTEN "{tables.channel}"')
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            poller.register(wake, select.POLLIN)
            self.conn, self.fd = conn, conn.fileno()
            self.cache.channel_up()
            beat = time.monotonic() + self.interval
            timeout_ms = max(1, int(self.interval * 1000))
            while not stop.is_set():
                ready = poller.poll(timeout_ms)
                if any(fd == wake for fd, _ in ready):
                    if stop.is_set():
                        return
                    os.read(wake, 64)  # not ours to stop on: read it out, go on
                self.busy = True
                try:
                    if ready:
                        self._drain(conn)
                    if time.monotonic() >= beat:
                        conn.execute("SELECT 1")  # notifications read meanwhile wait in psycopg's backlog
                        self._drain(conn)
                        self.cache.heartbeat()
                        beat = time.monotonic() + self.interval
                finally:
                    self.busy = False
        finally:
            # Down first, so no read trusts the copies once this connection is gone.
            self.cache.channel_down()
            self.fd = -1
            self.conn = None
            conn.close()

    def _drain(self, conn: psycopg.Connection[Any]) -> None:
        cache = self.cache
        for notify in conn.notifies(timeout=0):
            payload = notify.payload
            if payload.startswith("u:"):
                cache.invalidate_owner(payload[2:])
                continue
            try:
                cache.invalidate(bytes.fromhex(payload))
            except ValueError:
                cache.flush()  # not a key of ours: anything may have changed


def _size(row: Row) -> int:
    return 64 + sum(len(value) for value in row if isinstance(value, str | bytes))


def _wait(wake: int, seconds: float) -> None:
    """Sleep ``seconds``, or less if told to stop (the wake-up pipe becomes readable)."""
    poller = select.poll()
    poller.register(wake, select.POLLIN)
    poller.poll(int(seconds * 1000))
