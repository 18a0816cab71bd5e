#!/usr/bin/env python3
"""Coherence across processes on one store (a benchmark, not a test).

    .venv/bin/python bench/coherence.py [--quick] [--stores redis,postgresql] [--readers 3]
                                        [--seconds 20] [--sessions 5000] [--bound-ms 1000]

Several OS processes open the same store through ``SessionManager``, as the workers of
one app would. Reader processes read sessions flat out: each iteration reads one session
of a realistic mix (``--sessions`` sessions, picked with Zipf-like weights, rank r with
weight 1/r^s) and probes the current victim, a session another process is about to end.
A writer process ends the victims one by one, at random moments: a logout (the record
deleted), a revocation (``revoke_all`` of the session's user) or a rotation
(``cycle_key``: the old token must stop working at once).

Measured, from every process's clock (``CLOCK_MONOTONIC``, one for the whole machine):

- **invalidation delay**, per (change, reader): how long after the change had returned
  the reader still served the ended session (the start of its last read that served it,
  minus the change's end; 0 when its next read refused it). p50 / p99 / max.
- **stale reads**: reads that served an ended session after the change returned; those
  later than ``--bound-ms`` after it, and any read serving it after the same reader had
  once refused it, count as beyond the bound (must be 0).
- **hit rate** on the mix: the share of reads that made no store round trip, counted in
  each reader on the driver's own send calls (redis-py ``send_packed_command``,
  psycopg ``Cursor.execute``). Reads that all make a round trip mean no near-cache
  answers on that store: the report says so, with no hit-rate figure.

Writes ``coherence.json`` and ``coherence.md`` into ``--results`` (default bench/results).
Redis keys live under a prefix unique to the run; PostgreSQL in a schema of the
benchmark's database, unique to the run; both are deleted at the end.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("SESSIONARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get("SESSIONARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ("redis", "postgresql")
KINDS = ("logout", "revoke", "rotate")
PROBE = "probe"
BEGIN, END = "<!-- coherence:begin -->", "<!-- coherence:end -->"


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# --- round trips, counted on the driver's send calls in this process ---------------------------

SENT = [0]


def count_round_trips() -> None:
    """Count, in this process's main thread, every command redis-py sends and every
    statement psycopg executes (class-level wrappers: every connection, pools included).
    A store's own background thread (an invalidation channel's heartbeat) is not a read's
    round trip, so it is left out."""
    main = threading.get_ident()
    try:
        from redis.connection import AbstractConnection

        send = AbstractConnection.send_packed_command

        def counted_send(self: Any, *args: Any, **kwargs: Any) -> Any:
            SENT[0] += threading.get_ident() == main
            return send(self, *args, **kwargs)

        AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    except ImportError:
        pass
    try:
        import psycopg

        execute = psycopg.Cursor.execute

        def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            SENT[0] += threading.get_ident() == main
            return execute(self, *args, **kwargs)

        psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    except ImportError:
        pass


# --- the processes ------------------------------------------------------------------------------


def manager_for(url: str) -> Any:
    from sessionary import SessionManager

    return SessionManager(url, cookie_age=3600)


def cookie_of(outcome: Any) -> str:
    if not outcome.set_cookie:
        raise RuntimeError("the response sets no session cookie")
    pair: str = outcome.set_cookie.split(";", 1)[0]
    return pair


def seed(url: str, count: int, victims: list[str]) -> dict[str, Any]:
    """The mix's sessions and the victims (each victim signed in as a user of its own)."""
    from sessionary.auth import login

    manager = manager_for(url)
    pool = []
    for i in range(count):
        session = manager.open(None)
        session.update({f"k{j}": f"value-{j}" for j in range(10)})
        session[PROBE] = i
        pool.append(cookie_of(manager.close_session(session, 200)))
    victim_cookies = []
    for i, kind in enumerate(victims):
        session = manager.open(None)
        session[PROBE] = f"victim-{i}"
        login(session, f"coherence-user-{i}-{kind}")
        session[PROBE] = f"victim-{i}"
        victim_cookies.append(cookie_of(manager.close_session(session, 200)))
    manager.close()
    return {"pool": pool, "victims": victim_cookies}


def keep_copies_forever(manager: Any) -> None:
    """The control: a naive process-local cache that is never invalidated. A run with it
    must report stale reads, or the benchmark could not see one."""
    backend = manager.store.sync
    load = backend.load
    copies: dict[bytes, Any] = {}

    def cached_load(key: bytes, now: float) -> Any:
        if key not in copies:
            copies[key] = load(key, now)
        return copies[key]

    backend.load = cached_load


def reader(
    url: str,
    seeded: dict[str, Any],
    zipf_s: float,
    seed_value: int,
    control: bool,
    ready: Any,
    go: Any,
    stop: Any,
    out: Any,
) -> None:
    try:
        count_round_trips()
        manager = manager_for(url)
        if control:
            keep_copies_forever(manager)
        pool, victims = seeded["pool"], seeded["victims"]
        rng = random.Random(seed_value)
        weights = [1 / (rank**zipf_s) for rank in range(1, len(pool) + 1)]
        order = list(range(len(pool)))
        rng.shuffle(order)  # which sessions are popular: random, not the seeding order
        cumulative = []
        total = 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)

        def read(cookie: str) -> Any:
            session = manager.open(cookie)
            value = session.get(PROBE)
            manager.close_session(session, 200)
            return value

        for cookie in victims:  # warm: every victim served once by this process
            read(cookie)
        ready.set()
        go.wait()
        began = now()
        reads = zero_trip = trips = 0
        probes: list[list[Any]] = [[] for _ in victims]  # per victim: [start, served]
        refused_seen = [False] * len(victims)
        current = 0
        mismatches = 0
        while not stop.is_set():
            index = order[bisect.bisect_left(cumulative, rng.random() * total)]
            before = SENT[0]
            value = read(pool[index])
            sent = SENT[0] - before
            reads += 1
            trips += sent
            zero_trip += sent == 0
            if value != index:
                mismatches += 1
            if current < len(victims):
                started = now()
                served = read(victims[current]) == f"victim-{current}"
                probes[current].append([started, served])
                if not served:
                    refused_seen[current] = True
                    # keep probing the ended ones now and then: a read that serves one
                    # again after its refusal is a stale read beyond any bound
                    current += 1
                if current and rng.random() < 0.05:
                    back = rng.randrange(current)
                    started = now()
                    probes[back].append([started, read(victims[back]) == f"victim-{back}"])
        active = now() - began
        manager.close()
        out.put(
            {
                "active_s": active,
                "reads": reads,
                "zero_trip_reads": zero_trip,
                "round_trips": trips,
                "mismatches": mismatches,
                "probes": probes,
            }
        )
    except BaseException as exc:
        ready.set()
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def writer(
    url: str, seeded: dict[str, Any], kinds: list[str], gap: tuple[float, float], go: Any, out: Any
) -> None:
    try:
        from sessionary.auth import logout

        manager = manager_for(url)
        rng = random.Random(7)
        go.wait()
        changes = []
        for i, (cookie, kind) in enumerate(zip(seeded["victims"], kinds, strict=True)):
            time.sleep(rng.uniform(*gap))
            started = now()
            if kind == "logout":
                session = manager.open(cookie)
                session.load()
                logout(session)
                manager.close_session(session, 200)
            elif kind == "revoke":
                manager.revoke_all(f"coherence-user-{i}-{kind}")
            else:
                session = manager.open(cookie)
                session.load()
                session.cycle_key()
                manager.close_session(session, 200)
            changes.append({"kind": kind, "start": started, "end": now()})
        manager.close()
        out.put({"changes": changes})
    except BaseException as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


# --- analysis -------------------------------------------------------------------------------------


def quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def analyse(changes: list[dict[str, Any]], readers: list[dict[str, Any]], bound_ms: float) -> dict[str, Any]:
    """Delays, stale reads and unrefused victims from the writer's changes and the readers' probes."""
    bound = bound_ms / 1000
    delays: list[float] = []
    by_kind: dict[str, list[float]] = {k: [] for k in KINDS}
    stale_after = stale_beyond = reads_after = unrefused = 0
    gaps: list[float] = []
    for result in readers:
        for victim, change in enumerate(changes):
            probes = sorted(result["probes"][victim])
            end = change["end"]
            after = [(start, served) for start, served in probes if start > end]
            reads_after += len(after)
            served_after = [start for start, served in after if served]
            stale_after += len(served_after)
            first_refusal = next((start for start, served in probes if not served), None)
            for start in served_after:
                if start > end + bound or (first_refusal is not None and start > first_refusal):
                    stale_beyond += 1
            if first_refusal is None:
                unrefused += 1
                continue
            last_served = max(served_after, default=end)
            delay = max(0.0, last_served - end)
            delays.append(delay)
            by_kind[change["kind"]].append(delay)
            starts = [start for start, _ in probes]
            gaps += [b - a for a, b in itertools.pairwise(starts) if b - a > 0]

    def summary(values: list[float]) -> dict[str, Any]:
        if not values:
            return {"samples": 0}
        return {
            "samples": len(values),
            "p50": round(statistics.median(values) * 1000, 3),
            "p99": round(quantile(values, 0.99) * 1000, 3),
            "max": round(max(values) * 1000, 3),
        }

    return {
        "delay_ms": summary(delays),
        "delay_ms_by_kind": {k: summary(v) for k, v in by_kind.items()},
        "probe_gap_ms": round(statistics.median(gaps) * 1000, 3) if gaps else None,
        "stale_after_change": stale_after,
        "stale_beyond_bound": stale_beyond,
        "reads_after_change": reads_after,
        "unrefused": unrefused,
    }


# --- one store ------------------------------------------------------------------------------------


def store_url(kind: str, run_id: str, query: str = "") -> tuple[str, Any]:
    """A URL for the store (``query``: more store options) and what removes what it made."""
    from sessions import postgres_cleanup, postgres_setup, redis_cleanup

    more = f"&{query}" if query else ""
    if kind == "redis":
        prefix = f"sessionary-bench-coherence:{run_id}:"
        return f"{REDIS_URL}?prefix={prefix}{more}", lambda: redis_cleanup(prefix)
    schema = f"coherence_{run_id}"
    url = postgres_setup(schema)
    full = f"{url}?options=-csearch_path%3D{schema}{more}"
    from sessionary.stores import open_store

    store = open_store(full)
    store.sync.migrate()
    store.close()
    return full, lambda: postgres_cleanup(url, schema)


def run_store(kind: str, args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    url, cleanup = store_url(kind, run_id, args.store_query)
    context = multiprocessing.get_context("spawn")
    try:
        victims = [KINDS[i % len(KINDS)] for i in range(args.changes)]
        started = time.monotonic()
        seeded = seed(url, args.sessions, victims)
        seeding_s = time.monotonic() - started
        ready = [context.Event() for _ in range(args.readers)]
        go, stop = context.Event(), context.Event()
        out = context.Queue()
        processes = [
            context.Process(
                target=reader,
                args=(url, seeded, args.zipf, 100 + i, args.incoherent_control, ready[i], go, stop, out),
                daemon=True,
            )
            for i in range(args.readers)
        ]
        processes.append(
            context.Process(
                target=writer, args=(url, seeded, victims, (args.gap_min, args.gap_max), go, out), daemon=True
            )
        )
        for process in processes:
            process.start()
        for event in ready:
            event.wait(120)
        go.set()
        results: list[dict[str, Any]] = []
        # The writer answers first (its last change done); readers keep reading a little longer.
        deadline = time.monotonic() + args.seconds
        writer_result = None
        while writer_result is None:
            result = out.get(timeout=max(1.0, deadline - time.monotonic() + 120))
            if "error" in result:
                raise RuntimeError(f"{kind}: a process failed: {result['error']}")
            if "changes" in result:
                writer_result = result
            else:
                results.append(result)
        time.sleep(args.tail)
        stop.set()
        while len(results) < args.readers:
            result = out.get(timeout=60)
            if "error" in result:
                raise RuntimeError(f"{kind}: a reader failed: {result['error']}")
            results.append(result)
        for process in processes:
            process.join(30)
        elapsed = time.monotonic() - started - seeding_s
    finally:
        cleanup()
    reads = sum(r["reads"] for r in results)
    zero = sum(r["zero_trip_reads"] for r in results)
    trips = sum(r["round_trips"] for r in results)
    figures = analyse(writer_result["changes"], results, args.bound_ms)
    near_cache = zero > 0
    return {
        "store": kind,
        "near_cache": near_cache,
        "readers": args.readers,
        "sessions": args.sessions,
        "changes": len(victims),
        "mix_reads": reads,
        "mix_reads_per_s": round(sum(r["reads"] / r["active_s"] for r in results if r["active_s"] > 0), 1),
        "zero_trip_reads": zero,
        "round_trips_per_read": round(trips / reads, 3) if reads else None,
        "hit_rate": round(zero / reads, 4) if near_cache and reads else None,
        "mismatched_reads": sum(r["mismatches"] for r in results),
        "seconds": round(elapsed, 1),
        "seeding_s": round(seeding_s, 1),
        **figures,
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        f"_Written by `bench/coherence.py` ({report['finished']}, {report['duration_s']} s); do not edit by hand._",
        "",
        f"Command: `{report['command']}`: {report['settings']['readers']} reader processes and one "
        f"writer on each store; {report['settings']['sessions']:,} sessions in the mix (Zipf-like, "
        f"s = {report['settings']['zipf']}); {report['settings']['changes']} changes (logout, "
        f"revocation, rotation in turn) {report['settings']['gap_min'] * 1000:.0f} to "
        f"{report['settings']['gap_max'] * 1000:.0f} ms apart; bound {report['bound_ms']:g} ms. "
        f"Load average at the end {report['load_average']}.",
        "",
        "| store | near-cache | hit rate | round trips / read | mix reads / s | invalidation delay p50 / p99 / max | stale after a change | beyond the bound | never refused | probe gap |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for s in report["stores"]:
        d = s["delay_ms"]
        delay = f"{d['p50']:.2f} / {d['p99']:.2f} / {d['max']:.2f} ms" if d.get("samples") else "—"
        hit = f"{s['hit_rate']:.1%}" if s["hit_rate"] is not None else "—"
        cache = "yes" if s["near_cache"] else "no near-cache on this store"
        gap = f"{s['probe_gap_ms']:.2f} ms" if s["probe_gap_ms"] is not None else "—"
        lines.append(
            f"| {s['store']} | {cache} | {hit} | {s['round_trips_per_read']} | {s['mix_reads_per_s']} | {delay} "
            f"| {s['stale_after_change']} of {s['reads_after_change']} | {s['stale_beyond_bound']} "
            f"| {s['unrefused']} | {gap} |"
        )
    if report.get("incoherent_control"):
        lines += [
            "",
            "**Control run** (`--incoherent-control`): the readers kept copies never "
            "invalidated, so these figures are the benchmark's self-check, not the store's.",
        ]
    lines += [
        "",
        "Invalidation delay: per change and reader, the start of the reader's last read that "
        "still served the ended session minus the moment the change returned (0 when its next "
        "read refused it); the probe gap (median time between a reader's reads of the same "
        "victim) is the resolution. Stale: reads serving an ended session after its change "
        "returned; beyond the bound, those more than the bound later, or after the same reader "
        "had refused it once.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for a smoke test")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--sessions", type=int, help="sessions in the mix (5000; --quick: 200)")
    parser.add_argument("--changes", type=int, help="logouts, revocations and rotations (60; --quick: 6)")
    parser.add_argument("--gap-min", type=float, default=0.05, help="seconds between changes, at least")
    parser.add_argument("--gap-max", type=float, default=0.25, help="seconds between changes, at most")
    parser.add_argument("--tail", type=float, default=0.5, help="seconds of reads after the last change")
    parser.add_argument("--zipf", type=float, default=1.1, help="the mix's Zipf exponent")
    parser.add_argument("--bound-ms", type=float, default=1000.0, help="the invalidation bound, ms")
    parser.add_argument("--seconds", type=float, default=600.0, help="give up after this long")
    parser.add_argument(
        "--incoherent-control",
        action="store_true",
        help="readers keep copies that are never invalidated: the run must report stale reads",
    )
    parser.add_argument("--store-query", default="", help="more options for every store URL (a=1&b=2)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--update-docs", action="store_true", help="rewrite docs/performance.md's coherence section"
    )
    args = parser.parse_args(argv)
    args.sessions = args.sessions or (200 if args.quick else 5000)
    args.changes = args.changes or (6 if args.quick else 60)
    kinds = [k.strip() for k in args.stores.split(",") if k.strip()]
    for kind in kinds:
        if kind not in STORES:
            parser.error(f"unknown store {kind!r}; expected some of {', '.join(STORES)}")
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:10]
    stores = []
    for kind in kinds:
        print(f"coherence: {kind}…", file=sys.stderr)
        stores.append(run_store(kind, args, run_id))
    import datetime

    report = {
        "command": " ".join(["bench/coherence.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {
            "readers": args.readers,
            "sessions": args.sessions,
            "changes": args.changes,
            "gap_min": args.gap_min,
            "gap_max": args.gap_max,
            "zipf": args.zipf,
        },
        "bound_ms": args.bound_ms,
        "incoherent_control": args.incoherent_control,
        "stores": stores,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "duration_s": round(time.monotonic() - started, 1),
        "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "coherence.json").write_text(json.dumps(report, indent=1) + "\n")
    text = render(report)
    (args.results / "coherence.md").write_text("# Coherence\n\n" + text)
    if args.update_docs:
        from goals import replace_between

        replace_between(ROOT / "docs" / "performance.md", BEGIN, END, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
