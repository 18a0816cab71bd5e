"""Fixtures for the framework integrations: a fresh store URL per test, for every store
this tree has.

SQLite always runs. Redis and PostgreSQL join when their store modules are present
(``sessionary.stores.redis`` / ``sessionary.stores.postgres``); they then need their
server (skipped with the reason, or failing in CI, when it is absent). Each test keeps
to its own data: a unique Redis key prefix, and unique user ids everywhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionary.stores import open_store
from support.services import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_URL,
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    require_port,
)
from support.spies import Faces


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


if _has_module("sanic"):
    from sanic import Sanic

    Sanic.test_mode = True  # apps of one name are built once per test, not once per process

STORE_KINDS = ["sqlite"]
if _has_module("sessionary.stores.redis"):
    STORE_KINDS.append("redis")
if _has_module("sessionary.stores.postgres"):
    STORE_KINDS.append("postgres")


def store_url_for(kind: str, tmp_path: Path) -> str:
    """A store URL that no other test (or engineer) shares."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.db"
    if kind == "redis":
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        return f"{REDIS_URL}?prefix=sessionary-test-fw-{secrets.token_hex(6)}:"
    if kind == "postgres":
        require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}table=sessionary_fw_{secrets.token_hex(6)}"
    raise AssertionError(kind)


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = store_url_for(request.param, tmp_path)
    if request.param == "postgres":
        _migrate(url)  # the PostgreSQL store never creates its tables by itself
    yield url
    if request.param == "redis":
        _drop_redis_prefix(url)
    if request.param == "postgres":
        _drop_postgres_tables(url)


def _migrate(url: str) -> None:
    store = open_store(url)
    try:
        store.sync.migrate()  # type: ignore[attr-defined]
    finally:
        store.close()


def _drop_postgres_tables(url: str) -> None:
    """Drop this test's own tables (``<table>_sessions`` and ``<table>_users``)."""
    import psycopg

    prefix = url.rsplit("table=", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {prefix}_sessions, {prefix}_users")


def _drop_redis_prefix(url: str) -> None:
    """Delete the keys this test wrote (only its own prefix; never a flush)."""
    import redis

    prefix = url.split("prefix=", 1)[1]
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def user_id() -> str:
    """A user id no other test uses, so per-user session lists stay this test's own."""
    return f"user-{secrets.token_hex(6)}"


@pytest.fixture
def exit_stack() -> Iterator[contextlib.ExitStack]:
    """Test clients entered here are left (their app's lifespan shut down) after the test."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def faces(store_url: str) -> Iterator[Faces]:
    """The store at ``store_url``, each face noting the calls it gets."""
    store = open_store(store_url)
    yield Faces(store)
    store.close()
