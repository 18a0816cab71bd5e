"""How each face of the Redis store sends one command on a connection it keeps.

The async backend names :class:`AsyncExchange`; ``scripts/unasync.py`` turns that name
into :class:`Exchange` in the generated sync backend. Both send the command and read
its reply with redis-py's connection methods; they differ only in how the wait is
bounded:

* sync: the socket's own timeout (``socket_timeout``), as redis-py sets it;
* asyncio: one ``asyncio.timeout`` around the whole exchange. redis-py's connection
  would otherwise run every write under ``asyncio.wait_for`` (a new task and two extra
  turns of the event loop per command) and arm a second timer for the read. A kept
  connection's own ``socket_timeout`` is therefore off while the store holds it, and
  restored before it goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(*args: str | int) -> bytes:
    """A command in RESP, as redis-py's ``pack_command`` would make it (str and int only;
    a command name of several words, ``"SCRIPT LOAD"``, is sent as its words)."""
    name = args[0]
    if isinstance(name, str) and " " in name:
        args = (*name.split(), *args[1:])
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
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

    @staticmethod
    def returned(connection: Any, timeout: float) -> None:
        connection.socket_timeout = timeout

    @staticmethod
    async def call(connection: Any, packed: bytes, timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):
                await connection.send_packed_command([packed])
                return await connection.read_response()
        except TimeoutError:
            # As redis-py words it (its connection has already closed the socket).
            where = f"{getattr(connection, 'host', '')}:{getattr(connection, 'port', '')}"
            raise RedisTimeoutError(f"Timeout reading from {where}") from None
