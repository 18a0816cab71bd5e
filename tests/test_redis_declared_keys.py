"""``declared_keys=true``: every script the store runs touches only the keys it declares.

Services such as ElastiCache Serverless, Dragonfly and Upstash refuse a script that
reaches a key it did not pass in KEYS; plain Redis does not check. So the check is made
here on a test-owned server with MONITOR, which shows each command a script runs right
after the EVALSHA that ran it: a whole session life in each mode, every script command's
key compared with the script's KEYS. The default single-server mode does reach other
keys (the user's index and revocation time, from inside a session's script), which shows
the check can fail; the declared mode must not. The conformance suite runs unchanged on
this mode as the ``redis-declared-keys`` store (tests/conformance/stores_redis.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import redis

from sessionary import SessionManager
from sessionary.auth import login, logout
from sessionary.testing import FakeClock
from sessionary.tokens import handle, store_key
from support.redis_servers import redis_server

_ARGUMENT = re.compile(r'"((?:[^"\\]|\\.)*)"')


@contextlib.contextmanager
def monitored(port: int) -> Iterator[list[str]]:
    """MONITOR lines of the server on ``port``, collected until the block ends."""
    lines: list[str] = []
    client = redis.Redis(port=port, socket_timeout=None)
    monitor = client.monitor().__enter__()

    def read() -> None:
        while True:
            try:
                line = monitor.connection.read_response()
            except Exception:
                return
            lines.append(line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    marker = redis.Redis(port=port)
    marker.echo("sessionary-begin")
    try:
        yield lines
    finally:
        marker.echo("sessionary-end")
        deadline = threading.Event()
        for _ in range(100):
            if any("sessionary-end" in line for line in lines):
                break
            deadline.wait(0.05)
        marker.close()
        with contextlib.suppress(Exception):
            monitor.connection.disconnect()
        client.close()
        thread.join(5)


def undeclared(lines: list[str]) -> list[str]:
    """Each command a script ran on a key its EVALSHA did not declare."""
    found: list[str] = []
    declared: set[str] | None = None
    for line in lines:
        source, _, command = line.partition("] ")
        arguments = _ARGUMENT.findall(command)
        if not arguments:
            continue
        if not source.endswith(" lua"):
            name = arguments[0].upper()
            declared = set(arguments[3 : 3 + int(arguments[2])]) if name in ("EVALSHA", "EVAL") else None
            continue
        if len(arguments) > 1 and declared is not None and arguments[1] not in declared:
            found.append(f"{arguments[0]} {arguments[1]}")
    return found


def a_whole_session_life(url: str) -> None:
    clock = FakeClock(datetime.now(UTC))  # Redis expires keys on its own, real clock
    manager = SessionManager(url, clock=clock, renewal_timeout=120, cleanup_interval=None)
    try:
        session = manager.open(None)
        session["cart"] = ["book"]
        manager.close_session(session, 200)
        token = session.session_key
        session = manager.open(f"__Host-sessionid={token}")
        session["cart"] = ["book", "pen"]
        login(session, "alice")
        manager.close_session(session, 200)
        signed_in = session.session_key
        clock.advance(121)
        renewed = manager.open(f"__Host-sessionid={signed_in}")
        renewed.get("cart")
        manager.close_session(renewed, 200)  # a renewal, the old token kept for its grace
        via_alias = manager.open(f"__Host-sessionid={signed_in}")
        via_alias["seen"] = True  # written through the alias
        via_alias.update_atomic("visits", lambda visits: (visits or 0) + 1)
        manager.close_session(via_alias, 200)
        other = manager.open(None)
        login(other, "alice")
        manager.close_session(other, 200)
        assert other.session_key is not None
        assert manager.revoke("alice", handle(store_key(other.session_key)))
        last = manager.open(f"__Host-sessionid={renewed.session_key}")
        logout(last)
        manager.close_session(last, 200)
        manager.revoke_all("alice")
        manager.stats()
        list(manager.clear_expired())
    finally:
        manager.close()


def test_only_declared_keys_are_touched_and_the_check_can_tell() -> None:
    with redis_server() as server:
        with monitored(server.port) as default_mode:
            a_whole_session_life(f"{server.url}?prefix=default:")
        with monitored(server.port) as declared_mode:
            a_whole_session_life(f"{server.url}?prefix=declared:&declared_keys=true")
    assert any(" lua" in line for line in declared_mode), "the scripts ran and MONITOR showed them"
    assert undeclared(default_mode), "the single-server scripts reach the user's keys themselves"
    assert undeclared(declared_mode) == []
