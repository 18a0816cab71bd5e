"""Redis servers owned by a test: a single server (to count its commands, to kill it) and
a three-primary Redis Cluster, each on free loopback ports in its own temp directory.

Tests may stop and kill these, never the shared server on 6379.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from support.services import free_port, require_executable

STARTUP_SECONDS = 20.0


def _die_with_parent() -> None:
    """Linux: the server is sent SIGTERM if the test process dies without stopping it
    (killed, timed out), so no test-owned server outlives its tests."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` with its data in ``directory``."""

    def __init__(self, directory: Path, *, port: int | None = None, options: tuple[str, ...] = ()) -> None:
        self.executable = require_executable("redis-server")
        self.directory = directory
        self.port = port or free_port()
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited: {self.log_tail()}")
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to clients (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def redis_server(*options: str) -> Iterator[RedisServer]:
    """A running test-owned server, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="sessionary-redis-"))
    server = RedisServer(directory, options=options)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            with contextlib.suppress(OSError), socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 10000))
                return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """Three primaries (no replicas) created with ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        require_executable("redis-server")
        self.cli = require_executable("redis-cli")
        self.directory = Path(tempfile.mkdtemp(prefix="sessionary-cluster-"))
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, decode_responses=True)

    def start(self) -> RedisCluster:
        try:
            for index in range(3):
                port = _cluster_port()
                node = RedisServer(
                    self.directory / f"node{index}",
                    port=port,
                    options=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", f"nodes-{port}.conf",
                        "--cluster-node-timeout", "5000",
                    ),
                )  # fmt: skip
                self.nodes.append(node.start())
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            created = subprocess.run(
                [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
            self._wait_until_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ok(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            states = [node.client().execute_command("CLUSTER INFO") for node in self.nodes]
            if all(state.get("cluster_state") == "ok" for state in states):
                return
            time.sleep(0.1)
        raise RuntimeError("the test Redis Cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


_session_cluster: RedisCluster | Exception | None = None


def session_cluster() -> RedisCluster:
    """The test session's cluster: started on first use, stopped when the tests end
    (a cluster that failed to start is not retried by every test)."""
    global _session_cluster
    if _session_cluster is None:
        try:
            cluster = RedisCluster().start()
        except Exception as exc:
            _session_cluster = exc
            raise
        atexit.register(cluster.stop)
        _session_cluster = cluster
    if isinstance(_session_cluster, Exception):
        raise RuntimeError(f"the test Redis Cluster failed to start: {_session_cluster}")
    return _session_cluster


_CHANNEL_OWN = {"HELLO", "CLIENT", "PING", "SUBSCRIBE"}
"""What a near-cache channel sends for itself (left out of a CommandLog)."""


def _channel_own(command: str, on_channel: bool) -> bool:
    """Whether ``command`` is one a near-cache channel sends for itself: its handshake
    (``HELLO``: the store's pools speak RESP2, so it is the channel's even before the
    channel has named itself) and, once known, its ``CLIENT`` and ``PING`` commands."""
    name = command.split(" ", 1)[0].upper()
    return name == "HELLO" or (on_channel and name in _CHANNEL_OWN)


def _named(command: str, on_channel: bool) -> str:
    """A command's name; ``RELOAD`` for the LOAD script a near-cache channel runs to read
    again a record this process wrote (off every request's path)."""
    from sessionary.stores.redis.scripts import LOAD

    name, _, argument = command.partition(" ")
    if on_channel and name.upper() == "EVALSHA" and argument.lower() == LOAD.sha:
        return "RELOAD"
    return name.upper()


class CommandLog:
    """What clients send to some test-owned servers, as seen by the servers (MONITOR).

    Commands that scripts run on the server are left out: one EVALSHA is one round
    trip however much it does. So is what a near-cache's invalidation channel (a
    connection of its own, named ``…-invalidations``, that asks for ``CLIENT TRACKING``)
    sends for itself, its handshake and heartbeats: no request waits on them; the saves
    it carries for requests are counted, and its reads of what this process wrote are
    named ``RELOAD``. ``between_marks`` returns what arrived since the last mark.
    """

    def __init__(self, *ports: int) -> None:
        self.ports = ports
        self._seen: list[tuple[int, str, str]] = []
        self._listeners: set[tuple[int, str]] = set()
        self._condition = threading.Condition()
        self._monitors: list[tuple[redis.Redis, Any]] = []
        self._threads: list[threading.Thread] = []
        self._marks = 0

    def __enter__(self) -> CommandLog:
        self._marker_clients = [redis.Redis(port=port) for port in self.ports]
        for port, marker_client in zip(self.ports, self._marker_clients, strict=True):
            for client in marker_client.client_list():  # channels already listening
                if str(client.get("name", "")).endswith("-invalidations"):
                    self._listeners.add((port, str(client["addr"])))
        for port in self.ports:
            client = redis.Redis(port=port, socket_timeout=None)
            monitor = client.monitor().__enter__()
            self._monitors.append((client, monitor))
            thread = threading.Thread(target=self._read, args=(port, monitor), daemon=True)
            thread.start()
            self._threads.append(thread)
        self.mark()
        return self

    def __exit__(self, *exc: object) -> None:
        for client, monitor in self._monitors:
            with contextlib.suppress(Exception):
                monitor.connection.disconnect()
            client.close()
        for marker_client in self._marker_clients:
            marker_client.close()
        for thread in self._threads:
            thread.join(5)

    def _read(self, port: int, monitor: Any) -> None:
        # Lines look like: 1700000000.123456 [0 127.0.0.1:52000] "EVALSHA" "ab12…" "1" …
        # (the client is "lua" for a command a script runs).
        while True:
            try:
                line = monitor.connection.read_response()
            except Exception:
                return
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            client, _, command = text.partition("] ")
            if client.endswith(" lua"):
                continue
            name = command.split(" ", 1)[0].strip('"')
            argument = command.split(" ", 2)[1].strip('"') if command.count(" ") else ""
            address = client.rsplit(" ", 1)[-1]
            with self._condition:
                if "-invalidations" in command or (name.upper(), argument.upper()) in (
                    ("CLIENT", "TRACKING"),
                    ("SUBSCRIBE", "__REDIS__:INVALIDATE"),
                ):
                    self._listeners.add((port, address))
                self._seen.append((port, address, f"{name} {argument}"))
                self._condition.notify_all()

    def _cut(self) -> list[str]:
        """Send a marker to every server, wait until MONITOR shows it, and return the
        commands seen before it (since the previous cut)."""
        self._marks += 1
        marker = f"sessionary-mark-{self._marks}"
        for marker_client in self._marker_clients:
            marker_client.echo(marker)
        with self._condition:
            if not self._condition.wait_for(
                lambda: sum(1 for _, _, command in self._seen if marker in command) == len(self.ports),
                timeout=10,
            ):
                raise RuntimeError("MONITOR did not show the marker")
            commands = [
                _named(command, (port, address) in self._listeners)
                for port, address, command in self._seen
                if "sessionary-mark-" not in command
                and not _channel_own(command, (port, address) in self._listeners)
            ]
            self._seen.clear()
        return commands

    def mark(self) -> None:
        """Forget what was sent so far."""
        self._cut()

    def between_marks(self) -> list[str]:
        """The names of the commands sent since the last mark (and set a new mark)."""
        return self._cut()
