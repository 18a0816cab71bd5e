#!/usr/bin/env python3
"""The async Redis read against its floor, and the untouched request (a benchmark, not a test).

    .venv/bin/python bench/async_floor.py [--rounds 30] [--requests 200] [--instructions]

In one process, on one event loop, one Starlette app with sessionary's ASGI middleware on
Redis and the same app without it, called in-process (no HTTP server), requests
interleaved:

* ``read``: a view that loads the session and reads one key, minus the same view in
  the app without sessions: the session layer's cost of a Redis read;
* ``bare-get``: a view (in the app without sessions) that awaits one redis-py asyncio
  ``GET`` of a value of the session's size on a client of its own, minus the same view
  without the ``GET``: the floor an async Redis read could reach in that app;
* ``untouched``: a request carrying the session cookie to a view that never uses the
  session, minus the same request to the app without sessions, on ASGI and on Flask.

Prints the medians (wall time), and with ``--instructions`` the instructions per request
callgrind counts for each (the client process only; valgrind's overhead makes its wall
times meaningless), each in a process of its own. ``--server`` times, on a bare socket,
the store's read script (``EVALSHA`` of LOAD on a stored 10-key session) against a
``GET`` of a value of the same size: one at a time (the round trip) and pipelined (the
server's own time per command, nearly), the floor a Lua read adds above a GET.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from session_contenders import ASGIDriver, Pair, Response, WSGIDriver, cookie_pair

REDIS_URL = os.environ.get("SESSIONARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SESSION_DATA = {f"k{i}": f"value-{i}" for i in range(10)}
READ_KEY, READ_VALUE = "k3", "value-3"
COOKIE_AGE = 1_209_600
MEASURES = ("read", "bare-get", "untouched-asgi", "untouched-flask")
WARM_UP = 50


def ok(expected: bytes) -> Callable[[Response], None]:
    def check(response: Response) -> None:
        if response.status != 200 or response.body != expected:
            raise RuntimeError(f"expected 200 {expected!r}, got {response.status} {response.body!r}")

    return check


class Apps:
    """The apps of every measure, built once, sharing one event loop."""

    def __init__(self, prefix: str) -> None:
        import redis
        import redis.asyncio
        from flask import Flask
        from flask import session as flask_session
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        from sessionary import Config, SessionManager, SessionMiddleware
        from sessionary.integrations.flask import Sessionary

        self.prefix = prefix
        bare_key = f"{prefix}bare"
        setup = redis.Redis.from_url(REDIS_URL)
        setup.set(bare_key, json.dumps(SESSION_DATA), ex=3600)
        setup.close()
        client = redis.asyncio.Redis.from_url(REDIS_URL)

        async def setup_view(request: Any) -> Any:
            await request.session.aload()
            request.session.update(SESSION_DATA)
            return PlainTextResponse("ok")

        async def read(request: Any) -> Any:
            await request.session.aload()
            return PlainTextResponse(str(request.session.get(READ_KEY)))

        async def plain(request: Any) -> Any:
            return PlainTextResponse(READ_VALUE)

        async def bare(request: Any) -> Any:
            value = await client.get(bare_key)
            assert value is not None
            return PlainTextResponse(READ_VALUE)

        async def untouched(request: Any) -> Any:
            return PlainTextResponse("ok")

        store = f"{REDIS_URL}?prefix={prefix}"
        config = Config(cookie_age=COOKIE_AGE)
        self.manager = SessionManager(store, config)
        routes = [Route("/setup", setup_view), Route("/read", read), Route("/untouched", untouched)]
        self.asgi = ASGIDriver(SessionMiddleware(Starlette(routes=routes), manager=self.manager))
        base_routes = [Route("/read", plain), Route("/bare", bare), Route("/untouched", untouched)]
        self.asgi_base = Starlette(routes=base_routes)
        response = self.asgi.one("/setup", None)
        self.cookie = cookie_pair(response)
        ok(READ_VALUE.encode())(self.asgi.one("/read", self.cookie))

        def flask_app(with_session: bool) -> Any:
            app = Flask(f"async_floor_{with_session}")
            app.permanent_session_lifetime = COOKIE_AGE
            # As bench/session_contenders.py sets it (Flask's default, True, slides a
            # permanent session on every request: a read of the session).
            app.config["SESSION_REFRESH_EACH_REQUEST"] = False

            @app.route("/untouched")
            def flask_untouched() -> str:
                return "ok"

            @app.route("/setup")
            def flask_setup() -> str:
                flask_session.permanent = True
                flask_session.update(SESSION_DATA)
                return "ok"

            if with_session:
                Sessionary(app, manager=SessionManager(self.manager.store, config))
            return app.wsgi_app

        self.flask = WSGIDriver(flask_app(True))
        self.flask_base = flask_app(False)
        self.flask_cookie = cookie_pair(self.flask.one("/setup", None))

    def pairs(self, measure: str) -> tuple[Any, Pair]:
        """The driver and the (contender, baseline) requests of ``measure``."""
        if measure == "read":
            apps = [(self.asgi.app, ok(READ_VALUE.encode())), (self.asgi_base, ok(READ_VALUE.encode()))]
            return self.asgi, Pair("/read", self.cookie, apps)
        if measure == "bare-get":
            # The same app without sessions: /bare (one GET) against /read (none).
            return self.asgi, Pair("/bare", None, [(self.asgi_base, ok(READ_VALUE.encode()))])
        if measure == "bare-base":
            return self.asgi, Pair("/read", None, [(self.asgi_base, ok(READ_VALUE.encode()))])
        if measure == "untouched-asgi":
            apps = [(self.asgi.app, ok(b"ok")), (self.asgi_base, ok(b"ok"))]
            return self.asgi, Pair("/untouched", self.cookie, apps)
        if measure == "untouched-flask":
            apps = [(self.flask.app, ok(b"ok")), (self.flask_base, ok(b"ok"))]
            return self.flask, Pair("/untouched", self.flask_cookie, apps)
        raise ValueError(measure)

    def batch(self, measure: str, n: int) -> list[list[int]]:
        driver, pair = self.pairs(measure)
        return driver.batch(pair, n)  # type: ignore[no-any-return]


def cleanup(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        client.delete(*names)
    client.close()


def wall(rounds: int, requests: int) -> dict[str, tuple[float, float]]:
    """Median µs of (contender, baseline) per measure, rounds interleaved."""
    prefix = f"sessionary-async-floor:{uuid.uuid4().hex[:8]}:"
    try:
        apps = Apps(prefix)
        samples: dict[str, list[list[int]]] = {m: [[], []] for m in MEASURES}
        for measure in MEASURES:
            apps.batch(measure, WARM_UP)
        for round_number in range(rounds):
            order = list(MEASURES)
            shift = round_number % len(order)
            for measure in order[shift:] + order[:shift]:
                timings = apps.batch(measure, requests)
                if measure == "bare-get":
                    # /bare and /read of the app without sessions, alternating.
                    timings = [timings[0], apps.batch("bare-base", requests)[0]]
                for i, series in enumerate(timings):
                    samples[measure][i].extend(series)
    finally:
        cleanup(prefix)
    return {m: (statistics.median(s[0]) / 1000, statistics.median(s[1]) / 1000) for m, s in samples.items()}


def worker(measure: str, which: int, requests: int) -> None:
    """Under callgrind: build, warm up, then count ``requests`` requests to one app."""
    prefix = f"sessionary-async-floor:{uuid.uuid4().hex[:8]}:"
    try:
        apps = Apps(prefix)
        if measure == "bare-get" and which == 1:
            measure, which = "bare-base", 0
        driver, pair = apps.pairs(measure)
        pair = Pair(pair.path, pair.cookie, [pair.apps[which]])
        driver.batch(pair, WARM_UP)
        functools.reduce(lambda _, __: driver.batch(pair, requests), range(1), None)
    finally:
        cleanup(prefix)


def instructions(measure: str, which: int, requests: int) -> float:
    with tempfile.TemporaryDirectory(prefix="sessionary-async-floor-") as tmpdir:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmpdir}/callgrind.out",
            "--toggle-collect=functools_reduce",
            sys.executable,
            __file__,
            "--worker",
            measure,
            str(which),
            str(requests),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{measure}: worker failed\n{result.stderr[-2000:]}")
    return int(found.group(1)) / requests


def server_floor(rounds: int = 3, n: int = 2000) -> None:
    """Round trip and pipelined time of the LOAD script against a GET (see the docstring)."""
    import secrets
    import socket

    from sessionary.stores import open_store
    from sessionary.stores.base import Meta, Record
    from sessionary.stores.redis import scripts as lua
    from sessionary.stores.redis.wire import pack

    prefix = f"sessionary-async-floor:{uuid.uuid4().hex[:8]}:"
    store = open_store(f"{REDIS_URL}?prefix={prefix}")
    now = time.time()
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + 3600)
    record = Record(secrets.token_bytes(32), dict(SESSION_DATA), meta, now + COOKIE_AGE)
    assert store.sync.create(record, now)
    host, port = store.sync._redis().connection_pool.connection_kwargs["host"], 6379
    sock = socket.create_connection((host, port))
    replies = sock.makefile("rb")

    def read() -> None:
        line = replies.readline()
        if line[:1] == b"$" and int(line[1:]) >= 0:
            replies.read(int(line[1:]) + 2)
        elif line[:1] == b"*":
            for _ in range(int(line[1:])):
                read()
        elif line[:1] == b"-":
            raise RuntimeError(line)

    sock.sendall(pack("SET", f"{prefix}bare", json.dumps(SESSION_DATA), "EX", 3600))
    read()
    key = lua.session_key(prefix, record.key.hex())
    commands = {
        "GET": pack("GET", f"{prefix}bare"),
        "EVALSHA LOAD": pack("EVALSHA", lua.LOAD.sha, 1, key, prefix, "1", lua.number(now), ""),
    }
    print("Redis server, bare socket (µs): one at a time (median round trip) / pipelined (per command)")
    try:
        for _ in range(rounds):
            for name, packed in commands.items():
                trips = []
                for _ in range(n):
                    started = time.perf_counter_ns()
                    sock.sendall(packed)
                    read()
                    trips.append(time.perf_counter_ns() - started)
                started = time.perf_counter_ns()
                sock.sendall(packed * n)
                for _ in range(n):
                    read()
                pipelined = (time.perf_counter_ns() - started) / n / 1000
                print(f"  {name:14} {statistics.median(trips) / 1000:7.1f} / {pipelined:6.2f}")
    finally:
        sock.close()
        store.close()
        cleanup(prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--instructions", action="store_true", help="count instructions too")
    parser.add_argument("--measures", default=",".join(MEASURES), help="which measures to count")
    parser.add_argument("--no-wall", action="store_true", help="count instructions only")
    parser.add_argument("--server", action="store_true", help="time the read script against a GET")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    if args.server:
        server_floor()
    if not args.no_wall:
        medians = wall(args.rounds, args.requests)
        print(f"wall time, median of {args.rounds} x {args.requests} interleaved requests (µs):")
        for measure, (contender, baseline) in medians.items():
            print(f"  {measure:16} {contender:8.1f} - baseline {baseline:8.1f} = {contender - baseline:7.1f}")
        read = medians["read"][0] - medians["read"][1]
        floor = medians["bare-get"][0] - medians["bare-get"][1]
        print(f"  read / bare GET: {read / floor:.2f}")
    if args.instructions:
        print("instructions per request (callgrind, client process):")
        counted: dict[str, float] = {}
        for measure in args.measures.split(","):
            contender, baseline = (instructions(measure, which, 100) for which in (0, 1))
            counted[measure] = contender - baseline
            print(
                f"  {measure:16} {contender:10,.0f} - baseline {baseline:10,.0f} = {contender - baseline:9,.0f}"
            )
        if "read" in counted and "bare-get" in counted:
            print(f"  read / bare GET: {counted['read'] / counted['bare-get']:.2f}")


if __name__ == "__main__":
    main()
