#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a cost measure a busy machine cannot blur.

    .venv/bin/python bench/instructions.py [--contenders NAME[,NAME...]] [--scenarios S[,S...]]
                                           [--requests 200] [--src DIR ...] [--layer]

Each (contender, scenario) runs in a process of its own under ``valgrind --tool=callgrind``,
built as bench/sessions.py builds it (bench/session_contenders.py, in-process requests, no
HTTP server). Only the timed loop is counted: it runs inside ``functools.reduce``, the one
function callgrind is told to collect in (``--toggle-collect``), after a warm-up. Each
``--src`` is a source tree put first on ``sys.path`` (an old checkout's ``src``, to compare
before and after on the same machine); without it the installed sessionary is measured.
``--layer`` also counts the same request to the same app without sessions (its baseline,
in a process of its own) and reports the difference: the session layer's own
instructions, the figure a goal such as "rolling within 10 % of read" is about. Prints
one line per measurement and a table of instructions per request.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = {
    "sessionary-asgi-sqlite": ("asgi", "sqlite"),
    "sessionary-asgi-cookie": ("asgi", "cookie"),
    "sessionary-flask-sqlite": ("wsgi", "sqlite"),
    "sessionary-django-sqlite": ("django", "sqlite"),
    "sessionary-asgi-redis": ("asgi", "redis"),
    "sessionary-flask-redis": ("wsgi", "redis"),
    "sessionary-django-redis": ("django", "redis"),
    "sessionary-asgi-postgresql": ("asgi", "postgresql"),
    "sessionary-flask-postgresql": ("wsgi", "postgresql"),
    "sessionary-django-postgresql": ("django", "postgresql"),
}
REDIS_URL = os.environ.get("SESSIONARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("SESSIONARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SCENARIOS = ("untouched", "read", "read-cold", "write", "new", "rolling")
WARM_UP = 50


def worker(spec_json: str, scenario: str, requests: int, which: str) -> None:
    """Build the contender, warm it up, then run the counted loop inside functools.reduce
    (on the contender's app, or with ``which="baseline"`` on the same app without sessions)."""
    from session_contenders import Pair, Spec, Worker, checker

    contender = Worker(Spec(**json.loads(spec_json)))

    def batch(n: int) -> object:
        if which == "contender":
            return contender.batch(scenario, n, with_baseline=False)
        built = contender.contender
        assert built is not None
        path = "/read" if scenario in ("rolling", "read-cold") else f"/{scenario}"
        cookie = None if scenario == "new" else contender.cookie
        pair = Pair(path, cookie, [(built.baseline, checker(scenario, "baseline"))])
        return built.drivers["normal"].batch(pair, n)

    batch(WARM_UP)
    functools.reduce(lambda _, __: batch(requests), range(1), None)


def redis_cleanup(prefix: str) -> None:
    """Delete the keys one measurement left in the shared Redis (its own prefix only)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.close()


def postgres_schema() -> str:
    """A schema of this measurement's own in the shared database (dropped afterwards)."""
    import psycopg

    schema = f"sessionary_instructions_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def postgres_cleanup(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure(name: str, scenario: str, requests: int, src: str | None, which: str = "contender") -> int:
    """Instructions callgrind collected for ``requests`` requests."""
    framework, store = CONTENDERS[name]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    prefix = f"sessionary-instructions-{uuid.uuid4().hex[:8]}:"
    schema = postgres_schema() if store == "postgresql" else ""
    with tempfile.TemporaryDirectory(prefix="sessionary-instructions-") as tmpdir:
        spec = {
            "name": name,
            "framework": framework,
            "library": "sessionary",
            "store": store,
            "tmpdir": tmpdir,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "postgres_url": POSTGRES_URL if store == "postgresql" else "",
            "postgres_schema": schema,
            # read-cold reads sessions another process made, a fresh one per request.
            "cold_sessions": WARM_UP + requests if scenario == "read-cold" and which == "contender" else 0,
        }
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmpdir}/callgrind.out",
            "--toggle-collect=functools_reduce",
            sys.executable,
            __file__,
            "--worker",
            json.dumps(spec),
            scenario,
            str(requests),
            which,
        ]
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        finally:
            if store == "redis":
                redis_cleanup(prefix)
            if schema:
                postgres_cleanup(schema)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{name} {scenario}: worker failed\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--src", action="append", default=[], help="a source tree to measure (repeatable)")
    parser.add_argument(
        "--layer",
        action="store_true",
        help="subtract the same app without sessions (the session layer alone)",
    )
    args = parser.parse_args()
    if args.worker and args.seed:
        from session_contenders import seed

        seed(args.worker, args.seed)
        return
    if args.worker:
        worker(args.worker, args.rest[0], int(args.rest[1]), args.rest[2])
        return
    trees = args.src or [None]
    table: dict[tuple[str, str], list[float]] = {}
    for name in args.contenders.split(","):
        for scenario in args.scenarios.split(","):
            for tree in trees:
                per_request = measure(name, scenario, args.requests, tree) / args.requests
                label = f"{tree or 'installed'}: {per_request:,.0f}"
                if args.layer:
                    baseline = measure(name, scenario, args.requests, tree, "baseline") / args.requests
                    label += f" - baseline {baseline:,.0f}"
                    per_request -= baseline
                    label += f" = session layer {per_request:,.0f}"
                table.setdefault((name, scenario), []).append(per_request)
                print(f"{name:28} {scenario:10} {label}", flush=True)
    header = " | ".join(tree or "installed" for tree in trees)
    print(f"\n| contender | scenario | {header} |" + (" change |" if len(trees) == 2 else ""))
    print("|---|---|" + "---|" * len(trees) + ("---|" if len(trees) == 2 else ""))
    for (name, scenario), counts in table.items():
        cells = " | ".join(f"{count:,.0f}" for count in counts)
        change = f" {100 * (counts[1] / counts[0] - 1):+.1f} % |" if len(counts) == 2 else ""
        print(f"| {name} | {scenario} | {cells} |{change}")


if __name__ == "__main__":
    main()
