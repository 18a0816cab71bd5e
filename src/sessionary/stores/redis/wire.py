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
