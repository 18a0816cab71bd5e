"""The PostgreSQL store's kept connection: one per face, prepared statements, the pool
when several callers need a connection at once, and a new connection after the server
ended the old one (``pg_terminate_backend``), with no write lost or sent twice.

Every test uses tables of its own on the shared server and drops them afterwards; the
connections are told apart by an ``application_name`` of the test's own.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionary.errors import StoreUnavailable
from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record
from sessionary.stores.postgres._async import AsyncPostgresBackend
from sessionary.stores.postgres._sync import PostgresBackend
from sessionary.tokens import new_token, store_key
from support.postgres_helpers import drop_tables, postgres_url
from support.services import POSTGRES_URL, free_port, require_module

HOUR = 3600.0


def record(now: float, data: dict[str, Any] | None = None) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR)
    return Record(secrets.token_bytes(32), {"a": 1} if data is None else data, meta, now + HOUR)


def change(now: float, **values: int) -> Change:
    return Change(
        set={name: str(value) for name, value in values.items()},
        removed=frozenset(),
        meta={"last_seen": now},
        expires_at=now + HOUR,
    )


@pytest.fixture
def name() -> str:
    return f"sessionary-kept-{secrets.token_hex(4)}"


@pytest.fixture
def store(name: str) -> Iterator[Store]:
    prefix = f"pgkept_{secrets.token_hex(6)}"
    opened = open_store(postgres_url(table=prefix, application_name=name, pool_max_size=2))
    opened.sync.migrate()  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        opened.close()
        drop_tables(prefix)


def sync_face(store: Store) -> PostgresBackend:
    assert isinstance(store.sync, PostgresBackend)
    return store.sync


def async_face(store: Store) -> AsyncPostgresBackend:
    assert isinstance(store.aio, AsyncPostgresBackend)
    return store.aio


def catalog(query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def backends_named(name: str) -> list[int]:
    """The server processes of the connections named ``name``, open now."""
    return sorted(
        pid for (pid,) in catalog("SELECT pid FROM pg_stat_activity WHERE application_name = %s", name)
    )


def terminate(pid: int) -> None:
    """End one server process as an administrator would, and wait until it is gone."""
    ((ended,),) = catalog("SELECT pg_terminate_backend(%s, 5000)", pid)
    assert ended


def kept_pid(backend: PostgresBackend) -> int:
    with backend.connection() as conn:  # free, so the kept one
        return conn.info.backend_pid


async def akept_pid(backend: AsyncPostgresBackend) -> int:
    async with backend.connection() as conn:
        return conn.info.backend_pid


def test_one_connection_serves_every_operation_of_one_caller(store: Store, name: str) -> None:
    backend = sync_face(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    for value in range(20):
        assert backend.load(stored.key, now) is not None
        assert backend.write(stored.key, change(now, n=value), now)
    assert backends_named(name) == [kept_pid(backend)]  # the pool was never opened


def test_statements_are_prepared_on_first_use(store: Store, name: str) -> None:
    backend = sync_face(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    with backend.connection() as conn:
        prepared = [
            statement
            for (statement,) in conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
        ]
    assert any("INSERT INTO" in statement for statement in prepared)
    assert any(statement.lstrip().startswith("SELECT s.key, s.data::text") for statement in prepared)


def test_a_caller_that_finds_the_kept_connection_busy_uses_the_pool(store: Store, name: str) -> None:
    backend = sync_face(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with backend.connection():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        assert backend.load(stored.key, now) is not None  # not waiting for the holder
        assert len(backends_named(name)) == 2  # the kept one and one of the pool
    finally:
        release.set()
        holder.join(10)


def test_many_threads_at_once_all_get_answers(store: Store) -> None:
    backend = sync_face(store)
    now = time.time()
    records = [record(now, {"i": index}) for index in range(8)]
    for each in records:
        assert backend.create(each, now)
    failures: list[BaseException] = []

    def work(each: Record) -> None:
        try:
            for value in range(25):
                loaded = backend.load(each.key, now)
                assert loaded is not None and loaded.data["i"] == each.data["i"]
                assert backend.write(each.key, change(now, n=value), now)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(each,)) for each in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    for each in records:
        loaded = backend.load(each.key, now)
        assert loaded is not None and loaded.data["n"] == 24


def test_reads_and_writes_go_on_after_the_server_ends_the_kept_connection(store: Store, name: str) -> None:
    backend = sync_face(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    first = kept_pid(backend)

    terminate(first)
    assert backend.load(stored.key, now) is not None  # a new connection, nothing failed
    second = kept_pid(backend)
    assert second != first

    terminate(second)
    assert backend.write(stored.key, change(now, n=1), now)  # a write first, on a new connection
    assert kept_pid(backend) not in (first, second)
    loaded = backend.load(stored.key, now)
    assert loaded is not None and loaded.data["n"] == 1  # written once, not lost
    assert backends_named(name) == [kept_pid(backend)]


@pytest.mark.anyio
async def test_async_reads_and_writes_go_on_after_the_server_ends_the_kept_connection(
    store: Store, name: str
) -> None:
    backend = async_face(store)
    now = time.time()
    stored = record(now)
    try:
        assert await backend.create(stored, now)
        first = await akept_pid(backend)
        terminate(first)
        assert await backend.load(stored.key, now) is not None
        second = await akept_pid(backend)
        assert second != first
        terminate(second)
        assert await backend.write(stored.key, change(now, n=7), now)
        loaded = await backend.load(stored.key, now)
        assert loaded is not None and loaded.data["n"] == 7
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_concurrent_tasks_share_the_kept_connection_and_the_pool(store: Store, name: str) -> None:
    backend = async_face(store)
    now = time.time()
    records = [record(now, {"i": index}) for index in range(12)]
    try:
        for each in records:
            assert await backend.create(each, now)
        kept = len(backends_named(name))  # each face's kept connection (the sync one migrated)
        assert kept == 2
        loaded = await asyncio.gather(*(backend.load(each.key, now) for each in records))
        assert [each.data["i"] for each in loaded if each is not None] == list(range(12))
        assert kept <= len(backends_named(name)) <= kept + 2  # at most pool_max_size more
    finally:
        await backend.aclose()


def test_an_unreachable_server_fails_closed_for_reads_and_writes_naming_the_store() -> None:
    require_module("psycopg")
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1&pool_timeout=1"
    store = open_store(url)
    now = time.time()
    stored = record(now)
    try:
        for operation in (
            lambda: store.sync.load(store_key(new_token()), now),
            lambda: store.sync.create(stored, now),
            lambda: store.sync.write(stored.key, change(now, n=1), now),
            lambda: store.sync.delete(stored.key),
        ):
            with pytest.raises(StoreUnavailable) as caught:
                operation()
            assert "postgresql://postgres@127.0.0.1" in str(caught.value)
            assert "Connection refused" in str(caught.value)
    finally:
        store.close()


@pytest.mark.anyio
async def test_an_unreachable_server_fails_closed_on_the_async_face_too() -> None:
    require_module("psycopg")
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1&pool_timeout=1"
    store = open_store(url)
    now = time.time()
    try:
        with pytest.raises(StoreUnavailable, match="Connection refused"):
            await store.aio.load(store_key(new_token()), now)
        with pytest.raises(StoreUnavailable, match="Connection refused"):
            await store.aio.create(record(now), now)
    finally:
        await store.aclose()


def test_a_connection_left_in_a_transaction_is_not_kept(store: Store, name: str) -> None:
    """Maintenance code that leaves a transaction open on the kept connection does not
    leak it into the next operation: that connection is closed, a new one is kept."""
    backend = sync_face(store)
    with backend.connection() as conn:
        first = conn.info.backend_pid
        conn.execute("BEGIN")
    assert kept_pid(backend) != first
    deadline = time.monotonic() + 5
    while first in backends_named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first not in backends_named(name)


def test_the_trace_of_a_cold_and_a_warm_read(store: Store, tmp_path: Path) -> None:
    """A statement's first run on the kept connection prepares it (one extra round trip,
    once); every later run sends only its parameters."""
    import psycopg

    backend = sync_face(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    traces = []
    for run in range(2):
        path = tmp_path / f"load-{run}.trace"
        with path.open("w") as sink:
            with backend.connection() as conn:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            assert backend.load(stored.key, now) is not None
            with backend.connection() as conn:
                conn.pgconn.untrace()
        traces.append(
            [line.split("\t")[2] for line in path.read_text().splitlines() if line.startswith("F\t")]
        )
    assert traces[0].count("Parse") == 1 and traces[0].count("Sync") == 2
    assert "Parse" not in traces[1] and traces[1].count("Sync") == 1


def test_a_write_the_server_ends_half_way_fails_closed_and_is_not_sent_again(store: Store) -> None:
    """The kept connection is terminated while its write waits for a row lock: the write
    fails with StoreUnavailable (never retried: whether it was applied is not known to the
    client), the server rolled it back, and the next write goes out on a new connection."""
    import psycopg

    backend = sync_face(store)
    sessions = backend.settings.tables.sessions
    now = time.time()
    stored = record(now, {"n": 0})
    assert backend.create(stored, now)
    pid = kept_pid(backend)
    failed: list[BaseException] = []
    with psycopg.connect(POSTGRES_URL) as holder:
        holder.execute(f"SELECT 1 FROM {sessions} WHERE key = %s FOR UPDATE", (stored.key,))

        def write() -> None:
            try:
                backend.write(stored.key, change(now, n=1), now)
            except StoreUnavailable as exc:
                failed.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 10
        while not catalog("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", pid):
            assert time.monotonic() < deadline, "the write never waited for the lock"
            time.sleep(0.01)
        terminate(pid)
        writer.join(10)
        holder.rollback()
    assert len(failed) == 1 and store.name in str(failed[0])
    loaded = backend.load(stored.key, now)
    assert loaded is not None and loaded.data["n"] == 0  # rolled back, not applied behind the error
    assert backend.write(stored.key, change(now, n=2), now)
    loaded = backend.load(stored.key, now)
    assert loaded is not None and loaded.data["n"] == 2
