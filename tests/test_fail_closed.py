"""The store fails: every request answers a clear error, and nothing stored is lost.

A test-owned Redis server (persistence on) and a throwaway PostgreSQL server are
stopped, killed in the middle of a request, made too slow (Redis paused with SIGSTOP
past its ``socket_timeout``; PostgreSQL held behind a table lock past its
``statement_timeout``) and fed records that are not sessions. The app is the one of
``live_servers``, under uvicorn (Starlette, ASGI) and under a threaded WSGI server
(Flask), neither with ``preload``: the failures are met inside the views, which the
frameworks turn into their 500 pages, and the middlewares into 503.

Each time: 503 with ``Retry-After``, no ``Set-Cookie``, one log line naming the store
and the cause; and when the store is back, every session stored before loads with its
data, and nothing a failed request tried to write is there.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionary import SessionManager
from sessionary.stores.redis import scripts as lua
from sessionary.tokens import store_key
from support.live_servers import KINDS, Gates, get, serve, session_cookie
from support.postgres_helpers import with_options
from support.redis_servers import RedisServer
from support.services import require_module
from support.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.slow

VISITORS = 8


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def assert_failed_closed(
    reply: httpx.Response, caplog: pytest.LogCaptureFixture, store: str, cause: str
) -> None:
    assert reply.status_code == 503, reply.text
    assert "set-cookie" not in reply.headers
    assert reply.headers["retry-after"] == "5"
    assert "unavailable" in reply.text
    lines = [r.getMessage() for r in caplog.records if r.name == "sessionary" and r.levelno >= logging.ERROR]
    assert lines, "no log line for the failure"
    assert store in lines[-1] and cause in lines[-1], lines[-1]
    caplog.clear()


class Visitors:
    """Sessions made through the app, and what each must still hold."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.stored: dict[str, dict[str, str]] = {}

    def create(self, count: int) -> None:
        for index in range(count):
            reply = get(self.base, "/set", name="visitor", value=str(index))
            token = session_cookie(reply)
            assert reply.status_code == 200 and token
            reply = get(self.base, "/set", token, name="cart", value=f"item-{index}")
            assert reply.status_code == 200
            self.stored[token] = {"visitor": str(index), "cart": f"item-{index}"}

    def assert_intact(self, *, skip: frozenset[str] = frozenset(), timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for token, data in self.stored.items():
            if token in skip:
                continue
            # The first requests after a restart may still meet a dead connection; and both
            # faces must be back (/read-sync uses the sync one, whose pool may still be
            # waiting out a reconnect backoff begun while the server was starting up), or
            # the next step would measure that wait instead of what it means to test.
            for path in ("/read", "/read-sync"):
                while True:
                    reply = get(self.base, path, token)
                    if reply.status_code != 503 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert reply.status_code == 200, reply.text
                assert reply.json() == data
            assert session_cookie(reply) is None

    def every_kind_of_request(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        first, second = list(self.stored)[:2]
        return [
            ("/read", first, {}),
            ("/read-sync", first, {}),
            ("/set", second, {"name": "cart", "value": "stolen"}),
            ("/increment-atomic", second, {"name": "n"}),
            ("/set", None, {"name": "visitor", "value": "new during the outage"}),
            ("/login", first, {"user": "mallory"}),
        ]


def walk_through_failures(
    base: str,
    gates: Gates,
    manager: SessionManager,
    caplog: pytest.LogCaptureFixture,
    *,
    stop: Callable[[], None],
    start: Callable[[], None],
    kill: Callable[[], None],
    slow: Callable[[], contextlib.AbstractContextManager[None]],
    slow_cause: str,
    corrupt: Callable[[bytes], None],
) -> None:
    store = manager.store.name
    visitors = Visitors(base)
    visitors.create(VISITORS)
    visitors.assert_intact()

    # Stopped: every kind of request fails closed; back, everything is there.
    stop()
    for path, token, params in visitors.every_kind_of_request():
        assert_failed_closed(get(base, path, token, **params), caplog, store, "")
    start()
    visitors.assert_intact()

    # Killed while a request that changed the session is running: its save fails closed.
    victim = list(visitors.stored)[2]
    holder: list[httpx.Response] = []
    running = threading.Thread(
        target=lambda: holder.append(get(base, "/set-slow", victim, name="cart", value="lost", gate="kill"))
    )
    running.start()
    gates.wait_arrival("kill")
    kill()
    gates.open("kill")
    running.join(30)
    assert_failed_closed(holder[0], caplog, store, "")
    start()
    visitors.assert_intact()

    # Too slow: the store's own timeout turns the wait into a failure, not a hang.
    with slow():
        for path, token, params in visitors.every_kind_of_request()[:2]:
            assert_failed_closed(get(base, path, token, **params), caplog, store, slow_cause)
    visitors.assert_intact()

    # Garbage under one session's key: that session fails closed, the others are served.
    corrupted = list(visitors.stored)[3]
    corrupt(store_key(corrupted))
    for path in ("/read", "/read-sync", "/increment-atomic"):
        reply = get(base, path, corrupted, name="n")
        assert reply.status_code == 503, reply.text
        assert "set-cookie" not in reply.headers
    lines = [r.getMessage() for r in caplog.records if r.name == "sessionary" and r.levelno >= logging.ERROR]
    assert lines and all(store in line for line in lines)
    visitors.assert_intact(skip=frozenset({corrupted}))


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    require_module("redis")
    directory = Path(tempfile.mkdtemp(prefix="sessionary-failclosed-"))
    server = RedisServer(directory, options=("--appendonly", "yes", "--appendfsync", "always"))
    try:
        yield server.start()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGCONT)
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_redis_failures_fail_closed_and_lose_nothing(
    kind: str, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The store's own failure paths: with the near-cache a session read just before the
    # server hangs is served from its copy until the channel's lease runs out (a copy
    # nothing can change while the server is stopped), so "too slow" would depend on
    # whether the read before it kept one. tests/test_redis_near_cache.py covers the copy
    # when its channel is lost.
    manager = SessionManager(
        f"{redis_server.url}?socket_timeout=0.5&socket_connect_timeout=0.5&near_cache=false"
    )
    gates = Gates()

    @contextlib.contextmanager
    def paused() -> Iterator[None]:
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            redis_server.process.send_signal(signal.SIGCONT)

    def corrupt(key: bytes) -> None:
        client = redis_server.client()
        name = lua.session_key("sessionary:", key.hex())
        client.hset(name, "d:cart", '{"truncated": ')
        client.close()

    with caplog.at_level(logging.ERROR, logger="sessionary"), serve(kind, manager, gates) as base:
        walk_through_failures(
            base,
            gates,
            manager,
            caplog,
            stop=redis_server.stop,
            start=redis_server.start,
            kill=redis_server.kill,
            slow=paused,
            slow_cause="Timeout",
            corrupt=corrupt,
        )
        # Not a hash at all under a session's key: refused the same way.
        token = session_cookie(get(base, "/set", name="a", value="1"))
        assert token
        client = redis_server.client()
        name = lua.session_key("sessionary:", store_key(token).hex())
        client.delete(name)
        client.set(name, "not a session")
        client.close()
        reply = get(base, "/read", token)
        assert reply.status_code == 503 and "set-cookie" not in reply.headers
    manager.close()


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_failures_fail_closed_and_lose_nothing(
    kind: str, throwaway_postgres: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    server = throwaway_postgres
    url = with_options(
        server.url,
        table="failclosed",
        connect_timeout=1,
        pool_timeout=1,
        pool_max_size=4,
        statement_timeout=300,
        near_cache="off",  # the store's own failure paths, as on Redis above
    )
    manager = SessionManager(url)
    manager.store.sync.migrate()  # type: ignore[attr-defined]
    gates = Gates()
    table = manager.store.sync.settings.tables.sessions  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        """Another transaction holds the sessions table and sleeps (as a long migration would)."""
        with psycopg.connect(server.url) as blocker:
            blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
            blocker.rollback()

    def corrupt(key: bytes) -> None:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(
                f"UPDATE {table} SET meta = jsonb_set(meta, '{{created_at}}', '\"yesterday\"') WHERE key = %s",
                (key,),
            )

    with caplog.at_level(logging.ERROR, logger="sessionary"), serve(kind, manager, gates) as base:
        walk_through_failures(
            base,
            gates,
            manager,
            caplog,
            stop=server.stop,
            start=server.start,
            kill=server.kill,
            slow=locked,
            slow_cause="statement_timeout=300 ms",
            corrupt=corrupt,
        )
        # Data that is not a JSON object: refused the same way.
        token = session_cookie(get(base, "/set", name="a", value="1"))
        assert token
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f"UPDATE {table} SET data = '[1, 2]'::jsonb WHERE key = %s", (store_key(token),))
        reply = get(base, "/read", token)
        assert reply.status_code == 503 and "set-cookie" not in reply.headers
    manager.close()


def test_a_custom_failure_status_is_answered(tmp_path: Path) -> None:
    """``Config.store_failure_status`` replaces 503 (here with a corrupted SQLite file)."""
    manager = SessionManager(f"sqlite:///{tmp_path}/s.db", store_failure_status=500)
    with serve("asgi", manager) as base:
        token = session_cookie(get(base, "/set", name="a", value="1"))
        manager.close()
        for suffix in ("-wal", "-shm"):
            (tmp_path / f"s.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "s.db").write_bytes(b"not a database" * 500)
        reply = get(base, "/read", token)
        assert reply.status_code == 500
        assert "retry-after" not in reply.headers and "set-cookie" not in reply.headers
        assert "unavailable" in reply.text


def test_a_sqlite_row_that_is_not_utf8_fails_closed_and_logs_no_data(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row whose text is not UTF-8 (sqlite3 raises while fetching, not executing): the
    documented 503, no traceback, and no session data in any log record."""
    import sqlite3

    manager = SessionManager(f"sqlite:///{tmp_path}/s.db")
    with caplog.at_level(logging.DEBUG), serve(kind, manager) as base:
        token = session_cookie(get(base, "/set", name="a", value="secret-value"))
        assert token
        with sqlite3.connect(tmp_path / "s.db") as db:
            db.execute("UPDATE sessionary_sessions SET data=CAST(X'7B2261223A22FF227D' AS TEXT)")
        caplog.clear()
        for _ in range(3):
            reply = get(base, "/read", token)
            assert reply.status_code == 503, reply.text
            assert "set-cookie" not in reply.headers and reply.headers["retry-after"] == "5"
    ours = [r for r in caplog.records if r.name.startswith("sessionary")]
    assert any("holds text that is not UTF-8" in r.getMessage() for r in ours), caplog.text
    assert not any(r.exc_info for r in ours), "sessionary logged a traceback"
    # Flask logs the exception its view met (then the middleware answers 503): even that
    # traceback names the column only.
    assert '{"a"' not in caplog.text and "\ufffd" not in caplog.text and "with text" not in caplog.text
    manager.close()
