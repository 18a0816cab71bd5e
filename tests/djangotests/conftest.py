"""Fixtures for the Django integration's tests: the database, the engines compared, a clock.

``engine`` runs a test once with Django's own ``db`` backend and once per sessionary
store URL. SQLite and memory always run; Redis and PostgreSQL join as soon as their store
modules exist (each with its own key prefix or table, removed afterwards) and then need
their servers (failing in CI when absent).
"""

from __future__ import annotations

import contextlib
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from services import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_URL,
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    require_port,
)
from sessionary.django import conf

DB_ENGINE = "django.contrib.sessions.backends.db"
OURS = "sessionary.django"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


STORES = ["sqlite", "memory"]
if _has("sessionary.stores.redis"):
    STORES.append("redis")
if _has("sessionary.stores.postgres"):
    STORES.append("postgres")


@pytest.fixture(scope="session", autouse=True)
def django_database() -> None:
    """Django's tables (users, django_session) in the run's temporary database."""
    call_command("migrate", verbosity=0, interactive=False)


class DjangoClock:
    """Django's ``timezone.now()``, held still and moved by the test.

    Both Django's ``db`` backend and ``sessionary.django`` read the time through it, so a
    sequence of requests sees the same instants on every engine. It starts at the real
    time (whole seconds), so stores that also keep real TTLs agree.
    """

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.current = self.start

    def now(self) -> datetime:
        if settings.USE_TZ:
            return self.current
        return self.current.astimezone().replace(tzinfo=None)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.current = self.start


@pytest.fixture
def djclock(monkeypatch: pytest.MonkeyPatch) -> DjangoClock:
    clock = DjangoClock()
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


def _store_url(name: str, tmp_path: Path, unique: str) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_path / f'{unique}.db'}"
    if name == "memory":
        return "memory://"
    if name == "redis":
        require_port("Redis", REDIS_HOST, REDIS_PORT)
        return f"{REDIS_URL}?prefix={unique}:"
    require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return f"{POSTGRES_URL}?table={unique}"


def _prepare(name: str) -> None:
    """What ``sessionary migrate`` does, for stores with a schema."""
    if name == "postgres":
        manager = conf.get_manager()
        migrate = getattr(manager.store.sync, "migrate", None)
        if migrate is not None:
            migrate()


def _cleanup(name: str, unique: str) -> None:
    """Remove this test's Redis keys or PostgreSQL tables (only ours: the names are unique)."""
    if name == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for found in client.scan_iter(match=f"*{unique}*", count=500):
            client.delete(found)
        client.close()
    elif name == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{unique}%",)
            ).fetchall()
            for (table,) in tables:
                connection.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


class Engines:
    """Turns a test's settings on for one engine: Django's db backend, or ours on a store."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.cleanups: list[tuple[str, str]] = []

    def settings(self, name: str) -> dict[str, Any]:
        if name == "db":
            return {"SESSION_ENGINE": DB_ENGINE}
        unique = f"sessionary_django_{uuid.uuid4().hex[:12]}"
        url = _store_url(name, self.tmp_path, unique)  # skips when the store's server is absent
        self.cleanups.append((name, unique))  # only then is there anything to remove
        return {"SESSION_ENGINE": OURS, "SESSIONARY_STORE": url}

    @contextlib.contextmanager
    def activate(self, name: str, **extra: Any) -> Iterator[None]:
        """The engine's settings (entering them builds a fresh sessionary manager)."""
        with override_settings(**self.settings(name), **extra):
            _prepare(name)
            yield

    def close(self) -> None:
        conf.reset()
        for name, unique in self.cleanups:
            _cleanup(name, unique)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    made = Engines(tmp_path)
    yield made
    made.close()


@pytest.fixture(params=STORES)
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def ours(engines: Engines, store_name: str) -> Iterator[None]:
    """sessionary.django on one store, for tests that need no comparison."""
    with engines.activate(store_name):
        yield


def make_user(username: str | None = None, password: str = "secret-password") -> Any:
    username = username or f"user-{uuid.uuid4().hex[:10]}"
    return get_user_model().objects.create_user(username=username, password=password)
