"""The PostgreSQL store beyond the shared contract: schema, round trips, pools, errors, cleanup.

Every test uses tables of its own on the shared server (``?table=<unique prefix>``) and
drops them afterwards.
"""

from __future__ import annotations

import io
import json
import math
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from sessionary import SessionManager
from sessionary.cli import main as cli
from sessionary.errors import ConfigError, SessionValueError, StoreCorrupted, StoreUnavailable
from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record, Rotation, Swap
from sessionary.stores.postgres._async import AsyncPostgresBackend
from sessionary.stores.postgres._sync import PostgresBackend
from sessionary.tokens import new_token, store_key
from support.postgres_helpers import drop_tables, postgres_url
from support.services import POSTGRES_URL, forked_loads_stay_apart, free_port, require_module

HOUR = 3600.0
DOCS = Path(__file__).resolve().parent.parent / "docs" / "store-postgresql.md"


def record(now: float, data: dict[str, Any] | None = None, *, expires: float | None = None) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR)
    return Record(secrets.token_bytes(32), {"a": 1} if data is None else data, meta, expires or now + HOUR)


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"pgtest_{secrets.token_hex(6)}"
    yield name
    drop_tables(name)


@pytest.fixture
def store(prefix: str) -> Iterator[Store]:
    opened = open_store(postgres_url(table=prefix, pool_max_size=1))
    opened.sync.migrate()  # type: ignore[attr-defined]
    yield opened
    opened.close()


def sync_face(store: Store) -> PostgresBackend:
    assert isinstance(store.sync, PostgresBackend)
    return store.sync


def async_face(store: Store) -> AsyncPostgresBackend:
    assert isinstance(store.aio, AsyncPostgresBackend)
    return store.aio


def catalog(query: str, *params: Any) -> list[tuple[Any, ...]]:
    """A query on the shared server through a connection of the test's own."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


# --- schema ---------------------------------------------------------------------------------


def test_migrate_creates_tables_and_indexes_and_is_idempotent(prefix: str) -> None:
    store = open_store(postgres_url(table=prefix))
    try:
        sync_face(store).migrate()
        now = time.time()
        kept = record(now, {"kept": True})
        assert store.sync.create(kept, now)
        sync_face(store).migrate()  # again: nothing changes, nothing is lost
        loaded = store.sync.load(kept.key, now)
        assert loaded is not None and loaded.data == {"kept": True}
    finally:
        store.close()
    tables = {
        name for (name,) in catalog("SELECT tablename FROM pg_tables WHERE tablename LIKE %s", prefix + "%")
    }
    assert tables == {f"{prefix}_sessions", f"{prefix}_users", f"{prefix}_leases"}
    indexes = dict(
        catalog("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", f"{prefix}_sessions")
    )
    assert "(expires_at)" in indexes[f"{prefix}_sessions_expires_at"]
    assert "WHERE (user_id IS NOT NULL)" in indexes[f"{prefix}_sessions_user_id"]
    columns = dict(
        catalog(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            f"{prefix}_sessions",
        )
    )
    assert columns == {
        "key": "bytea",
        "data": "json",
        "meta": "jsonb",
        "user_id": "text",
        "issued_at": "double precision",
        "expires_at": "double precision",
        "alias_of": "bytea",
    }


def test_migrate_runs_from_the_cli_twice(prefix: str) -> None:
    url = postgres_url(table=prefix)
    said = []
    for _ in range(2):
        out = io.StringIO()
        assert cli(["migrate", "--store", url], out=out) == 0
        said.append(out.getvalue())
    name = url.split("?")[0]
    tables = f'"{prefix}_sessions" and "{prefix}_users"'
    assert said[0].startswith(f"{name}?table={prefix}: created the tables {tables}."), said[0]
    assert said[1].endswith(f": found the tables {tables} up to date.\n"), said[1]
    assert catalog("SELECT to_regclass(%s) IS NOT NULL", f"{prefix}_sessions") == [(True,)]


def test_migrate_upgrades_a_jsonb_data_column_and_keeps_its_sessions(prefix: str) -> None:
    """A table made when data was jsonb: migrate turns the column into json, says so, and
    every stored session still loads; from then on values read back as written."""
    import psycopg

    url = postgres_url(table=prefix)
    store = open_store(url)
    store.sync.migrate()  # type: ignore[attr-defined]
    now = time.time()
    old = record(now, {"b": 1, "a": [1, {"y": 2, "x": 3}]})
    assert store.sync.create(old, now)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:  # as an older release made it
        conn.execute(f'ALTER TABLE "{prefix}_sessions" ALTER COLUMN data TYPE jsonb USING data::jsonb')
    out = io.StringIO()
    assert cli(["migrate", "--store", url], out=out) == 0
    assert f'upgraded "{prefix}_sessions": its data column is now json' in out.getvalue()
    assert catalog(
        "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = 'data'",
        f"{prefix}_sessions",
    ) == [("json",)]
    loaded = store.sync.load(old.key, now)
    assert loaded is not None and loaded.data == old.data
    assert list(loaded.data) == ["a", "b"]  # what jsonb sorted stays sorted; new saves do not
    exact = {"z": 1, "a": {"q": 1e16, "b": -0.0}, "mm": 2}
    assert store.sync.write(old.key, Change(set={"a": json.dumps(exact)}, expires_at=now + HOUR), now)
    loaded = store.sync.load(old.key, now)
    assert loaded is not None and json.dumps(loaded.data["a"]) == json.dumps(exact)
    out = io.StringIO()
    assert cli(["migrate", "--store", url], out=out) == 0
    assert "up to date" in out.getvalue()
    store.close()


def test_values_read_back_exactly_as_stored(store: Store) -> None:
    """Key order (top level and nested), floats of 1e16 and above, -0.0: as every other
    store and Django's backends read them, through create, write, compare-and-set and rotate."""
    now = time.time()
    data = {"z": 1, "a": {"y": [1, {"k": 2, "b": 3}], "c": 1e16}, "mm": -0.0, "big": 1.5e300}
    stored = record(now, data)
    assert store.sync.create(stored, now)

    def exact(key: bytes, expected: dict[str, Any]) -> None:
        loaded = store.sync.load(key, now)
        assert loaded is not None
        assert json.dumps(loaded.data) == json.dumps(expected)  # order and float spelling
        assert math.copysign(1, loaded.data["mm"]) == math.copysign(1, expected["mm"])

    exact(stored.key, data)
    # a write keeps the places of the keys it changes, and adds new ones last
    change = Change(
        set={"a": json.dumps({"x": 2, "b": 1e17}), "new": "1"},
        removed=frozenset({"z"}),
        expires_at=now + HOUR,
    )
    assert store.sync.write(stored.key, change, now)
    data = {"a": {"x": 2, "b": 1e17}, "mm": -0.0, "big": 1.5e300, "new": 1}
    exact(stored.key, data)
    assert store.sync.compare_and_set(stored.key, "mm", "-0.0", "3", now) is Swap.SWAPPED
    data["mm"] = 3
    exact(stored.key, data)
    assert store.sync.compare_and_set(stored.key, "later", None, '{"q": 1, "c": 2}', now) is Swap.SWAPPED
    data["later"] = {"q": 1, "c": 2}
    exact(stored.key, data)
    renewed = record(now, data)
    assert store.sync.rotate(stored.key, renewed, None, now) is Rotation.ROTATED
    exact(renewed.key, data)


def test_the_cli_counts_and_clears_a_postgres_store(store: Store) -> None:
    now = time.time()
    for index in range(5):
        assert store.sync.create(record(now - 100, expires=now - 1 if index < 3 else now + HOUR), now - 100)
    url = postgres_url(table=sync_face(store).settings.tables.prefix)
    out = io.StringIO()
    assert cli(["stats", "--store", url], out=out) == 0
    assert "live:    2" in out.getvalue() and "expired: 3" in out.getvalue()
    out = io.StringIO()
    assert cli(["clear-expired", "--store", url, "--batch-size", "2", "--quiet"], out=out) == 0
    assert out.getvalue().startswith("Deleted 3 expired sessions")
    assert store.sync.count(time.time()).expired == 0


def test_concurrent_migrations_do_not_collide(prefix: str) -> None:
    stores = [open_store(postgres_url(table=prefix)) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(store: Store) -> None:
        try:
            sync_face(store).migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []


def test_a_missing_table_is_reported_not_created(prefix: str) -> None:
    store = open_store(postgres_url(table=prefix))
    try:
        now = time.time()
        with pytest.raises(StoreUnavailable) as caught:
            store.sync.load(store_key(new_token()), now)
        message = str(caught.value)
        assert f"sessionary migrate --store {store.name}" in message
        assert f"{prefix}_sessions" in message
        with pytest.raises(StoreUnavailable, match="sessionary migrate"):
            store.sync.create(record(now), now)
    finally:
        store.close()
    assert catalog("SELECT to_regclass(%s)", f"{prefix}_sessions") == [(None,)]


def test_the_documented_schema_is_the_one_migrate_runs() -> None:
    require_module("psycopg")
    from sessionary.stores.postgres import schema_sql

    assert schema_sql().strip() in DOCS.read_text()


# --- one round trip per operation ------------------------------------------------------------


def count_wire(path: Path) -> tuple[int, int]:
    """(round trips, statements) the client sent, from a libpq protocol trace."""
    syncs = statements = 0
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0] == "F":
            syncs += fields[2] == "Sync" or fields[2] == "Query"
            statements += fields[2] == "Execute" or fields[2] == "Query"
    return syncs, statements


@contextmanager
def traced(backend: PostgresBackend, path: Path) -> Iterator[None]:
    """Trace the wire of the backend's kept connection while the block runs."""
    import psycopg

    with path.open("w") as sink:
        with backend.connection() as conn:
            conn.pgconn.trace(sink.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield
        finally:
            with backend.connection() as conn:
                conn.pgconn.untrace()


@asynccontextmanager
async def atraced(backend: AsyncPostgresBackend, path: Path) -> AsyncIterator[None]:
    import psycopg

    with path.open("w") as sink:
        async with backend.connection() as conn:
            conn.pgconn.trace(sink.fileno())
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield
        finally:
            async with backend.connection() as conn:
                conn.pgconn.untrace()


def operations(now: float) -> dict[str, Callable[[Any], Any]]:
    """One call of each operation on a live session; ``Any`` is either face's backend."""
    live = record(now, {"keep": 1, "drop": 2})
    rotated = record(now, {"keep": 1})
    change = Change(
        set={"new": '"value"'}, removed=frozenset({"drop"}), meta={"last_seen": now}, expires_at=now + HOUR
    )
    return {
        "create": lambda b: b.create(live, now),
        "load": lambda b: b.load(live.key, now),
        "write": lambda b: b.write(live.key, change, now),
        "touch": lambda b: b.touch(live.key, now, now + HOUR, now + HOUR, now),
        "exists": lambda b: b.exists(live.key),
        "rotate with grace": lambda b: b.rotate(live.key, rotated, now + 30, now),
        "load through the alias": lambda b: b.load(live.key, now),
        "write through the alias": lambda b: b.write(live.key, change, now),
        "user sessions": lambda b: b.user_sessions("nobody", now),
        "revoke user": lambda b: b.revoke_user("nobody", now, None),
        "delete": lambda b: b.delete(rotated.key),
    }


def test_each_operation_is_one_statement_in_one_round_trip(store: Store, tmp_path: Path) -> None:
    backend = sync_face(store)
    # Each statement is prepared on its first run on a connection (one extra round trip, once).
    for _ in range(1):
        for operation in operations(time.time()).values():
            operation(backend)
    counts = {}
    for name, operation in operations(time.time()).items():
        path = tmp_path / f"{name}.trace"
        with traced(backend, path):
            operation(backend)
        counts[name] = count_wire(path)
    assert counts == dict.fromkeys(counts, (1, 1))


@pytest.mark.anyio
async def test_each_async_operation_is_one_statement_in_one_round_trip(store: Store, tmp_path: Path) -> None:
    backend = async_face(store)
    try:
        for _ in range(1):  # prepared on the first run
            for operation in operations(time.time()).values():
                await operation(backend)
        counts = {}
        for name, operation in operations(time.time()).items():
            path = tmp_path / f"{name}.trace"
            async with atraced(backend, path):
                await operation(backend)
            counts[name] = count_wire(path)
        assert counts == dict.fromkeys(counts, (1, 1))
    finally:
        await backend.aclose()


@pytest.mark.parametrize("near_cache", [False, True], ids=["near-cache-off", "near-cache-on"])
def test_a_request_that_reads_and_changes_its_session_costs_two_statements_or_one_cached(
    prefix: str, tmp_path: Path, near_cache: bool
) -> None:
    store = open_store(postgres_url(table=prefix, pool_max_size=1, near_cache="on" if near_cache else "off"))
    sync_face(store).migrate()
    manager = SessionManager(store)
    backend = sync_face(store)
    near = backend._near

    def visit(cookie: str | None, value: int) -> str | None:
        heard = 0 if near is None else near.cache.stats().invalidations
        session = manager.open(None if cookie is None else f"{manager.config.session_cookie_name}={cookie}")
        session.get("n")
        session["n"] = value
        manager.close_session(session, 200)
        if near is not None and cookie is not None:
            # The save's own notification back (after this process's own drop), as it
            # is by the next request: the copy the save kept outlives it.
            deadline = time.monotonic() + 10
            while near.cache.stats().invalidations < heard + 2:
                assert time.monotonic() < deadline, "the save's notification never came"
                time.sleep(0.005)
        return session.session_key

    try:
        if near is not None:
            near.start()
            deadline = time.monotonic() + 10
            while not near.cache.usable():  # listening: no save's notification is sent before it
                assert time.monotonic() < deadline, "the near-cache's channel never came up"
                time.sleep(0.005)
        cookie = visit(None, 0)
        for value in range(1, 3):  # warm up: the statements are prepared on their first run
            visit(cookie, value)
        path = tmp_path / "request.trace"
        with traced(backend, path):
            visit(cookie, 99)
        # The load and the write, nothing else; with the near-cache, the load is served
        # by the copy the previous request's save kept.
        assert count_wire(path) == ((1, 1) if near_cache else (2, 2))
    finally:
        store.close()


# --- pools and connections ------------------------------------------------------------------


def connections_named(application_name: str) -> int:
    (count,) = catalog("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", application_name)[
        0
    ]
    return int(count)


@pytest.mark.anyio
async def test_each_face_opens_its_pool_on_first_use_only(prefix: str) -> None:
    name = f"sessionary-lazy-{secrets.token_hex(4)}"
    store = open_store(postgres_url(table=prefix, application_name=name, pool_min_size=1, pool_max_size=1))
    try:
        assert connections_named(name) == 0  # opening the store connects nothing
        sync_face(store).migrate()
        now = time.time()
        stored = record(now)
        assert store.sync.create(stored, now)
        assert connections_named(name) == 1  # the sync face's pool only
        loaded = await store.aio.load(stored.key, now)
        assert loaded is not None
        assert connections_named(name) == 2  # now the async face's too
    finally:
        await store.aclose()
        store.close()
    deadline = time.monotonic() + 5
    while connections_named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections_named(name) == 0


def test_an_exhausted_pool_is_unavailable_after_pool_timeout(prefix: str) -> None:
    store = open_store(postgres_url(table=prefix, pool_max_size=1, pool_timeout=0.3))
    backend = sync_face(store)
    try:
        backend.migrate()
        with backend.connection(), backend.connection():  # the kept one and the pool's only one, held
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                store.sync.load(store_key(new_token()), time.time())
            elapsed = time.monotonic() - started
        assert "pool_timeout=0.3 s" in str(caught.value)
        assert store.name in str(caught.value)
        assert elapsed < 3  # the configured 0.3 s, not psycopg's default of 30
        assert store.sync.load(store_key(new_token()), time.time()) is None  # released: fine again
    finally:
        store.close()


@pytest.mark.anyio
async def test_an_exhausted_async_pool_is_unavailable_after_pool_timeout(prefix: str) -> None:
    store = open_store(postgres_url(table=prefix, pool_max_size=1, pool_timeout=0.3))
    backend = async_face(store)
    try:
        await backend.migrate()
        async with backend.connection(), backend.connection():  # the kept one and the pool's
            with pytest.raises(StoreUnavailable, match=r"pool_timeout=0\.3 s"):
                await store.aio.load(store_key(new_token()), time.time())
        assert await store.aio.load(store_key(new_token()), time.time()) is None
    finally:
        await store.aclose()


def test_an_unreachable_server_is_unavailable_with_the_cause_and_no_password() -> None:
    require_module("psycopg")
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/test?connect_timeout=1&pool_timeout=1"
    store = open_store(url)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.sync.load(store_key(new_token()), time.time())
        elapsed = time.monotonic() - started
    finally:
        store.close()
    message = str(caught.value)
    assert "postgresql://postgres:***@127.0.0.1" in message
    assert "s3cret" not in message
    assert "Connection refused" in message
    assert elapsed < 5


def test_statement_timeout_turns_a_stuck_lock_into_an_error(prefix: str) -> None:
    import psycopg

    store = open_store(postgres_url(table=prefix, statement_timeout=200))
    try:
        sync_face(store).migrate()
        now = time.time()
        stuck = record(now)
        assert store.sync.create(stuck, now)
        with psycopg.connect(POSTGRES_URL) as other:  # a transaction that holds the row
            other.execute(f'SELECT 1 FROM "{prefix}_sessions" WHERE key = %s FOR UPDATE', (stuck.key,))
            with pytest.raises(StoreUnavailable, match="statement_timeout=200 ms"):
                store.sync.write(stuck.key, Change(set={"x": "1"}, expires_at=now + HOUR), now)
            other.rollback()
        assert store.sync.write(stuck.key, Change(set={"x": "1"}, expires_at=now + HOUR), now)
    finally:
        store.close()


def test_server_settings_come_from_the_url(prefix: str) -> None:
    default = open_store(postgres_url(table=prefix))
    relaxed = open_store(postgres_url(table=prefix, synchronous_commit="off", statement_timeout=0))
    try:
        with sync_face(default).connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
            assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
            assert conn.execute("SHOW application_name").fetchone() == ("sessionary",)
        with sync_face(relaxed).connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
            assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
    finally:
        default.close()
        relaxed.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("table=Sessions", "option table='Sessions' must be a lowercase SQL name"),
        ("table=a.b.c", "option table='a.b.c'"),
        ("table=x%3Bdrop", "option table='x;drop'"),
        ("pool_max_size=0", "option pool_max_size=0 must be at least 1"),
        (
            "pool_min_size=5&pool_max_size=2",
            "option pool_max_size=2 must be at least 1 and at least pool_min_size",
        ),
        ("pool_timeout=soon", "option pool_timeout='soon' is not a valid float"),
        ("pool_timeout=0", "option pool_timeout=0.0 must be more than 0"),
        ("connect_timeout=0", "option connect_timeout=0 must be at least 1"),
        ("statement_timeout=-1", "option statement_timeout=-1 must be 0"),
        ("synchronous_commit=maybe", "option synchronous_commit='maybe' must be on, off or local"),
        ("near_cache=maybe", "option near_cache='maybe' is not a valid bool"),
        ("near_cache_bytes=-1", "option near_cache_bytes=-1 must be 0"),
        ("near_cache_bytes=lots", "option near_cache_bytes='lots' is not a valid int"),
        ("near_cache_lease=0", "option near_cache_lease=0.0 must be more than 0"),
        ("tabel=x", 'invalid URI query parameter: "tabel"'),
    ],
)
def test_bad_options_are_refused_when_the_store_opens(query: str, expected: str) -> None:
    require_module("psycopg")
    with pytest.raises(ConfigError) as caught:
        open_store(f"postgresql://user:pw@db.invalid/sessions?{query}")
    assert expected in str(caught.value)
    assert "pw@" not in str(caught.value)


def test_a_password_in_the_query_string_is_redacted_too() -> None:
    require_module("psycopg")
    from sessionary.stores.postgres import PostgresSettings

    settings = PostgresSettings.from_url(
        "postgresql://db.example/app?user=app&password=s3cret&sslpassword=k3y"
    )
    assert settings.name == "postgresql://db.example/app?user=app&password=***&sslpassword=***"
    assert "s3cret" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        open_store("postgresql://db.example/app?password=s3cret&pool_timeout=never")
    assert "s3cret" not in str(caught.value)


def test_libpq_options_pass_through_and_both_schemes_open() -> None:
    require_module("psycopg")
    from sessionary.stores.postgres import PostgresSettings

    settings = PostgresSettings.from_url(
        "postgres://u:pw@db.example:6543/app?sslmode=require&table=auth.web&options=-c%20search_path%3Dauth"
    )
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(settings.conninfo)
    assert params["sslmode"] == "require"
    assert params["port"] == "6543"
    assert params["options"] == "-c search_path=auth -c statement_timeout=5000"
    assert settings.tables.sessions == '"auth"."web_sessions"'
    assert (
        settings.name
        == "postgres://u:***@db.example:6543/app?sslmode=require&table=auth.web&options=-c%20search_path%3Dauth"
    )


# --- what is stored -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "complaint"),
    [("data", "[1, 2]", "session data is a JSON list"), ("meta", '"text"', "session metadata is a JSON str")],
)
def test_json_that_is_not_an_object_is_corrupted(
    store: Store, prefix: str, column: str, value: str, complaint: str
) -> None:
    now = time.time()
    stored = record(now)
    assert store.sync.create(stored, now)
    catalog(
        f'UPDATE "{prefix}_sessions" SET {column} = %s::jsonb WHERE key = %s RETURNING 1', value, stored.key
    )
    with pytest.raises(StoreCorrupted) as caught:
        store.sync.load(stored.key, now)
    assert complaint in str(caught.value) and store.name in str(caught.value)


def test_the_nul_character_is_refused_by_name_and_nothing_is_written(store: Store) -> None:
    now = time.time()
    stored = record(now, {"a": 1})
    assert store.sync.create(stored, now)
    bad = Change(set={"note": json.dumps("a\x00b"), "b": "2"}, expires_at=now + HOUR)
    with pytest.raises(SessionValueError, match=r"'note'.*NUL"):
        store.sync.write(stored.key, bad, now)
    # A backslash followed by "u0000" is ordinary text.
    fine = Change(set={"path": json.dumps("C:\\u0000")}, expires_at=now + HOUR)
    assert store.sync.write(stored.key, fine, now)
    loaded = store.sync.load(stored.key, now)
    assert loaded is not None and loaded.data == {"a": 1, "path": "C:\\u0000"}


def test_the_store_holds_digests_not_tokens(store: Store, prefix: str) -> None:
    manager = SessionManager(store)
    session = manager.open(None)
    session["x"] = 1
    manager.close_session(session, 200)
    token = session.session_key
    assert token is not None
    rows = catalog(f'SELECT key FROM "{prefix}_sessions"')
    assert rows == [(store_key(token),)]


# --- cleanup --------------------------------------------------------------------------------


def test_cleanup_runs_in_batches_and_keeps_live_sessions(store: Store) -> None:
    now = time.time()
    backend = sync_face(store)
    with (
        backend.connection() as conn,
        conn.cursor().copy(
            f"COPY {backend.settings.tables.sessions} (key, data, meta, issued_at, expires_at) FROM STDIN"
        ) as copy,
    ):
        for index in range(2500):
            copy.write_row((secrets.token_bytes(32), "{}", "{}", now - 100, now - 50 + index * 0.01))
    live = [record(now) for _ in range(3)]
    for stored in live:
        assert store.sync.create(stored, now)
    assert list(store.sync.clear_expired(now, 1000)) == [1000, 1000, 500]
    assert store.sync.count(now).expired == 0
    assert all(store.sync.load(stored.key, now) is not None for stored in live)


def test_cleanup_skips_a_row_a_writer_holds_instead_of_waiting(store: Store, prefix: str) -> None:
    import psycopg

    now = time.time()
    expired = [record(now - 100, expires=now - 10) for _ in range(5)]
    for stored in expired:
        assert store.sync.create(stored, now - 100)
    with psycopg.connect(POSTGRES_URL) as other:
        other.execute(f'SELECT 1 FROM "{prefix}_sessions" WHERE key = %s FOR UPDATE', (expired[0].key,))
        assert sum(store.sync.clear_expired(now, 2)) == 4  # returned at once, without the held row
        other.rollback()
    assert sum(store.sync.clear_expired(now, 2)) == 1
    assert store.sync.count(now).expired == 0


# --- event loops ----------------------------------------------------------------------------


def test_an_app_tested_without_a_lifespan_gets_a_pool_per_request_loop(store: Store) -> None:
    """Starlette's TestClient used without ``with`` runs each request on a fresh event loop.

    Each loop gets its own pool, and none is left connecting in the background when its
    loop ends (a pool worker caught connecting there would keep the loop from ending).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionary import SessionMiddleware

    async def count(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    manager = SessionManager(store)
    app = SessionMiddleware(Starlette(routes=[Route("/", count)]), manager=manager, preload=True)
    client = TestClient(app, base_url="https://testserver")
    assert [client.get("/").text for _ in range(30)] == [str(n) for n in range(1, 31)]


def test_one_async_face_cannot_serve_two_running_loops(store: Store) -> None:
    import asyncio

    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        key = store_key(new_token())
        assert asyncio.run_coroutine_threadsafe(store.aio.load(key, time.time()), other).result(10) is None
        with pytest.raises(RuntimeError, match="another event loop that is still running"):
            asyncio.run(store.aio.load(key, time.time()))
        asyncio.run_coroutine_threadsafe(store.aio.aclose(), other).result(10)
        assert asyncio.run(store.aio.load(key, time.time())) is None  # closed there: usable here
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()


def test_a_forked_process_never_uses_its_parents_connections(store: Store) -> None:
    """A server that uses the store before forking its workers (a preloaded app): each
    process opens its own pool, so no process ever reads another's reply."""
    now = time.time()
    mine, theirs = record(now, {"who": "parent"}), record(now, {"who": "child"})
    assert store.sync.create(mine, now) and store.sync.create(theirs, now)
    assert store.sync.load(mine.key, now) is not None  # the pool's one connection is open
    forked_loads_stay_apart(store, parent=mine.key, child=theirs.key)
