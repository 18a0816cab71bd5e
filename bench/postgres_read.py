#!/usr/bin/env python3
"""A session read through the PostgreSQL store against a bare primary-key SELECT through
psycopg, in one process (a benchmark, not a test).

    .venv/bin/python bench/postgres_read.py [--rounds 30] [--reads 200] [--src DIR ...]
                                            [--instructions]

Each tree (``--src``: an old checkout's ``src`` put first on ``sys.path``; without it the
installed sessionary) runs in a worker process of its own, on tables of its own in the
shared database. For each face (sync, asyncio) it times:

- ``cold``: ``backend.load(key, now)`` on a store with ``near_cache=off``, the store's
  whole read of a 10-key session from the server (the liveness checks in the query, the
  JSON decoded, the record built);
- ``hot``: the same read on a store with the near-cache on and its copy kept (no round
  trip; a tree from before the near-cache has none);
- ``bare``: ``SELECT data, meta, expires_at FROM <sessions> WHERE key = %s`` on one
  psycopg connection of its own, prepared, the rows fetched and nothing decoded: the floor
  of a read on this machine.

Each read is timed on its own, a store read and a bare one in turn, and the median of each
is printed with the ratio store / bare. With
``--instructions`` the same reads also run under ``valgrind --tool=callgrind``, counting
the client's instructions per read (repeatable whatever else the machine does; the
server's work is in another process and not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

POSTGRES_URL = os.environ.get("SESSIONARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SESSION_DATA = {f"key{index}": f"value {index} " + "x" * 20 for index in range(10)}


class Reads:
    """The ways of reading one session, set up on tables named ``prefix``."""

    def __init__(self, prefix: str) -> None:
        import psycopg

        from sessionary.errors import ConfigError
        from sessionary.stores import open_store
        from sessionary.stores.base import Meta, Record

        url = f"{POSTGRES_URL}?table={prefix}"
        try:
            self.store = open_store(url + "&near_cache=off")  # every read to the server
            self.hot = open_store(url)  # the near-cache on, its copy warm
        except ConfigError:  # a tree from before the near-cache: every read is cold
            self.store = open_store(url)
            self.hot = None
        self.store.sync.migrate()  # type: ignore[attr-defined]
        now = time.time()
        meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + 3600)
        self.key = os.urandom(32)
        self.now = now
        assert self.store.sync.create(Record(self.key, dict(SESSION_DATA), meta, now + 86400), now)
        self.query = f'SELECT data, meta, expires_at FROM "{prefix}_sessions" WHERE key = %s'
        self.conn = psycopg.connect(POSTGRES_URL, autocommit=True)
        self.loop = asyncio.new_event_loop()
        self.aconn = self.loop.run_until_complete(
            psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True)
        )
        self.prefix = prefix
        if self.hot is not None:  # wait for the listener, then read once to keep a copy
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.hot.sync.load(self.key, now)
                if self.key in self.hot.sync._near.cache:  # type: ignore[attr-defined]
                    break
                time.sleep(0.05)

    def store_sync(self, n: int) -> None:
        load, key, now = self.store.sync.load, self.key, self.now
        for _ in range(n):
            if load(key, now) is None:
                raise RuntimeError("the session did not read back")

    def hot_sync(self, n: int) -> None:
        assert self.hot is not None
        load, key, now = self.hot.sync.load, self.key, self.now
        for _ in range(n):
            if load(key, now) is None:
                raise RuntimeError("the session did not read back")

    def bare_sync(self, n: int) -> None:
        execute, query, params = self.conn.execute, self.query, (self.key,)
        for _ in range(n):
            if not execute(query, params, prepare=True).fetchall():
                raise RuntimeError("the row did not read back")

    def store_async(self, n: int) -> None:
        async def run() -> None:
            load, key, now = self.store.aio.load, self.key, self.now
            for _ in range(n):
                if await load(key, now) is None:
                    raise RuntimeError("the session did not read back")

        self.loop.run_until_complete(run())

    def hot_async(self, n: int) -> None:
        assert self.hot is not None

        async def run() -> None:
            assert self.hot is not None
            load, key, now = self.hot.aio.load, self.key, self.now
            for _ in range(n):
                if await load(key, now) is None:
                    raise RuntimeError("the session did not read back")

        self.loop.run_until_complete(run())

    def bare_async(self, n: int) -> None:
        async def run() -> None:
            execute, query, params = self.aconn.execute, self.query, (self.key,)
            for _ in range(n):
                cursor = await execute(query, params, prepare=True)
                if not await cursor.fetchall():
                    raise RuntimeError("the row did not read back")

        self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.store.aio.aclose())
        self.loop.run_until_complete(self.aconn.close())
        self.store.close()
        if self.hot is not None:
            self.loop.run_until_complete(self.hot.aio.aclose())
            self.hot.close()
        self.conn.execute(
            f'DROP TABLE IF EXISTS "{self.prefix}_sessions", "{self.prefix}_users", "{self.prefix}_leases"'
        )
        self.conn.close()


KINDS = ("store_sync", "bare_sync", "store_async", "bare_async")
HOT_KINDS = ("hot_sync", "hot_async")


def timed_worker(rounds: int, reads: int) -> dict[str, float]:
    """Median microseconds per read of each kind: each read timed on its own, the kinds
    alternating read by read (so a slow moment on a busy machine hits both alike)."""
    subject = Reads(f"bench_read_{uuid.uuid4().hex[:8]}")
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    key, now, query, params = subject.key, subject.now, subject.query, (subject.key,)

    def sync_round(n: int, record: bool) -> None:
        load, execute = subject.store.sync.load, subject.conn.execute
        store, bare = samples["store_sync"], samples["bare_sync"]
        for _ in range(n):
            started = clock()
            found = load(key, now)
            middle = clock()
            rows = execute(query, params, prepare=True).fetchall()
            ended = clock()
            if found is None or not rows:
                raise RuntimeError("the session did not read back")
            if record:
                store.append((middle - started) / 1000)
                bare.append((ended - middle) / 1000)

    async def async_round(n: int, record: bool) -> None:
        load, execute = subject.store.aio.load, subject.aconn.execute
        store, bare = samples["store_async"], samples["bare_async"]
        for _ in range(n):
            started = clock()
            found = await load(key, now)
            middle = clock()
            rows = await (await execute(query, params, prepare=True)).fetchall()
            ended = clock()
            if found is None or not rows:
                raise RuntimeError("the session did not read back")
            if record:
                store.append((middle - started) / 1000)
                bare.append((ended - middle) / 1000)

    def hot_round(n: int, record: bool) -> None:
        if subject.hot is None:
            return
        times = samples.setdefault("hot_sync", [])
        load = subject.hot.sync.load
        for _ in range(n):
            started = clock()
            found = load(key, now)
            ended = clock()
            if found is None:
                raise RuntimeError("the session did not read back")
            if record:
                times.append((ended - started) / 1000)

    async def ahot_round(n: int, record: bool) -> None:
        if subject.hot is None:
            return
        times = samples.setdefault("hot_async", [])
        load = subject.hot.aio.load
        for _ in range(n):
            started = clock()
            found = await load(key, now)
            ended = clock()
            if found is None:
                raise RuntimeError("the session did not read back")
            if record:
                times.append((ended - started) / 1000)

    try:
        sync_round(50, False)  # warm up: connections open, statements prepared
        subject.loop.run_until_complete(async_round(50, False))
        hot_round(50, False)
        subject.loop.run_until_complete(ahot_round(50, False))
        for _ in range(rounds):
            sync_round(reads, True)
            subject.loop.run_until_complete(async_round(reads, True))
            hot_round(reads, True)
            subject.loop.run_until_complete(ahot_round(reads, True))
        return {kind: statistics.median(values) for kind, values in samples.items() if values}
    finally:
        subject.close()


def counted_worker(kind: str, reads: int) -> None:
    """Warm up, then run ``reads`` reads of one kind inside functools.reduce (counted)."""
    subject = Reads(f"bench_read_{uuid.uuid4().hex[:8]}")
    try:
        getattr(subject, kind)(50)
        functools.reduce(lambda _, __: getattr(subject, kind)(reads), range(1), None)
    finally:
        subject.close()


def run_worker(
    src: str | None, *args: str, valgrind: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    command = [*(valgrind or []), sys.executable, __file__, "--worker", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"worker failed:\n{result.stderr[-3000:]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--src", action="append", default=[], help="a source tree to measure (repeatable)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions per read")
    args = parser.parse_args()
    if args.worker:
        if args.worker[0] == "timed":
            print(json.dumps(timed_worker(int(args.worker[1]), int(args.worker[2]))))
        else:
            counted_worker(args.worker[1], int(args.worker[2]))
        return
    for tree in args.src or [None]:
        label = tree or "installed"
        medians: dict[str, Any] = json.loads(
            run_worker(tree, "timed", str(args.rounds), str(args.reads)).stdout.strip().splitlines()[-1]
        )
        for face in ("sync", "async"):
            store, bare = medians[f"store_{face}"], medians[f"bare_{face}"]
            hot = medians.get(f"hot_{face}")
            print(
                f"{label}: {face:5} cold store read {store:6.1f} µs, bare SELECT {bare:6.1f} µs,"
                f" cold / bare {store / bare:.2f}x"
                + (
                    ""
                    if hot is None
                    else f"; hot (near-cache) read {hot:6.1f} µs, hot / bare {hot / bare:.2f}x"
                ),
                flush=True,
            )
        if args.instructions:
            counts = {}
            for kind in KINDS:
                with tempfile.TemporaryDirectory() as tmpdir:
                    result = run_worker(
                        tree,
                        "counted",
                        kind,
                        "200",
                        valgrind=[
                            "valgrind",
                            "--tool=callgrind",
                            f"--callgrind-out-file={tmpdir}/callgrind.out",
                            "--toggle-collect=functools_reduce",
                        ],
                    )
                found = re.search(r"Collected : (\d+)", result.stderr)
                assert found is not None, result.stderr[-2000:]
                counts[kind] = int(found.group(1)) / 200
            for face in ("sync", "async"):
                store, bare = counts[f"store_{face}"], counts[f"bare_{face}"]
                print(
                    f"{label}: {face:5} instructions per read: store {store:,.0f}, bare SELECT {bare:,.0f},"
                    f" store / bare {store / bare:.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
