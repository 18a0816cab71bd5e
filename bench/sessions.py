#!/usr/bin/env python3
"""sessionary side by side with the Python session libraries (a benchmark, not a test).

    .venv/bin/python bench/sessions.py [--quick] [--rounds 20] [--requests-per-round 100]
                                       [--only SUBSTRING[,SUBSTRING...]] [--update-docs]

Every contender (a session library in a framework on a store, plus a no-session baseline
per framework and a bare redis-py GET) runs in a worker process of its own and is called
in-process: ASGI and WSGI callables, no HTTP server, the stores on loopback. Rounds are
interleaved: in round k every worker runs a batch of requests in turn (the order rotates
each round), so a noisy moment on the machine hits all contenders alike. Each scenario's
store operations are then counted on the store side in a separate batch (not timed).

Writes bench/results/sessions.json and bench/results/sessions.md, draws
docs/images/performance.png, and with --update-docs rewrites the section of
docs/performance.md between its markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from session_contenders import FLOORS, SCENARIOS, Spec, seed, serve
from session_report import evaluate, machine_info, write_outputs

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("SESSIONARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get("SESSIONARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
POSTGRES_DATABASE = "sessionary_bench_sessions"

# (name, framework, library, store)
CONTENDERS: list[tuple[str, str, str, str]] = [
    ("sessionary-asgi-redis", "asgi", "sessionary", "redis"),
    ("sessionary-asgi-sqlite", "asgi", "sessionary", "sqlite"),
    ("sessionary-asgi-sqlite-inline", "asgi", "sessionary", "sqlite"),
    ("sessionary-asgi-postgresql", "asgi", "sessionary", "postgresql"),
    ("sessionary-asgi-cookie", "asgi", "sessionary", "cookie"),
    ("starsessions-redis", "asgi", "starsessions", "redis"),
    ("starlette-cookie", "asgi", "starlette", "cookie"),
    ("sessionary-flask-redis", "wsgi", "sessionary", "redis"),
    ("sessionary-flask-sqlite", "wsgi", "sessionary", "sqlite"),
    ("sessionary-flask-postgresql", "wsgi", "sessionary", "postgresql"),
    ("flask-session-redis", "wsgi", "flask-session", "redis"),
    ("sessionary-django-redis", "django", "sessionary", "redis"),
    ("sessionary-django-sqlite", "django", "sessionary", "sqlite"),
    ("sessionary-django-postgresql", "django", "sessionary", "postgresql"),
    ("django-cache-redis", "django", "django-cache", "redis"),
    ("django-db-sqlite", "django", "django-db", "sqlite"),
    ("django-db-postgresql", "django", "django-db", "postgresql"),
    ("django-signed-cookies", "django", "django-signed", "cookie"),
    ("redis-get-sync", "wsgi", "redis-py", "redis"),
    ("redis-get-async", "asgi", "redis-py", "redis"),
    ("psycopg-select-sync", "wsgi", "psycopg", "postgresql"),
    ("psycopg-select-async", "asgi", "psycopg", "postgresql"),
    ("redis-get-django", "django", "redis-py", "redis"),
    ("psycopg-select-django", "django", "psycopg", "postgresql"),
]
COLD_STORES = ("redis", "sqlite", "postgresql")
"""Where ``read-cold`` runs: sessionary on a store a process could cache (the peers keep
no cache of their own, so their ``read`` is already cold)."""
# Scenarios a contender has no setting for: not measured, and said so in the report.
UNSUPPORTED = {
    (
        "starlette-cookie",
        "rolling",
    ): "Starlette's SessionMiddleware has no rolling mode: it sets the cookie only when the session changed",
}


class WorkerProcess:
    """One contender's worker process, spoken to with one JSON message per line."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(asdict(spec))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.spec.name}: the worker exited (code {self.process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.spec.name}: {reply['error']}")
        return reply

    def ask(self, **message: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def services() -> dict[str, str | None]:
    """Which services answer: name -> None if reachable, else the reason."""
    found: dict[str, str | None] = {}
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
        found["redis"] = None
    except Exception as exc:
        found["redis"] = f"Redis at {REDIS_URL} unreachable ({type(exc).__name__})"
    try:
        import psycopg

        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2).close()
        found["postgresql"] = None
    except Exception as exc:
        found["postgresql"] = f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable ({type(exc).__name__})"
    return found


def postgres_setup(schema: str) -> str:
    """The benchmark's own database (created if missing) and a schema for this run."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (POSTGRES_DATABASE,)
        ).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # created meanwhile by another run
                admin.execute(f'CREATE DATABASE "{POSTGRES_DATABASE}"')
    params = conninfo_to_dict(POSTGRES_ADMIN_URL)
    url = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{POSTGRES_DATABASE}"
    with psycopg.connect(make_conninfo(url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return url


def postgres_cleanup(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def redis_cleanup(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.close()


def select(only: str | None) -> list[tuple[str, str, str, str]]:
    """The contenders named by --only (each carries its own baseline)."""
    if not only:
        return list(CONTENDERS)
    wanted = [piece.strip() for piece in only.split(",") if piece.strip()]
    return [c for c in CONTENDERS if any(w in c[0] for w in wanted)]


def runs(spec: Spec, scenario: str) -> bool:
    """Whether ``scenario`` is measured on this contender."""
    if (spec.name, scenario) in UNSUPPORTED:
        return False
    if spec.library in FLOORS:
        return scenario == "read"
    if scenario == "read-cold":
        return spec.cold_sessions > 0
    return True


def quartiles(ordered: list[float]) -> list[float]:
    """The first and third quartiles of sorted values (the interquartile range's ends)."""
    if len(ordered) < 2:
        return [ordered[0], ordered[0]] if ordered else []
    q = statistics.quantiles(ordered, n=4, method="inclusive")
    return [round(q[0], 2), round(q[2], 2)]


def percentile(ordered: list[int], share: float) -> int:
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:10]
    redis_prefix = f"sessionary-bench-sessions:{run_id}:"
    schema = f"bench_{run_id}"
    chosen = select(args.only)
    available = services()
    require = os.environ.get("SESSIONARY_REQUIRE_SERVICES") == "1"
    skipped: dict[str, str] = {}
    for name, _, _, store in chosen:
        reason = available.get(store)
        if store in ("redis", "postgresql") and reason:
            if require:
                raise SystemExit(f"{name}: {reason} (SESSIONARY_REQUIRE_SERVICES=1)")
            skipped[name] = reason
    chosen = [c for c in chosen if c[0] not in skipped]
    uses_postgres = any(c[3] == "postgresql" for c in chosen)
    postgres_url = postgres_setup(schema) if uses_postgres else ""
    workers: list[WorkerProcess] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sessionary-bench-") as tmpdir:
            for name, framework, library, store in chosen:
                spec = Spec(
                    name=name,
                    framework=framework,
                    library=library,
                    store=store,
                    redis_url=REDIS_URL,
                    redis_prefix=f"{redis_prefix}{name}:",
                    postgres_url=postgres_url,
                    postgres_schema=schema,
                    tmpdir=tmpdir,
                    cold_sessions=(
                        (args.rounds + 1) * args.requests_per_round + args.count_requests
                        if library == "sessionary" and store in COLD_STORES
                        else 0
                    ),
                )
                workers.append(WorkerProcess(spec))
            for worker in workers:
                worker.receive()  # built, session set up and read back
            print(
                f"{len(workers)} contenders ready after {time.monotonic() - started:.1f} s", file=sys.stderr
            )
            for scenario in SCENARIOS:
                timings: dict[str, list[int]] = {w.spec.name: [] for w in workers}
                round_costs: dict[str, list[float]] = {w.spec.name: [] for w in workers}
                baseline: dict[str, list[int]] = {w.spec.name: [] for w in workers}
                active = [w for w in workers if runs(w.spec, scenario)]
                if not active:
                    continue
                for worker in active:
                    worker.ask(cmd="run", scenario=scenario, n=args.requests_per_round)  # warm-up
                for round_number in range(args.rounds):
                    shift = round_number % len(active)
                    for worker in active[shift:] + active[:shift]:
                        reply = worker.ask(cmd="run", scenario=scenario, n=args.requests_per_round)
                        timings[worker.spec.name].extend(reply["timings"][0])
                        baseline[worker.spec.name].extend(reply["timings"][1])
                        mine, base = reply["timings"]
                        round_costs[worker.spec.name].append(
                            (statistics.median(mine) - statistics.median(base)) / 1000
                        )
                for worker in active:
                    counted = worker.ask(cmd="count", scenario=scenario, n=args.count_requests)["counts"]
                    ordered = sorted(timings[worker.spec.name])
                    figures: dict[str, Any] = {
                        "median_us": statistics.median(ordered) / 1000,
                        "p99_us": percentile(ordered, 0.99) / 1000,
                        "samples": len(ordered),
                        "counts": counted,
                    }
                    base = sorted(baseline[worker.spec.name])
                    if base:
                        figures["baseline_median_us"] = statistics.median(base) / 1000
                        figures["baseline_p99_us"] = percentile(base, 0.99) / 1000
                    # The spread between rounds: what a figure moves by on this machine.
                    per_round = sorted(round_costs[worker.spec.name])
                    figures["round_costs_us"] = [round(c, 2) for c in per_round]
                    figures["cost_spread_us"] = quartiles(per_round)
                    results.setdefault(worker.spec.name, {})[scenario] = figures
                print(f"  {scenario}: done at {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        for worker in workers:
            worker.close()
        if available.get("redis") is None:
            redis_cleanup(redis_prefix)
        if postgres_url:
            postgres_cleanup(postgres_url, schema)
    contenders = [
        {"name": name, "framework": framework, "library": library, "store": store}
        for name, framework, library, store in chosen
    ]
    report = {
        "command": " ".join(["bench/sessions.py", *sys.argv[1:]]),
        "settings": {
            "rounds": args.rounds,
            "requests_per_round": args.requests_per_round,
            "count_requests": args.count_requests,
        },
        "machine": machine_info(REDIS_URL, POSTGRES_ADMIN_URL, available),
        "contenders": contenders,
        "skipped": skipped,
        "results": results,
        "unsupported": [
            {"contender": name, "scenario": scenario, "reason": reason}
            for (name, scenario), reason in UNSUPPORTED.items()
            if name in results
        ],
    }
    report.update(evaluate(report))
    report["duration_s"] = round(time.monotonic() - started, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a short run, for a smoke test")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per scenario (20)")
    parser.add_argument("--requests-per-round", type=int, default=None, help="requests per batch (100)")
    parser.add_argument("--count-requests", type=int, default=None, help="requests in a counted batch (200)")
    parser.add_argument("--only", help="comma-separated substrings of contender names (baselines follow)")
    parser.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--image", default=str(ROOT / "docs" / "images" / "performance.png"))
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/performance.md's section")
    args = parser.parse_args()
    if args.worker and args.seed:
        seed(args.worker, args.seed)
        return
    if args.worker:
        serve(args.worker)
        return
    quick = args.quick
    args.rounds = args.rounds or (3 if quick else 20)
    args.requests_per_round = args.requests_per_round or (20 if quick else 100)
    args.count_requests = args.count_requests or (20 if quick else 200)
    report = run(args)
    doc = ROOT / "docs" / "performance.md" if args.update_docs else None
    text = write_outputs(report, Path(args.results_dir), Path(args.image), doc)
    print(text)


if __name__ == "__main__":
    main()
