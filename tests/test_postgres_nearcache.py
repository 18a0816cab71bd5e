"""The PostgreSQL store's near-cache: a read of a session this process has seen costs no
round trip, and a change, logout or revocation made by another process reaches it through
``LISTEN``/``NOTIFY`` sent in the changing transaction.

The other process is a real one (``python -c``, its own store, its own connections).
The listener's connection is ended with ``pg_terminate_backend`` and frozen with SIGSTOP
on its server process, to check that the copies are then bypassed, never served stale.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record
from sessionary.stores.postgres._listen import Listener
from sessionary.stores.postgres._sync import PostgresBackend
from support.postgres_helpers import drop_tables, postgres_url
from support.services import POSTGRES_URL

HOUR = 3600.0
SRC = Path(__file__).resolve().parent.parent / "src"


def record(now: float, data: dict[str, Any] | None = None, user: str | None = None) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR, user_id=user)
    return Record(secrets.token_bytes(32), {"a": 1} if data is None else data, meta, now + HOUR)


@pytest.fixture
def url() -> Iterator[str]:
    prefix = f"pgnear_{secrets.token_hex(6)}"
    yield postgres_url(table=prefix, near_cache_lease=1)
    drop_tables(prefix)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = open_store(url)
    opened.sync.migrate()  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        opened.close()


def backend_of(store: Store) -> PostgresBackend:
    assert isinstance(store.sync, PostgresBackend)
    return store.sync


def listener_of(store: Store) -> Listener:
    near = backend_of(store)._near
    assert near is not None
    return near


def wait_until(condition: Any, timeout: float = 10.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - started


def wait_up(store: Store) -> Listener:
    near = listener_of(store)
    near.start()
    wait_until(lambda: near.cache.usable() and near.backend_pid is not None)
    return near


def catalog(query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description is not None else []


@contextmanager
def round_trips(backend: PostgresBackend, path: Path) -> Iterator[list[int]]:
    """The round trips the kept connection makes while the block runs (a libpq trace)."""
    import psycopg

    counted: list[int] = []
    with path.open("w") as sink:
        with backend.connection() as conn:
            conn.pgconn.trace(sink.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            with backend.connection() as conn:
                conn.pgconn.untrace()
    counted.append(
        sum(
            line.split("\t")[2] in ("Sync", "Query")
            for line in path.read_text().splitlines()
            if line.startswith("F\t")
        )
    )


OTHER_PROCESS = """
import sys, time
from sessionary.stores import open_store
from sessionary.stores.base import Change
url, action, argument = sys.argv[1:4]
store = open_store(url)
now = time.time()
if action == "write":
    change = Change(set={"a": "2"}, removed=frozenset(), meta={"last_seen": now}, expires_at=now + 3600)
    assert store.sync.write(bytes.fromhex(argument), change, now)
elif action == "delete":
    assert store.sync.delete(bytes.fromhex(argument))
elif action == "revoke":
    store.sync.revoke_user(argument, now, None)
store.close()
print("done", flush=True)
"""


def in_another_process(url: str, action: str, argument: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, url, action, argument],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr


def test_a_hot_read_costs_no_round_trip_and_a_cold_one_one(store: Store, tmp_path: Path) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    stored = record(now, {"a": 1, "b": [1, 2]})
    assert backend.create(stored, now)
    backend.load(stored.key, now)  # statement prepared
    near = listener_of(store)
    before = near.cache.stats().invalidations
    tables = backend.settings.tables
    catalog(  # a change made elsewhere: its notification drops the copy
        f"""UPDATE {tables.sessions} SET data = '{{"a": 5, "b": [1, 2]}}' WHERE key = %s""", stored.key
    )
    wait_until(lambda: near.cache.stats().invalidations >= before + 1)
    with round_trips(backend, tmp_path / "cold.trace") as cold:
        first = backend.load(stored.key, now)
    with round_trips(backend, tmp_path / "hot.trace") as hot:
        second = backend.load(stored.key, now)
    assert cold == [1] and hot == [0]
    assert first is not None and second is not None
    assert first.data == second.data == {"a": 5, "b": [1, 2]}
    assert first.data is not second.data  # each read decodes its own copy
    second.data["b"].append(3)
    third = backend.load(stored.key, now)
    assert third is not None and third.data["b"] == [1, 2]


def test_no_read_shares_a_mutable_value_with_the_copy_or_another_read(store: Store, tmp_path: Path) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    data = {"a": 1, "b": [1, [2]], "c": {"d": {"e": [3]}}, "s": "x"}
    stored = record(now, data)
    assert backend.create(stored, now)
    assert backend.load(secrets.token_bytes(32), now) is None  # statement prepared
    with round_trips(backend, tmp_path / "cold.trace") as cold:
        first = backend.load(stored.key, now)  # the read that keeps the copy
    assert cold == [1] and first is not None
    first.data["b"][1].append(9)
    first.data["c"]["d"]["e"].append(9)
    first.data["new"] = 1
    first.meta.user_id = "someone"
    with round_trips(backend, tmp_path / "hot.trace") as hot:
        second = backend.load(stored.key, now)
        second_data = None if second is None else second.data
        assert second is not None and second_data == data and second.meta.user_id is None
        second.data["b"].append(9)
        second.data["c"]["d"]["f"] = 1
        third = backend.load(stored.key, now)
    assert hot == [0], "served from the copy"
    assert third is not None and third.data == data


def test_a_write_here_is_kept_and_the_next_read_costs_no_round_trip(store: Store, tmp_path: Path) -> None:
    backend = backend_of(store)
    near = wait_up(store)
    now = time.time()
    stored = record(now, {"a": 1, "b": [1, 2]})
    assert backend.create(stored, now)
    warm = Change(set={"a": "0"}, removed=frozenset(), meta={}, expires_at=now + HOUR)
    before = near.cache.stats().invalidations
    assert backend.write(stored.key, warm, now)  # the statement prepared
    wait_until(lambda: near.cache.stats().invalidations >= before + 2)
    for value in range(2, 6):
        before = near.cache.stats().invalidations
        change = Change(set={"a": str(value)}, removed=frozenset(), meta={}, expires_at=now + HOUR)
        with round_trips(backend, tmp_path / f"write{value}.trace") as written:
            assert backend.write(stored.key, change, now)
        # Dropped here, then the write's own notification comes back: the copy the write
        # kept stays through it (a next request would come after it).
        wait_until(lambda before=before: near.cache.stats().invalidations >= before + 2)
        with round_trips(backend, tmp_path / f"read{value}.trace") as read:
            loaded = backend.load(stored.key, now)
        assert written == [1] and read == [0]
        assert loaded is not None and loaded.data == {"a": value, "b": [1, 2]}
    before = near.cache.stats().invalidations
    assert backend.touch(stored.key, now + 1, now + 2 * HOUR, now + 2 * HOUR, now)  # prepared
    wait_until(lambda: near.cache.stats().invalidations >= before + 2)
    before = near.cache.stats().invalidations
    with round_trips(backend, tmp_path / "touch.trace") as touched:
        assert backend.touch(stored.key, now + 2, now + 3 * HOUR, now + 3 * HOUR, now)
    wait_until(lambda: near.cache.stats().invalidations >= before + 2)
    with round_trips(backend, tmp_path / "after-touch.trace") as read:
        loaded = backend.load(stored.key, now)
    assert touched == [1] and read == [0]
    assert loaded is not None and loaded.expires_at == now + 3 * HOUR and loaded.meta.last_seen == now + 2
    assert backend.delete(stored.key)
    assert backend.load(stored.key, now) is None


def test_a_change_elsewhere_right_after_a_kept_write_drops_it(store: Store) -> None:
    import psycopg

    backend = backend_of(store)
    near = wait_up(store)
    tables = backend.settings.tables
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as elsewhere:
        for value in range(2, 12):
            before = near.cache.stats().invalidations
            change = Change(set={"a": str(value)}, removed=frozenset(), meta={}, expires_at=now + HOUR)
            assert backend.write(stored.key, change, now)
            # At once, before or after this process has heard its own write's notification.
            elsewhere.execute(
                f"UPDATE {tables.sessions} SET data = json_build_object('a', -%s::int) WHERE key = %s",
                (value, stored.key),
            )
            wait_until(lambda before=before: near.cache.stats().invalidations >= before + 3)
            loaded = backend.load(stored.key, now)
            assert loaded is not None and loaded.data == {"a": -value}


def test_a_kept_write_is_refused_after_a_revocation_elsewhere(store: Store, url: str) -> None:
    backend = backend_of(store)
    near = wait_up(store)
    now = time.time()
    stored = record(now, user="alice")
    assert backend.create(stored, now)
    change = Change(set={"a": "2"}, removed=frozenset(), meta={}, expires_at=now + HOUR)
    before = near.cache.stats().invalidations
    assert backend.write(stored.key, change, now)
    wait_until(lambda: near.cache.stats().invalidations >= before + 2)
    assert stored.key in near.cache  # kept, owned by alice
    in_another_process(url, "revoke", "alice")
    wait_until(lambda: backend.load(stored.key, time.time()) is None, timeout=5)


def test_this_process_reads_its_own_writes_at_once(store: Store) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None  # kept
    for value in range(2, 12):
        change = Change(set={"a": str(value)}, removed=frozenset(), meta={}, expires_at=now + HOUR)
        assert backend.write(stored.key, change, now)
        loaded = backend.load(stored.key, now)
        assert loaded is not None and loaded.data["a"] == value
    assert backend.delete(stored.key)
    assert backend.load(stored.key, now) is None


def test_a_copy_is_never_served_past_the_sessions_deadline(store: Store) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    assert backend.load(stored.key, now + HOUR) is None  # the server says, not the copy


@pytest.mark.parametrize("action", ["write", "delete", "revoke"])
def test_a_change_logout_or_revocation_in_another_process_is_refused_here(
    store: Store, url: str, action: str
) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    stored = record(now, user="alice")
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    assert stored.key in listener_of(store).cache  # a copy is kept

    in_another_process(url, action, "alice" if action == "revoke" else stored.key.hex())

    def refused() -> bool:
        loaded = backend.load(stored.key, time.time())
        return loaded is None if action != "write" else loaded is not None and loaded.data["a"] == 2

    wait_until(refused, timeout=5)  # the delay is measured by bench/postgres_nearcache.py
    assert stored.key not in listener_of(store).cache or action == "write"


def test_a_rolled_back_change_notifies_nobody_and_a_committed_one_does(store: Store) -> None:
    import psycopg

    tables = backend_of(store).settings.tables
    now = time.time()
    stored = record(now)
    assert backend_of(store).create(stored, now)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as listening, psycopg.connect(POSTGRES_URL) as writer:
        listening.execute(f'LISTEN "{tables.channel}"')
        writer.execute(
            f"UPDATE {tables.sessions} SET expires_at = expires_at + 1 WHERE key = %s", (stored.key,)
        )
        writer.rollback()
        assert list(listening.notifies(timeout=0.5)) == []
        writer.execute(
            f"UPDATE {tables.sessions} SET expires_at = expires_at + 1 WHERE key = %s", (stored.key,)
        )
        writer.commit()
        heard = [notify.payload for notify in listening.notifies(timeout=5, stop_after=1)]
        assert heard == [stored.key.hex()]
        writer.execute(f"INSERT INTO {tables.users} VALUES ('bob', 1)")
        writer.commit()
        assert [notify.payload for notify in listening.notifies(timeout=5, stop_after=1)] == ["u:bob"]


def test_a_killed_listener_bypasses_the_copies_and_comes_back(store: Store, tmp_path: Path) -> None:
    import psycopg

    backend = backend_of(store)
    near = wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    pid = near.backend_pid
    assert pid is not None
    ((ended,),) = catalog("SELECT pg_terminate_backend(%s, 5000)", pid)
    assert ended
    # Changed behind the listener's back: no notification can reach the dead connection.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as other:
        other.execute(
            f"UPDATE {backend.settings.tables.sessions} SET data = '{{\"a\": 3}}' WHERE key = %s",
            (stored.key,),
        )
    with round_trips(backend, tmp_path / "after-kill.trace") as trips:
        loaded = backend.load(stored.key, now)
    assert loaded is not None and loaded.data == {"a": 3}
    assert trips == [1]
    # It reconnects on its own, with a new connection and an empty cache.
    wait_until(lambda: near.cache.usable() and near.backend_pid not in (None, pid))
    assert backend.load(stored.key, now) is not None
    with round_trips(backend, tmp_path / "back.trace") as trips:
        assert backend.load(stored.key, now) is not None
    assert trips == [0]


def test_a_frozen_listener_is_trusted_no_longer_than_its_lease(store: Store, tmp_path: Path) -> None:
    """A listening connection that hangs without closing (its server process stopped):
    once the lease (1 s here) runs out with no heartbeat answered, every read goes to the
    server."""
    backend = backend_of(store)
    near = wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    pid = near.backend_pid
    assert pid is not None
    try:
        os.kill(pid, signal.SIGSTOP)
    except PermissionError:
        pytest.skip("the test cannot signal the server's processes")
    try:
        wait_until(lambda: not near.cache.usable(), timeout=5)
        with round_trips(backend, tmp_path / "frozen.trace") as trips:
            assert backend.load(stored.key, now) is not None
        assert trips == [1]
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: near.cache.usable())


def test_without_the_triggers_the_cache_stays_off(store: Store, tmp_path: Path) -> None:
    """Tables migrated by an older release have no triggers: no copy is ever served."""
    backend = backend_of(store)
    tables = backend.settings.tables
    for trigger, table in zip(tables.triggers, (tables.sessions, tables.users), strict=True):
        catalog(f'DROP TRIGGER "{trigger}" ON {table}')
    near = listener_of(store)
    near.start()
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None  # the statement prepared
    time.sleep(0.5)
    for _ in range(3):
        with round_trips(backend, tmp_path / "untriggered.trace") as trips:
            assert backend.load(stored.key, now) is not None
        assert trips == [1]
    assert not near.cache.usable()


def test_near_cache_off_reads_the_server_every_time(url: str, tmp_path: Path) -> None:
    store = open_store(url + "&near_cache=off")
    try:
        backend = backend_of(store)
        backend.migrate()
        assert backend._near is None
        now = time.time()
        stored = record(now)
        assert backend.create(stored, now)
        backend.load(stored.key, now)
        with round_trips(backend, tmp_path / "off.trace") as trips:
            backend.load(stored.key, now)
        assert trips == [1]
    finally:
        store.close()


def test_a_forked_process_drops_its_parents_copies(store: Store) -> None:
    backend = backend_of(store)
    wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            near = listener_of(store)
            first = near.get(stored.key)  # the parent's copy is not served here
            os.write(write, b"ok" if first is None and stored.key not in near.cache else b"stale")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.close(read)
    os.waitpid(child, 0)
    assert answer == b"ok"
    assert stored.key in listener_of(store).cache  # the parent's are untouched


@pytest.mark.anyio
async def test_the_async_face_shares_the_copies_and_reads_them_with_no_round_trip(
    store: Store, tmp_path: Path
) -> None:
    import psycopg

    from sessionary.stores.postgres._async import AsyncPostgresBackend

    backend = store.aio
    assert isinstance(backend, AsyncPostgresBackend)
    near = wait_up(store)
    assert backend._near is near  # one listener and one set of copies per store and process
    now = time.time()
    stored = record(now)
    try:
        assert await backend.create(stored, now)
        assert await backend.load(stored.key, now) is not None  # kept
        path = tmp_path / "async-hot.trace"
        with path.open("w") as sink:
            async with backend.connection() as conn:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            loaded = await backend.load(stored.key, now)
            async with backend.connection() as conn:
                conn.pgconn.untrace()
        assert loaded is not None and loaded.data == {"a": 1}
        assert not any(
            line.split("\t")[2] in ("Sync", "Query")
            for line in path.read_text().splitlines()
            if line.startswith("F\t")
        )
        assert store.sync.load(stored.key, now) is not None  # the sync face reads it too
        assert await backend.delete(stored.key)
        assert store.sync.load(stored.key, now) is None  # and loses it with the async face's delete
    finally:
        await backend.aclose()


def test_a_store_dropped_without_close_ends_its_listener(url: str) -> None:
    """An app built per test and never closed: once its store is collected, the listening
    thread ends and its connection closes (none left behind on the server)."""
    import gc

    store = open_store(url)
    store.sync.migrate()  # type: ignore[attr-defined]
    near = wait_up(store)
    pid = near.backend_pid
    assert pid is not None
    del store, near
    gc.collect()
    wait_until(lambda: not catalog("SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid))


def test_a_read_waits_a_moment_for_a_notification_already_here_then_asks_the_server(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notification on the socket, not applied yet: the copy is not served before the
    thread has applied it; a read waits for that (at most SETTLE_WAIT), and asks the
    server if it takes longer."""
    from sessionary.stores.postgres import _listen

    backend = backend_of(store)
    near = wait_up(store)
    now = time.time()
    stored = record(now)
    assert backend.create(stored, now)
    assert backend.load(stored.key, now) is not None  # kept
    channel = near._channel
    answers = [True, True, True, False]  # unread for three looks, then applied
    monkeypatch.setattr(channel, "pending", lambda: answers.pop(0) if answers else False)
    monkeypatch.setattr(_listen, "SETTLE_WAIT", 10.0)  # the looks, not a busy machine's pace, decide
    assert near.get(stored.key) is not None
    assert answers == []
    monkeypatch.setattr(channel, "pending", lambda: True)  # never applied
    monkeypatch.setattr(_listen, "SETTLE_WAIT", 0.002)
    started = time.monotonic()
    assert near.get(stored.key) is None
    assert time.monotonic() - started >= 0.002
