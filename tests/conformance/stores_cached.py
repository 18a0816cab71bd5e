"""The cached store in the conformance suite.

``cached``: a memory cache in front of a SQLite database, always.
``cached-redis-postgres``: the production pairing, by URL, registered only once the Redis
and PostgreSQL stores exist (``sessionary.stores.redis`` and ``sessionary.stores.postgres``);
each test gets its own Redis key prefix and its own PostgreSQL tables, removed afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from sessionary.stores import Store, open_store
from sessionary.stores.cached import cached
from sessionary.stores.inline import InlineAsync

from .stores import dump_memory, dump_sqlite, dumper, factory


@factory("cached")
@contextlib.contextmanager
def cached_memory_sqlite(tmp_path: Path) -> Iterator[Store]:
    store = cached(open_store("memory://"), open_store(f"sqlite:///{tmp_path}/sessions.db"))
    yield store
    store.close()


@dumper("cached")
def dump_cached_memory_sqlite(store: Store) -> bytes:
    """The cache's entries and the database's rows: neither may hold a token."""
    cache, database = store.sync.cache, store.sync.database  # type: ignore[attr-defined]
    return dump_memory(Store(cache, InlineAsync(cache))) + dump_sqlite(Store(database, InlineAsync(database)))


def _landed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


if _landed("sessionary.stores.redis") and _landed("sessionary.stores.postgres"):

    @factory("cached-redis-postgres")
    @contextlib.contextmanager
    def cached_redis_postgres(tmp_path: Path) -> Iterator[Store]:
        from support.services import (
            POSTGRES_HOST,
            POSTGRES_PORT,
            POSTGRES_URL,
            REDIS_HOST,
            REDIS_PORT,
            REDIS_URL,
            require_module,
            require_port,
        )

        require_module("redis")
        require_module("psycopg")
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
        unique = secrets.token_hex(6)
        prefix = f"sessionary-test-cached-{unique}:"
        table = f"sessionary_test_cached_{unique}"
        database_url = f"{POSTGRES_URL}{_joiner(POSTGRES_URL)}table={table}"
        backend = quote(database_url, safe="")
        store = open_store(f"cached+{REDIS_URL}{_joiner(REDIS_URL)}prefix={prefix}&backend={backend}")
        _ISOLATION[id(store)] = (prefix, table)
        try:
            store.sync.migrate()  # type: ignore[attr-defined]
            yield store
        finally:
            store.close()
            _drop_redis_keys(REDIS_URL, prefix)
            _drop_postgres_tables(POSTGRES_URL, table)
            _ISOLATION.pop(id(store), None)

    @dumper("cached-redis-postgres")
    def dump_cached_redis_postgres(store: Store) -> bytes:
        from support.services import POSTGRES_URL, REDIS_URL

        prefix, table = _ISOLATION[id(store)]
        return _redis_contents(REDIS_URL, prefix) + _postgres_contents(POSTGRES_URL, table)


_ISOLATION: dict[int, tuple[str, str]] = {}
"""The Redis prefix and PostgreSQL table of each open cached-redis-postgres store."""


def _joiner(url: str) -> str:
    return "&" if "?" in url else "?"


def _drop_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _redis_contents(url: str, prefix: str) -> bytes:
    import redis

    client = redis.Redis.from_url(url)
    try:
        contents = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            kind = client.type(key)
            if kind == b"string":
                value: object = client.get(key)
            elif kind == b"hash":
                value = client.hgetall(key)
            elif kind == b"set":
                value = client.smembers(key)
            elif kind == b"zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"list":
                value = client.lrange(key, 0, -1)
            else:
                value = client.dump(key)
            contents.append(repr((key, value)).encode())
        return b"".join(contents)
    finally:
        client.close()


def _postgres_contents(url: str, table: str) -> bytes:
    import psycopg
    from psycopg import sql

    rows: list[object] = []
    with psycopg.connect(url, autocommit=True) as connection:
        names = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE %s",
            (table.replace("_", r"\_") + "%",),
        ).fetchall()
        for (name,) in names:
            # Each row as PostgreSQL prints it, so a BYTEA key shows as its hex digits.
            rows.extend(
                connection.execute(
                    sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(name))
                ).fetchall()
            )
    return repr(rows).encode()


def _drop_postgres_tables(url: str, table: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        names = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE %s",
            (table.replace("_", r"\_") + "%",),
        ).fetchall()
        for (name,) in names:
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))
