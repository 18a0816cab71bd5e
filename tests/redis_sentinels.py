"""A Redis Sentinel deployment owned by a test: a master, its replicas and three
sentinels, each a real ``redis-server`` (``--sentinel`` for the sentinels) on free
loopback ports in its own temp directory. Tests may kill any of them."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis_servers import STARTUP_SECONDS, RedisServer, _die_with_parent

from services import free_port, require_executable

SERVICE = "mymaster"
DOWN_AFTER_MS = 1000
"""How long the sentinels wait before they call the master down: the floor of a failover."""


class Sentinel:
    def __init__(self, directory: Path, master_port: int) -> None:
        self.executable = require_executable("redis-server")
        self.directory = directory
        self.port = free_port()
        self.master_port = master_port
        self.process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def start(self) -> Sentinel:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "sentinel.conf"  # the sentinel rewrites it: its own copy
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        log = (self.directory / "sentinel.log").open("ab")
        self.process = subprocess.Popen(
            [self.executable, str(config), "--sentinel"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if self.client().ping():
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sentinel on {self.port} did not start: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
        log = self.directory / "sentinel.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


class SentinelDeployment:
    def __init__(self, root: Path, replicas: int) -> None:
        self.root = root
        self.master = RedisServer(root / "server-0")
        self.servers = [self.master]
        for number in range(1, replicas + 1):
            self.servers.append(
                RedisServer(
                    root / f"server-{number}",
                    options=("--replicaof", "127.0.0.1", str(self.master.port)),
                )
            )
        self.sentinels = [Sentinel(root / f"sentinel-{n}", self.master.port) for n in range(3)]

    def url(self, scheme: str = "redis+sentinel", query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"{scheme}://{hosts}/{SERVICE}/0" + (f"?{query}" if query else "")

    def start(self) -> SentinelDeployment:
        for server in self.servers:
            server.start()
        self.wait_for_replicas(self.master, len(self.servers) - 1)
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_until(lambda: self._sentinels_agree(self.master.port, len(self.servers) - 1))
        return self

    def master_port(self) -> int:
        _, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def server_on(self, port: int) -> RedisServer:
        return next(server for server in self.servers if server.port == port)

    def wait_for_replicas(self, master: RedisServer, count: int) -> None:
        def ready() -> bool:
            info = master.client().info("replication")
            online = [info.get(f"slave{n}", {}) for n in range(info.get("connected_slaves", 0))]
            return sum(1 for slave in online if slave.get("state") == "online") >= count

        self.wait_until(ready)

    def _sentinels_agree(self, port: int, replicas: int) -> bool:
        for sentinel in self.sentinels:
            try:
                client = sentinel.client()
                _, master_port = client.sentinel_get_master_addr_by_name(SERVICE)
                known = client.sentinel_master(SERVICE)
                if int(master_port) != port or int(known.get("num-slaves", 0)) < replicas:
                    return False
                if int(known.get("num-other-sentinels", 0)) < len(self.sentinels) - 1:
                    return False
            except redis.exceptions.RedisError:
                return False
        return True

    def wait_until(self, condition: object, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                logs = "\n".join(s.log_tail()[-600:] for s in self.sentinels)
                raise RuntimeError(f"the sentinel deployment did not settle:\n{logs}")
            time.sleep(0.1)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()


@contextlib.contextmanager
def sentinel_deployment(replicas: int = 2) -> Iterator[SentinelDeployment]:
    root = Path(tempfile.mkdtemp(prefix="sessionary-sentinel-"))
    deployment = SentinelDeployment(root, replicas)
    try:
        yield deployment.start()
    finally:
        deployment.stop()
        shutil.rmtree(root, ignore_errors=True)
