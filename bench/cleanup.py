#!/usr/bin/env python3
"""Cleanup benchmark: how long ``clear_expired`` takes, and how long it stalls a session read.

For each store and size it bulk-loads that many expired sessions (plus some live ones),
then runs ``clear_expired`` (the code ``sessionary clear-expired`` runs) while another
process reads a live session in a loop, and reports the cleanup time and the longest
read seen during it (next to the longest read seen before it, with no cleanup running).

    .venv/bin/python bench/cleanup.py                      # SQLite and PostgreSQL, 100k and 1M
    .venv/bin/python bench/cleanup.py --sizes 10000 --stores sqlite

Loopback only: SQLite in a temporary directory, PostgreSQL on 127.0.0.1 (the test server
by default) in tables of its own, dropped at the end. It stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from machine import cpu_model, memory_gib

from sessionary.stores import Store, open_store
from sessionary.stores.base import Meta, Record

DEFAULT_POSTGRES = os.environ.get("SESSIONARY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DAY = 86400.0
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
DATA = json.dumps({"cart": [17, 42, 99], "theme": "dark", "_auth_user_id": None}, separators=(",", ":"))


def meta_json(created: float, deadline: float) -> str:
    """Metadata of the size and shape sessionary stores."""
    return (
        f'{{"created_at":{created},"issued_at":{created},"last_seen":{created},"saved_deadline":{deadline},'
        f'"auth_at":null,"user_id":null,"ip":"203.0.113.7","user_agent":"{USER_AGENT}",'
        f'"idle_timeout":null,"absolute_timeout":null}}'
    )


def expired_rows(count: int, now: float) -> Iterator[tuple[bytes, str, str, float, float]]:
    """(key, data, meta, issued_at, expires_at) of sessions that expired over the last two weeks."""
    rng = random.Random(7)
    for _ in range(count):
        expires_at = now - 1 - rng.random() * 14 * DAY
        created = expires_at - 14 * DAY
        yield secrets.token_bytes(32), DATA, meta_json(created, expires_at), created, expires_at


def live_record(now: float) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + DAY, ip="203.0.113.7")
    return Record(secrets.token_bytes(32), json.loads(DATA), meta, now + DAY)


# --- stores ---------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_store(workdir: Path) -> Iterator[tuple[str, Store]]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    store = open_store(url)
    try:
        yield url, store
    finally:
        store.close()


def load_sqlite(store: Store, count: int, now: float) -> None:
    store.sync.count(now)  # creates the schema
    with contextlib.closing(sqlite3.connect(store.sync.path, isolation_level=None)) as db:  # type: ignore[attr-defined]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO sessionary_sessions (key, data, meta, user_id, issued_at, expires_at) VALUES (?, ?, ?, NULL, ?, ?)",
            expired_rows(count, now),
        )
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextlib.contextmanager
def postgres_store(base_url: str) -> Iterator[tuple[str, Store]]:
    prefix = f"bench_cleanup_{secrets.token_hex(4)}"
    url = base_url + ("&" if "?" in base_url else "?") + f"table={prefix}&statement_timeout=0"
    store = open_store(url)
    try:
        store.sync.migrate()  # type: ignore[attr-defined]
        yield url, store
    finally:
        tables = store.sync.settings.tables  # type: ignore[attr-defined]
        with store.sync.connection() as conn:  # type: ignore[attr-defined]
            conn.execute(f"DROP TABLE IF EXISTS {tables.sessions}, {tables.users}")
        store.close()


def load_postgres(store: Store, count: int, now: float) -> None:
    backend: Any = store.sync
    sessions = backend.settings.tables.sessions
    with backend.connection() as conn:
        with conn.cursor().copy(
            f"COPY {sessions} (key, data, meta, issued_at, expires_at) FROM STDIN"
        ) as copy:
            for row in expired_rows(count, now):
                copy.write_row(row)
        conn.execute(f"VACUUM ANALYZE {sessions}")
        with contextlib.suppress(Exception):  # needs a superuser; the load's WAL is not the cleanup's
            conn.execute("CHECKPOINT")


# --- the reader -----------------------------------------------------------------------------


def reader(url: str, key: bytes, interval: float, phase: Any, ready: Any, results: Any) -> None:
    """Load one live session in a loop; latencies per phase (0: idle, 1: cleanup) until phase 2."""
    store = open_store(url)
    latencies: dict[int, list[float]] = {0: [], 1: []}
    missing = 0
    for _ in range(200):  # connect, prepare, warm the cache
        store.sync.load(key, time.time())
    ready.set()
    while (current := phase.value) != 2:
        started = time.perf_counter()
        record = store.sync.load(key, time.time())
        latencies[current].append(time.perf_counter() - started)
        missing += record is None
        time.sleep(interval)
    store.close()
    results.put({"latencies": latencies, "missing": missing})


def control(interval: float, phase: Any, ready: Any, results: Any) -> None:
    """Sleep ``interval`` in a loop and record the oversleep: how long the machine itself
    kept a process waiting (other load, scheduling), to read the store's stalls against."""
    delays: dict[int, float] = {0: 0.0, 1: 0.0}
    ready.set()
    while (current := phase.value) != 2:
        started = time.perf_counter()
        time.sleep(interval)
        delays[current] = max(delays[current], time.perf_counter() - started - interval)
    results.put(delays)


@dataclass
class Result:
    store: str
    expired: int
    batch_size: int
    load_seconds: float
    cleanup_seconds: float
    deleted: int
    reads: int
    longest_ms: float
    p99_ms: float
    over_50ms: int
    idle_longest_ms: float
    control_ms: float


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values, default=0.0)


def run(kind: str, url: str, store: Store, count: int, args: argparse.Namespace) -> Result:
    now = time.time()
    started = time.perf_counter()
    (load_sqlite if kind == "sqlite" else load_postgres)(store, count, now)
    loaded = time.perf_counter() - started
    live = [live_record(now) for _ in range(args.live)]
    for record in live:
        assert store.sync.create(record, now)
    before = store.sync.count(now)
    assert before.expired == count and before.live == args.live, before

    context = multiprocessing.get_context("spawn")
    phase = context.Value("i", 0)
    reader_ready, reader_results = context.Event(), context.Queue()
    control_ready, control_results = context.Event(), context.Queue()
    processes = [
        context.Process(
            target=reader,
            args=(url, live[0].key, args.read_interval, phase, reader_ready, reader_results),
            daemon=True,
        ),
        context.Process(
            target=control, args=(args.read_interval, phase, control_ready, control_results), daemon=True
        ),
    ]
    for process in processes:
        process.start()
    try:
        if not (reader_ready.wait(60) and control_ready.wait(60)):
            raise RuntimeError("the reader did not start")
        time.sleep(args.idle)
        phase.value = 1
        started = time.perf_counter()
        deleted = sum(store.sync.clear_expired(now, args.batch_size))
        cleanup = time.perf_counter() - started
        time.sleep(0.05)
        phase.value = 2
        report = reader_results.get(timeout=60)
        machine_delays = control_results.get(timeout=60)
        for process in processes:
            process.join(10)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
    after = store.sync.count(now)
    assert deleted == count and after.expired == 0 and after.live == args.live, (deleted, after)
    assert report["missing"] == 0, "a live session went missing during cleanup"
    idle, busy = report["latencies"][0], report["latencies"][1]
    return Result(
        store=kind,
        expired=count,
        batch_size=args.batch_size,
        load_seconds=loaded,
        cleanup_seconds=cleanup,
        deleted=deleted,
        reads=len(busy),
        longest_ms=max(busy) * 1000,
        p99_ms=p99(busy) * 1000,
        over_50ms=sum(latency > 0.050 for latency in busy),
        idle_longest_ms=max(idle) * 1000,
        control_ms=machine_delays[1] * 1000,
    )


# --- report ---------------------------------------------------------------------------------


def machine(postgres_version: str | None) -> list[str]:
    cpu = cpu_model()
    gib = memory_gib()
    memory = "" if gib is None else f", {gib:.0f} GiB RAM"
    import psycopg

    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} cores{memory}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, psycopg {psycopg.__version__}",
    ]
    if postgres_version:
        lines.append(f"- PostgreSQL {postgres_version} (loopback TCP)")
    return lines


def table(results: list[Result]) -> list[str]:
    rows = [
        "| store | expired rows | cleanup time | rows/s | reads during cleanup | longest read | p99 read "
        "| reads > 50 ms | longest read before cleanup | machine's longest delay during cleanup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.store} | {r.expired:,} | {r.cleanup_seconds:.1f} s | {r.deleted / r.cleanup_seconds:,.0f} | "
            f"{r.reads:,} | {r.longest_ms:.1f} ms | {r.p99_ms:.2f} ms | {r.over_50ms} | "
            f"{r.idle_longest_ms:.1f} ms | {r.control_ms:.1f} ms |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="100000,1000000", help="expired rows per run (default %(default)s)"
    )
    parser.add_argument("--stores", default="sqlite,postgresql", help="stores to run (default %(default)s)")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a loopback PostgreSQL URL (default %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="rows per batch, as the CLI (default %(default)s)"
    )
    parser.add_argument(
        "--live", type=int, default=1000, help="live sessions beside the expired (default %(default)s)"
    )
    parser.add_argument(
        "--idle", type=float, default=2.0, help="seconds of reads before cleanup (default %(default)s)"
    )
    parser.add_argument(
        "--read-interval", type=float, default=0.001, help="pause between two reads, s (default %(default)s)"
    )
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = [kind.strip() for kind in args.stores.split(",")]
    for kind in kinds:
        if kind not in ("sqlite", "postgresql"):
            parser.error(f"unknown store {kind!r}; expected sqlite or postgresql")
    host = urlsplit(args.postgres).hostname
    if "postgresql" in kinds and host not in LOOPBACK and host is not None and not host.startswith("/"):
        parser.error(f"--postgres must be on loopback (127.0.0.1, localhost or a socket), not {host!r}")

    postgres_version = None
    results: list[Result] = []
    for kind in kinds:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="sessionary-bench-") as workdir:
                opened = sqlite_store(Path(workdir)) if kind == "sqlite" else postgres_store(args.postgres)
                with opened as (url, store):
                    if kind == "postgresql" and postgres_version is None:
                        with store.sync.connection() as conn:  # type: ignore[attr-defined]
                            postgres_version = conn.execute("SHOW server_version").fetchone()[0]
                    print(f"{kind}: loading {size:,} expired sessions…", file=sys.stderr, flush=True)
                    result = run(kind, url, store, size, args)
                    print(
                        f"{kind}: {size:,} loaded in {result.load_seconds:.1f} s, "
                        f"cleared in {result.cleanup_seconds:.1f} s, longest read {result.longest_ms:.1f} ms "
                        f"(machine's longest delay {result.control_ms:.1f} ms)",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(result)

    command = shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else "main()"
    print()
    print(
        f"Command: `{command}` (batch size {args.batch_size}, {args.live:,} live sessions, a read every "
        f"{args.read_interval * 1000:g} ms in another process)"
    )
    print()
    print("\n".join(machine(postgres_version)))
    print()
    print("\n".join(table(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
