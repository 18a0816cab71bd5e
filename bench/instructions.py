#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a cost measure a busy machine cannot blur.

    .venv/bin/python bench/instructions.py [--contenders NAME[,NAME...]] [--scenarios S[,S...]]
                                           [--requests 200] [--src DIR ...]

Each (contender, scenario) runs in a process of its own under ``valgrind --tool=callgrind``,
built as bench/sessions.py builds it (bench/session_contenders.py, in-process requests, no
HTTP server). Only the timed loop is counted: it runs inside ``functools.reduce``, the one
function callgrind is told to collect in (``--toggle-collect``), after a warm-up. Each
``--src`` is a source tree put first on ``sys.path`` (an old checkout's ``src``, to compare
before and after on the same machine); without it the installed sessionary is measured.
Prints one line per measurement and a table of instructions per request.
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
}
REDIS_URL = os.environ.get("SESSIONARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SCENARIOS = ("untouched", "read", "write", "new", "rolling")
WARM_UP = 50


def worker(spec_json: str, scenario: str, requests: int) -> None:
    """Build the contender, warm it up, then run the counted loop inside functools.reduce."""
    from session_contenders import Spec, Worker

    contender = Worker(Spec(**json.loads(spec_json)))
    contender.batch(scenario, WARM_UP, with_baseline=False)
    functools.reduce(lambda _, __: contender.batch(scenario, requests, with_baseline=False), range(1), None)


def redis_cleanup(prefix: str) -> None:
    """Delete the keys one measurement left in the shared Redis (its own prefix only)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(names), 1000):
        client.delete(*names[start : start + 1000])
    client.close()


def measure(name: str, scenario: str, requests: int, src: str | None) -> int:
    """Instructions callgrind collected for ``requests`` requests."""
    framework, store = CONTENDERS[name]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    prefix = f"sessionary-instructions-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="sessionary-instructions-") as tmpdir:
        spec = {
            "name": name,
            "framework": framework,
            "library": "sessionary",
            "store": store,
            "tmpdir": tmpdir,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
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
        ]
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        finally:
            if store == "redis":
                redis_cleanup(prefix)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{name} {scenario}: worker failed\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--src", action="append", default=[], help="a source tree to measure (repeatable)")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rest[0], int(args.rest[1]))
        return
    trees = args.src or [None]
    table: dict[tuple[str, str], list[float]] = {}
    for name in args.contenders.split(","):
        for scenario in args.scenarios.split(","):
            for tree in trees:
                per_request = measure(name, scenario, args.requests, tree) / args.requests
                table.setdefault((name, scenario), []).append(per_request)
                print(f"{name:28} {scenario:10} {tree or 'installed'}: {per_request:,.0f}", flush=True)
    header = " | ".join(tree or "installed" for tree in trees)
    print(f"\n| contender | scenario | {header} |" + (" change |" if len(trees) == 2 else ""))
    print("|---|---|" + "---|" * len(trees) + ("---|" if len(trees) == 2 else ""))
    for (name, scenario), counts in table.items():
        cells = " | ".join(f"{count:,.0f}" for count in counts)
        change = f" {100 * (counts[1] / counts[0] - 1):+.1f} % |" if len(counts) == 2 else ""
        print(f"| {name} | {scenario} | {cells} |{change}")


if __name__ == "__main__":
    main()
