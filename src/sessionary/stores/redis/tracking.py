"""The Redis near-cache's invalidation channel: server-assisted client-side caching.

One connection of its own per process and store, in RESP2::

    CLIENT ID                                   -> its id
    CLIENT TRACKING on REDIRECT <id> BCAST PREFIX <store prefix>
    SUBSCRIBE __redis__:invalidate

From then on Redis sends it the name of every key under the prefix that any client
changes, deletes or lets expire. Broadcasting mode (``BCAST``) is needed: in the default
mode Redis tracks only the keys a tracked connection read, on that connection (every
pooled connection would need tracking of its own), and the read script reaches the
user's ``valid_after`` by a name it computes. With ``BCAST`` the keys read do not
matter: every change under the prefix is announced.

The connection is read by a daemon thread, for both faces of the store: a task would
die with its event loop (and an app may run many), a thread serves every loop and never
runs on one. It sends ``PING`` every third of the lease; each ``pong`` renews the lease
(:meth:`NearCache.heartbeat`). A lost connection (``CLIENT KILL``, a restart, a network
fault) marks the channel down at once (every copy dropped, every read bypassed) and is
made again, with a growing pause; a hung one stops renewing the lease, so reads bypass
the copies once it runs out. The decisions themselves are in :mod:`sessionary.nearcache`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...nearcache import NearCache

if TYPE_CHECKING:
    from ..base import Kept
    from . import RedisOptions

log = logging.getLogger("sessionary.redis.tracking")

CHANNEL = "__redis__:invalidate"
_PING = b"*1\r\n$4\r\nPING\r\n"
RETRY_PAUSES = (0.05, 0.2, 0.5, 1.0, 2.0)
"""Seconds waited before each new attempt to subscribe after a failure (the last repeats)."""


class Tracker:
    """One process's near-cache of a Redis store and the thread that keeps it coherent.

    ``cache`` holds LOAD replies (JSON text), keyed by session key, owned by user tag.
    The thread starts on the first read (:meth:`cache_for_reads`) and again in a forked
    child (the parent's thread does not exist there).
    """

    def __init__(self, options: RedisOptions, cache: NearCache[Kept]) -> None:
        self.options = options
        self.cache = cache
        self.prefix = options.prefix
        self._session_head = f"{options.prefix}s:{{"
        self._user_head = f"{options.prefix}u:{{"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = threading.Event()
        self._connection: Any = None
        self._send = threading.Lock()
        self._probes: deque[Callable[[], object] | None] = deque()
        """What each PING sent on the channel waits for, in order (None: a heartbeat)."""
        self.client_id: int | None = None
        """The listening connection's id while it is subscribed (for ``CLIENT KILL`` in tests)."""
        self.observer: Callable[[list[str] | None], None] | None = None
        """Called (on the listener thread) with each invalidation's key names, after the
        cache has dropped them (None: the whole database was flushed): for measurements."""

    # --- the read path's side -------------------------------------------------------

    def cache_for_reads(self) -> NearCache[Kept]:
        """The cache, with its listener running in this process (called before every
        read and every write that may keep a copy: in a forked child the parent's copies
        and channel state are dropped here first)."""
        if self._pid != os.getpid() or self._thread is None:
            self._start()
        return self.cache

    def _start(self) -> None:
        with self._lock:
            pid = os.getpid()
            if self._pid == pid and self._thread is not None:
                return
            if self._pid != pid:
                # A forked child: the copies and the channel state are the parent's.
                self.cache.channel_down()
                self._connection = None
            self._pid = pid
            self._stopped = stopped = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stopped,), name="sessionary-redis-invalidations", daemon=True
            )
            self._thread = thread
            thread.start()

    def after_write(self, then: Callable[[], object]) -> None:
        """Run ``then`` (on the listener thread) once the channel has delivered every
        invalidation Redis queued before now: a ``PING`` on the channel's connection,
        whose ``pong`` Redis sends after them. Called right after this process's own
        write returned, so the write's own invalidation is among them. Nothing runs if
        the channel is down or goes down first."""
        connection = self._connection
        if connection is None or self.client_id is None or self._pid != os.getpid():
            return
        with self._send:
            if not self._send_ping(connection):
                return
            self._probes.append(then)

    def stop(self) -> None:
        """Stop listening (the store closes): the copies are dropped, reads bypass them."""
        with self._lock:
            self._stopped.set()
            thread, self._thread = self._thread, None
            connection = self._connection
        self.cache.channel_down()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.disconnect()
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout=2.0)

    # --- the listener thread --------------------------------------------------------

    def _run(self, stopped: threading.Event) -> None:
        failures = 0
        while not stopped.is_set():
            try:
                self._listen(stopped)
                failures = 0
            except Exception as exc:
                self.cache.channel_down()
                self.client_id = None
                with self._send:
                    self._probes.clear()
                if not stopped.is_set():
                    if failures == 0:
                        log.warning("near-cache invalidations lost (%s); reads go to Redis", exc)
                    pause = RETRY_PAUSES[min(failures, len(RETRY_PAUSES) - 1)]
                    failures += 1
                    stopped.wait(pause)
            finally:
                connection, self._connection = self._connection, None
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.disconnect()

    def _connect(self) -> Any:
        from redis.connection import ConnectionPool

        options = self.options
        kwargs = dict(options.connection_kwargs)
        kwargs.pop("health_check_interval", None)
        # Named apart from the store's own connections, for operators (CLIENT LIST).
        kwargs["client_name"] = f"{kwargs.get('client_name') or 'sessionary'}-invalidations"
        pool = ConnectionPool.from_url(options.url, protocol=2, decode_responses=True, **kwargs)
        return pool.make_connection()

    def _listen(self, stopped: threading.Event) -> None:
        connection = self._connect()
        self._connection = connection
        connection.connect()
        interval = self.cache.lease / 3
        timeout = self.options.connection_kwargs["socket_timeout"]
        connection.send_command("CLIENT", "ID")
        client_id = int(connection.read_response(timeout=timeout))
        connection.send_command(
            "CLIENT", "TRACKING", "on", "REDIRECT", client_id, "BCAST", "PREFIX", self.prefix
        )
        answer = connection.read_response(timeout=timeout)
        if answer != "OK":
            raise ConnectionError(f"CLIENT TRACKING answered {answer!r}")
        connection.send_command("SUBSCRIBE", CHANNEL)
        answer = connection.read_response(timeout=timeout)
        if not (isinstance(answer, list) and answer[:2] == ["subscribe", CHANNEL]):
            raise ConnectionError(f"SUBSCRIBE answered {answer!r}")
        self.client_id = client_id
        if stopped.is_set():
            return
        with self._send:
            self._probes.clear()
        self.cache.channel_up()
        pinged_at = time.monotonic()
        self._ping(connection)
        while not stopped.is_set():
            wait = pinged_at + interval - time.monotonic()
            if wait <= 0 or not connection.can_read(timeout=wait):
                if time.monotonic() >= pinged_at + interval:
                    pinged_at = time.monotonic()
                    self._ping(connection)
                continue
            message = connection.read_response()
            kind = message[0] if isinstance(message, list) and message else None
            if kind == "message" and len(message) == 3:
                self._invalidated(message[2])
            elif kind == "pong":
                self.cache.heartbeat()
                with self._send:
                    then = self._probes.popleft() if self._probes else None
                if then is not None:
                    then()
            elif kind == "unsubscribe":
                raise ConnectionError("unsubscribed from the invalidation channel")

    def _ping(self, connection: Any) -> None:
        with self._send:
            if not self._send_ping(connection):
                raise ConnectionError("the invalidation channel's connection is closed")
            self._probes.append(None)

    @staticmethod
    def _send_ping(connection: Any) -> bool:
        """``PING`` on the channel's own socket (never through redis-py's send, which
        would connect again, unsubscribed, if the socket were gone); False if it is."""
        sock = connection._sock
        if sock is None:
            return False
        try:
            sock.sendall(_PING)
        except OSError:
            return False
        return True

    def _invalidated(self, names: list[str] | None) -> None:
        """One invalidation message: the key names changed (None: a flush)."""
        cache = self.cache
        if names is None:
            cache.flush()
        else:
            session_head, user_head = self._session_head, self._user_head
            for name in names:
                if name.startswith(session_head) and name.endswith("}"):
                    try:
                        key = bytes.fromhex(name[len(session_head) : -1])
                    except ValueError:
                        continue
                    cache.invalidate(key)
                elif name.startswith(user_head) and name.endswith("}:v"):
                    cache.invalidate_owner(name[len(user_head) : -3])
        observer = self.observer
        if observer is not None:
            observer(names)
