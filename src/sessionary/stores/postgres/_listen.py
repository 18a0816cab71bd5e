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
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ...nearcache import NearCache
from . import PostgresSettings

logger = logging.getLogger("sessionary.stores.postgres")

Row = tuple[Any, ...]

_TRIGGERS = "SELECT count(*) FROM pg_trigger WHERE tgrelid IN (to_regclass(%s), to_regclass(%s)) AND tgname = ANY (%s)"


class Listener:
    """The near-cache of one store in this process, and its listening thread."""

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self.cache: NearCache[Row] = NearCache(
            max_bytes=settings.near_cache_bytes, lease=settings.near_cache_lease
        )
        params = conninfo_to_dict(settings.conninfo)
        self._application_name = f"{params.get('application_name') or 'sessionary'} listener"
        self._interval = settings.near_cache_lease / 4
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._pid = os.getpid()
        self._inherited: list[object] = []
        self._conn: psycopg.Connection[Any] | None = None
        self._fd = -1
        self._busy = False
        self._warned = False

    # --- the read path (request threads and event loops) --------------------------------

    def get(self, key: bytes) -> Row | None:
        """The copy of ``key`` if one may be served now; starts the thread on first use."""
        if self._thread is None or self._pid != os.getpid():
            self.start()
            return None
        hit = self.cache.get(key, time.monotonic())
        if hit is None or self._busy or self._pending():
            return None
        return hit.value

    def ticket(self, key: bytes) -> Any:
        return self.cache.ticket(key)

    def put(self, ticket: Any, row: Row, owner: str | None) -> None:
        size = 64 + sum(len(value) for value in row if isinstance(value, str | bytes))
        self.cache.put(ticket, row, expires_at=math.inf, owner=owner, size=size, now=time.monotonic())

    def invalidate(self, key: bytes) -> None:
        self.cache.invalidate(key)

    def invalidate_owner(self, user_id: str) -> None:
        self.cache.invalidate_owner(user_id)

    def _pending(self) -> bool:
        """Whether the listening socket holds something the thread has not read yet."""
        fd = self._fd
        if fd < 0:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    # --- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the listening thread (again, in a forked process); idempotent."""
        with self._lock:
            pid = os.getpid()
            if self._pid != pid:
                # Forked: the parent's thread did not come along, its socket is the
                # parent's (set aside, never closed), and its copies are not ours to trust.
                self.cache.channel_down()
                self._inherited.append(self._conn)
                self._conn, self._fd, self._busy = None, -1, False
                self._thread, self._wake = None, None
                self._stop = threading.Event()
                self._pid = pid
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._wake = os.pipe()
            self._thread = threading.Thread(
                target=self._run,
                args=(self._stop, self._wake[0]),
                name="sessionary-postgres-listener",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection; the next read starts it again."""
        with self._lock:
            thread, wake = self._thread, self._wake
            if self._pid != os.getpid() or thread is None or wake is None:
                return
            self._stop.set()
            os.write(wake[1], b"x")
        thread.join(10)
        with self._lock:
            if self._thread is thread:
                self._thread, self._wake = None, None
                os.close(wake[0])
                os.close(wake[1])
        self.cache.channel_down()

    def _run(self, stop: threading.Event, wake: int) -> None:
        backoff = 0.1
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
            stop.wait(backoff)
            backoff = min(2 * backoff, 2.0)

    def _listen(self, stop: threading.Event, wake: int) -> None:
        settings = self.settings
        tables = settings.tables
        conn = psycopg.Connection.connect(
            settings.conninfo, autocommit=True, application_name=self._application_name
        )
        try:
            ((found,),) = conn.execute(
                _TRIGGERS, (tables.sessions, tables.users, list(tables.triggers))
            ).fetchall()
            if found != 2:
                if not self._warned:
                    self._warned = True
                    logger.warning(
                        "%s: the near-cache stays off: the tables have no change triggers yet; "
                        "run `sessionary migrate --store %s` once more to add them",
                        settings.name,
                        settings.name,
                    )
                stop.wait(30)
                return
            conn.execute(f'LISTEN "{tables.channel}"')
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            poller.register(wake, select.POLLIN)
            self._conn, self._fd = conn, conn.fileno()
            self.cache.channel_up(time.monotonic())
            beat = time.monotonic() + self._interval
            timeout_ms = max(1, int(self._interval * 1000))
            while not stop.is_set():
                ready = poller.poll(timeout_ms)
                if any(fd == wake for fd, _ in ready):
                    return
                self._busy = True
                try:
                    if ready:
                        self._drain(conn)
                    if time.monotonic() >= beat:
                        conn.execute("SELECT 1")  # notifications read meanwhile wait in psycopg's backlog
                        self._drain(conn)
                        self.cache.heartbeat(time.monotonic())
                        beat = time.monotonic() + self._interval
                finally:
                    self._busy = False
        finally:
            # Down first, so no read trusts the copies once this connection is gone.
            self.cache.channel_down()
            self._fd = -1
            self._conn = None
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

    # --- tests and reports ------------------------------------------------------------------

    @property
    def backend_pid(self) -> int | None:
        """The server process of the listening connection, while it is up."""
        conn = self._conn
        return conn.info.backend_pid if conn is not None and not conn.closed else None
