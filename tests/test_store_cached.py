"""The cached store: the races a cache invites, replayed step by step, and cache failures.

The conformance suite (tests/conformance) checks the store contract; here, the promise
that a cache adds: after a write or a delete returns, no read is served older data,
whatever a reader that missed the cache was doing meanwhile, and a failing cache slows
nothing down but its own use. The stores are real (memory and SQLite); the only test
device is a pause inserted into the real SQLite store's ``load``, to hold a reader
between its database read and its refill of the cache.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from sessionary import ConfigError, SessionManager, logout
from sessionary._async.backend import AsyncBackend
from sessionary._async.cached import AsyncCachedBackend, generation_key
from sessionary._sync.cached import CachedBackend
from sessionary.cli import main as cli
from sessionary.stores import open_store
from sessionary.stores.base import Change, Meta, Record, Rotation
from sessionary.stores.cached import cached
from sessionary.stores.inline import InlineAsync
from sessionary.stores.memory import MemoryBackend
from sessionary.stores.sqlite import SQLiteBackend
from sessionary.testing import FakeClock

pytestmark = pytest.mark.anyio

T = float(int(time.time()))
HOUR = 3600.0


def record(data: dict[str, object], *, user: str | None = None, at: float = T) -> Record:
    return Record(secrets.token_bytes(32), data, Meta(at, at, at, at + HOUR, user_id=user), at + HOUR)


def change(at: float = T, **values: object) -> Change:
    return Change(
        set={name: json.dumps(value) for name, value in values.items()},
        meta={"last_seen": at},
        expires_at=at + HOUR,
    )


class PausingAsync(InlineAsync):
    """The real SQLite store's async face, able to hold one ``load`` after it has read."""

    def __init__(self, backend: SQLiteBackend) -> None:
        super().__init__(backend)
        self.loads = 0
        self.hold_at: int | None = None
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    def hold_next_load(self) -> None:
        self.hold_at = self.loads + 1

    async def load(self, key: bytes, now: float) -> Record | None:
        found = await super().load(key, now)
        self.loads += 1
        if self.loads == self.hold_at:
            self.held.set()
            await self.release.wait()
        return found


class PausingSQLite(SQLiteBackend):
    """The real SQLite store, able to hold one ``load`` (in its thread) after it has read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hold_in: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()

    def load(self, key: bytes, now: float) -> Record | None:
        found = super().load(key, now)
        if threading.get_ident() == self.hold_in:
            self.hold_in = None
            self.held.set()
            assert self.release.wait(10)
        return found


def async_pair(tmp_path: Path) -> tuple[MemoryBackend, PausingAsync, AsyncCachedBackend]:
    cache = MemoryBackend()
    database = PausingAsync(SQLiteBackend(tmp_path / "sessions.db"))
    return cache, database, AsyncCachedBackend(InlineAsync(cache), database)


# --- the refill race, step by step -----------------------------------------------------------

Writer = Callable[[AsyncCachedBackend, Record], Awaitable[object]]


async def _write(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.write(stored.key, change(T + 1, v=2), T + 1)


async def _touch(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.touch(stored.key, T + 1, T + 2 * HOUR, T + 2 * HOUR, T + 1)


async def _delete(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.delete(stored.key)


async def _revoke_one(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.delete_user_session("alice", stored.key)


async def _revoke_all(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.revoke_user("alice", T + 1, None)


async def _rotate(store: AsyncCachedBackend, stored: Record) -> object:
    return await store.rotate(stored.key, record({"v": 1}, user="alice"), None, T + 1)


WRITERS: dict[str, tuple[Writer, Callable[[Record | None], bool]]] = {
    "write": (_write, lambda found: found is not None and found.data == {"v": 2}),
    "touch": (_touch, lambda found: found is not None and found.expires_at == T + 2 * HOUR),
    "delete": (_delete, lambda found: found is None),
    "revoke one session": (_revoke_one, lambda found: found is None),
    "revoke the user": (_revoke_all, lambda found: found is None),
    "rotate": (_rotate, lambda found: found is None),
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
async def test_a_stalled_refill_never_hides_a_write(tmp_path: Path, writer: str) -> None:
    """A reader misses, reads the database, and stalls; a writer changes the database and
    finishes; the reader resumes and puts what it read into the cache. Later reads must
    see the writer's change, not the reader's copy."""
    cache, database, store = async_pair(tmp_path)
    write, sees_the_change = WRITERS[writer]
    stored = record({"v": 1}, user="alice")
    assert await store.create(stored, T)

    database.hold_next_load()
    reader = asyncio.create_task(store.load(stored.key, T + 1))
    await database.held.wait()  # the reader has read {"v": 1} and stalls before refilling
    await write(store, stored)
    database.release.set()
    stale = await reader
    assert stale is not None and stale.data == {"v": 1} and stale.expires_at == T + HOUR

    # The race happened: the reader's old copy is what the cache now holds ...
    copy = cache.load(stored.key, T + 1)
    assert copy is not None and copy.data["d"] == {"v": 1} and copy.data["e"] == T + HOUR
    # ... and it is never served.
    assert sees_the_change(await store.load(stored.key, T + 1))
    assert sees_the_change(await store.load(stored.key, T + 2))


async def test_an_anonymous_session_too(tmp_path: Path) -> None:
    cache, database, store = async_pair(tmp_path)
    stored = record({"v": 1})
    assert await store.create(stored, T)
    database.hold_next_load()
    reader = asyncio.create_task(store.load(stored.key, T))
    await database.held.wait()
    assert await store.write(stored.key, change(T, v=2), T)
    database.release.set()
    await reader
    assert cache.load(stored.key, T).data["d"] == {"v": 1}  # type: ignore[union-attr]
    found = await store.load(stored.key, T)
    assert found is not None and found.data == {"v": 2}


async def test_a_write_through_a_renewal_alias_reaches_the_cached_session(tmp_path: Path) -> None:
    """A request still holding the old token writes through the alias into the new
    session, which a reader with the new token is caching at that moment."""
    cache, database, store = async_pair(tmp_path)
    old = record({"v": 1})
    assert await store.create(old, T)
    new = Record(secrets.token_bytes(32), {"v": 1}, Meta(T + 1, T + 1, T + 1, T + HOUR), T + HOUR)
    assert await store.rotate(old.key, new, T + 31, T + 1) is Rotation.ROTATED
    database.hold_next_load()
    reader = asyncio.create_task(store.load(new.key, T + 4))
    await database.held.wait()
    assert await store.write(old.key, change(T + 4, inflight=True), T + 4)  # through the alias
    database.release.set()
    stale = await reader
    assert stale is not None and stale.data == {"v": 1}
    assert cache.load(new.key, T + 4).data["d"] == {"v": 1}  # type: ignore[union-attr]
    found = await store.load(new.key, T + 5)
    assert found is not None and found.data == {"v": 1, "inflight": True}
    via_alias = await store.load(old.key, T + 5)
    assert via_alias is not None and via_alias.key == new.key and via_alias.data == found.data


async def test_writes_through_an_alias_after_the_new_session_was_cached(tmp_path: Path) -> None:
    _, _, store = async_pair(tmp_path)
    old = record({"cart": [1]})
    assert await store.create(old, T)
    new = Record(secrets.token_bytes(32), {"cart": [1]}, Meta(T, T, T, T + HOUR), T + HOUR)
    assert await store.rotate(old.key, new, T + 30, T) is Rotation.ROTATED
    for _ in range(2):
        assert (await store.load(new.key, T + 1)).data == {"cart": [1]}  # type: ignore[union-attr]
    assert await store.write(old.key, change(T + 2, cart=[1, 2]), T + 2)
    assert (await store.load(new.key, T + 3)).data == {"cart": [1, 2]}  # type: ignore[union-attr]


def test_the_sync_face_under_threads(tmp_path: Path) -> None:
    cache = MemoryBackend()
    database = PausingSQLite(tmp_path / "sessions.db")
    store = CachedBackend(cache, database)
    stored = record({"v": 1}, user="alice")
    assert store.create(stored, T)
    results: list[Record | None] = []

    def read() -> None:
        database.hold_in = threading.get_ident()
        results.append(store.load(stored.key, T))

    reader = threading.Thread(target=read)
    reader.start()
    assert database.held.wait(10)
    assert store.write(stored.key, change(T, v=2), T)
    database.release.set()
    reader.join(10)
    assert results[0] is not None and results[0].data == {"v": 1}
    assert cache.load(stored.key, T).data["d"] == {"v": 1}  # type: ignore[union-attr]
    found = store.load(stored.key, T)
    assert found is not None and found.data == {"v": 2}
    database.close()


def test_no_read_that_starts_after_a_write_returns_sees_older_data(tmp_path: Path) -> None:
    """Free-running threads: one writer counting up, readers checking that each read is at
    least as new as the last write that had returned before the read began."""
    database = SQLiteBackend(tmp_path / "sessions.db")
    store = CachedBackend(MemoryBackend(), database)
    stored = record({"n": 0}, user="alice")
    assert store.create(stored, T)
    returned = [0]
    stop = threading.Event()
    violations: list[str] = []
    reads = [0]

    def write() -> None:
        for n in range(1, 301):
            assert store.write(stored.key, change(T, n=n), T)
            returned[0] = n
            if n % 50 == 0:
                assert store.touch(stored.key, T, T + HOUR, T + HOUR + n, T)
        stop.set()

    def read() -> None:
        while not stop.is_set():
            floor = returned[0]
            found = store.load(stored.key, T)
            reads[0] += 1
            seen = -1 if found is None else found.data["n"]
            if seen < floor:
                violations.append(f"read {seen} after write {floor} had returned")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not violations, violations[:5]
    assert reads[0] > 300
    database.close()


async def test_hits_do_not_read_the_database(tmp_path: Path) -> None:
    _, database, store = async_pair(tmp_path)
    anonymous, signed_in = record({"a": 1}), record({"b": 2}, user="alice")
    for stored in (anonymous, signed_in):
        assert await store.create(stored, T)
        before = database.loads
        for _ in range(5):
            found = await store.load(stored.key, T + 1)
            assert found is not None and found.data == stored.data and found.meta == stored.meta
        assert database.loads == before + 1
    # An anonymous write refills the copy from the read that finds where it landed.
    assert await store.write(anonymous.key, change(T + 2, a=2), T + 2)
    before = database.loads
    assert (await store.load(anonymous.key, T + 3)).data == {"a": 2}  # type: ignore[union-attr]
    assert database.loads == before


async def test_a_copy_expires_with_the_session_and_within_ttl(tmp_path: Path) -> None:
    cache, _, store = async_pair(tmp_path)
    short = Record(secrets.token_bytes(32), {"a": 1}, Meta(T, T, T, T + 10), T + 10)
    assert await store.create(short, T)
    assert await store.load(short.key, T) is not None
    assert await store.load(short.key, T + 10) is None
    stored = record({"a": 1})
    assert await store.create(stored, T)
    assert await store.load(stored.key, T) is not None
    copy = cache.load(stored.key, T)
    assert copy is not None and copy.expires_at == T + store.ttl
    assert cache.load(stored.key, T + store.ttl) is None


async def test_the_cache_keeps_no_user_index(tmp_path: Path) -> None:
    cache, _, store = async_pair(tmp_path)
    stored = record({"a": 1}, user="alice")
    assert await store.create(stored, T)
    assert await store.load(stored.key, T) is not None
    assert cache.user_sessions("alice", T) == []
    assert [s.key for s in await store.user_sessions("alice", T)] == [stored.key]


# --- when the cache fails ---------------------------------------------------------------------


class Moments:
    """One clock for the store calls (``now``) and the cached store's monotonic clock."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def now(self) -> float:
        return T + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed


class BreakableFile:
    """A real SQLite cache whose file can be taken away and brought back, data and all
    (a cache server that goes down and comes back from its persistence file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backend = SQLiteBackend(path)

    def take_away(self) -> None:
        self.backend.close()
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{self.path}{suffix}").exists():
                os.rename(f"{self.path}{suffix}", f"{self.path}{suffix}.away")
        self.path.mkdir()  # a directory where the file was: opening it fails

    def bring_back(self) -> None:
        self.path.rmdir()
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{self.path}{suffix}.away").exists():
                os.rename(f"{self.path}{suffix}.away", f"{self.path}{suffix}")


def outage_setup(tmp_path: Path) -> tuple[Moments, BreakableFile, SQLiteBackend, CachedBackend]:
    moments = Moments()
    cache = BreakableFile(tmp_path / "cache.db")
    database = SQLiteBackend(tmp_path / "sessions.db")
    store = CachedBackend(cache.backend, database, ttl=60, cooldown=5, monotonic=moments.monotonic)
    return moments, cache, database, store


def test_a_cache_outage_fails_nothing_and_leaves_nothing_stale(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    moments, cache, database, store = outage_setup(tmp_path)
    stored = record({"v": 1}, at=T)
    assert store.create(stored, moments.now())
    assert store.load(stored.key, moments.now()).data == {"v": 1}  # type: ignore[union-attr]

    cache.take_away()
    moments.elapsed = 1
    with caplog.at_level(logging.WARNING, logger="sessionary"):
        assert store.write(stored.key, change(moments.now(), v=2), moments.now())
    assert "session cache" in caplog.text and "failed while invalidating" in caplog.text
    assert store.load(stored.key, moments.now()).data == {"v": 2}  # type: ignore[union-attr]

    # The cache comes back with its data: the copy of {"v": 1}, whose invalidation failed,
    # still carries a current stamp.
    cache.bring_back()
    stale = cache.backend.load(stored.key, moments.now())
    assert stale is not None and stale.data["d"] == {"v": 1}
    moments.elapsed = 2  # within the cooldown
    assert store.load(stored.key, moments.now()).data == {"v": 2}  # type: ignore[union-attr]
    moments.elapsed = 30  # past the cooldown, within ttl of the failed invalidation
    assert store.load(stored.key, moments.now()).data == {"v": 2}  # type: ignore[union-attr]

    # Another process sharing this cache never saw the failure: it may serve the stale copy,
    # but only until the copy's ttl (the bound docs/store-cached.md states).
    elsewhere = CachedBackend(cache.backend, database, ttl=60, monotonic=moments.monotonic)
    assert elsewhere.load(stored.key, moments.now()).data == {"v": 1}  # type: ignore[union-attr]

    moments.elapsed = 61  # ttl after the failure: every copy made before it has expired
    assert elsewhere.load(stored.key, moments.now()).data == {"v": 2}  # type: ignore[union-attr]
    assert store.load(stored.key, moments.now()).data == {"v": 2}  # type: ignore[union-attr]
    # And the cache is used again.
    copy = cache.backend.load(stored.key, moments.now())
    assert copy is not None and copy.data["d"] == {"v": 2}
    database.close()


def test_reads_during_an_outage_go_to_the_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    moments, cache, database, store = outage_setup(tmp_path)
    stored = record({"v": 1}, user="alice")
    assert store.create(stored, moments.now())
    cache.take_away()
    with caplog.at_level(logging.WARNING, logger="sessionary"):
        assert store.load(stored.key, moments.now()).data == {"v": 1}  # type: ignore[union-attr]
        assert store.load(stored.key, moments.now()).data == {"v": 1}  # type: ignore[union-attr]
    assert caplog.text.count("failed while reading") == 1  # once, then the cache is left alone
    other = record({"new": True}, at=moments.now())
    assert store.create(other, moments.now())
    assert store.write(other.key, change(moments.now(), more=1), moments.now())
    assert store.touch(other.key, moments.now(), T + 2 * HOUR, T + 2 * HOUR, moments.now())
    assert store.rotate(other.key, record({"r": 1}), T + 10, moments.now()) is Rotation.ROTATED
    assert store.delete(other.key)
    assert store.revoke_user("alice", moments.now() + 1, None) == 1
    assert store.load(stored.key, moments.now() + 2) is None
    cache.bring_back()
    moments.elapsed = 3  # within the cooldown: the cache is not touched
    fresh = record({"f": 1})
    assert store.create(fresh, moments.now())
    assert store.load(fresh.key, moments.now()) is not None
    assert cache.backend.load(generation_key(fresh.key), moments.now()) is None
    moments.elapsed = 70  # past the cooldown, and ttl after the skipped invalidation
    assert store.load(fresh.key, moments.now()) is not None
    assert cache.backend.load(fresh.key, moments.now()) is not None
    database.close()


def test_a_cache_that_never_comes_back(tmp_path: Path) -> None:
    moments, cache, database, store = outage_setup(tmp_path)
    cache.take_away()
    stored = record({"v": 1})
    for step in range(20):
        moments.elapsed = step * 10.0
        if step == 0:
            assert store.create(stored, moments.now())
        assert store.write(stored.key, change(moments.now(), v=step), moments.now())
        assert store.load(stored.key, moments.now()).data == {"v": step}  # type: ignore[union-attr]
    database.close()


# --- opening by URL and by constructor -----------------------------------------------------------


def test_open_by_url(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/sessions.db?synchronous=full&busy_timeout=250"
    store = open_store(f"cached+memory://?backend={quote(database_url, safe='')}&cache_ttl=30")
    assert isinstance(store.sync, CachedBackend)
    assert store.sync.ttl == 30
    assert isinstance(store.sync.database, SQLiteBackend)
    assert store.sync.database._synchronous == "FULL" and store.sync.database._busy_timeout == 250
    assert store.name.startswith("cached+memory://?backend=sqlite:///")
    stored = record({"a": 1})
    assert store.sync.create(stored, T)
    assert store.sync.load(stored.key, T) is not None
    store.close()


def test_the_caches_own_options_stay_with_the_cache(tmp_path: Path) -> None:
    store = open_store(
        f"cached+sqlite:///{tmp_path}/cache.db?busy_timeout=100&backend=sqlite:///{tmp_path}/db.db&cache_cooldown=1"
    )
    assert isinstance(store.sync, CachedBackend)
    assert isinstance(store.sync.cache, SQLiteBackend) and store.sync.cache._busy_timeout == 100
    assert store.sync.cooldown == 1
    assert Path(store.sync.database.name.removeprefix("sqlite:///")) == tmp_path / "db.db"
    store.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("cached+memory://", "names no database"),
        ("cached+memory://?backend=", "names no database"),
        ("cached+memory://?backend=cookie://", "cannot be the database"),
        ("cached+cookie://?backend=memory://", "cannot be the cache"),
        ("cached+memory://?backend=cached%2Bmemory%3A%2F%2F", "cannot be the database"),
        ("cached+memory://?backend=memory://&cache_ttl=0", "cache_ttl"),
        ("cached+memory://?backend=memory://&cache_ttl=soon", "cache_ttl"),
        ("cached+memory://?backend=memory://&cache_cooldown=-1", "cache_cooldown"),
        ("cached+nosuch://?backend=memory://", "unknown store URL"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        open_store(url)


def test_the_constructor_refuses_one_store_twice() -> None:
    memory = open_store("memory://")
    with pytest.raises(ConfigError, match="two stores"):
        cached(memory, memory)


# --- through SessionManager and the CLI -----------------------------------------------------------


def test_sessions_through_the_manager(tmp_path: Path) -> None:
    clock = FakeClock()
    database_url = f"sqlite:///{tmp_path}/sessions.db"
    sessions = SessionManager(f"cached+memory://?backend={database_url}", clock=clock)
    session = sessions.open(None)
    session["cart"] = [1]
    outcome = sessions.close_session(session, 200)
    assert outcome.set_cookie is not None
    cookie = outcome.set_cookie.split(";", 1)[0]
    again = sessions.open(cookie)
    again["cart"] = [1, 2]
    sessions.close_session(again, 200)
    assert sessions.open(cookie)["cart"] == [1, 2]
    # What the cache serves is what the database holds.
    plain = SessionManager(database_url, clock=clock)
    assert plain.open(cookie)["cart"] == [1, 2]
    leaving = sessions.open(cookie)
    leaving.load()
    logout(leaving)
    sessions.close_session(leaving, 200)
    assert not sessions.open(cookie).load()
    assert not plain.open(cookie).load()


def test_the_cli_works_on_the_database(tmp_path: Path) -> None:
    url = f"cached+memory://?backend=sqlite:///{tmp_path}/sessions.db"
    out = io.StringIO()
    assert cli(["migrate", "--store", url], out=out) == 0
    assert "nothing to migrate (neither store needs a schema)" in out.getvalue()
    assert cli(["stats", "--store", url], out=out) == 0
    assert "live:    0" in out.getvalue()
    assert cli(["clear-expired", "--store", url, "--quiet"], out=out) == 0
    assert "Deleted 0 expired sessions" in out.getvalue()


async def test_closing_closes_both(tmp_path: Path) -> None:
    cache = SQLiteBackend(tmp_path / "cache.db")
    database = SQLiteBackend(tmp_path / "sessions.db")
    store: AsyncBackend = AsyncCachedBackend(InlineAsync(cache), InlineAsync(database))
    assert await store.create(record({"a": 1}), T)
    await store.aclose()
    assert cache._connections == [] and database._connections == []


def test_renewal_through_the_manager(tmp_path: Path) -> None:
    """A renewed token is cached; a request still on the old token (within the grace)
    reads and writes the renewed session, and the new token sees the write at once."""
    clock = FakeClock()
    sessions = SessionManager(
        f"cached+memory://?backend=sqlite:///{tmp_path}/sessions.db",
        clock=clock,
        renewal_timeout=3600,
        renewal_grace=30,
    )
    session = sessions.open(None)
    session["a"] = 1
    old = (sessions.close_session(session, 200).set_cookie or "").split(";", 1)[0]
    clock.advance(3600)
    reading = sessions.open(old)
    assert reading["a"] == 1
    new = (sessions.close_session(reading, 200).set_cookie or "").split(";", 1)[0]
    assert new and new != old
    for _ in range(2):
        assert sessions.open(new)["a"] == 1
    in_flight = sessions.open(old)  # found through the alias
    in_flight["b"] = 2
    assert sessions.close_session(in_flight, 200).set_cookie is None  # it does not know the new token
    assert dict(sessions.open(new).items()) == {"a": 1, "b": 2}
    clock.advance(31)
    assert not sessions.open(old).load()
