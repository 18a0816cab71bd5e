#!/usr/bin/env python3
"""How long a change made in one process takes to reach another's near-cache (PostgreSQL).

    .venv/bin/python bench/postgres_nearcache.py [--changes 300] [--readers 1]

This process keeps a copy of one session and reads it in a loop; a writer process (its
own store, its own connections) changes the session, one change at a time, and reports
the wall-clock instant its write returned (committed). The delay of a change is the time
from that instant until a read here first returns the new value. Reads that still
returned the old value after the write returned are counted as "served old": all of them
fall inside the delay (no read after the first new one ever returns an old value, which
is checked). Prints p50 / p99 / max of the delay and the hit rate of the reads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

POSTGRES_URL = os.environ.get("SESSIONARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys, time
from sessionary.stores import open_store
from sessionary.stores.base import Change
url, key = sys.argv[1], bytes.fromhex(sys.argv[2])
store = open_store(url + "&near_cache=off")
for line in sys.stdin:
    value = int(line)
    now = time.time()
    change = Change(set={"n": str(value)}, removed=frozenset(), meta={}, expires_at=now + 3600)
    assert store.sync.write(key, change, now)
    print(repr(time.time()), flush=True)
store.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=300)
    args = parser.parse_args()

    from sessionary.stores import open_store
    from sessionary.stores.base import Meta, Record

    prefix = f"bench_near_{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES_URL}?table={prefix}"
    store = open_store(url)
    backend = store.sync
    backend.migrate()  # type: ignore[attr-defined]
    near = backend._near  # type: ignore[attr-defined]
    now = time.time()
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + 3600)
    key = os.urandom(32)
    assert backend.create(Record(key, {"n": 0}, meta, now + 86400), now)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, key.hex()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdin is not None and writer.stdout is not None
    deadline = time.monotonic() + 10
    while not near.cache.usable() and time.monotonic() < deadline:
        time.sleep(0.01)
    delays: list[float] = []
    served_old = 0
    reads = 0
    try:
        for value in range(1, args.changes + 1):
            # Keep a copy of the current value, then let a few hot reads hit it.
            for _ in range(20):
                loaded = backend.load(key, time.time())
                reads += 1
                assert loaded is not None and loaded.data["n"] == value - 1
            writer.stdin.write(f"{value}\n")
            writer.stdin.flush()
            committed = float(writer.stdout.readline())
            while True:
                loaded = backend.load(key, time.time())
                reads += 1
                assert loaded is not None
                if loaded.data["n"] == value:
                    delays.append(max(0.0, time.time() - committed))
                    break
                assert loaded.data["n"] == value - 1, "a value older than the one before"
                served_old += 1
            for _ in range(5):  # never an old value once the new one was seen
                loaded = backend.load(key, time.time())
                reads += 1
                assert loaded is not None and loaded.data["n"] == value
    finally:
        writer.stdin.close()
        writer.wait(30)
        stats = near.cache.stats()
        store.close()
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{prefix}_sessions", "{prefix}_users", "{prefix}_leases"')
    delays.sort()
    micro = [delay * 1e6 for delay in delays]
    print(
        f"{len(delays)} changes from another process: invalidation delay (write returned there -> new value read"
        f" here) p50 {statistics.median(micro):.0f} µs, p99 {micro[int(0.99 * (len(micro) - 1))]:.0f} µs,"
        f" max {micro[-1]:.0f} µs"
    )
    print(
        f"reads here: {reads}, of which old values after the write returned (all within the delay): {served_old};"
        f" an old value after the new one was seen: 0 (checked)"
    )
    print(
        f"near-cache: {stats.hits} hits, {stats.misses} misses, {stats.bypassed} bypassed, hit rate {stats.hits / max(1, reads):.1%}"
    )


if __name__ == "__main__":
    main()
