"""The Redis stores under the conformance suite: the shared server, and a test-owned cluster.

Each test gets its own key prefix and deletes its keys afterwards (never FLUSHDB: the
shared server is shared).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis

from sessionary.stores import Store, open_store
from support.redis_servers import session_cluster
from support.services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_module, require_port

from .stores import dumper, factory


def unique_prefix() -> str:
    return f"sessionary-test:{uuid.uuid4().hex[:12]}:"


def delete_prefix(client: redis.Redis | redis.RedisCluster, prefix: str) -> None:
    if isinstance(client, redis.RedisCluster):
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for name in names:
            client.delete(name)
    else:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)


def dump_prefix(client: redis.Redis | redis.RedisCluster, prefix: str) -> bytes:
    """Every key under the prefix and everything in it, as raw bytes."""
    parts: list[bytes] = []
    for name in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = client.type(name)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hash":
            value: object = client.hgetall(name)
        elif kind == "zset":
            value = client.zrange(name, 0, -1, withscores=True)
        else:
            value = client.get(name)
        parts.append(repr((name, value)).encode())
    return b"\n".join(parts)


@factory("redis", native_ttl=True)
@contextlib.contextmanager
def redis_store(tmp_path: Path) -> Iterator[Store]:
    require_module("redis")
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = unique_prefix()
    store = open_store(f"{REDIS_URL}?prefix={prefix}")
    wait_until_listening(store)  # the near-cache serves from the first read on
    try:
        yield store
    finally:
        store.close()
        client = redis.Redis.from_url(REDIS_URL)
        delete_prefix(client, prefix)
        client.close()


def wait_until_listening(store: Store) -> None:
    """Until the store's near-cache channel is subscribed (it starts on the first read)."""
    tracker = store.sync.tracker  # type: ignore[attr-defined]
    tracker.cache_for_reads()
    deadline = time.monotonic() + 10
    while not tracker.cache.usable():
        if time.monotonic() > deadline:
            raise RuntimeError("the near-cache's invalidation channel did not come up")
        time.sleep(0.002)


@factory("redis-cluster", native_ttl=True)
@contextlib.contextmanager
def redis_cluster_store(tmp_path: Path) -> Iterator[Store]:
    require_module("redis")
    cluster = session_cluster()
    prefix = unique_prefix()
    store = open_store(f"{cluster.url}?prefix={prefix}")
    try:
        yield store
    finally:
        store.close()
        client = cluster.client()
        delete_prefix(client, prefix)
        client.close()


@dumper("redis")
def dump_redis(store: Store) -> bytes:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return dump_prefix(client, store.sync.prefix)  # type: ignore[attr-defined]
    finally:
        client.close()


@dumper("redis-cluster")
def dump_redis_cluster(store: Store) -> bytes:
    client = session_cluster().client()
    try:
        return dump_prefix(client, store.sync.prefix)  # type: ignore[attr-defined]
    finally:
        client.close()


@factory("redis-declared-keys", native_ttl=True)
@contextlib.contextmanager
def redis_declared_keys_store(tmp_path: Path) -> Iterator[Store]:
    """One server in the mode for services that require scripts to declare their keys."""
    require_module("redis")
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = unique_prefix()
    store = open_store(f"{REDIS_URL}?prefix={prefix}&declared_keys=true")
    try:
        yield store
    finally:
        store.close()
        client = redis.Redis.from_url(REDIS_URL)
        delete_prefix(client, prefix)
        client.close()


dumper("redis-declared-keys")(dump_redis)
