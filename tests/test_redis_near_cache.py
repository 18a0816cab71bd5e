"""The Redis near-cache (stores/redis/tracking.py, sessionary/nearcache.py) on real servers.

Round trips are counted by the server itself (MONITOR on a server of this module's own).
Changes come from another OS process (a ``python`` subprocess with its own store), as
they would from another worker: after its invalidation reached this process, a read
here is refused or sees the change, never the old copy.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import multiprocessing
import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from conformance.stores_redis import delete_prefix, wait_until_listening
from sessionary import SessionManager
from sessionary.errors import ConfigError
from sessionary.nearcache import ENTRY_OVERHEAD
from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record, Rotation
from sessionary.stores.redis import parse_redis_url
from sessionary.stores.redis.tracking import Tracker
from sessionary.tokens import store_key
from support.redis_servers import CommandLog, RedisServer, redis_server
from support.services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_module, require_port

HOUR = 3600.0
SRC = str(Path(__file__).resolve().parents[1] / "src")

pytestmark = pytest.mark.redis


def record(now: float, *, user: str | None = None, expires: float | None = None, **data: object) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR, user_id=user)
    return Record(secrets.token_bytes(32), dict(data or {"a": 1}), meta, expires or now + HOUR)


def change(now: float, **values: object) -> Change:
    import json

    return Change(
        set={k: json.dumps(v) for k, v in values.items()}, meta={"last_seen": now}, expires_at=now + HOUR
    )


def tracker(store: Store) -> Tracker:
    found: Tracker = store.sync.tracker  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="module")
def owned() -> Iterator[RedisServer]:
    require_module("redis")
    with redis_server() as server:
        yield server


@pytest.fixture(params=[False, True], ids=["writes_dropped", "default"])
def shared(request: pytest.FixtureRequest) -> Iterator[tuple[str, Store]]:
    """A store on the shared server under a prefix of its own, listening, removed
    afterwards; once as by default, once keeping what it saves."""
    require_module("redis")
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"sessionary-test:{uuid.uuid4().hex[:12]}:"
    url = f"{REDIS_URL}?prefix={prefix}"
    store = open_store(url + ("" if request.param else "&near_cache_writes=false"))
    wait_until_listening(store)
    yield url, store
    store.close()
    client = redis.Redis.from_url(REDIS_URL)
    delete_prefix(client, prefix)
    client.close()


def elsewhere(url: str, code: str) -> str:
    """Run ``code`` in another OS process with its own store on ``url`` (``backend``,
    ``now``, ``key`` from argv are defined); returns what it printed."""
    program = textwrap.dedent(
        """
        import sys, time
        from sessionary.stores import open_store
        from sessionary.stores.base import Change, Meta, Record
        store = open_store(sys.argv[1] + "&near_cache=false")
        backend = store.sync
        now = time.time()
        """
    ) + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", program, url], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Heard:
    """Counts the invalidations the store's listener has handled."""

    def __init__(self, store: Store) -> None:
        self._condition = threading.Condition()
        self._names: list[str | None] = []
        tracker(store).observer = self._heard

    def _heard(self, names: list[str] | None) -> None:
        with self._condition:
            self._names.extend(names or [None])
            self._condition.notify_all()

    def wait_for(self, fragment: str) -> None:
        with self._condition:
            assert self._condition.wait_for(
                lambda: any(name is None or fragment in name for name in self._names), timeout=10
            ), f"no invalidation of {fragment} arrived"


def cached_copy(store: Store, rec: Record) -> None:
    """Store ``rec`` and read it once, so this process holds a copy of it."""
    backend = store.sync
    now = time.time()
    assert backend.create(rec, now)
    wait_until_kept(store, rec.key)


def caught_up(store: Store) -> None:
    """Until the listener has handled every invalidation Redis queued for it so far (and
    kept what this process wrote, where it may)."""
    done = threading.Event()
    tracker(store).after_write(done.set)
    assert done.wait(10), "the channel did not answer"


def settled(store: Store) -> None:
    """Until the listener has also read again what this process wrote (it does so once
    the write's own invalidation came, which the first probe waits for)."""
    caught_up(store)
    caught_up(store)


def wait_until_kept(store: Store, key: bytes) -> None:
    """Until this process holds a copy of ``key`` (what it wrote is kept once the write's
    own invalidation came back; a read keeps what it read)."""
    deadline = time.monotonic() + 10
    while key not in tracker(store).cache:
        assert time.monotonic() < deadline, "the copy was never kept"
        assert store.sync.load(key, time.time()) is not None
        time.sleep(0.002)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("keep_writes", [False, True], ids=["writes_dropped", "default"])
def test_round_trips_with_the_near_cache(owned: RedisServer, keep_writes: bool) -> None:
    writes = "" if keep_writes else "&near_cache_writes=false"
    store = open_store(f"{owned.url}?prefix=near-trips:{writes}")
    backend = store.sync
    wait_until_listening(store)
    now = time.time()
    warm = record(now)  # loads the scripts
    backend.create(warm, now)
    backend.load(warm.key, now)
    backend.write(warm.key, change(now, b=2), now)
    other = open_store(f"{owned.url}?prefix=near-trips:&near_cache=false")
    other.sync.create(record(now), now)  # loads the scripts there too
    with CommandLog(owned.port) as log:
        stored = record(now)
        assert other.sync.create(stored, now)
        caught_up(store)  # the creation's invalidation has come: a read now keeps its copy
        log.mark()
        assert backend.load(stored.key, now) is not None
        assert log.between_marks() == ["EVALSHA"], "a cold read: one"
        for _ in range(3):
            loaded = backend.load(stored.key, now)
            assert loaded is not None and loaded.data == {"a": 1}
        assert log.between_marks() == [], "a hot read: none"
        assert backend.write(stored.key, change(now, b=2), now)
        if not keep_writes:
            assert log.between_marks() == ["EVALSHA"], "a save: one"
            assert stored.key not in tracker(store).cache, "a save drops this process's copy"
        else:
            settled(store)
            assert log.between_marks() == ["EVALSHA"], (
                "a save: one round trip; Redis announces it as this process's, so the copy stays"
            )
            assert stored.key in tracker(store).cache
        loaded = backend.load(stored.key, now)
        assert loaded is not None and loaded.data == {"a": 1, "b": 2}, "this process's own write is seen"
        assert log.between_marks() == ([] if keep_writes else ["EVALSHA"])
        assert backend.write(stored.key, change(now, b=3), now)
        loaded = backend.load(stored.key, now)  # at once: the copy, or the read again awaited
        assert loaded is not None and loaded.data == {"a": 1, "b": 3}
        if keep_writes:
            settled(store)
            assert log.between_marks() == ["EVALSHA"], "a save and the read right after it: one"
        else:
            assert log.between_marks() == ["EVALSHA", "EVALSHA"]
        new = record(now)
        assert backend.create(new, now)
        settled(store)
        assert log.between_marks() == ["EVALSHA"], "a new session: one round trip"
        assert new.key not in tracker(store).cache, "a new session is not kept (most are never read again)"
        assert backend.load(new.key, now) is not None
        assert log.between_marks() == ["EVALSHA"], "a new session is read once, then kept"
    # The writers' marks are set and removed in the same script: none is ever left.
    assert list(owned.client().scan_iter(match="near-trips:*:w:*")) == []
    other.close()
    store.close()


@pytest.mark.parametrize("keep_writes", [False, True], ids=["writes_dropped", "default"])
def test_a_request_cycle_on_a_cached_session_costs_one_trip_per_save(
    owned: RedisServer, keep_writes: bool
) -> None:
    writes = "" if keep_writes else "&near_cache_writes=false"
    store = open_store(f"{owned.url}?prefix=near-cycle:{writes}")
    manager = SessionManager(store, cookie_secure=False)
    wait_until_listening(store)
    session = manager.open(None)
    session["n"] = 1
    manager.close_session(session, 200)
    cookie = f"{manager.config.session_cookie_name}={session.session_key}"
    # The creation's own invalidation first: coming after the next read had begun, it
    # would make that read's copy unsafe to keep (the read race), and the read after it
    # would go to Redis.
    caught_up(store)

    def request(**values: object) -> object:
        opened = manager.open(cookie)
        seen = opened["n"]
        if values:
            opened.update(values)
        manager.close_session(opened, 200)
        return seen

    with CommandLog(owned.port) as log:
        request()  # scripts loaded
        caught_up(store)
        log.mark()
        assert request() == 1
        assert log.between_marks() == [], "a read of a session seen before: no round trip"
        for value in range(3):
            request(other=value)
            settled(store)
            kept = keep_writes or value == 0  # read before the first save, or kept from the last
            assert log.between_marks() == (["EVALSHA"] if kept else ["EVALSHA", "EVALSHA"]), (
                "a save of a cached session: one round trip (and, its copy dropped by the"
                " previous save unless writes are kept, one read; if they are, Redis"
                " announces the save as this process's own and the copy stays)"
            )
        request()
        assert log.between_marks() == ([] if keep_writes else ["EVALSHA"]), "the record as written was kept"
        request()
        assert log.between_marks() == [], "read again after a save, then kept"
        other = open_store(f"{owned.url}?prefix=near-cycle:&near_cache=false")
        other.sync.delete(store_key(str(session.session_key)))
        other.close()
        caught_up(store)  # within the invalidation delay the copy could still be served
        replaced = manager.open(cookie)
        assert "n" not in replaced, "deleted elsewhere: never served from the copy"
        manager.close_session(replaced, 200)
    store.close()


def test_no_request_sees_what_another_changed_in_place_without_saving(owned: RedisServer) -> None:
    store = open_store(f"{owned.url}?prefix=near-shared:")
    manager = SessionManager(store, cookie_secure=False)
    wait_until_listening(store)
    stored = {"items": [1, [2]], "nested": {"d": {"e": [3]}}, "n": 1}
    session = manager.open(None)
    session.update(stored)
    manager.close_session(session, 200)
    cookie = f"{manager.config.session_cookie_name}={session.session_key}"
    key = store_key(str(session.session_key))
    assert store.sync.load(secrets.token_bytes(32), time.time()) is None  # the script loaded
    caught_up(store)

    def request_changing_in_place() -> object:
        opened = manager.open(cookie)
        seen = copy.deepcopy({name: opened[name] for name in stored})
        opened["items"][1].append(9)  # in place: Django's rules do not save this
        opened["nested"]["d"]["e"].append(9)
        opened["nested"]["d"]["f"] = 1
        record = opened.state.record
        assert record is not None
        record.meta.user_id = "someone"
        manager.close_session(opened, 200)
        return seen

    with CommandLog(owned.port) as log:
        log.mark()
        assert request_changing_in_place() == stored  # the read that keeps the copy
        assert log.between_marks() == ["EVALSHA"] and key in tracker(store).cache
        for _ in range(3):
            assert request_changing_in_place() == stored
        assert log.between_marks() == [], "every later read served from the copy"
        loaded = store.sync.load(key, time.time())
        assert loaded is not None and loaded.data == stored and loaded.meta.user_id is None
    store.close()


def test_the_async_face_shares_the_copies(owned: RedisServer) -> None:
    store = open_store(f"{owned.url}?prefix=near-async:")
    wait_until_listening(store)
    now = time.time()
    stored = record(now)
    store.sync.create(stored, now)
    caught_up(store)  # the creation's own invalidation has come: the read keeps its copy
    store.sync.load(stored.key, now)

    async def run(log: CommandLog) -> None:
        assert await store.aio.exists(stored.key)  # this loop's first connection
        log.mark()
        for _ in range(3):
            assert await store.aio.load(stored.key, now) is not None
        assert log.between_marks() == []
        assert await store.aio.write(stored.key, change(now, b=3), now)
        settled(store)
        assert log.between_marks() == ["EVALSHA"], "a save: one round trip; its copy stays"
        loaded = await store.aio.load(stored.key, now)
        assert loaded is not None and loaded.data == {"a": 1, "b": 3}
        assert log.between_marks() == [], "this process's own write, kept"
        await store.aio.aclose()

    with CommandLog(owned.port) as log:
        asyncio.run(run(log))
    store.close()


# --- coherence: changes made by another process -----------------------------------------


def test_a_logout_elsewhere_is_refused_here(shared: tuple[str, Store]) -> None:
    url, store = shared
    heard = Heard(store)
    rec = record(time.time())
    cached_copy(store, rec)
    elsewhere(url, f"assert backend.delete(bytes.fromhex({rec.key.hex()!r}))")
    heard.wait_for(rec.key.hex())
    assert store.sync.load(rec.key, time.time()) is None
    assert asyncio.run(store.aio.load(rec.key, time.time())) is None


def test_a_change_elsewhere_is_seen_here(shared: tuple[str, Store]) -> None:
    url, store = shared
    heard = Heard(store)
    rec = record(time.time())
    cached_copy(store, rec)
    elsewhere(
        url,
        f"""
        change = Change(set={{"a": "2"}}, meta={{"last_seen": now}}, expires_at=now + 3600)
        assert backend.write(bytes.fromhex({rec.key.hex()!r}), change, now)
        """,
    )
    heard.wait_for(rec.key.hex())
    loaded = store.sync.load(rec.key, time.time())
    assert loaded is not None and loaded.data == {"a": 2}


def test_a_revocation_elsewhere_is_refused_here(shared: tuple[str, Store]) -> None:
    url, store = shared
    heard = Heard(store)
    now = time.time()
    mine, theirs = record(now - 10, user="alice"), record(now - 10, user="bob")
    cached_copy(store, mine)
    cached_copy(store, theirs)
    # Revoked by valid_after alone (keep the record itself): only the user's key changes.
    elsewhere(url, "backend.revoke_user('alice', now, None)")
    heard.wait_for(":v")
    assert store.sync.load(mine.key, time.time()) is None
    assert store.sync.load(theirs.key, time.time()) is not None


def test_a_rotation_elsewhere_retires_the_old_key_here(shared: tuple[str, Store]) -> None:
    url, store = shared
    heard = Heard(store)
    rec = record(time.time(), user="carol")
    cached_copy(store, rec)
    elsewhere(
        url,
        f"""
        import secrets
        meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + 3600, user_id="carol")
        new = Record(secrets.token_bytes(32), {{"a": 1}}, meta, now + 3600)
        print(backend.rotate(bytes.fromhex({rec.key.hex()!r}), new, None, now).value)
        """,
    )
    heard.wait_for(rec.key.hex())
    assert store.sync.load(rec.key, time.time()) is None


def test_a_shortened_expiry_elsewhere_is_honoured_here(shared: tuple[str, Store]) -> None:
    url, store = shared
    heard = Heard(store)
    rec = record(time.time())
    cached_copy(store, rec)
    elsewhere(
        url,
        f"""
        change = Change(meta={{"last_seen": now}}, expires_at=now + 1.0)
        assert backend.write(bytes.fromhex({rec.key.hex()!r}), change, now)
        """,
    )
    heard.wait_for(rec.key.hex())
    loaded = store.sync.load(rec.key, time.time())
    assert loaded is not None and loaded.expires_at < time.time() + 1.0
    # Past the new deadline the copy is refused here, whether or not Redis dropped the key yet.
    assert store.sync.load(rec.key, loaded.expires_at) is None


def test_a_copy_is_never_served_past_its_own_deadline(shared: tuple[str, Store]) -> None:
    _, store = shared
    now = time.time()
    rec = record(now, expires=now + 30)
    cached_copy(store, rec)
    assert store.sync.load(rec.key, now + 29) is not None
    assert store.sync.load(rec.key, now + 30) is None


# --- the channel --------------------------------------------------------------------------


def test_a_killed_listener_means_no_copy_is_served_until_it_is_back(shared: tuple[str, Store]) -> None:
    _, store = shared
    channel = tracker(store)
    rec = record(time.time())
    cached_copy(store, rec)
    killed = channel.client_id
    epoch = channel.cache.epoch
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.execute_command("CLIENT", "KILL", "ID", str(killed))
        # Changed while nobody listens: this invalidation is lost for good.
        client.hset(f"{channel.prefix}s:{{{rec.key.hex()}}}", "d:a", "5")
    finally:
        client.close()
    deadline = time.monotonic() + 10
    while channel.cache.epoch == epoch:  # the listener noticed the lost connection
        assert time.monotonic() < deadline
        time.sleep(0.002)
    loaded = store.sync.load(rec.key, time.time())
    assert loaded is not None and loaded.data == {"a": 5}, "the copy from before the outage is gone"
    wait_until_listening(store)
    assert channel.client_id != killed, "a new listener subscribed"
    assert store.sync.load(rec.key, time.time()) is not None
    assert store.sync.load(rec.key, time.time()) is not None
    assert channel.cache.stats().hits >= 1, "copies are served again once it is back"


def test_a_save_while_the_listener_is_lost_takes_the_pool_and_keeps_nothing(
    shared: tuple[str, Store],
) -> None:
    _, store = shared
    channel = tracker(store)
    rec = record(time.time())
    cached_copy(store, rec)
    killed = channel.client_id
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.execute_command("CLIENT", "KILL", "ID", str(killed))
    finally:
        client.close()
    now = time.time()
    # Sent on the channel before the listener notices (then sent again through the pool)
    # or through the pool: made either way.
    assert store.sync.write(rec.key, change(now, b=2), now)
    loaded = store.sync.load(rec.key, time.time())
    assert loaded is not None and loaded.data == {"a": 1, "b": 2}


def test_a_save_of_a_session_deleted_elsewhere_keeps_nothing(shared: tuple[str, Store]) -> None:
    url, store = shared
    rec = record(time.time())
    cached_copy(store, rec)
    elsewhere(url, f"assert backend.delete(bytes.fromhex({rec.key.hex()!r}))")
    now = time.time()
    assert not store.sync.write(rec.key, change(now, b=2), now), "no save revives a deleted session"
    settled(store)
    assert rec.key not in tracker(store).cache
    assert store.sync.load(rec.key, time.time()) is None


def test_a_store_that_is_down_serves_no_copy(tmp_path: Path) -> None:
    with redis_server() as server:
        store = open_store(f"{server.url}?prefix=near-down:&socket_timeout=0.5&retries=0")
        wait_until_listening(store)
        rec = record(time.time())
        cached_copy(store, rec)
        server.stop()
        deadline = time.monotonic() + 10
        while tracker(store).cache.usable():
            assert time.monotonic() < deadline, "the listener did not notice the server stop"
            time.sleep(0.002)
        from sessionary.errors import StoreUnavailable

        with pytest.raises(StoreUnavailable):
            store.sync.load(rec.key, time.time())
        store.close()


def test_memory_stays_within_its_budget(owned: RedisServer) -> None:
    budget = 4 * (600 + ENTRY_OVERHEAD)
    store = open_store(f"{owned.url}?prefix=near-budget:&near_cache_bytes={budget}")
    wait_until_listening(store)
    cache = tracker(store).cache
    now = time.time()
    for _ in range(30):
        rec = record(now, payload="x" * 300)
        store.sync.create(rec, now)
        assert store.sync.load(rec.key, now) is not None
        assert cache.stats().bytes <= budget
    assert 1 <= len(cache) < 30
    store.close()


# --- settings -----------------------------------------------------------------------------


def test_settings() -> None:
    assert parse_redis_url("redis://h/0").near_cache
    assert parse_redis_url("redis://h/0").near_cache_bytes == 32 * 1024 * 1024
    assert not parse_redis_url("redis://h/0?near_cache=false").near_cache
    assert parse_redis_url("redis://h/0?near_cache_bytes=1000&near_cache_lease=2").near_cache_bytes == 1000
    assert parse_redis_url("redis://h/0").near_cache_writes
    assert not parse_redis_url("redis://h/0?near_cache_writes=false").near_cache_writes
    assert not parse_redis_url("redis+cluster://h:1,h:2").near_cache
    assert not parse_redis_url("redis://h/0?declared_keys=true").near_cache
    assert open_store("redis://h/0?near_cache=false").sync.tracker is None  # type: ignore[attr-defined]
    assert open_store("redis+cluster://h:1").sync.tracker is None  # type: ignore[attr-defined]
    assert open_store("redis+sentinel://h:26379/m").sync.tracker is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+cluster://h:1?near_cache=true", "not supported on Redis Cluster"),
        ("redis+sentinel://h:26379/m?near_cache=true", "not supported behind Sentinel"),
        ("redis://h/0?declared_keys=true&near_cache=true", "not supported with declared_keys"),
        ("redis://h/0?near_cache_bytes=-1", "near_cache_bytes=-1 must be 0 or more"),
        ("redis://h/0?near_cache_lease=0", "near_cache_lease=0.0 must be between"),
        ("redis://h/0?near_cache=maybe", "near_cache"),
        ("redis://h/0?near_cache_writes=maybe", "near_cache_writes"),
    ],
)
def test_bad_settings_are_refused_clearly(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        open_store(url)


def _in_the_child(store: Store, key: bytes, answers: Any) -> None:
    channel = tracker(store)
    held = key in channel.cache  # the parent's copy, before the store is used here
    cache = channel.cache_for_reads()
    wait_until_listening(store)
    loaded = store.sync.load(key, time.time())
    answers.put((held, key in cache or len(cache), loaded is not None, channel.client_id))


def test_a_forked_process_starts_with_no_copies_and_a_channel_of_its_own(shared: tuple[str, Store]) -> None:
    _, store = shared
    rec = record(time.time())
    cached_copy(store, rec)
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_in_the_child, args=(store, rec.key, answers))
    child.start()
    held, _, loaded, child_listener = answers.get(timeout=30)
    child.join(30)
    assert held, "the child inherited the parent's memory"
    assert loaded
    assert child_listener is not None and child_listener != tracker(store).client_id
    assert rec.key in tracker(store).cache, "the parent keeps its own"


# --- this process's own writes, raced by another client's -------------------------------


@pytest.fixture(scope="module")
def debuggable() -> Iterator[RedisServer]:
    """A server of this module's own that accepts ``DEBUG SLEEP`` (to hold writes back
    until they are all handled in one turn of its event loop)."""
    require_module("redis")
    with redis_server("--enable-debug-command", "local") as server:
        yield server


def _race(server: RedisServer, store: Store, other: Store, key: bytes, first: str) -> str:
    """This process's write (``mine``) and another client's (``theirs``) of one session,
    sent while the server sleeps, ``first`` sent first: the server then runs both in one
    turn of its event loop, whose invalidations of that key Redis sends as one message.
    Returns which write the server ran last, from the record itself."""
    now = time.time()
    writes = {
        "mine": lambda: store.sync.write(key, change(now, last="mine"), now),
        "theirs": lambda: other.sync.write(key, change(now, last="theirs"), now),
    }
    _in_one_turn(server, [writes[first], writes["theirs" if first == "mine" else "mine"]])
    stored = other.sync.load(key, time.time())
    assert stored is not None
    last = stored.data["last"]
    assert isinstance(last, str)
    return last


def _in_one_turn(server: RedisServer, calls: list[Any]) -> None:
    """Run ``calls`` (each on a thread of its own, in this order) while the server sleeps:
    what they send waits in its sockets, and the server runs it all in one turn."""
    sleeper = server.client()
    sleeping = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", "0.4"))
    sleeping.start()
    time.sleep(0.1)  # the server sleeps: what is sent now waits in its sockets
    threads = []
    for call in calls:
        thread = threading.Thread(target=call)
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # sent in this order
    for thread in (sleeping, *threads):
        thread.join(10)
    sleeper.close()


@pytest.mark.parametrize("first", ["mine", "theirs"], ids=["theirs-after-mine", "mine-after-theirs"])
def test_a_write_elsewhere_in_the_same_server_turn_as_this_process_s_is_seen_here(
    debuggable: RedisServer, first: str
) -> None:
    prefix = f"near-race-{first}:"
    store = open_store(f"{debuggable.url}?prefix={prefix}")
    other = open_store(f"{debuggable.url}?prefix={prefix}&near_cache=false")
    wait_until_listening(store)
    now = time.time()
    warm = record(now)  # the scripts loaded, both stores' connections made
    assert other.sync.create(warm, now)
    assert store.sync.write(warm.key, change(now, b=1), now)
    assert other.sync.write(warm.key, change(now, b=2), now)
    for _ in range(5):  # the server may take the two sockets in either order
        rec = record(time.time())
        cached_copy(store, rec)  # this process holds a copy: its write may keep the result
        last = _race(debuggable, store, other, rec.key, first)
        settled(store)
        loaded = store.sync.load(rec.key, time.time())
        assert loaded is not None
        assert loaded.data["last"] == last, "this process served its own write, overwritten since"
        if last != first:  # run in the order sent
            break
    else:
        pytest.skip(f"the server never ran the writes in the order sent ({first} first)")
    if last == "mine":  # this process's write was the last: its result may be kept
        assert rec.key in tracker(store).cache, "this process's own write, the last one, is kept"
    other.close()
    store.close()


def test_this_process_s_write_through_a_renewal_alias_in_the_same_server_turn_is_seen_here(
    debuggable: RedisServer,
) -> None:
    """A kept save of a session and this process's save of it through its renewal alias,
    in one server turn: the second names no keeper (a write through an alias is never
    kept), so the first's copy goes."""
    prefix = "near-race-alias:"
    store = open_store(f"{debuggable.url}?prefix={prefix}")
    fresh = open_store(f"{debuggable.url}?prefix={prefix}&near_cache=false")
    wait_until_listening(store)
    now = time.time()
    warm = record(now)  # the scripts loaded
    assert store.sync.create(warm, now)
    assert store.sync.write(warm.key, change(now, b=1), now)
    for _ in range(5):  # the server may take the two writes in either order
        now = time.time()
        old, new = record(now), record(now)
        assert store.sync.create(old, now)
        assert store.sync.rotate(old.key, new, now + 60, now) is Rotation.ROTATED
        wait_until_kept(store, new.key)  # this process holds a copy: its direct save keeps its result
        _in_one_turn(
            debuggable,
            [
                functools.partial(store.sync.write, new.key, change(now, last="direct"), now),
                functools.partial(store.sync.write, old.key, change(now, last="alias"), now),
            ],
        )
        stored = fresh.sync.load(new.key, time.time())
        assert stored is not None
        settled(store)
        loaded = store.sync.load(new.key, time.time())
        assert loaded is not None
        assert loaded.data["last"] == stored.data["last"], "this process served a record changed since"
        if stored.data["last"] == "alias":  # run in the order sent
            break
    else:
        pytest.skip("the server never ran the writes in the order sent")
    fresh.close()
    store.close()


@pytest.mark.parametrize("tag", ["", "alice", 'ev"il,"d":{', "=7b7d"])
def test_what_is_kept_of_a_written_record_agrees_with_the_record(tag: str) -> None:
    import json

    from sessionary.stores.redis import scripts as lua

    text = (
        '{"k":"","x":"1700000000.5","u":' + json.dumps(tag) + ',"d":{"a":1,"b":{"c":"x\\",\\"d\\":{"}},'
        '"m":{"created_at":1,"issued_at":1,"last_seen":1,"saved_deadline":2}}'
    )
    record, owner = lua.decode_loaded(b"\x01" * 32, text, "test")
    assert lua.loaded_head(text) == ("", record.expires_at, owner)


def test_the_channel_reads_replies_and_pushes_in_order_however_they_are_cut() -> None:
    import socket

    from redis.exceptions import NoScriptError

    from sessionary.stores.redis.tracking import _NOTHING, _Push, _Reader

    ours, theirs = socket.socketpair()
    stream = (
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\np:k\r\n"  # a push: a key changed
        b'$11\r\n{"k":"a b"}\r\n'  # a reply, cut below across sends
        b"-NOSCRIPT No matching script.\r\n"
        b">2\r\n$10\r\ninvalidate\r\n_\r\n"  # a flush
        b"%1\r\n+a\r\n:1\r\n#f\r\n+PONG\r\n"
    )
    unconnected = redis.connection.Connection(protocol=3)  # its parser's errors, as the channel's
    reader = _Reader(ours, unconnected._parser.parse_error)
    for start in range(0, len(stream), 7):
        theirs.sendall(stream[start : start + 7])
    got = [reader.read(1.0) for _ in range(7)]
    assert isinstance(got[0], _Push) and got[0] == ["invalidate", ["p:k"]]
    assert got[1] == '{"k":"a b"}' and not isinstance(got[1], _Push)
    assert isinstance(got[2], NoScriptError)
    assert isinstance(got[3], _Push) and got[3] == ["invalidate", None]
    assert got[4:] == [{"a": 1}, False, "PONG"]
    assert reader.read(0.01) is _NOTHING
    ours.close()
    theirs.close()
