#!/usr/bin/env python3
"""Scale benchmark: does a request cost the same with 1 thousand and 1 million stored sessions?

For each store (SQLite, Redis, PostgreSQL) it grows one store step by step (1k, 10k,
100k, 1M sessions by default, bulk-loading only the difference, in the store's own
format) and at each size measures, through the real ASGI middleware called in-process,
the per-request cost of a read, a write and a rolling read (save-every-request), on
sessions picked at random among all those stored. A second store of the first size (the
reference) is measured in the same interleaved batches, so the ratio of the two says
what the store's size costs, with the machine's own drift cancelled out. It also times
``list_sessions`` for users owning 1, 10 and 100 sessions: the cost should follow the
user's count, not the total.

    .venv/bin/python bench/scale.py                       # every store, 1k to 1M (about 3 minutes here)
    .venv/bin/python bench/scale.py --quick               # 200 and 1,000 sessions, a few seconds
    .venv/bin/python bench/scale.py --sizes 1000,1000000 --stores sqlite,redis
    .venv/bin/python bench/scale.py --update-docs         # also rewrites its section of docs/performance.md

Loopback only: SQLite in a temporary directory; Redis on 127.0.0.1 under a key prefix
unique to the run (the reference store in another database number); PostgreSQL in a
database of its own (``sessionary_bench_scale``, created if missing) in tables unique to
the run. Everything it creates is deleted at the end, also after an error.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import json
import math
import os
import platform
import random
import secrets
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from machine import cpu_model, memory_gib

from sessionary import Config, SessionManager, SessionMiddleware
from sessionary.stores import Store, open_store
from sessionary.stores.base import META_FIELDS, Meta, Record
from sessionary.stores.redis import scripts as lua
from sessionary.tokens import is_well_formed, store_key

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = "1000,10000,100000,1000000"
QUICK_SIZES = "200,1000"
DEFAULT_POSTGRES = os.environ.get("SESSIONARY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS = os.environ.get("SESSIONARY_TEST_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_DATABASE = "sessionary_bench_scale"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STORES = ("sqlite", "redis", "postgresql")
OPERATIONS = ("read", "write", "rolling", "load")
"""Requests through the middleware, and ``load``: the store's own call alone."""
LIST_USERS = {1: "list-1", 10: "list-10", 100: "list-100"}
"""The users whose sessions are listed, by how many sessions each owns."""
LISTED = sum(LIST_USERS)
FLAT = 1.20
"""A cost counts as flat when it stays within 20 % of the reference's."""
DAY = 86400.0
COOKIE_AGE = 14 * DAY
COOKIE = Config().session_cookie_name
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
DOCS = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
NOTES_BEGIN, NOTES_END = "<!-- scale:notes:begin -->", "<!-- scale:notes:end -->"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the stored population ------------------------------------------------------------------
#
# Session i of a run is a pure function of (run seed, i): its token, data and metadata are
# computed again when a request needs it, so a million sessions need no memory here.
# Sessions 0..110 belong to the listed users (1, 10 and 100 sessions); beyond, one in
# five belongs to a signed-in user who owns three, and carries the client's IP and user
# agent (a device list); the rest are anonymous.


DATA_NAMES = ("cart", "theme", "lang", "tz", "currency", "last_page", "visits", "csrf", "recent", "consent")
DATA_JSON = "{" + ",".join(f'"{name}":%s' for name in DATA_NAMES) + "}"
META_JSON = "{" + ",".join(f'"{name}":%s' for name in META_FIELDS) + "}"
CONSENT = '{"analytics":false,"ads":false,"version":3}'


@dataclass(slots=True)
class Row:
    """One stored session in the neutral form every loader encodes its own way."""

    key: bytes
    hexkey: str
    data: tuple[str, ...]
    """The JSON text of each session key, in DATA_NAMES order."""
    meta: tuple[str, ...]
    """The JSON text of each Meta field, in META_FIELDS order."""
    user_id: str | None
    issued_at: float
    expires_at: float

    def data_json(self) -> str:
        return DATA_JSON % self.data

    def meta_json(self) -> str:
        return META_JSON % self.meta

    def sql(self) -> tuple[bytes, str, str, str | None, float, float]:
        """The SQL stores' columns: key, data, meta, user_id, issued_at, expires_at."""
        return (
            self.key,
            DATA_JSON % self.data,
            META_JSON % self.meta,
            self.user_id,
            self.issued_at,
            self.expires_at,
        )


class Population:
    def __init__(self, seed: bytes, now: float) -> None:
        self.seed = seed
        self.now = now

    def token(self, index: int) -> str:
        digest = hashlib.blake2b(index.to_bytes(8, "big"), key=self.seed, digest_size=32).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    @staticmethod
    def owner(index: int) -> str | None:
        if index < 1:
            return LIST_USERS[1]
        if index < 11:
            return LIST_USERS[10]
        if index < LISTED:
            return LIST_USERS[100]
        return f"user-{index // 15}" if index % 5 == 0 else None

    def row(self, index: int) -> Row:
        key = store_key(self.token(index))
        hexkey = key.hex()
        user_id = self.owner(index)
        created = self.now - (index * 7919 % 259_200) - 3600.0  # within the last three days
        last_seen = created + (index % 3600)
        deadline = last_seen + COOKIE_AGE
        c, seen, saved = repr(created), repr(last_seen), repr(deadline)
        if user_id is None:
            meta = (c, c, seen, saved, "null", "null", "null", "null", "null", "null")
        else:
            ip = f'"198.51.100.{index % 250}"'
            meta = (c, c, seen, saved, c, f'"{user_id}"', ip, f'"{USER_AGENT}"', "null", "null")
        data = (
            f"[{index % 997},{index % 89},{index % 13}]",
            '"dark"' if index % 3 else '"light"',
            '"en-GB"',
            '"Europe/Paris"',
            '"EUR"',
            f'"/products/{index % 10007}?ref=home"',
            str(index % 50),
            f'"{hexkey[:32]}"',
            f"[{index % 101},{index % 103},{index % 107},{index % 109}]",
            CONSENT,
        )
        return Row(key, hexkey, data, meta, user_id, created, deadline)

    def rows(self, start: int, stop: int) -> Iterator[Row]:
        return map(self.row, range(start, stop))

    def record(self, index: int) -> Record:
        """Session ``index`` as the store API returns it (to check the bulk-loaded format)."""
        row = self.row(index)
        return Record(row.key, json.loads(row.data_json()), Meta.from_json(row.meta_json()), row.expires_at)


def check_encoding(population: Population) -> None:
    """The loaders' hand-made encodings are the store's own (a few sessions of each kind)."""
    for index in (0, 5, LISTED, LISTED + 1, 1000, 1005):
        row, record = population.row(index), population.record(index)
        assert is_well_formed(population.token(index)), index
        assert row.meta_json() == record.meta.to_json(), (row.meta_json(), record.meta.to_json())
        assert row.data_json() == json.dumps(record.data, separators=(",", ":"), ensure_ascii=False)
        assert redis_fields(row) == lua.record_fields(record), index
        name = lua.session_key("p:", row.hexkey)
        assert redis_hset(name, row) == resp("HSET", name, *redis_fields(row)), index


def redis_fields(row: Row) -> list[str]:
    """HSET's field, value pairs for a session, in the order the store writes them."""
    fields = ["x", repr(row.expires_at)]
    if row.user_id is not None:
        fields += ("u", lua.user_tag(row.user_id))
    for name, text in zip(META_FIELDS, row.meta, strict=True):
        fields += (f"m:{name}", text)
    for name, text in zip(DATA_NAMES, row.data, strict=True):
        fields += (f"d:{name}", text)
    return fields


def _hset_template(signed_in: bool) -> str:
    names = [
        "x",
        *(["u"] if signed_in else []),
        *(f"m:{n}" for n in META_FIELDS),
        *(f"d:{n}" for n in DATA_NAMES),
    ]
    pairs = "".join(f"${len(name)}\r\n{name}\r\n$%d\r\n%s\r\n" for name in names)
    return f"*{2 + 2 * len(names)}\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" + pairs


_HSET = {False: _hset_template(False), True: _hset_template(True)}


def redis_hset(name: str, row: Row) -> str:
    """``resp("HSET", name, *redis_fields(row))``, several times faster (for the bulk load)."""
    if row.user_id is None:
        values: tuple[str, ...] = (name, repr(row.expires_at), *row.meta, *row.data)
    else:
        values = (name, repr(row.expires_at), lua.user_tag(row.user_id), *row.meta, *row.data)
    return _HSET[row.user_id is not None] % tuple(
        chain.from_iterable(zip(map(len, values), values, strict=True))
    )


def resp(*args: str) -> str:
    """One Redis command in the wire protocol (every argument here is ASCII)."""
    return f"*{len(args)}\r\n" + "".join(f"${len(arg)}\r\n{arg}\r\n" for arg in args)


# --- stores and their bulk loaders ------------------------------------------------------------


class Target:
    """One store under test: its URL, its bulk loader, and its cleanup."""

    kind: str
    url: str

    def __init__(self) -> None:
        self.size = 0
        self.store: Store | None = None

    def open(self) -> Store:
        self.store = open_store(self.url)
        return self.store

    def load(self, rows: Iterable[Row], count: int) -> None:
        raise NotImplementedError

    def finish_load(self) -> None:
        """What the store would have done by itself by now (a checkpoint, autovacuum)."""

    def grow(self, population: Population, size: int) -> float:
        started = time.perf_counter()
        if size > self.size:
            self.load(population.rows(self.size, size), size - self.size)
            self.finish_load()
        self.size = size
        return time.perf_counter() - started

    def cleanup(self) -> None:
        if self.store is not None:
            self.store.close()


class SQLiteTarget(Target):
    kind = "sqlite"

    def __init__(self, workdir: Path, name: str) -> None:
        super().__init__()
        self.path = workdir / f"{name}.db"
        self.url = f"sqlite:///{self.path}"

    def open(self) -> Store:
        store = super().open()
        store.sync.count(time.time())  # the store creates its schema on first use
        return store

    def load(self, rows: Iterable[Row], count: int) -> None:
        with contextlib.closing(sqlite3.connect(self.path, isolation_level=None)) as db:
            db.execute("PRAGMA cache_size=-1000000")  # the loader's own connection: 1 GB of page cache
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO sessionary_sessions (key, data, meta, user_id, issued_at, expires_at, alias_of) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (row.sql() for row in rows),
            )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def file_size(self) -> str:
        """The file's size, and its pages (SQLite's unit of caching and of a lookup's steps)."""
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            ((pages,),) = db.execute("PRAGMA page_count").fetchall()
            ((page_size,),) = db.execute("PRAGMA page_size").fetchall()
        return f"{pages * page_size / 1e6:,.0f} MB, {pages:,} pages of {page_size} bytes"

    def finish_load(self) -> None:
        # Flush the load to disk now, not while requests are timed.
        with open(self.path, "rb") as file:
            os.fsync(file.fileno())


class RedisTarget(Target):
    """Loads with pipelined raw commands writing the store's exact layout: one HSET and one
    PEXPIREAT per session, and the store's own user-index script for signed-in ones.
    ``check_layout`` compares the result with sessions the store itself created."""

    kind = "redis"
    BATCH = 2000

    def __init__(self, base_url: str, database: int, prefix: str) -> None:
        super().__init__()
        parts = urlsplit(base_url)
        self.server_url = urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))
        self.database = database
        self.prefix = prefix
        # The store's own cost at each size: with the near-cache a 1k store is all copies
        # and a 1M one mostly misses, which is its hit rate (bench/coherence.py), not growth.
        self.url = f"{self.server_url}?prefix={prefix}&near_cache=false"
        import redis

        self.client = redis.Redis.from_url(self.server_url, decode_responses=True)

    def load(self, rows: Iterable[Row], count: int) -> None:
        user_script = self.client.script_load(lua.USER.text)
        now = repr(time.time())
        connection = self.client.connection_pool.get_connection()
        try:
            connection.connect()
            sock = connection._sock
            assert sock is not None
            replies = _Replies(sock)
            batch: list[str] = []
            lines = 0
            for row in rows:
                name = lua.session_key(self.prefix, row.hexkey)
                batch.append(redis_hset(name, row))
                batch.append(resp("PEXPIREAT", name, str(lua.milliseconds(row.expires_at))))
                lines += 2
                if row.user_id is not None:
                    tag = lua.user_tag(row.user_id)
                    index, valid_after = (
                        lua.index_key(self.prefix, tag),
                        lua.valid_after_key(self.prefix, tag),
                    )
                    arguments = (self.prefix, "1", now, row.hexkey, repr(row.expires_at), "0")
                    batch.append(resp("EVALSHA", user_script, "2", index, valid_after, *arguments))
                    lines += 4  # {'' (no valid_after), {} (no listing)}: four reply lines
                if len(batch) >= self.BATCH:
                    # Send this batch, then take the replies of the one before: the server
                    # works on a batch while the next one is being made.
                    replies.send(batch, lines)
                    batch, lines = [], 0
            replies.send(batch, lines)
            replies.wait(0)
        finally:
            self.client.connection_pool.release(connection)

    def check_layout(self, population: Population, indexes: Iterable[int]) -> None:
        """Bulk-loaded sessions hold the same fields and deadline as the store's own create."""
        probe = open_store(f"{self.server_url}?prefix={self.prefix}probe:")
        try:
            for index in indexes:
                record = population.record(index)
                assert probe.sync.create(record, time.time()), index
                mine = lua.session_key(self.prefix, record.key.hex())
                theirs = lua.session_key(self.prefix + "probe:", record.key.hex())
                assert self.client.hgetall(mine) == self.client.hgetall(theirs), (index, mine)
                assert self.client.pexpiretime(mine) == self.client.pexpiretime(theirs), index
                if record.meta.user_id is not None:
                    tag = lua.user_tag(record.meta.user_id)
                    score = self.client.zscore(lua.index_key(self.prefix, tag), record.key.hex())
                    assert score == record.expires_at, (index, score)
                probe.sync.delete(record.key)
        finally:
            probe.close()

    def memory(self) -> str:
        return str(self.client.info("memory").get("used_memory_human", "?"))

    def cleanup(self) -> None:
        super().cleanup()
        with contextlib.suppress(Exception):
            pattern = lua.session_pattern(self.prefix).removesuffix("s:{*}") + "*"
            batch: list[str] = []
            for name in self.client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)
        self.client.close()


class _Replies:
    """The replies to raw pipelined commands, counted by lines; any error stops the run."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.pending: list[int] = []
        self.seen = 0
        self.last = b"\n"

    def send(self, batch: list[str], lines: int) -> None:
        if batch:
            self.sock.sendall("".join(batch).encode("ascii"))
            self.pending.append(lines)
        self.wait(1)

    def wait(self, batches_left: int) -> None:
        """Read until at most ``batches_left`` batches still await their replies."""
        while len(self.pending) > batches_left:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("Redis closed the connection during the bulk load")
            if b"\n-" in self.last + chunk:
                raise RuntimeError(f"Redis refused a bulk-loaded command: {chunk[:300]!r}")
            self.last = chunk[-1:]
            self.seen += chunk.count(b"\n")
            while self.pending and self.seen >= self.pending[0]:
                self.seen -= self.pending.pop(0)


class PostgresTarget(Target):
    """Loads with COPY into tables made by the store's own ``migrate``."""

    kind = "postgresql"

    def __init__(self, database_url: str, table: str) -> None:
        super().__init__()
        self.database_url = database_url
        self.url = f"{database_url}?table={table}&near_cache=false"  # as the Redis store's
        self.table = table

    def open(self) -> Store:
        store = super().open()
        store.sync.migrate()  # type: ignore[attr-defined]  # what `sessionary migrate` runs
        return store

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.database_url, autocommit=True, options="-c statement_timeout=0")

    def load(self, rows: Iterable[Row], count: int) -> None:
        with self._connect() as conn, conn.transaction(), conn.cursor() as cursor:
            columns = "(key, data, meta, user_id, issued_at, expires_at)"
            with cursor.copy(f'COPY "{self.table}_sessions" {columns} FROM STDIN') as copy:
                for r in rows:
                    copy.write_row(r.sql())

    def finish_load(self) -> None:
        with self._connect() as conn:
            conn.execute(f'VACUUM ANALYZE "{self.table}_sessions"')
            # Write the load's pages out now, not while requests are timed (superuser only).
            with contextlib.suppress(Exception):
                conn.execute("CHECKPOINT")

    def table_size(self) -> str:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT pg_size_pretty(pg_total_relation_size(%s))", (f'"{self.table}_sessions"',)
            ).fetchone()
        return str(row[0])

    def cleanup(self) -> None:
        super().cleanup()
        with contextlib.suppress(Exception), self._connect() as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{self.table}_sessions", "{self.table}_users"')


def postgres_database(base_url: str) -> str:
    """The URL of the benchmark's own database, created if missing."""
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_DATABASE,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f"CREATE DATABASE {POSTGRES_DATABASE}")
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{POSTGRES_DATABASE}", "", ""))


def drop_postgres_database(base_url: str) -> None:
    """Drop the benchmark's database if no other run still has tables in it."""
    import psycopg

    with contextlib.suppress(psycopg.Error):
        with psycopg.connect(postgres_database(base_url), autocommit=True) as conn:
            (tables,) = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone() or (1,)
        if tables == 0:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE}")


# --- requests through the ASGI middleware ------------------------------------------------------


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def read(request: Request) -> Response:
        token = await request.session.aget("csrf")
        return PlainTextResponse(str(token), status_code=200 if token else 404)

    async def write(request: Request) -> Response:
        visits = await request.session.aget("visits")
        if visits is None:
            return PlainTextResponse("no session", status_code=404)
        request.session["visits"] = visits + 1
        return PlainTextResponse(str(visits + 1))

    return Starlette(routes=[Route("/read", read), Route("/write", write)])


@dataclass
class Client:
    """The middleware stacks of one store: a default one, and one that saves every request."""

    target: Target
    apps: dict[str, Any]
    managers: list[SessionManager]

    async def call(self, op: str, token: str) -> int:
        """One timed operation: a request through the middleware, or the store's load alone."""
        if op == "load":
            store = self.target.store
            assert store is not None
            return 200 if await store.aio.load(store_key(token), time.time()) is not None else 404
        return await request(self.apps[op], PATHS[op], token)

    @classmethod
    def build(cls, target: Target) -> Client:
        store = target.open()
        app = starlette_app()
        plain = SessionManager(store, cookie_age=int(COOKIE_AGE))
        # Save-every-request as Django does it: with the throttle at 0, every request
        # writes its activity (the worst case; the default throttle skips most writes).
        rolling = SessionManager(store, cookie_age=int(COOKIE_AGE), save_every_request=True, touch_fraction=0)
        apps = {
            "read": SessionMiddleware(app, manager=plain),
            "write": SessionMiddleware(app, manager=plain),
            "rolling": SessionMiddleware(app, manager=rolling),
        }
        return cls(target, apps, [plain, rolling])

    async def aclose(self) -> None:
        assert self.target.store is not None
        await self.target.store.aclose()


async def request(app: Any, path: str, token: str) -> int:
    """One request through the ASGI app, by hand: the scope, receive and send a server builds."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench.example"),
            (b"user-agent", USER_AGENT.encode()),
            (b"cookie", f"{COOKIE}={token}".encode()),
        ],
        "client": ("198.51.100.7", 50000),
        "server": ("bench.example", 443),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


PATHS = {"read": "/read", "write": "/write", "rolling": "/read"}


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    misses: int = 0


async def measure_requests(
    clients: dict[str, Client],
    population: dict[str, Population],
    rounds: int,
    batch: int,
    warm_up: int,
    rng: random.Random,
) -> dict[tuple[str, str], Samples]:
    """Per-request latencies of each operation on each store, in interleaved batches."""
    samples = {(name, op): Samples() for name in clients for op in OPERATIONS}
    # Connections, prepared statements, loaded scripts and the upper levels of the indexes;
    # the sessions themselves are picked at random, so most stay out of every cache.
    for name, client in clients.items():
        for _ in range(warm_up):
            await request(
                client.apps["read"], PATHS["read"], population[name].token(rng.randrange(client.target.size))
            )
        for _ in range(20):
            for op in OPERATIONS:
                await client.call(op, population[name].token(rng.randrange(client.target.size)))
    for _ in range(rounds):
        order = [(name, op) for name in clients for op in OPERATIONS]
        rng.shuffle(order)
        for name, op in order:
            client, sample, people = clients[name], samples[name, op], population[name]
            for _ in range(batch):
                token = people.token(rng.randrange(client.target.size))
                started = time.perf_counter()
                status = await client.call(op, token)
                sample.latencies.append(time.perf_counter() - started)
                sample.misses += status != 200
    return samples


async def measure_lists(
    clients: dict[str, Client], rounds: int, batch: int, rng: random.Random
) -> dict[tuple[str, int], Samples]:
    """``alist_sessions`` latencies for each listed user on each store, interleaved."""
    samples = {(name, owned): Samples() for name in clients for owned in LIST_USERS}
    for client in clients.values():
        for user in LIST_USERS.values():
            for _ in range(3):
                await client.managers[0].alist_sessions(user)
    for _ in range(rounds):
        order = [(name, owned) for name in clients for owned in LIST_USERS]
        rng.shuffle(order)
        for name, owned in order:
            manager, sample = clients[name].managers[0], samples[name, owned]
            for _ in range(batch):
                started = time.perf_counter()
                devices = await manager.alist_sessions(LIST_USERS[owned])
                sample.latencies.append(time.perf_counter() - started)
                sample.misses += len(devices) != owned
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) >= 2 else median(values)


# --- one store, grown step by step ---------------------------------------------------------------


def verify_loaded(target: Target, population: Population, start: int, stop: int, rng: random.Random) -> None:
    """A few sessions just bulk-loaded, read through the store API, are exactly what was generated."""
    assert target.store is not None
    now = time.time()
    for index in {start, stop - 1, *(rng.randrange(start, stop) for _ in range(8))}:
        expected = population.record(index)
        loaded = target.store.sync.load(expected.key, now)
        assert loaded is not None, f"{target.kind}: bulk-loaded session {index} does not load"
        assert loaded.data == expected.data, (target.kind, index, loaded.data)
        assert loaded.meta == expected.meta, (target.kind, index, loaded.meta)
        assert loaded.expires_at == expected.expires_at, (target.kind, index)


async def run_store(
    kind: str, grow: Target, reference: Target, sizes: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    now = time.time()
    populations = {
        "grow": Population(secrets.token_bytes(16), now),
        "reference": Population(secrets.token_bytes(16), now),
    }
    check_encoding(populations["grow"])
    clients = {"grow": Client.build(grow), "reference": Client.build(reference)}
    loads: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    lists: list[dict[str, Any]] = []
    try:
        reference.grow(populations["reference"], sizes[0])
        verify_loaded(reference, populations["reference"], 0, sizes[0], rng)
        first: dict[str, float] = {}
        first_lists: dict[int, float] = {}
        for size in sizes:
            added = size - grow.size
            seconds = grow.grow(populations["grow"], size)
            verify_loaded(grow, populations["grow"], size - added, size, rng)
            if isinstance(grow, RedisTarget) and added:
                start = size - added
                grow.check_layout(populations["grow"], {start, start + (-start % 5), size - 1})
            load = {"size": size, "added": added, "seconds": round(seconds, 2)}
            if isinstance(grow, RedisTarget):
                load["server_memory"] = grow.memory()
            if isinstance(grow, PostgresTarget):
                load["table_size"] = grow.table_size()
            if isinstance(grow, SQLiteTarget):
                load["file_size"] = grow.file_size()
            loads.append(load)
            log(f"{kind}: {size:,} sessions ({added:,} loaded in {seconds:.1f} s); measuring…")
            gc.collect()
            samples = await measure_requests(clients, populations, args.rounds, args.batch, args.warm_up, rng)
            for op in OPERATIONS:
                mine, ref = samples["grow", op], samples["reference", op]
                first.setdefault(op, median(mine.latencies))
                entry = figures(size, mine, ref, first[op])
                requests.append({"op": op, **entry})
                log(
                    f"  {op:8} median {entry['median_ms']:.3f} ms, p99 {entry['p99_ms']:.3f} ms, "
                    f"reference {entry['reference_median_ms']:.3f} ms, ratio {entry['ratio']:.2f}"
                )
            listed = await measure_lists(clients, args.rounds, args.list_batch, rng)
            for owned in LIST_USERS:
                mine, ref = listed["grow", owned], listed["reference", owned]
                first_lists.setdefault(owned, median(mine.latencies))
                entry = figures(size, mine, ref, first_lists[owned])
                lists.append({"user_sessions": owned, **entry})
                log(
                    f"  list {owned:3}: median {entry['median_ms']:.3f} ms, "
                    f"reference {entry['reference_median_ms']:.3f} ms, ratio {entry['ratio']:.2f}"
                )
    finally:
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
    return {"store": kind, "loads": loads, "requests": requests, "lists": lists}


def figures(size: int, mine: Samples, ref: Samples, first: float) -> dict[str, Any]:
    if mine.misses or ref.misses:
        raise RuntimeError(
            f"{mine.misses + ref.misses} requests did not find their stored session at {size:,}"
        )
    ratio = median(mine.latencies) / median(ref.latencies)
    return {
        "size": size,
        "samples": len(mine.latencies),
        "median_ms": round(median(mine.latencies) * 1000, 4),
        "p99_ms": round(p99(mine.latencies) * 1000, 4),
        "reference_median_ms": round(median(ref.latencies) * 1000, 4),
        "reference_p99_ms": round(p99(ref.latencies) * 1000, 4),
        "ratio": round(ratio, 3),
        "p99_ratio": round(p99(mine.latencies) / p99(ref.latencies), 3),
        "ratio_to_first": round(median(mine.latencies) / first, 3),
        "flat": ratio <= FLAT,
    }


# --- the machine, and the report ---------------------------------------------------------------


def machine(versions: dict[str, str]) -> dict[str, str]:
    cpu = cpu_model()
    gib = memory_gib()
    memory = "?" if gib is None else f"{gib:.0f} GiB"
    import starlette

    import sessionary

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sessionary": getattr(sessionary, "__version__", "?"),
        "starlette": starlette.__version__,
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def service_versions(kinds: list[str], args: argparse.Namespace) -> dict[str, str]:
    versions: dict[str, str] = {}
    if "redis" in kinds:
        import redis

        client = redis.Redis.from_url(args.redis)
        versions["redis"] = str(client.info("server")["redis_version"])
        versions["redis-py"] = redis.__version__
        versions["redis persistence"] = "?"
        with contextlib.suppress(redis.RedisError):
            save, appendonly = (
                client.config_get("save").get("save"),
                client.config_get("appendonly").get("appendonly"),
            )
            versions["redis persistence"] = (
                "none"
                if not save and appendonly in ("no", b"no")
                else f"save {save!r}, appendonly {appendonly!r}"
            )
        client.close()
    if "postgresql" in kinds:
        import psycopg

        with psycopg.connect(args.postgres) as conn:
            versions["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            versions["postgresql shared_buffers"] = str(conn.execute("SHOW shared_buffers").fetchone()[0])  # type: ignore[index]
        versions["psycopg"] = psycopg.__version__
    return versions


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "What one request costs as a store fills up, and what listing a user's sessions costs. "
        "`bench/scale.py` grows each store step by step, bulk-loading only the difference in the "
        "store's own format (SQLite: one `executemany` transaction, then the file flushed to disk; "
        "PostgreSQL: `COPY` into the tables `migrate` made, then `VACUUM ANALYZE` as autovacuum "
        "would and a `CHECKPOINT`; Redis: pipelined `HSET` "
        "and `PEXPIREAT` of the store's key layout, and the store's own user-index script, checked "
        "field by field against sessions the store itself creates), and reads a few loaded "
        "sessions back through the store API. A "
        "session holds 10 small keys (about 350 bytes of JSON) and its metadata; one in five "
        "belongs to a signed-in user and carries an IP address and a user agent.",
        "",
        "At each size it times requests through the real ASGI middleware (a Starlette app called "
        "in-process with hand-built scopes: no HTTP, no test client), each on a session picked at "
        "random among all those stored: a **read** (load one key), a **write** (load, change one "
        "key, save), a **rolling** read (`save_every_request=True`, with the touch throttle at 0 "
        "so that every request writes its activity: the worst case), and **load**: the store's "
        "own `load` call alone, without the middleware, to tell the store's share from the rest; "
        "after "
        f"{report['settings']['warm_up']} untimed reads. A second store holding "
        f"{report['sizes'][0]:,} sessions (the reference) is measured in the same interleaved "
        "batches, and **ratio** is the median at this size over the reference's median in the "
        "same batches: the machine's own drift cancels out. A ratio of 1.20 or less counts as "
        "flat. `vs first` is the plain ratio to this store's own median at the first size, "
        "measured minutes earlier.",
        "",
        f"Command: `{report['command']}` ({report['settings']['rounds']} rounds of "
        f"{report['settings']['batch']} requests per operation and store at each size; "
        f"{report['settings']['rounds']} rounds of {report['settings']['list_batch']} listings per user). "
        f"Took {report['seconds'] / 60:.1f} minutes.",
        "",
        f"Machine: a shared virtual machine (load average {report['load_before']} before the run, "
        f"{report['load_after']} after):",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; {m['os']}",
        f"- Python {m['python']}, Starlette {m['starlette']}, SQLite {m['sqlite']}"
        + (f", redis-py {m['redis-py']}" if "redis-py" in m else "")
        + (f", psycopg {m['psycopg']}" if "psycopg" in m else ""),
    ]
    if "redis" in m:
        lines.append(f"- Redis {m['redis']} (persistence: {m['redis persistence']}), loopback TCP")
    if "postgresql" in m:
        lines.append(
            f"- PostgreSQL {m['postgresql']}, default settings (`shared_buffers` "
            f"{m['postgresql shared_buffers']}), loopback TCP"
        )
    for result in report["stores"]:
        lines += ["", f"### {result['store']}", ""]
        loads = ", ".join(
            f"{load['added']:,} in {load['seconds']:.1f} s"
            + (f" (Redis memory {load['server_memory']})" if "server_memory" in load else "")
            + (f" (table {load['table_size']})" if "table_size" in load else "")
            + (f" (file {load['file_size']})" if "file_size" in load else "")
            for load in result["loads"]
        )
        lines += [f"Bulk loads: {loads}.", ""]
        lines += [
            "| sessions | operation | median | p99 | reference median | reference p99 | ratio | p99 ratio | vs first | flat? |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for entry in result["requests"]:
            lines.append(
                f"| {entry['size']:,} | {entry['op']} | {entry['median_ms']:.3f} ms | {entry['p99_ms']:.3f} ms "
                f"| {entry['reference_median_ms']:.3f} ms | {entry['reference_p99_ms']:.3f} ms "
                f"| {entry['ratio']:.2f} | {entry['p99_ratio']:.2f} | {entry['ratio_to_first']:.2f} "
                f"| {'yes' if entry['flat'] else '**no**'} |"
            )
        lines += [
            "",
            "| sessions | user's sessions | `alist_sessions` median | p99 | reference median | ratio | vs first | flat? |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for entry in result["lists"]:
            lines.append(
                f"| {entry['size']:,} | {entry['user_sessions']} | {entry['median_ms']:.3f} ms "
                f"| {entry['p99_ms']:.3f} ms | {entry['reference_median_ms']:.3f} ms | {entry['ratio']:.2f} "
                f"| {entry['ratio_to_first']:.2f} | {'yes' if entry['flat'] else '**no**'} |"
            )
    lines += ["", "Verdicts:", ""]
    lines += [f"- {verdict}" for verdict in report["verdicts"]]
    return "\n".join(lines) + "\n"


def verdicts(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for result in report["stores"]:
        store = result["store"]
        for op in OPERATIONS:
            entries = [e for e in result["requests"] if e["op"] == op]
            worst = max(entries, key=lambda e: e["ratio"])
            flat = all(e["flat"] for e in entries)
            out.append(
                f"{store}, {op}: {'flat' if flat else 'NOT flat'} from {entries[0]['size']:,} to "
                f"{entries[-1]['size']:,} sessions (highest ratio {worst['ratio']:.2f} at {worst['size']:,})"
            )
        by_size: dict[int, dict[int, float]] = {}
        for e in result["lists"]:
            by_size.setdefault(e["size"], {})[e["user_sessions"]] = e["median_ms"]
        flat = all(e["flat"] for e in result["lists"])
        worst = max(result["lists"], key=lambda e: e["ratio"])
        largest = by_size[max(by_size)]
        costs = ", ".join(f"{owned}: {largest[owned]:.3f} ms" for owned in sorted(largest))
        out.append(
            f"{store}, list_sessions: {'independent of' if flat else 'NOT independent of'} the total "
            f"(highest ratio {worst['ratio']:.2f}, {worst['user_sessions']} sessions at {worst['size']:,}); "
            f"at {max(by_size):,} sessions by the user's count: {costs}"
        )
    return out


def update_docs(section: str) -> None:
    """Rewrite the scale section of docs/performance.md (appended if missing), keeping the
    hand-written notes between the notes markers, if any, after the generated part."""
    text = DOCS.read_text()
    notes = ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        old, after = rest.split(END, 1)
        if NOTES_BEGIN in old and NOTES_END in old:
            notes = NOTES_BEGIN + old.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0] + NOTES_END + "\n"
    else:
        before, after = text.rstrip("\n") + "\n\n", "\n"
    block = f"{BEGIN}\n## Scale\n\n{section}" + (f"\n{notes}" if notes else "") + END
    DOCS.write_text(before + block + after)


# --- main -------------------------------------------------------------------------------------


@contextlib.contextmanager
def targets(
    kind: str, args: argparse.Namespace, workdir: Path, run_id: str
) -> Iterator[tuple[Target, Target]]:
    made: list[Target] = []
    try:
        if kind == "sqlite":
            made = [SQLiteTarget(workdir, "grow"), SQLiteTarget(workdir, "reference")]
        elif kind == "redis":
            # The reference in another database number: its own keyspace, as a small store's.
            prefix = f"sessionary-bench-scale:{run_id}:"
            database = int(urlsplit(args.redis).path.strip("/") or 0)
            made = [
                RedisTarget(args.redis, database, prefix),
                RedisTarget(args.redis, database + 1 if database < 15 else database - 1, prefix),
            ]
        else:
            url = postgres_database(args.postgres)
            made = [PostgresTarget(url, f"scale_{run_id}_grow"), PostgresTarget(url, f"scale_{run_id}_ref")]
        yield made[0], made[1]
    finally:
        for target in made:
            target.cleanup()
        if kind == "postgresql":
            drop_postgres_database(args.postgres)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", help=f"store sizes, growing (default {DEFAULT_SIZES}; --quick: {QUICK_SIZES})"
    )
    parser.add_argument("--stores", default=",".join(STORES), help="stores to run (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="small sizes and few samples: a smoke run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per size (default 20; --quick: 2)")
    parser.add_argument("--batch", type=int, help="requests per batch (default 30; --quick: 5)")
    parser.add_argument("--list-batch", type=int, help="listings per batch (default 5; --quick: 2)")
    parser.add_argument(
        "--warm-up", type=int, help="reads per store before each size's batches (default 500)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random picks (default %(default)s)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a loopback Redis URL (default %(default)s)")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a loopback PostgreSQL URL (default %(default)s)"
    )
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench" / "results", help="where scale.json and scale.md go"
    )
    parser.add_argument(
        "--update-docs", action="store_true", help="rewrite the scale section of docs/performance.md"
    )
    args = parser.parse_args(argv)
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.rounds = args.rounds or (2 if args.quick else 20)
    args.batch = args.batch or (5 if args.quick else 30)
    args.list_batch = args.list_batch or (2 if args.quick else 5)
    args.warm_up = args.warm_up if args.warm_up is not None else (50 if args.quick else 500)
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    if sizes != sorted(set(sizes)) or sizes[0] < LISTED + 1:
        parser.error(f"--sizes must grow and start at {LISTED + 1} or more (the listed users own {LISTED})")
    kinds = [kind.strip() for kind in args.stores.split(",") if kind.strip()]
    for kind in kinds:
        if kind not in STORES:
            parser.error(f"unknown store {kind!r}; expected some of {', '.join(STORES)}")
    for option, url in (("--redis", args.redis), ("--postgres", args.postgres)):
        if urlsplit(url).hostname not in LOOPBACK:
            parser.error(f"{option} must be on loopback (127.0.0.1, localhost), not {url!r}")

    started = time.perf_counter()
    load_before = load_average()
    run_id = secrets.token_hex(4)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sessionary-bench-scale-") as workdir:
        for kind in kinds:
            with targets(kind, args, Path(workdir), run_id) as (grow, reference):
                results.append(asyncio.run(run_store(kind, grow, reference, sizes, args)))
    command = shlex.join(["bench/scale.py", *(sys.argv[1:] if argv is None else argv)])
    report: dict[str, Any] = {
        "command": f".venv/bin/python {command}",
        "sizes": sizes,
        "settings": {
            "rounds": args.rounds,
            "batch": args.batch,
            "list_batch": args.list_batch,
            "warm_up": args.warm_up,
            "flat": FLAT,
        },
        "machine": machine(service_versions(kinds, args)),
        "load_before": load_before,
        "load_after": load_average(),
        "seconds": round(time.perf_counter() - started, 1),
        "stores": results,
    }
    report["verdicts"] = verdicts(report)
    section = markdown(report)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.results / "scale.md").write_text("# Scale\n\n" + section)
    if args.update_docs:
        update_docs(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
