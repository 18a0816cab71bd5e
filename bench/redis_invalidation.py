#!/usr/bin/env python3
"""The Redis near-cache's invalidation delay between two OS processes (a benchmark, not a test).

    .venv/bin/python bench/redis_invalidation.py [--store redis://127.0.0.1:6379/0] [--rounds 500]
                                                 [--operation write|delete|revoke]

This process keeps a copy of a session; another process (``multiprocessing``, spawned)
changes it (a save, a logout, or a revocation of its user) and reports when its store
call returned. The delay is the time from that return to the moment this process's
listener has dropped its copy (both on the system-wide monotonic clock). A negative
delay means the copy was gone before the writer even had its reply. Then it checks that
a read here, right after the drop, never serves the old copy (``stale`` must be 0).
Prints p50, p99 and max in microseconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import threading
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

from sessionary.stores import open_store
from sessionary.stores.base import Change, Meta, Record

HOUR = 3600.0


def record(now: float, user: str | None) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR, user_id=user)
    return Record(secrets.token_bytes(32), {"n": 0}, meta, now + HOUR)


def writer(url: str, operation: str, pipe: Connection) -> None:
    store = open_store(f"{url}&near_cache=false")
    backend = store.sync
    while True:
        job = pipe.recv()
        if job is None:
            break
        key, user, value = job
        now = time.time()
        if operation == "write":
            backend.write(
                key, Change(set={"n": str(value)}, meta={"last_seen": now}, expires_at=now + HOUR), now
            )
        elif operation == "delete":
            backend.delete(key)
        else:
            backend.revoke_user(user, now, None)
        pipe.send(time.monotonic())
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--operation", choices=("write", "delete", "revoke"), default="write")
    options = parser.parse_args()
    prefix = f"sessionary-bench-invalidation:{uuid.uuid4().hex[:8]}:"
    separator = "&" if "?" in options.store else "?"
    url = f"{options.store}{separator}prefix={prefix}"
    store = open_store(url)
    backend: Any = store.sync
    tracker = backend.tracker
    if tracker is None:
        raise SystemExit("this store has no near-cache (a single server is needed)")
    dropped: dict[bytes, float] = {}
    arrived = threading.Condition()

    def heard(names: list[str] | None) -> None:
        at = time.monotonic()
        with arrived:
            for name in names or []:
                if ":s:{" in name:
                    dropped.setdefault(bytes.fromhex(name.rsplit("{", 1)[1].rstrip("}")), at)
                elif name.endswith(":v"):
                    dropped.setdefault(b"user", at)
            arrived.notify_all()

    tracker.observer = heard
    tracker.cache_for_reads()
    while not tracker.cache.usable():
        time.sleep(0.01)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=writer, args=(url, options.operation, theirs), daemon=True)
    process.start()
    delays: list[float] = []
    stale = 0
    try:
        for value in range(1, options.rounds + 1):
            now = time.time() - 1
            user = f"user-{value}"
            rec = record(now, user)
            backend.create(rec, now)
            caught_up = threading.Event()
            tracker.after_write(caught_up.set)  # every invalidation of the create has come
            caught_up.wait(10)
            while rec.key not in tracker.cache:  # this process holds a copy
                backend.load(rec.key, time.time())
            watch = b"user" if options.operation == "revoke" else rec.key
            with arrived:
                dropped.clear()
            ours.send((rec.key, user, value))
            returned = ours.recv()
            with arrived:
                if not arrived.wait_for(lambda watch=watch: watch in dropped, timeout=10):  # type: ignore[misc]
                    raise SystemExit("an invalidation never arrived")
                at = dropped[watch]
            delays.append((at - returned) * 1e6)
            loaded = backend.load(rec.key, time.time())
            if operation_stale(options.operation, loaded, value):
                stale += 1
    finally:
        ours.send(None)
        process.join(10)
        store.close()
        cleanup(options.store, prefix)
    delays.sort()
    print(f"{options.operation}: {len(delays)} rounds, invalidation delay after the writer's reply")
    print(
        f"  p50 {statistics.median(delays):8.0f} µs   p99 {delays[int(len(delays) * 0.99) - 1]:8.0f} µs"
        f"   max {delays[-1]:8.0f} µs   stale reads after the drop: {stale}"
    )


def operation_stale(operation: str, loaded: Record | None, value: int) -> bool:
    if operation == "write":
        return loaded is None or loaded.data.get("n") != value
    return loaded is not None


def cleanup(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url.split("?")[0])
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        client.delete(*names)
    client.close()


if __name__ == "__main__":
    main()
