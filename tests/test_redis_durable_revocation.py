"""Durable revocation: with ``wait_replicas=N`` a deletion or revocation returns only once N
replicas have it (``WAIT``), so a failover right after it cannot bring the session back.

Real processes: a master and a replica started by the test (the replication link cut on
purpose), and a Sentinel deployment whose master is killed right after a revocation.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sessionary import SessionManager
from sessionary.auth import login, logout
from sessionary.errors import ConfigError, StoreUnavailable
from sessionary.stores import open_store
from sessionary.tokens import store_key
from support.redis_sentinels import sentinel_deployment
from support.redis_servers import RedisServer


@contextlib.contextmanager
def master_and_replica() -> Iterator[tuple[RedisServer, RedisServer]]:
    root = Path(tempfile.mkdtemp(prefix="sessionary-wait-"))
    master = RedisServer(root / "master").start()
    replica = RedisServer(root / "replica", options=("--replicaof", "127.0.0.1", str(master.port)))
    try:
        replica.start()
        wait_until(lambda: link(replica) == "up")
        yield master, replica
    finally:
        replica.stop()
        master.stop()
        shutil.rmtree(root, ignore_errors=True)


def link(replica: RedisServer) -> str:
    return str(replica.client().info("replication").get("master_link_status"))


def wait_until(condition: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def signed_in(manager: SessionManager, user: str) -> str:
    session = manager.open(None)
    session["who"] = user
    login(session, user)
    manager.close_session(session, 200)
    assert session.session_key is not None
    return session.session_key


def alive(manager: SessionManager, token: str) -> bool:
    return bool(dict(manager.open(f"__Host-sessionid={token}").items()))


def session_hash(token: str, prefix: str) -> str:
    return f"{prefix}s:{{{store_key(token).hex()}}}"


def test_the_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="wait_replicas=-1 must be between 0 and 100"):
        open_store("redis://localhost/0?wait_replicas=-1")
    with pytest.raises(ConfigError, match=r"wait_timeout=5000 ms must be shorter than socket_timeout=2\.0 s"):
        open_store("redis://localhost/0?wait_replicas=1&wait_timeout=5000")
    with pytest.raises(ConfigError, match="not supported on Redis Cluster"):
        open_store("redis+cluster://h:7000?wait_replicas=1")


def test_a_revocation_the_replica_lacks_is_an_error_and_without_wait_it_is_not() -> None:
    with master_and_replica() as (master, replica):
        durable = SessionManager(
            f"{master.url}?prefix=durable:&wait_replicas=1&wait_timeout=300", cleanup_interval=None
        )
        plain = SessionManager(f"{master.url}?prefix=plain:", cleanup_interval=None)
        try:
            # Replicated: the revocation returns, and the replica has it.
            alice = signed_in(durable, "alice")
            assert durable.revoke_all("alice") == 1
            assert replica.client().exists(session_hash(alice, "durable:")) == 0
            assert replica.client().exists("durable:u:{alice}:v") == 1

            # Sessions stored while the replica follows, then the replica cut off: it
            # cannot resynchronise while its masterauth is wrong.
            bob, carol = signed_in(durable, "bob"), signed_in(plain, "carol")
            erin = signed_in(durable, "erin")
            wait_until(lambda: replica.client().exists(session_hash(carol, "plain:")) == 1)
            wait_until(lambda: replica.client().exists(session_hash(erin, "durable:")) == 1)
            replica.client().config_set("masterauth", "not-the-password")
            master.client().client_kill_filter(_type="replica")
            wait_until(lambda: link(replica) == "down")

            with pytest.raises(StoreUnavailable, match="only 0 of 1 replicas acknowledged"):
                durable.revoke_all("bob")
            assert not alive(durable, bob), "applied on the master, and the app was told"
            session = durable.open(f"__Host-sessionid={erin}")
            with pytest.raises(StoreUnavailable, match="only 0 of 1 replicas"):
                logout(session)  # the deletion is done at once, and its WAIT with it
            assert not alive(durable, erin)

            # Without the option the same revocation is acknowledged at once; the replica,
            # which a failover would promote, still holds the session.
            assert plain.revoke_all("carol") == 1
            assert not alive(plain, carol)
            assert replica.client().exists(session_hash(carol, "plain:")) == 1
            assert replica.client().exists("plain:u:{carol}:v") == 0
        finally:
            durable.close()
            plain.close()


@pytest.mark.slow
def test_revoked_sessions_stay_dead_when_the_master_fails_right_after() -> None:
    with sentinel_deployment(replicas=2) as deployment:
        manager = SessionManager(
            deployment.url(query="wait_replicas=2&wait_timeout=1000&socket_timeout=2"), cleanup_interval=None
        )
        try:
            revoked = [signed_in(manager, "alice") for _ in range(3)]
            kept = signed_in(manager, "dave")
            logged_out = signed_in(manager, "erin")
            assert manager.revoke_all("alice") == 3
            session = manager.open(f"__Host-sessionid={logged_out}")
            logout(session)
            manager.close_session(session, 200)
            old = deployment.master_port()
            deployment.server_on(old).kill()  # at once: no time for anything to catch up
            deployment.wait_until(lambda: deployment.master_port() != old)
            wait_until(lambda: _answers(manager, kept), seconds=30)
            assert [alive(manager, token) for token in revoked] == [False, False, False]
            assert not alive(manager, logged_out)
            new_master = deployment.server_on(deployment.master_port()).client()
            assert new_master.exists("sessionary:u:{alice}:v") == 1
        finally:
            manager.close()


def _answers(manager: SessionManager, token: str) -> bool:
    try:
        return alive(manager, token)
    except (StoreUnavailable, redis.RedisError):
        return False
