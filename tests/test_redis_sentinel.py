"""Redis behind Sentinel: the URL, and failovers followed without a restart.

The deployment is real (tests/support/redis_sentinels.py): a master, two replicas and three
sentinels, each a ``redis-server`` process on loopback. The master is killed (SIGKILL)
in the middle of a load, or handed over with ``SENTINEL FAILOVER``; the same manager,
never restarted, must carry on against the new master and lose no acknowledged session.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from sessionary import SessionManager
from sessionary.errors import ConfigError, SessionaryError
from sessionary.stores import open_store
from sessionary.stores.redis.sentinel import parse_sentinel_url
from support.redis_sentinels import DOWN_AFTER_MS, SentinelDeployment, sentinel_deployment

# --- the URL ------------------------------------------------------------------------------


def test_the_url_names_sentinels_service_and_database() -> None:
    options = parse_sentinel_url(
        "redis+sentinel://app:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/mymaster/3"
        "?prefix=web:&socket_timeout=0.5&sentinel_password=sp&retries=2"
    )
    assert options.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert options.service_name == "mymaster"
    assert (options.prefix, options.retries) == ("web:", 2)
    kwargs = options.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == (
        3,
        "app",
        "s3cret",
        0.5,
    )
    assert "ssl" not in kwargs
    assert options.sentinel_kwargs == {"password": "sp", "socket_timeout": 0.5, "socket_connect_timeout": 2.0}
    assert "s3cret" not in options.name and "sp&" not in options.name and "=sp" not in options.name


def test_the_tls_form_speaks_tls_to_servers_and_sentinels() -> None:
    options = parse_sentinel_url("rediss+sentinel://h1:26379,h2:26379/cache?ssl_cert_reqs=required")
    assert options.connection_kwargs["ssl"] is True
    assert options.connection_kwargs["db"] == 0
    assert options.sentinel_kwargs["ssl"] is True
    assert options.sentinel_kwargs["ssl_cert_reqs"] == "required"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h:26379", "name the service"),
        ("redis+sentinel://h:26379/a/1/2", "name the service"),
        ("redis+sentinel://h:26379/mymaster/x", "database 'x' must be a number"),
        ("redis+sentinel://h:port/mymaster", "is not host:port"),
        ("redis+sentinel://h:26379/mymaster?colour=blue", "unknown option 'colour'"),
        ("redis+sentinel://h:26379/mymaster?retries=99", "retries=99 must be between 0 and 10"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        open_store(url)
    assert "redis+sentinel://h" in str(raised.value)


# --- failover -----------------------------------------------------------------------------

REPLICATION_WINDOW = 0.05
"""Seconds before the kill within which an acknowledged write may be lost (the master had
not streamed it to the replica yet); on loopback the lag is far below this."""


@dataclass
class Load:
    """Threads creating sessions and incrementing their counters, and what they saw."""

    manager: SessionManager
    threads: int = 4
    acknowledged: dict[str, int] = field(default_factory=dict)
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    killed_at: float = 0.0
    uncertain: dict[str, set[int]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)
    operations: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[str] = []
        while not self.stop.is_set():
            token = rng.choice(mine) if mine and rng.random() < 0.6 else None
            value = 0 if token is None else self.acknowledged[token] + 1
            try:
                session = self.manager.open(None if token is None else f"__Host-sessionid={token}")
                if token is not None and session.get("n") != value - 1:
                    mine.remove(token)  # lost in the failover: lost() reports it at the end
                    continue
                session["n"] = value
                self.manager.close_session(session, 200)
            except SessionaryError as exc:
                with self.lock:
                    self.errors[type(exc).__name__] += 1
                    self.error_times.append(time.monotonic())
                    if token is not None:
                        self.uncertain.setdefault(token, set()).add(value)
                time.sleep(0.01)  # a client's retry, not a tight loop
                continue
            with self.lock:
                self.operations += 1
                if token is None:
                    assert session.session_key is not None
                    token = session.session_key
                    mine.append(token)
                self.acknowledged[token] = value
                self.acknowledged_at[token] = time.monotonic()

    def run(self, during: Any, *, before: float = 2.0, after: float = 3.0) -> dict[str, Any]:
        workers = [threading.Thread(target=self.worker, args=(n,)) for n in range(self.threads)]
        for thread in workers:
            thread.start()
        try:
            time.sleep(before)
            started = self.killed_at = time.monotonic()
            during()
            # Until the errors have stopped for `after` seconds (or 30 s in all).
            while time.monotonic() < started + 30:
                time.sleep(0.2)
                with self.lock:
                    last = max(self.error_times, default=started)
                if time.monotonic() - max(last, started) > after:
                    break
        finally:
            self.stop.set()
            for thread in workers:
                thread.join(30)
        return {
            "outage_seconds": round(max(self.error_times, default=started) - started, 2),
            "errors": dict(self.errors),
            "operations": self.operations,
        }

    def lost(self) -> tuple[list[str], list[str]]:
        """Sessions gone, and sessions whose acknowledged counter is not there."""
        sessions, writes = [], []
        for token, value in self.acknowledged.items():
            stored = dict(self.manager.open(f"__Host-sessionid={token}").items())
            if "n" not in stored:
                sessions.append(token)
            elif stored["n"] < value:
                writes.append(token)
        return sessions, writes


def kill_master(deployment: SentinelDeployment) -> int:
    old = deployment.master_port()
    deployment.server_on(old).kill()
    return old


@pytest.mark.slow
def test_killing_the_master_mid_load_is_followed_without_a_restart() -> None:
    with sentinel_deployment(replicas=2) as deployment:
        manager = SessionManager(deployment.url(query="socket_timeout=1"), cleanup_interval=None)
        try:
            load = Load(manager)
            old = -1

            def failover() -> None:
                nonlocal old
                old = kill_master(deployment)

            figures = load.run(failover)
            new = deployment.master_port()
            assert new != old, "the sentinels promoted a replica"
            sessions_lost, writes_lost = load.lost()
        finally:
            manager.close()
    # Replication is asynchronous: what the master acknowledged an instant before it died
    # may be missing on the replica promoted. Anything older is not allowed to go.
    ages = [load.killed_at - load.acknowledged_at[token] for token in sessions_lost + writes_lost]
    figures.update(
        sessions=len(load.acknowledged),
        acknowledged_writes=sum(load.acknowledged.values()),
        sessions_lost=len(sessions_lost),
        acknowledged_writes_lost=len(writes_lost),
        lost_acknowledged_ms_before_the_kill=[round(age * 1000, 1) for age in ages],
        down_after_ms=DOWN_AFTER_MS,
    )
    print("sentinel kill -9 figures:", json.dumps(figures))
    assert figures["errors"], "the kill was felt (else the test did not test a failover)"
    assert set(figures["errors"]) <= {"StoreUnavailable", "SessionInterrupted"}, figures
    assert load.operations > 100, figures
    assert all(age < REPLICATION_WINDOW for age in ages), figures


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_handed_over_master_is_followed_by_the_async_face() -> None:
    """SENTINEL FAILOVER demotes the old master, alive: its connections now answer
    READONLY, and the store moves to the new master on its own."""
    with sentinel_deployment(replicas=1) as deployment:
        manager = SessionManager(deployment.url(), cleanup_interval=None)
        try:
            tokens = []
            for number in range(20):
                session = manager.open(None)
                session["n"] = number
                await manager.aclose_session(session, 200)
                tokens.append(session.session_key)
            old = deployment.master_port()
            deployment.wait_for_replicas(deployment.server_on(old), 1)
            deployment.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", "mymaster")
            deployment.wait_until(lambda: deployment.master_port() != old)
            deployment.wait_until(lambda: deployment.server_on(old).client().info()["role"] == "slave")
            failures = 0
            for number, token in enumerate(tokens):
                for _ in range(50):
                    try:
                        session = manager.open(f"__Host-sessionid={token}")
                        assert await session.aget("n") == number
                        session["n"] = number + 100
                        await manager.aclose_session(session, 200)
                        break
                    except SessionaryError:
                        failures += 1
                        time.sleep(0.1)
                else:
                    raise AssertionError("the store never reached the new master")
            master = deployment.server_on(deployment.master_port()).client()
            assert master.info()["role"] == "master"
            assert len(master.keys("sessionary:s:*")) == 20
            for number, token in enumerate(tokens):
                session = manager.open(f"__Host-sessionid={token}")
                assert await session.aget("n") == number + 100
            assert failures <= 2, "one READONLY reply per kept connection at most, then the new master"
        finally:
            await manager.aclose()
