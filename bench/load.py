#!/usr/bin/env python3
"""Load test: the demo app under uvicorn, thousands of sessions, a store restart midway.

For each store it starts the store (SQLite: a file in a temporary directory; Redis: a
redis-server of its own with AOF and ``appendfsync always``; PostgreSQL: a throwaway
server of its own, run as the ``postgres`` user when this runs as root), serves
``sessionary.demo.create_app`` with uvicorn in a subprocess, signs in ``--sessions``
visitors, then runs ``--clients`` concurrent clients for ``--duration`` seconds: each
request picks a visitor, reads (``GET /check-session``, 70 %) or writes (``POST /save``,
which adds one to the session's ``saves``, 30 %), one request per visitor at a time.
Halfway it restarts the store: Redis and PostgreSQL are killed (SIGKILL) and started
again on the same data; SQLite is embedded in the app process, so its "restart" is
the app server killed with SIGKILL and started again on the same file.

At the end every session is read back through sessionary's API and checked: the user
it was signed in as, and ``saves`` between the writes acknowledged (303) and those
plus the writes whose outcome the client could not know (an error answer or a broken
connection). A session missing, or holding fewer saves than acknowledged, is lost.

    .venv/bin/python bench/load.py                         # the long form (docs/reliability.md)
    .venv/bin/python bench/load.py --short                 # the short form CI runs
    .venv/bin/python bench/load.py --stores redis --sessions 5000 --duration 120

Loopback only; it stops by itself (exit 1 if a session was lost or a request got a 500).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test-owned Redis and PostgreSQL servers

STORES = ("sqlite", "redis", "postgresql")
READ_SHARE = 0.7
COOKIE = "__Host-sessionid"
"""The demo's session cookie under the default settings (Config().session_cookie_name)."""


# --- the app server, in a subprocess ------------------------------------------------------------


def serve(store: str, port: int) -> None:
    """``--serve``: the demo app on 127.0.0.1:port (run in the subprocess)."""
    import uvicorn

    from sessionary.demo import create_app

    uvicorn.run(create_app(store), host="127.0.0.1", port=port, log_level="critical", lifespan="on")


class AppServer:
    def __init__(self, store: str) -> None:
        from support.services import free_port

        self.store = store
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        command = [sys.executable, __file__, "--serve", self.store, "--port", str(self.port)]
        # The app's log (a line per failed request while the store is down) goes to a file.
        log = (Path(tempfile.gettempdir()) / f"sessionary-load-app-{self.port}.log").open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/check-session", timeout=1)
                return
            time.sleep(0.05)
        raise RuntimeError("the app server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- the stores ------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_store(kind: str) -> Iterator[tuple[str, Any]]:
    """The store's URL, and what "restart" does to it (given the app server)."""
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="sessionary-load-"))
        try:

            def restart_app(app: AppServer) -> None:
                app.kill()
                app.start()

            yield f"sqlite:///{directory}/sessions.db", restart_app
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    elif kind == "redis":
        from support.redis_servers import RedisServer

        directory = Path(tempfile.mkdtemp(prefix="sessionary-load-redis-"))
        server = RedisServer(directory, options=("--appendonly", "yes", "--appendfsync", "always"))
        server.start()
        try:

            def restart_redis(app: AppServer) -> None:
                server.kill()
                server.start()

            yield server.url, restart_redis
        finally:
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)
    else:
        from sessionary import SessionManager
        from support.throwaway_postgres import ThrowawayPostgres

        pg = ThrowawayPostgres.create()
        pg.start()
        try:
            url = f"{pg.url}?table=load&pool_max_size=10"
            manager = SessionManager(url)
            manager.store.sync.migrate()  # type: ignore[attr-defined]
            manager.close()

            def restart_postgres(app: AppServer) -> None:
                pg.kill()
                pg.start()

            yield url, restart_postgres
        finally:
            pg.cleanup()


# --- the clients ---------------------------------------------------------------------------------


@dataclass
class Visitor:
    name: str
    token: str = ""
    acknowledged: int = 0
    uncertain: int = 0
    busy: bool = False


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wrong_answers: int = 0

    def record(self, started: float, outcome: str, *, error: bool) -> None:
        self.latencies.append(time.perf_counter() - started)
        (self.errors if error else self.statuses)[outcome] += 1


def cookie_of(response: Any) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            return str(rest.split(";", 1)[0])
    return None


async def request(client: Any, tally: Tally, method: str, path: str, visitor: Visitor, **kwargs: Any) -> Any:
    import httpx

    headers = {"Cookie": f"{COOKIE}={visitor.token}"} if visitor.token else {}
    started = time.perf_counter()
    try:
        response = await client.request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        tally.record(started, type(exc).__name__, error=True)
        await asyncio.sleep(0.01)  # a real client would not retry in a tight loop
        return None
    status = response.status_code
    tally.record(started, str(status), error=status >= 400)
    return response


async def sign_in(client: Any, tally: Tally, visitors: list[Visitor], concurrency: int) -> None:
    queue = list(visitors)

    async def worker() -> None:
        while queue:
            visitor = queue.pop()
            for _ in range(20):
                response = await request(
                    client, tally, "POST", "/login", visitor, data={"username": visitor.name}
                )
                if response is not None and response.status_code == 303 and cookie_of(response):
                    visitor.token = cookie_of(response) or ""
                    break
                await asyncio.sleep(0.1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def mixed_load(
    client: Any, tally: Tally, visitors: list[Visitor], clients: int, deadline: float
) -> None:
    async def worker(seed: int) -> None:
        chance = random.Random(seed)
        while time.monotonic() < deadline:
            visitor = chance.choice(visitors)
            if visitor.busy or not visitor.token:
                continue
            visitor.busy = True
            try:
                if chance.random() < READ_SHARE:
                    response = await request(client, tally, "GET", "/check-session", visitor)
                    answered = response is not None and response.status_code == 200
                    if answered and f"User in session: {visitor.name}" not in response.text:
                        tally.wrong_answers += 1
                else:
                    response = await request(client, tally, "POST", "/save", visitor)
                    if response is not None and response.status_code == 303:
                        visitor.acknowledged += 1
                    else:
                        visitor.uncertain += 1
            finally:
                visitor.busy = False

    await asyncio.gather(*(worker(seed) for seed in range(clients)))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- one run -------------------------------------------------------------------------------------


def run_store(kind: str, sessions: int, duration: float, clients: int) -> dict[str, Any]:
    import httpx

    from sessionary import SessionManager

    with running_store(kind) as (url, restart):
        app = AppServer(url)
        app.start()
        try:
            visitors = [Visitor(f"visitor-{index}") for index in range(sessions)]
            setup, tally = Tally(), Tally()

            signed_in = threading.Event()

            async def main() -> None:
                limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
                async with httpx.AsyncClient(base_url=app.url, limits=limits, timeout=10) as client:
                    await sign_in(client, setup, visitors, clients)
                    deadline = time.monotonic() + duration
                    signed_in.set()
                    await mixed_load(client, tally, visitors, clients, deadline)

            # The clients run in a thread of their own; the restart happens in this one
            # (the test-owned servers die with the thread that started them).
            clients_thread = threading.Thread(target=asyncio.run, args=(main(),))
            clients_thread.start()
            if not signed_in.wait(600):
                raise RuntimeError("signing the visitors in did not finish")
            began = time.monotonic()
            time.sleep(duration / 2)
            started = time.monotonic()
            restart(app)
            restart_seconds = time.monotonic() - started
            clients_thread.join()
            elapsed = time.monotonic() - began
        finally:
            app.stop()

        # Every session, read back through sessionary's own API.
        lost = updates_lost = unsigned = 0
        manager = SessionManager(url)
        try:
            for visitor in visitors:
                if not visitor.token:
                    unsigned += 1
                    continue
                session = manager.open(f"{COOKIE}={visitor.token}")
                saves = session.get("saves", 0)
                if session.get("user") != visitor.name:
                    lost += 1
                elif not visitor.acknowledged <= saves <= visitor.acknowledged + visitor.uncertain:
                    updates_lost += saves < visitor.acknowledged
        finally:
            manager.close()

    served = sum(tally.statuses.values())
    return {
        "store": kind,
        "sessions": sessions,
        "not_signed_in": unsigned,
        "clients": clients,
        "duration_s": round(elapsed, 1),
        "requests": served + sum(tally.errors.values()),
        "served": dict(tally.statuses),
        "errors": dict(tally.errors),
        "wrong_answers": tally.wrong_answers,
        "p50_ms": round(statistics.median(tally.latencies) * 1000, 2) if tally.latencies else None,
        "p99_ms": round(percentile(tally.latencies, 0.99) * 1000, 2),
        "restart_s": round(restart_seconds, 2),
        "writes_acknowledged": sum(v.acknowledged for v in visitors),
        "writes_uncertain": sum(v.uncertain for v in visitors),
        "sessions_lost": lost,
        "updates_lost": updates_lost,
    }


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "| store | sessions | requests | served (by status) | errors (by kind) | p50 | p99 | restart "
        "| writes acked | sessions lost | updates lost |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        served = ", ".join(f"{k}: {v}" for k, v in sorted(r["served"].items()))
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        lines.append(
            f"| {r['store']} | {r['sessions']:,} | {r['requests']:,} | {served} | {errors} | {r['p50_ms']} ms "
            f"| {r['p99_ms']} ms | {r['restart_s']} s | {r['writes_acknowledged']:,} | {r['sessions_lost']} "
            f"| {r['updates_lost']} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of mixed load (at most 600)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--short", action="store_true", help="the CI form: 300 sessions, 6 s, 16 clients")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if args.short:
        args.sessions, args.duration, args.clients = 300, 6.0, 16
    if not 0 < args.duration <= 600:
        parser.error("--duration must be between 0 and 600 seconds (sessions idle out after 15 minutes)")
    stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown store {sorted(unknown)[0]!r}; choose from {', '.join(STORES)}")

    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs", flush=True
    )
    print(f"# bench/load.py {' '.join(argv)}", flush=True)
    results = []
    for kind in stores:
        result = run_store(kind, args.sessions, args.duration, args.clients)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    failed = any(
        r["sessions_lost"]
        or r["updates_lost"]
        or r["served"].get("500")
        or r["errors"].get("500")
        or r["wrong_answers"]
        or r["not_signed_in"]
        for r in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
