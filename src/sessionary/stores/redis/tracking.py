"""The Redis near-cache's invalidation channel: server-assisted client-side caching.

One connection of its own per process and store, in RESP3::

    HELLO 3                                     (redis-py's handshake)
    CLIENT ID                                   -> its id
    CLIENT TRACKING on BCAST PREFIX <store prefix>

From then on Redis pushes to it (``>2 invalidate [names]``, or a null for a flush) the
name of every key under the prefix that any client changes, deletes or lets expire.
Broadcasting mode (``BCAST``) is needed: in the default mode Redis tracks only the keys
a tracked connection read, on that connection (every pooled connection would need
tracking of its own), and the read script reaches the user's ``valid_after`` by a name
it computes. With ``BCAST`` the keys read do not matter: every change under the prefix
is announced.

The same connection carries this process's saves whose result is kept
(:meth:`Tracker.send`), so their replies and the invalidations come in one stream, in
the order Redis sent them: when a save's reply is read, every change Redis made before
the save has been announced already, and every change made after it will be. The
record as written is kept right there, on the reader (:meth:`NearCache.keep_in_order`).
Redis announces the save itself at the end of that turn of its event loop, in one
message with any other client's change of that key in the same turn (it cannot say
whose; ``NOLOOP`` would not help, as Redis counts a script's writes as its script
client's, not the caller's; counting announcements cannot be exact either). So every
script that changes a session also sets and removes a key beside it named after the
writer (``…:w:<writer>``, scripts.py), and the message names those too: when the only
writer it names beside the session is this process's own (:attr:`Tracker.writer`,
given with the kept save), the change announced is this process's save and the copy
stays. Any other name, or none, drops the copy, and the reader reads the key again on
this connection (:meth:`Tracker.reload_when_announced`), keeping that reply in the same
order. A client that changes a session without the scripts (``redis-cli``, an
eviction) names no writer: in the same turn as a kept save it goes unseen, and the copy
is served until its next change, its deadline, or the lease of a channel that fails.

The connection is read by a daemon thread, for both faces of the store: a task would
die with its event loop (and an app may run many), a thread serves every loop and never
runs on one. Callers send on its socket under a lock and wait for their reply (sync: a
lock the reader releases; async: a future it resolves on the caller's loop). It sends
``PING`` every third of the lease; each reply renews the lease
(:meth:`NearCache.heartbeat`). A lost connection (``CLIENT KILL``, a restart, a network
fault) marks the channel down at once (every copy dropped, every read bypassed, every
save waiting on it failed) and is made again, with a growing pause; a hung one stops
renewing the lease, so reads bypass the copies once it runs out. The decisions
themselves are in :mod:`sessionary.nearcache`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import select
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...nearcache import NearCache
from .wire import pack

if TYPE_CHECKING:
    from ..base import Kept
    from . import RedisOptions

log = logging.getLogger("sessionary.redis.tracking")

_PING = pack("PING")
RETRY_PAUSES = (0.05, 0.2, 0.5, 1.0, 2.0)
"""Seconds waited before each new attempt to subscribe after a failure (the last repeats)."""

ANNOUNCED_LIMIT = 4096
"""Saves remembered until their own invalidation comes (the oldest forgotten: not read again)."""

Keep = Callable[[Any, int], object]
"""Run on the reader with a save's reply (an error reply as its exception) and the
channel's epoch it was sent in, before anything later on the channel is read."""


class Tracker:
    """One process's near-cache of a Redis store and the thread that keeps it coherent.

    ``cache`` holds LOAD replies (JSON text), keyed by session key, owned by user tag.
    The thread starts on the first read (:meth:`cache_for_reads`) and again in a forked
    child (the parent's thread does not exist there).
    """

    def __init__(self, options: RedisOptions, cache: NearCache[Kept | str]) -> None:
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
        self._sock: Any = None
        """The channel's socket while it is tracking (None: nothing may be sent on it)."""
        self._epoch = 0
        """The cache's epoch the current connection began (what its replies belong to)."""
        self._tls = False
        """Whether the current connection is TLS (then only the reader's thread sends on it)."""
        self._send = threading.Lock()
        self._pending: deque[Written | AsyncWritten | Callable[[], object] | None] = deque()
        """What each command sent on the channel waits for, in order: a save's waiter, a
        probe's callback, or None (a heartbeat)."""
        self._reloading: dict[bytes, list[Written | AsyncWritten]] = {}
        """Keys the channel is reading again now, and the reads waiting for that reply
        (:meth:`join_reload`; under ``_send``)."""
        self._announced: OrderedDict[bytes, tuple[bytes, Keep]] = OrderedDict()
        """Saves kept whose own invalidation has not come yet, and how to read each again
        (:meth:`reload_when_announced`; the reader's alone)."""
        self.client_id: int | None = None
        """The listening connection's id while it is tracking (for ``CLIENT KILL`` in tests)."""
        self.writer = secrets.token_hex(8)
        """This process's name in the marks of the saves it keeps (new in a forked child)."""
        self.observer: Callable[[list[str] | None], None] | None = None
        """Called (on the listener thread) with each invalidation's key names, after the
        cache has dropped them (None: the whole database was flushed): for measurements."""

    # --- the request side -----------------------------------------------------------

    def cache_for_reads(self) -> NearCache[Kept | str]:
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
                self._connection = self._sock = None
                self.client_id = None
                self.writer = secrets.token_hex(8)
                self._pending = deque()
                self._send = threading.Lock()
            self._pid = pid
            self._stopped = stopped = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stopped,), name="sessionary-redis-invalidations", daemon=True
            )
            self._thread = thread
            thread.start()

    def send(self, packed: bytes, waiter: Written | AsyncWritten) -> bool:
        """Send a save (``packed``) on the channel's own connection; the reader hands its
        reply to ``waiter`` (after the waiter's ``keep`` ran, in the stream's order).
        False, nothing sent, if the channel is not tracking in this process now, or is a
        TLS connection (an OpenSSL connection must not be written by one thread while
        another reads it: saves then take the pool, and drop the copy)."""
        with self._send:
            sock = self._sock
            if sock is None or self._pid != os.getpid() or self._tls:
                return False
            waiter.epoch = self._epoch
            self._pending.append(waiter)
            if not self._write(sock, packed):
                self._pending.pop()
                return False
        return True

    def reload_when_announced(self, key: bytes, load: bytes, keep: Keep) -> None:
        """On the reader, after a save's reply was kept: when the next invalidation of
        ``key`` comes (the save's own, with any other change Redis made to it in the
        same turn of its event loop: it cannot say whose), send ``load`` and hand its
        reply to ``keep``, in the stream's order like the save's."""
        announced = self._announced
        announced.pop(key, None)
        announced[key] = (load, keep)
        while len(announced) > ANNOUNCED_LIMIT:
            announced.popitem(last=False)

    def reloading(self, key: bytes) -> bool:
        """Whether the channel is reading ``key`` again now (a hint, without the lock)."""
        return key in self._reloading

    def join_reload(self, key: bytes, waiter: Written | AsyncWritten) -> bool:
        """Wake ``waiter`` (its reply None) once the channel's read of ``key`` again has
        been kept or refused: a read that finds no copy waits for that reply, already on
        its way, rather than asking Redis itself. False if no such read is in flight."""
        with self._send:
            waiting = self._reloading.get(key)
            if waiting is None:
                return False
            waiting.append(waiter)
            return True

    def _reload(self, key: bytes, load: bytes, keep: Keep) -> None:
        """On the reader: read ``key`` (marked as being read again) on the channel, then
        wake who waits for it."""

        def kept(reply: Any, epoch: int) -> None:
            try:
                keep(reply, epoch)
            finally:
                self._wake(key)

        if not self.send(load, Written(key, kept)):
            self._wake(key)

    def _wake(self, key: bytes) -> None:
        with self._send:
            waiting = self._reloading.pop(key, ())
        for waiter in waiting:
            waiter.answer(None)

    def after_write(self, then: Callable[[], object]) -> None:
        """Run ``then`` (on the listener thread) once the channel has delivered every
        invalidation Redis queued before now: a ``PING`` on the channel's connection,
        whose reply Redis sends after them. Nothing runs if the channel is down or goes
        down first."""
        with self._send:
            sock = self._sock
            if sock is None or self._pid != os.getpid():
                return
            self._pending.append(then)
            if not self._write(sock, _PING):
                self._pending.pop()

    def stop(self) -> None:
        """Stop listening (the store closes): the copies are dropped, reads bypass them."""
        with self._lock:
            self._stopped.set()
            thread, self._thread = self._thread, None
            connection = self._connection
        self.cache.channel_down()
        self._fail_pending("the store was closed")
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.disconnect()
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout=2.0)

    def _write(self, sock: Any, data: bytes) -> bool:
        """Send on the channel's own socket (never through redis-py's send, which would
        connect again, untracked, if the socket were gone); False if it is gone. A send
        that failed part way leaves the stream unusable: the socket is shut, the reader
        starts over."""
        try:
            sock.sendall(data)
        except OSError:
            self._sock = None
            with contextlib.suppress(OSError):
                sock.shutdown(2)
            return False
        return True

    def _fail_pending(self, why: str) -> None:
        with self._send:
            self._sock = None
            pending, self._pending = self._pending, deque()
            reloading, self._reloading = self._reloading, {}
        for waiters in reloading.values():
            for reader in waiters:
                reader.answer(None)
        for waiter in pending:
            if isinstance(waiter, Written | AsyncWritten):
                waiter.answer(
                    RedisConnectionError(f"the near-cache channel was lost before the reply ({why})")
                )

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
                self._fail_pending(str(exc) or type(exc).__name__)
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
        pool = ConnectionPool.from_url(options.url, protocol=3, decode_responses=True, **kwargs)
        return pool.make_connection()

    def _listen(self, stopped: threading.Event) -> None:
        connection = self._connect()
        self._connection = connection
        connection.connect()  # redis-py's handshake: HELLO 3, credentials, name
        sock = connection._sock
        self._tls = isinstance(sock, ssl.SSLSocket)
        reader = _Reader(sock, connection._parser.parse_error)
        timeout = self.options.connection_kwargs["socket_timeout"]
        sock.sendall(pack("CLIENT", "ID") + pack("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", self.prefix))
        client_id = reader.read(timeout)
        answer = reader.read(timeout)
        if not isinstance(client_id, int) or answer != "OK":
            raise RedisConnectionError(f"CLIENT ID, CLIENT TRACKING answered {client_id!r}, {answer!r}")
        if stopped.is_set():
            return
        self.client_id = client_id
        self.cache.channel_up()
        self._announced.clear()
        with self._send:
            self._pending.clear()
            self._epoch = self.cache.epoch
            self._sock = sock
        interval = self.cache.lease / 3
        pinged_at = time.monotonic()
        self._ping(sock)
        while not stopped.is_set():
            wait = pinged_at + interval - time.monotonic()
            message = reader.read(wait) if wait > 0 else _NOTHING
            if message is _NOTHING:
                if time.monotonic() >= pinged_at + interval:
                    pinged_at = time.monotonic()
                    self._ping(sock)
                continue
            if isinstance(message, _Push):
                if message and message[0] == "invalidate" and len(message) == 2:
                    self._invalidated(message[1])
                continue
            self.cache.heartbeat()  # any reply: the channel has delivered all before it
            with self._send:
                if not self._pending:
                    raise RedisConnectionError(f"a reply nothing waited for: {str(message)[:40]!r}")
                waiter = self._pending.popleft()
            if waiter is None:
                continue
            if isinstance(waiter, Written | AsyncWritten):
                try:
                    waiter.keep(message, waiter.epoch)
                except Exception:  # a reply that cannot be decoded: nothing kept
                    self.cache.invalidate(waiter.key, here=True)
                waiter.answer(message)
            else:
                waiter()

    def _ping(self, sock: Any) -> None:
        with self._send:
            self._pending.append(None)
            if not self._write(sock, _PING):
                raise RedisConnectionError("the invalidation channel's connection is closed")

    def _invalidated(self, names: list[str] | None) -> None:
        """One invalidation message: the key names changed (None: a flush)."""
        cache = self.cache
        if names is None:
            cache.flush()
            self._announced.clear()
        else:
            session_head, user_head = self._session_head, self._user_head
            ours = self._ours(names) if self._announced else ()
            for name in names:
                if name.startswith(session_head) and name.endswith("}"):
                    try:
                        key = bytes.fromhex(name[len(session_head) : -1])
                    except ValueError:
                        continue
                    if key in ours:  # this process's kept save, and no other change
                        del self._announced[key]
                        continue
                    again = self._announced.pop(key, None)
                    if again is not None:  # marked first: a read finding no copy waits
                        with self._send:
                            self._reloading.setdefault(key, [])
                    cache.invalidate(key)
                    if again is not None:
                        self._reload(key, *again)
                elif name.startswith(user_head) and name.endswith("}:v"):
                    cache.invalidate_owner(name[len(user_head) : -3])
        observer = self.observer
        if observer is not None:
            observer(names)

    def _ours(self, names: list[str]) -> set[bytes]:
        """The keys of kept saves that one message announces as changed by this process's
        kept saves alone: each writer it names for them is this process (scripts.py)."""
        head = self._session_head
        writers: dict[str, set[str]] = {}
        for name in names:
            if name.startswith(head):
                at = name.find("}:w:", len(head))
                if at > 0:
                    writers.setdefault(name[len(head) : at], set()).add(name[at + 4 :])
        ours: set[bytes] = set()
        for hex_key, named in writers.items():
            if named == {self.writer}:
                with contextlib.suppress(ValueError):
                    key = bytes.fromhex(hex_key)
                    if key in self._announced:
                        ours.add(key)
        return ours


# --- waiting for a save sent on the channel ---------------------------------------------


class Written:
    """A sync caller's save on the channel: ``keep`` runs on the reader with its reply,
    then :meth:`wait` returns it."""

    __slots__ = ("_done", "epoch", "keep", "key", "reply")

    def __init__(self, key: bytes, keep: Keep) -> None:
        self.key = key
        self.keep = keep
        self.epoch = 0
        self.reply: Any = None
        self._done = threading.Lock()
        self._done.acquire()

    def answer(self, reply: Any) -> None:
        self.reply = reply
        self._done.release()

    def wait(self, timeout: float) -> Any:
        """The reply (an error reply raised), within ``timeout`` seconds."""
        if not self._done.acquire(timeout=timeout):
            raise RedisTimeoutError("Timeout reading from the near-cache channel")
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class AsyncWritten:
    """An async caller's save on the channel: the reader resolves a future on the
    caller's event loop."""

    __slots__ = ("_future", "_loop", "epoch", "keep", "key")

    def __init__(self, key: bytes, keep: Keep) -> None:
        self.key = key
        self.keep = keep
        self.epoch = 0
        self._loop = asyncio.get_running_loop()
        self._future: asyncio.Future[Any] = self._loop.create_future()

    def answer(self, reply: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop has closed
            self._loop.call_soon_threadsafe(self._resolve, reply)

    def _resolve(self, reply: Any) -> None:
        if not self._future.done():
            if isinstance(reply, Exception):
                self._future.set_exception(reply)
            else:
                self._future.set_result(reply)

    async def wait(self, timeout: float) -> Any:
        timer = self._loop.call_later(
            timeout, self._resolve, RedisTimeoutError("Timeout reading from the near-cache channel")
        )
        try:
            return await self._future
        finally:
            timer.cancel()


# --- reading the channel ----------------------------------------------------------------


class _Push(list[Any]):
    """A RESP3 push message (an invalidation), apart from replies."""


_NOTHING: Any = object()


class _Incomplete(Exception):
    pass


class _Reader:
    """RESP3 messages from the channel's socket, read by the listener thread only
    (redis-py's reader hands push messages to handlers of its own)."""

    def __init__(self, sock: Any, parse_error: Callable[[str], Exception]) -> None:
        self.sock = sock
        self.parse_error = parse_error
        self.buffer = b""
        self.at = 0
        """Where the next message starts in ``buffer`` (the ones before it are read)."""

    def read(self, timeout: float) -> Any:
        """The next message, or ``_NOTHING`` if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.at < len(self.buffer):
                try:
                    message, end = self._parse(self.at)
                except _Incomplete:
                    pass
                else:
                    self.at = end
                    return message
            wait = deadline - time.monotonic()
            pending = getattr(self.sock, "pending", None)  # TLS: bytes already decrypted
            decrypted = pending is not None and pending()
            if not decrypted and (wait <= 0 or not select.select([self.sock], [], [], wait)[0]):
                return _NOTHING
            data = self.sock.recv(65536)
            if not data:
                raise RedisConnectionError("Connection closed by server.")
            self.buffer = self.buffer[self.at :] + data
            self.at = 0

    def _line(self, at: int) -> tuple[bytes, int]:
        end = self.buffer.find(b"\r\n", at)
        if end < 0:
            raise _Incomplete
        return self.buffer[at:end], end + 2

    def _bulk(self, size: int, at: int) -> tuple[bytes, int]:
        end = at + size
        if len(self.buffer) < end + 2:
            raise _Incomplete
        return self.buffer[at:end], end + 2

    def _parse(self, at: int) -> tuple[Any, int]:
        line, at = self._line(at)
        kind, rest = line[:1], line[1:]
        if kind in (b"$", b"=", b"!"):
            size = int(rest)
            if size < 0:
                return None, at
            data, at = self._bulk(size, at)
            if kind == b"=":
                data = data[4:]  # the format ("txt:")
            text = data.decode("utf-8", errors="replace")
            return (self.parse_error(text) if kind == b"!" else text), at
        if kind in (b"*", b"~", b">"):
            size = int(rest)
            if size < 0:
                return None, at
            items = _Push() if kind == b">" else []
            for _ in range(size):
                item, at = self._parse(at)
                items.append(item)
            return items, at
        if kind == b"%" or kind == b"|":
            mapping = {}
            for _ in range(int(rest)):
                name, at = self._parse(at)
                mapping[name], at = self._parse(at)
            if kind == b"|":  # attributes precede the reply they describe
                return self._parse(at)
            return mapping, at
        if kind == b":" or kind == b"(":
            return int(rest), at
        if kind == b"+":
            return rest.decode("utf-8", errors="replace"), at
        if kind == b"-":
            return self.parse_error(rest.decode("utf-8", errors="replace")), at
        if kind == b"_":
            return None, at
        if kind == b",":
            return float(rest), at
        if kind == b"#":
            return rest == b"t", at
        raise RedisConnectionError(f"Protocol error from the server: {line[:40]!r}")
