#!/usr/bin/env python3
"""Latency of each Redis store operation, sync and async (a benchmark, not a test).

    .venv/bin/python bench/redis_store.py [--store redis://127.0.0.1:6379/0] [--rounds 2000]

Runs create, load, write, touch and rotate ``--rounds`` times each, under a prefix of
its own that it deletes afterwards, and prints the median and 99th percentile per
operation. Works with ``redis+cluster://`` URLs too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record

HOUR = 3600.0


def new_record(now: float, user: str | None) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR, user_id=user)
    data = {"cart": [1, 2, 3], "theme": "dark", "csrf": secrets.token_hex(16)}
    return Record(secrets.token_bytes(32), data, meta, now + HOUR)


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(f"  {name:<8} median {statistics.median(ordered) * 1e6:8.0f} µs   p99 {p99 * 1e6:8.0f} µs")


def run_sync(store: Store, rounds: int, user: str | None) -> None:
    backend = store.sync
    now = time.time()
    timings: dict[str, list[float]] = {name: [] for name in ("create", "load", "write", "touch", "rotate")}
    change = Change(set={"theme": json.dumps("light")}, meta={"last_seen": now}, expires_at=now + HOUR)

    def timed(name: str, operation: Callable[..., object], *args: object) -> None:
        started = time.perf_counter()
        operation(*args)
        timings[name].append(time.perf_counter() - started)

    for _ in range(rounds):
        stored = new_record(now, user)
        timed("create", backend.create, stored, now)
        timed("load", backend.load, stored.key, now)
        timed("write", backend.write, stored.key, change, now)
        timed("touch", backend.touch, stored.key, now, now + HOUR, now + 2 * HOUR, now)
        timed("rotate", backend.rotate, stored.key, new_record(now, user), None, now)
    for name, samples in timings.items():
        report(name, samples)


async def run_async(store: Store, rounds: int, user: str | None) -> None:
    backend = store.aio
    now = time.time()
    timings: dict[str, list[float]] = {name: [] for name in ("create", "load", "write")}
    change = Change(set={"theme": json.dumps("light")}, meta={"last_seen": now}, expires_at=now + HOUR)

    async def timed(name: str, operation: Callable[..., Awaitable[object]], *args: object) -> None:
        started = time.perf_counter()
        await operation(*args)
        timings[name].append(time.perf_counter() - started)

    for _ in range(rounds):
        stored = new_record(now, user)
        await timed("create", backend.create, stored, now)
        await timed("load", backend.load, stored.key, now)
        await timed("write", backend.write, stored.key, change, now)
    for name, samples in timings.items():
        report(name, samples)
    await store.aclose()


def cleanup(url: str, prefix: str) -> None:
    import redis

    if url.startswith("redis+cluster://"):
        host, port = url.split("://", 1)[1].split("?")[0].split(",")[0].split(":")
        cluster = redis.RedisCluster(host=host, port=int(port))
        for name in list(cluster.scan_iter(match=f"{prefix}*", count=1000)):
            cluster.delete(name)
        cluster.close()
        return
    client = redis.Redis.from_url(url.split("?")[0])
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    prefix = f"sessionary-bench:{uuid.uuid4().hex[:8]}:"
    separator = "&" if "?" in args.store else "?"
    store = open_store(f"{args.store}{separator}prefix={prefix}")
    try:
        for user in (None, "bench-user"):
            label = "signed-in" if user else "anonymous"
            print(f"{store.name} sync, {label} sessions, {args.rounds} rounds")
            run_sync(store, args.rounds, user)
            print(f"{store.name} async, {label} sessions, {args.rounds} rounds")
            asyncio.run(run_async(store, args.rounds, user))
    finally:
        store.close()
        cleanup(args.store, prefix)


if __name__ == "__main__":
    main()
