"""How each face of the Redis store sends one command on a connection it keeps.

The async backend names :class:`AsyncExchange`; ``scripts/unasync.py`` turns that name
into :class:`Exchange` in the generated sync backend. Both send the command and read
its reply on the connection redis-py made (its handshake, its TLS, its reconnection);
they differ in how the wait is bounded and how much of redis-py runs per command:

* sync: redis-py's connection methods, bounded by the socket's own timeout
  (``socket_timeout``), as redis-py sets it;
* asyncio: the command is written to the connection's stream and its reply read there
  by :func:`_reply` (the RESP2 and RESP3 replies the store's commands get), with no
  task, no ``asyncio.wait_for`` and no timer of its own per command: each kept
  connection has one :class:`_Watch`, a single timer that, when it fires, cancels the
  exchange still waiting past its deadline or re-arms itself for the current one's
  deadline. redis-py's own connection would run every write under ``asyncio.wait_for``
  (a new task and two extra turns of the event loop per command) and arm a timer for
  every read. A kept connection's own ``socket_timeout`` is therefore off while the
  store holds it, and restored before it goes back to the pool. A connection that is
  not connected yet, or has a ``health_check_interval``, takes redis-py's own methods
  (they connect, and ping when due), under the same watch.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import CancelledError, IncompleteReadError, current_task
from collections.abc import Iterable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SERVER_CLOSED = "Connection closed by server."
"""redis-py's words for a connection the server closed."""


def pack(*args: str | int) -> bytes:
    """A command in RESP, as redis-py's ``pack_command`` would make it (str and int only;
    a command name of several words, ``"SCRIPT LOAD"``, is sent as its words)."""
    name = args[0]
    if isinstance(name, str) and " " in name:
        args = (*name.split(), *args[1:])
    parts = [b"*%d\r\n" % len(args)]
    _append(parts, args)
    return b"".join(parts)


def _append(parts: list[bytes], args: Iterable[str | int]) -> None:
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))


class Packer:
    """``EVALSHA`` commands, packed as :func:`pack` packs them, from parts made once: the
    command, the script's SHA1 and its number of keys; and the leading arguments every
    script of one store takes (its prefix, single server or not)."""

    def __init__(self, leading: tuple[str, ...]) -> None:
        parts: list[bytes] = []
        _append(parts, leading)
        self._leading = b"".join(parts)
        self._count = 4 + len(leading)  # EVALSHA, sha, the number of keys, now
        self._heads: dict[tuple[str, int], bytes] = {}

    def evalsha(self, sha: str, keys: list[str], now: str, args: tuple[str | int, ...]) -> bytes:
        """``EVALSHA sha len(keys) *keys *leading now *args``, packed."""
        head = self._heads.get((sha, len(keys)))
        if head is None:
            head = self._heads[sha, len(keys)] = pack("EVALSHA", sha, len(keys))[4:]  # without "*3\r\n"
        parts = [b"*%d\r\n" % (self._count + len(keys) + len(args)), head]
        _append(parts, keys)
        parts.append(self._leading)
        data = now.encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
        _append(parts, args)
        return b"".join(parts)


class Exchange:
    @staticmethod
    def abandon(connections: Any) -> None:
        """Sync connections never outlive an event loop: nothing to do."""

    @staticmethod
    def close_at_loop_end(owner: Any, client: Any) -> Any:
        """Sync clients belong to no event loop: nothing to watch."""
        return None

    @staticmethod
    def borrowed(connection: Any) -> None:
        """A connection taken from the pool: nothing to change for sync sockets."""

    @staticmethod
    def returned(connection: Any, timeout: float) -> None:
        """A connection going back to the pool: nothing was changed."""

    @staticmethod
    def call(connection: Any, packed: bytes, timeout: float) -> Any:
        connection.send_packed_command([packed])
        return connection.read_response()


class AsyncExchange:
    @staticmethod
    def close_at_loop_end(owner: Any, client: Any) -> Any:
        """Close ``client`` on its own loop when that loop ends (``asyncio.run`` and
        anyio close every async generator before closing the loop): a test client used
        without ``with`` never runs the shutdown that closes the store. Returns the
        watching generator and the task that starts it, which the owner keeps (the loop
        holds both weakly)."""

        async def watch() -> Any:
            try:
                yield
            finally:
                if owner._client is client:
                    with owner._lock:
                        owner._client = None
                        owner._idle = []
                    with contextlib.suppress(Exception):
                        await client.aclose()

        watcher = watch()
        started = asyncio.ensure_future(watcher.__anext__())  # its first step registers it
        return watcher, started

    @staticmethod
    def abandon(connections: Any) -> None:
        """Close the sockets of connections whose event loop has finished (a test client
        used without ``with``, a loop per test). Their loop cannot close them any more,
        and left to the garbage collector each one raises a ``ResourceWarning`` (an
        error under ``filterwarnings = error``): the socket is closed here, directly,
        and the connection, its stream and its transport are marked closed."""
        for connection in connections:
            writer = getattr(connection, "_writer", None)
            if writer is None:
                continue
            transport = writer.transport
            sock = getattr(transport, "_sock", None)
            if sock is not None:
                sock.close()
                transport._sock = None  # asyncio's own "unclosed transport" check
            transport._closing = True  # and the stream's "loop is closed" one
            connection._writer = connection._reader = None

    @staticmethod
    def borrowed(connection: Any) -> None:
        connection.socket_timeout = None  # bounded by call() instead
        connection._sessionary_watch = _Watch(asyncio.get_running_loop(), _plain(connection))

    @staticmethod
    def returned(connection: Any, timeout: float) -> None:
        connection.socket_timeout = timeout

    @staticmethod
    async def call(connection: Any, packed: bytes, timeout: float) -> Any:
        """Send ``packed`` and read its reply, within ``timeout`` seconds; a connection that
        failed or timed out is closed (a late reply can never answer another command)."""
        watch: _Watch = connection._sessionary_watch
        loop = watch.loop
        task = current_task()
        assert task is not None, "a Redis command outside an asyncio task"
        cancelling = task.cancelling()
        watch.deadline = deadline = loop.time() + timeout
        watch.task = task
        if watch.handle is None:
            watch.handle = loop.call_at(deadline, watch.check)
        try:
            writer = connection._writer
            if writer is None or not watch.direct or connection.health_check_interval:
                await connection.send_packed_command([packed])
                return await connection.read_response()
            try:  # the exchange on the stream, with redis-py's errors and its rule that
                # a connection whose exchange failed in any way is closed
                transport = writer.transport
                if transport.is_closing():  # the server closed it while it waited in the pool
                    raise RedisConnectionError(SERVER_CLOSED)
                writer.write(packed)
                if transport.get_write_buffer_size():
                    await writer.drain()
                reader = connection._reader
                line = await reader.readline()
                if line[:1] == b"$" and line[-2:] == b"\r\n":  # a bulk string: most replies
                    size = int(line[1:-2])
                    reply = None if size < 0 else _text(connection, (await reader.readexactly(size + 2))[:-2])
                else:
                    reply = await _reply(reader, connection, line)
            except RedisConnectionError:
                await connection.disconnect(nowait=True)
                raise
            except OSError as exc:
                await connection.disconnect(nowait=True)
                where = f"{connection.host}:{connection.port}"
                raise RedisConnectionError(f"Error while reading from {where} : {exc.args}") from exc
            except IncompleteReadError:
                await connection.disconnect(nowait=True)
                raise RedisConnectionError(SERVER_CLOSED) from None
            except BaseException:
                await connection.disconnect(nowait=True)
                raise
            if isinstance(reply, Exception):
                raise reply
            return reply
        except CancelledError:
            if watch.fired:
                watch.fired = False
                if task.uncancel() <= cancelling:
                    # As redis-py words it (the connection is closed already).
                    where = f"{getattr(connection, 'host', '')}:{getattr(connection, 'port', '')}"
                    raise RedisTimeoutError(f"Timeout reading from {where}") from None
            raise
        finally:
            watch.deadline = 0.0
            watch.task = None


class _Watch:
    """The one timer of a kept connection (see the module docstring): armed by the first
    exchange that finds it unarmed, for that exchange's deadline; when it fires it
    cancels the exchange still in flight past its deadline, re-arms itself for the
    deadline of the one in flight now, or lapses when none is."""

    __slots__ = ("deadline", "direct", "fired", "handle", "loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, direct: bool) -> None:
        self.loop = loop
        self.direct = direct
        """Whether the connection's commands may bypass its methods (see :func:`_plain`)."""
        self.deadline = 0.0
        """The deadline of the exchange in flight; 0.0 while none is."""
        self.task: asyncio.Task[Any] | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.fired = False

    def check(self) -> None:
        self.handle = None
        deadline = self.deadline
        if not deadline:
            return
        if self.loop.time() >= deadline:
            self.fired = True
            assert self.task is not None
            self.task.cancel()
        else:
            self.handle = self.loop.call_at(deadline, self.check)


def _plain(connection: Any) -> bool:
    """Whether ``connection`` sends and reads as redis-py's base connection does: a
    Sentinel-managed one, say, reads a ``READONLY`` reply as the sign that its server was
    demoted, and reconnects; its own methods must then read every reply."""
    from redis.asyncio.connection import AbstractConnection

    kind = type(connection)
    return (
        kind.send_packed_command is AbstractConnection.send_packed_command
        and kind.read_response is AbstractConnection.read_response
    )


async def _reply(reader: asyncio.StreamReader, connection: Any, line: bytes | None = None) -> Any:
    """One RESP2 or RESP3 reply (from its first ``line``, when read already), as redis-py's
    parser gives it: an error reply is returned as redis-py's exception for it; a push
    message is handed to redis-py's handler and the reply after it read."""
    if line is None:
        line = await reader.readline()
    if line[-2:] != b"\r\n":
        raise RedisConnectionError(SERVER_CLOSED)
    kind, rest = line[:1], line[1:-2]
    try:
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            return _text(connection, (await reader.readexactly(size + 2))[:-2])
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [await _reply(reader, connection) for _ in range(size)]
        if kind == b":" or kind == b"(":
            return int(rest)
        if kind == b"+":
            return _text(connection, rest)
        if kind == b"_":
            return None
        if kind == b"-" or kind == b"!":
            if kind == b"!":
                rest = (await reader.readexactly(int(rest) + 2))[:-2]
            error = connection._parser.parse_error(rest.decode("utf-8", errors="replace"))
            if isinstance(error, RedisConnectionError):
                raise error
            return error
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"=":
            return _text(connection, (await reader.readexactly(int(rest) + 2))[4:-2])
        if kind == b"~":
            return [await _reply(reader, connection) for _ in range(int(rest))]
        if kind == b"%":
            mapping = {}
            for _ in range(int(rest)):
                key = await _reply(reader, connection)
                mapping[key] = await _reply(reader, connection)
            return mapping
        if kind == b">":
            push = [await _reply(reader, connection) for _ in range(int(rest))]
            await connection._parser.handle_push_response(push)
            return await _reply(reader, connection)
    except IncompleteReadError:
        raise RedisConnectionError(SERVER_CLOSED) from None
    raise RedisConnectionError(f"Protocol error from the server: {line[:40]!r}")


def _text(connection: Any, data: bytes) -> Any:
    encoder = connection.encoder
    return data.decode(encoder.encoding, encoder.encoding_errors) if encoder.decode_responses else data
