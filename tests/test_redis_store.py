"""The Redis store beyond the shared contract: round trips, the user index's bound, Redis
Cluster specifics, URLs, failures, and which face opens connections.

Round trips are counted by the server itself (MONITOR on a test-owned server), not by
the client: a script is one round trip however many commands it runs inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from conformance.stores import FACTORIES
from conformance.stores_redis import wait_until_listening
from sessionary import SessionManager, SessionMiddleware
from sessionary.errors import ConfigError, StoreCorrupted, StoreUnavailable
from sessionary.stores import Store, open_store
from sessionary.stores.base import Change, Meta, Record, Rotation
from sessionary.stores.redis import parse_redis_url
from sessionary.stores.redis import scripts as lua
from support.redis_servers import CommandLog, RedisServer, redis_server, session_cluster
from support.services import (
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    forked_loads_stay_apart,
    free_port,
    require_module,
    require_port,
)

HOUR = 3600.0

pytestmark = pytest.mark.redis


def record(
    now: float,
    data: dict[str, object] | None = None,
    *,
    user: str | None = None,
    expires: float | None = None,
) -> Record:
    meta = Meta(created_at=now, issued_at=now, last_seen=now, saved_deadline=now + HOUR, user_id=user)
    return Record(
        secrets.token_bytes(32), dict({"a": 1} if data is None else data), meta, expires or now + HOUR
    )


def change(now: float, **values: object) -> Change:
    return Change(
        set={k: json.dumps(v) for k, v in values.items()}, meta={"last_seen": now}, expires_at=now + HOUR
    )


@pytest.fixture(scope="module")
def owned() -> Iterator[RedisServer]:
    """A server of this module's own: MONITOR sees only these tests, and no keyspace
    notifications are configured on it."""
    require_module("redis")
    with redis_server() as server:
        yield server


@pytest.fixture
def shared() -> Iterator[tuple[Store, redis.Redis, str]]:
    """A store on the shared server under a prefix of its own, removed afterwards."""
    require_module("redis")
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    prefix = f"sessionary-test:{uuid.uuid4().hex[:12]}:"
    store = open_store(f"{REDIS_URL}?prefix={prefix}")
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield store, client, prefix
    store.close()
    names = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        client.delete(*names)
    client.close()


# --- round trips -----------------------------------------------------------------------


def test_every_session_operation_is_one_round_trip(owned: RedisServer) -> None:
    store = open_store(
        f"{owned.url}?prefix=trips:&near_cache=false"
    )  # its costs: tests/test_redis_near_cache.py
    backend = store.sync
    now = time.time()
    with CommandLog(owned.port) as log:
        first = record(now, user="alice")
        assert backend.create(first, now)
        # The first use of a script (and of a connection) costs more: the NOSCRIPT
        # answer, SCRIPT LOAD, then EVALSHA again.
        assert log.between_marks()[-3:] == ["EVALSHA", "SCRIPT", "EVALSHA"]
        backend.load(first.key, now)
        backend.write(first.key, change(now, b=2), now)
        backend.touch(first.key, now, now + HOUR, now + HOUR + 1, now)
        backend.rotate(first.key, record(now, user="alice"), None, now)
        backend.delete(first.key)
        log.mark()

        stored = record(now, user="alice")
        assert backend.create(stored, now)
        assert log.between_marks() == ["EVALSHA"]
        assert backend.load(stored.key, now) is not None
        assert log.between_marks() == ["EVALSHA"]
        assert backend.write(stored.key, change(now, b=2), now)
        assert log.between_marks() == ["EVALSHA"]
        assert backend.touch(stored.key, now + 1, now + HOUR, now + HOUR + 60, now + 1)
        assert log.between_marks() == ["EVALSHA"]
        renewed = record(now, {"a": 1, "b": 2}, user="alice")
        assert backend.rotate(stored.key, renewed, now + 30, now + 1) is Rotation.ROTATED
        assert log.between_marks() == ["EVALSHA"]
        loaded = backend.load(stored.key, now + 2)  # through the grace alias
        assert loaded is not None and loaded.key == renewed.key
        assert log.between_marks() == ["EVALSHA"]
        assert backend.exists(renewed.key)
        assert log.between_marks() == ["EXISTS"]
        assert backend.delete(renewed.key)
        assert log.between_marks() == ["EVALSHA"]
    store.close()


def test_the_async_face_costs_the_same(owned: RedisServer) -> None:
    store = open_store(f"{owned.url}?prefix=trips-async:&near_cache=false")
    now = time.time()

    async def run(log: CommandLog) -> None:
        backend = store.aio
        warm = record(now)
        await backend.create(warm, now)
        await backend.load(warm.key, now)
        await backend.write(warm.key, change(now, b=2), now)
        log.mark()
        stored = record(now)
        assert await backend.create(stored, now)
        assert log.between_marks() == ["EVALSHA"]
        assert await backend.load(stored.key, now) is not None
        assert log.between_marks() == ["EVALSHA"]
        assert await backend.write(stored.key, change(now, b=2), now)
        assert log.between_marks() == ["EVALSHA"]
        await store.aclose()

    with CommandLog(owned.port) as log:
        asyncio.run(run(log))


@pytest.mark.parametrize("near_cache", [True, False])
def test_a_request_that_never_uses_its_session_costs_nothing(owned: RedisServer, near_cache: bool) -> None:
    require_module("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def ignore(request: Request) -> PlainTextResponse:
        return PlainTextResponse("no session here")

    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(await request.session.aget("n")))

    async def bump(request: Request) -> PlainTextResponse:
        await request.session.aset("n", (await request.session.aget("n", 0)) + 1)
        return PlainTextResponse("bumped")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await app.manager.aclose()

    routes = [Route("/ignore", ignore), Route("/read", read), Route("/bump", bump)]
    store = open_store(f"{owned.url}?prefix=trips-asgi-{near_cache}:&near_cache={str(near_cache).lower()}")

    def read_until_kept(client: TestClient) -> None:
        """Read until this process holds the one session's copy again (a read that began
        before its write's own invalidation came back keeps nothing)."""
        cache = store.sync.tracker.cache  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not len(cache):
            assert time.monotonic() < deadline, "the copy was never kept"
            assert client.get("/read").text == "3"
            time.sleep(0.001)

    app = SessionMiddleware(Starlette(routes=routes, lifespan=lifespan), store=store)
    with TestClient(app, base_url="https://testserver") as client, CommandLog(owned.port) as log:
        if near_cache:
            wait_until_listening(store)
        assert client.get("/bump").status_code == 200  # creates the session (and loads the scripts)
        assert client.get("/bump").status_code == 200
        assert client.get("/read").text == "2"  # read after this process's own write: from Redis
        log.mark()
        assert client.get("/ignore").text == "no session here"
        assert log.between_marks() == []
        assert client.get("/read").text == "2"
        if near_cache:  # a session this process has seen, unchanged since: no round trip
            assert log.between_marks() == []
            assert client.get("/bump").status_code == 200
            assert log.between_marks() == ["EVALSHA"]  # the copy, then write the one changed key
            assert client.get("/read").text == "3"
            assert log.between_marks() == []  # the save kept the record as written
            read_until_kept(client)
            log.mark()
            assert client.get("/read").text == "3"
            assert log.between_marks() == []  # and it stays, Redis having announced the save as ours
        else:
            assert log.between_marks() == ["EVALSHA"]
            assert client.get("/bump").status_code == 200
            assert log.between_marks() == ["EVALSHA", "EVALSHA"]  # load, then write the one changed key
    app.manager.close()


@pytest.mark.cluster
def test_round_trips_on_a_cluster() -> None:
    cluster = session_cluster()
    store = open_store(f"{cluster.url}?prefix=trips-{uuid.uuid4().hex[:8]}:")
    backend = store.sync
    now = time.time()
    # Reach every node and load every script once, so only steady-state costs are counted.
    for _ in range(30):
        warm = record(now, user="warm")
        backend.create(warm, now)
        backend.load(warm.key, now)
        backend.write(warm.key, change(now, b=2), now)
        backend.touch(warm.key, now, now + HOUR, now + 2 * HOUR, now)
        backend.rotate(warm.key, record(now, user="warm"), now + 10, now)
    with CommandLog(*(node.port for node in cluster.nodes)) as log:
        anonymous = record(now)
        assert backend.create(anonymous, now)
        assert log.between_marks() == ["EVALSHA"]
        assert backend.load(anonymous.key, now) is not None
        assert log.between_marks() == ["EVALSHA"]
        assert backend.write(anonymous.key, change(now, b=2), now)
        assert log.between_marks() == ["EVALSHA"]
        assert backend.touch(anonymous.key, now, now + HOUR, now + 2 * HOUR, now)
        assert log.between_marks() == ["EVALSHA"]

        # A signed-in user's keys live in another slot: one more call where they matter.
        signed_in = record(now, user="alice")
        assert backend.create(signed_in, now)
        assert log.between_marks() == ["EVALSHA", "EVALSHA"]  # the session, then its index entry
        assert backend.load(signed_in.key, now) is not None
        assert log.between_marks() == ["EVALSHA", "GET"]  # the session, then valid_after
        assert backend.write(signed_in.key, change(now, b=2), now)
        assert log.between_marks() == ["EVALSHA", "EVALSHA", "EVALSHA"]  # ask, valid_after, apply
        assert backend.touch(signed_in.key, now, now + HOUR, now + 3 * HOUR, now)
        assert log.between_marks() == ["EVALSHA", "EVALSHA"]  # the deadline moved: so does the index
        renewed = record(now, user="alice")
        assert backend.rotate(signed_in.key, renewed, None, now) is Rotation.ROTATED
        # reserve, index, retire, activate, unindex the old key
        assert log.between_marks() == ["EVALSHA"] * 5
    store.close()


# --- the user index ----------------------------------------------------------------------


def test_user_index_stays_bounded_without_keyspace_events(owned: RedisServer) -> None:
    client = owned.client()
    assert client.config_get("notify-keyspace-events")["notify-keyspace-events"] == ""
    prefix = f"bounded-{uuid.uuid4().hex[:8]}:"
    store = open_store(f"{owned.url}?prefix={prefix}")
    index = lua.index_key(prefix, "busy")
    now = time.time()
    for _ in range(1000):
        assert store.sync.create(record(now, user="busy", expires=now + 1.0), now)
    assert client.zcard(index) == 1000
    # Nobody hears about the expiries. Redis drops the sessions at their deadline, and
    # the index at its last member's deadline.
    time.sleep(1.3)
    assert client.exists(index) == 0
    assert list(client.scan_iter(match=f"{prefix}*")) == []

    # With a session that lives on, every user operation prunes the dead members.
    keeper = record(now, user="busy", expires=now + HOUR)
    assert store.sync.create(keeper, now)
    for _ in range(1000):
        assert store.sync.create(record(now, user="busy", expires=now + 5), now)
    assert client.zcard(index) == 1001
    assert [s.key for s in store.sync.user_sessions("busy", now + 10)] == [keeper.key]
    assert client.zcard(index) == 1
    assert 0 < client.pttl(index) <= HOUR * 1000
    store.close()


def test_listing_forgets_sessions_deleted_behind_its_back(shared: tuple[Store, redis.Redis, str]) -> None:
    store, client, prefix = shared
    now = time.time()
    sessions = [record(now, user="carol") for _ in range(3)]
    for stored in sessions:
        assert store.sync.create(stored, now)
    client.delete(lua.session_key(prefix, sessions[0].key.hex()))  # e.g. evicted under maxmemory
    listed = store.sync.user_sessions("carol", now)
    assert {s.key for s in listed} == {s.key for s in sessions[1:]}
    assert set(client.zrange(lua.index_key(prefix, "carol"), 0, -1)) == {s.key.hex() for s in sessions[1:]}


@pytest.mark.parametrize("user_id", ["", "a{b}c", "}", "=41", "ü ser", "x" * 300])
def test_any_user_id_keeps_its_keys_in_one_slot(user_id: str) -> None:
    from redis.crc import key_slot

    tag = lua.user_tag(user_id)
    assert tag and "{" not in tag and "}" not in tag
    assert tag != lua.user_tag(user_id + "x")
    index, valid_after = lua.index_key("p:", tag), lua.valid_after_key("p:", tag)
    assert key_slot(index.encode()) == key_slot(valid_after.encode())


@pytest.mark.cluster
def test_odd_user_ids_on_a_cluster() -> None:
    cluster = session_cluster()
    store = open_store(f"{cluster.url}?prefix=odd-{uuid.uuid4().hex[:8]}:")
    now = time.time()
    for user_id in ["", "a{b}c", "}{", "=41"]:
        sessions = [record(now, user=user_id) for _ in range(3)]
        for stored in sessions:
            assert store.sync.create(stored, now)
        assert {s.key for s in store.sync.user_sessions(user_id, now)} == {s.key for s in sessions}
        assert store.sync.delete_user_session(user_id, sessions[0].key)
        assert store.sync.revoke_user(user_id, now + 1, sessions[1].key) == 1
        assert [s.key for s in store.sync.user_sessions(user_id, now + 2)] == []  # issued before now + 1
    store.close()


@pytest.mark.parametrize("store_name", ["redis", "redis-cluster"])
def test_concurrent_sign_ins_keep_every_live_session_indexed(store_name: str, tmp_path: Path) -> None:
    """Browsers that already have a session sign in at once (a rotation each), under a
    limit of three: exactly three survive, and the index knows every live session."""
    from sessionary import Config, login
    from sessionary.errors import SessionInterrupted, TooManySessions
    from sessionary.testing import FakeClock
    from support.browser import Browser

    with FACTORIES[store_name](tmp_path) as store:
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        manager = SessionManager(store, Config(max_sessions_per_user=3), clock=clock)
        browsers = [Browser(manager) for _ in range(20)]
        for browser in browsers:
            browser.request(lambda s: s.__setitem__("cart", [1]))
            assert browser.cookie is not None
        barrier = threading.Barrier(len(browsers))
        errors: list[BaseException] = []

        def sign_in(browser: Browser) -> None:
            barrier.wait()
            try:
                browser.request(lambda s: login(s, "frank"))
            except (TooManySessions, SessionInterrupted):
                pass
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=sign_in, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        listed = {device.handle for device in manager.list_sessions("frank")}
        assert len(listed) == 3
        prefix = store.sync.prefix  # type: ignore[attr-defined]
        client = (
            session_cluster().client() if store_name == "redis-cluster" else redis.Redis.from_url(REDIS_URL)
        )
        owned = {
            name
            for name in client.scan_iter(match=f"{prefix}s:*", count=1000)
            if client.hget(name, "u") in ("frank", b"frank")
        }
        client.close()
        assert len(owned) == 3, "no live session of the user escapes the index"


# --- Redis Cluster rotation, step by step --------------------------------------------------


@pytest.mark.cluster
@pytest.mark.parametrize("grace", [None, 30.0])
def test_a_cluster_rotation_interrupted_anywhere_leaves_at_most_one_live_copy(grace: float | None) -> None:
    """Run the three steps by hand and stop after each, as a crashed process would."""
    cluster = session_cluster()
    store = open_store(f"{cluster.url}?prefix=crash-{uuid.uuid4().hex[:8]}:")
    backend = store.sync
    assert backend.cluster
    now = time.time()
    old = record(now, {"cart": [1]})
    assert backend.create(old, now)
    new = Record(secrets.token_bytes(32), {"cart": [1]}, old.meta, now + HOUR)
    new_key, old_hex = [backend._key(new.key)], old.key.hex()
    grace_text = "" if grace is None else lua.number(now + grace)

    # Crash after RESERVE: the old token still works; the new one loads nothing.
    assert backend._eval(lua.RESERVE, new_key, now, old_hex, *lua.record_fields(new)) == "reserved"
    assert backend.load(old.key, now) is not None
    assert backend.load(new.key, now) is None
    assert not backend.write(new.key, change(now, x=1), now)
    assert 0 < cluster.client().pttl(new_key[0]) <= lua.PENDING_MS  # the reservation goes away by itself

    # Crash after RETIRE: no token loads a separate copy. Without grace nothing loads
    # (the user signs in again); with grace the old token reaches the one pending record.
    retired = backend._eval(lua.RETIRE, [backend._key(old.key)], now, "", "", grace_text, new.key.hex())
    assert retired[:2] == ["retired", ""]
    assert backend.load(new.key, now) is None
    via_old = backend.load(old.key, now)
    if grace is None:
        assert via_old is None
    else:
        assert via_old is not None and via_old.key == new.key
    assert backend.rotate(old.key, record(now), None, now) is Rotation.GONE  # a second rotation finds nothing

    # ACTIVATE: the new token works.
    assert backend._eval(lua.ACTIVATE, new_key, now, old_hex) == 1
    loaded = backend.load(new.key, now)
    assert loaded is not None and loaded.data == {"cart": [1]}
    assert cluster.client().pttl(new_key[0]) > lua.PENDING_MS
    store.close()


@pytest.mark.cluster
def test_a_cluster_rotation_of_a_deleted_session_leaves_nothing_behind() -> None:
    cluster = session_cluster()
    prefix = f"gone-{uuid.uuid4().hex[:8]}:"
    store = open_store(f"{cluster.url}?prefix={prefix}")
    now = time.time()
    old = record(now, user="dave")
    assert store.sync.create(old, now)
    assert store.sync.delete(old.key)
    new = record(now, user="dave")
    assert store.sync.rotate(old.key, new, None, now) is Rotation.GONE
    assert not store.sync.exists(new.key)  # the reservation was abandoned
    assert store.sync.user_sessions("dave", now) == []
    store.close()


@pytest.mark.cluster
def test_sign_in_renewal_and_sign_out_everywhere_on_a_cluster() -> None:
    """The whole life of a signed-in user through the manager, on a cluster."""
    from sessionary import auth

    cluster = session_cluster()
    manager = SessionManager(f"{cluster.url}?prefix=life-{uuid.uuid4().hex[:8]}:")
    devices = []
    for agent in ("laptop", "phone", "tablet"):
        session = manager.open(None, user_agent=agent)
        session["theme"] = agent
        auth.login(session, "erin")
        outcome = manager.close_session(session, 200)
        assert outcome.set_cookie is not None
        devices.append(session)
    assert len(manager.list_sessions("erin")) == 3
    laptop = manager.open(f"__Host-sessionid={devices[0].session_key}")
    assert laptop["theme"] == "laptop"
    assert manager.revoke_all("erin", except_current=laptop) == 2
    manager.close_session(laptop, 200)
    assert [d.current for d in manager.list_sessions("erin", current=laptop)] == [True]
    phone = manager.open(f"__Host-sessionid={devices[1].session_key}")
    assert phone.get("theme") is None and phone.is_empty()
    manager.close()


# --- corrupted records -------------------------------------------------------------------


def test_a_key_that_is_not_a_session_record_is_reported(shared: tuple[Store, redis.Redis, str]) -> None:
    store, client, prefix = shared
    now = time.time()
    wrong_type, no_deadline, bad_json = (secrets.token_bytes(32) for _ in range(3))
    client.set(lua.session_key(prefix, wrong_type.hex()), "hello")
    client.hset(lua.session_key(prefix, no_deadline.hex()), "d:a", "1")
    stored = record(now)
    assert store.sync.create(stored, now)
    client.rename(lua.session_key(prefix, stored.key.hex()), lua.session_key(prefix, bad_json.hex()))
    client.hset(lua.session_key(prefix, bad_json.hex()), "d:a", "{not json")
    for key in (wrong_type, no_deadline, bad_json):
        with pytest.raises(StoreCorrupted) as raised:
            store.sync.load(key, now)
        assert raised.value.store.startswith("redis://")
    with pytest.raises(StoreCorrupted, match="not a session record"):
        store.sync.write(no_deadline, change(now, a=2), now)
    assert client.hgetall(lua.session_key(prefix, no_deadline.hex())) == {"d:a": "1"}  # untouched


# --- big sessions ------------------------------------------------------------------------


def test_sessions_with_thousands_of_keys(shared: tuple[Store, redis.Redis, str]) -> None:
    """More fields than one Lua ``unpack`` can pass: the scripts work in chunks."""
    store, _, _ = shared
    now = time.time()
    data: dict[str, object] = {f"k{i}": i for i in range(2500)}
    stored = record(now, data)
    assert store.sync.create(stored, now)
    loaded = store.sync.load(stored.key, now)
    assert loaded is not None and loaded.data == data
    replacement = Change(
        set={f"n{i}": str(i) for i in range(2500)},
        cleared=True,
        meta={"last_seen": now},
        expires_at=now + HOUR,
    )
    assert store.sync.write(stored.key, replacement, now)
    loaded = store.sync.load(stored.key, now)
    assert loaded is not None and loaded.data == {f"n{i}": i for i in range(2500)}
    removal = Change(removed=frozenset(f"n{i}" for i in range(2400)), expires_at=now + HOUR)
    assert store.sync.write(stored.key, removal, now)
    loaded = store.sync.load(stored.key, now)
    assert loaded is not None and loaded.data == {f"n{i}": i for i in range(2400, 2500)}


# --- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis://localhost/0?prefx=a", "unknown option 'prefx'"),
        ("redis://localhost/0?socket_timeout=soon", "socket_timeout='soon' is not a valid float"),
        ("redis://localhost/0?socket_timeout=0", "socket_timeout=0.0 must be a positive number"),
        ("redis://localhost/0?socket_connect_timeout=-1", "socket_connect_timeout=-1.0 must be a positive"),
        ("redis://localhost/0?max_connections=0", "max_connections=0 must be at least 1"),
        ("redis://localhost/0?max_connections=many", "max_connections='many' is not a valid int"),
        ("redis://localhost/0?retries=99", "retries=99 must be between 0 and 10"),
        ("redis://localhost/0?prefix=app{1}:", "must not contain braces"),
        ("redis://localhost/zero", "database 'zero' must be a number"),
        ("redis://localhost:port/0", "Port could not be cast"),
        ("redis://a:1,b:2/0", "several hosts need redis+cluster://"),
        ("redis://localhost/0?ssl=true", "use rediss://"),
        ("redis+cluster://a:1,b:x", "cluster node 'b:x' is not host:port"),
        ("redis+cluster://a:1/3", "Redis Cluster has only database 0"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match="store") as raised:
        open_store(url)
    assert complaint in str(raised.value)


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        open_store("redis://user:hunter2@localhost/0?nope=1")
    assert "hunter2" not in str(raised.value) and "user:***@localhost" in str(raised.value)
    options = parse_redis_url("redis+cluster://user:s3cret@h1:7000,[::1]:7001?ssl=1&prefix=app:")
    assert options.nodes == (("h1", 7000), ("::1", 7001))
    assert options.connection_kwargs["password"] == "s3cret" and options.connection_kwargs["ssl"] is True
    assert "s3cret" not in options.name and options.prefix == "app:"


def test_urls_are_parsed_without_connecting() -> None:
    options = parse_redis_url("rediss://:pw@cache.internal:6380/2?socket_timeout=0.5&max_connections=7")
    assert options.url == "rediss://:pw@cache.internal:6380/2"
    assert options.name == "rediss://:***@cache.internal:6380/2?socket_timeout=0.5&max_connections=7"
    assert options.connection_kwargs["socket_timeout"] == 0.5 and options.max_connections == 7
    store = open_store(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there: no error yet
    store.close()


# --- failures ----------------------------------------------------------------------------


def test_a_refused_connection_is_store_unavailable_naming_the_store() -> None:
    port = free_port()
    store = open_store(f"redis://:topsecret@127.0.0.1:{port}/0")
    key = secrets.token_bytes(32)
    for load in (
        lambda: store.sync.load(key, time.time()),
        lambda: asyncio.run(store.aio.load(key, time.time())),
    ):
        with pytest.raises(StoreUnavailable) as raised:
            load()
        message = str(raised.value)
        assert f"redis://:***@127.0.0.1:{port}/0" in message
        assert "topsecret" not in message
        assert f"connecting to 127.0.0.1:{port}" in message


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_hung_server_fails_after_the_configured_timeout(silent_server: int) -> None:
    store = open_store(
        f"redis://127.0.0.1:{silent_server}/0?socket_timeout=0.2&socket_connect_timeout=0.2&retries=0"
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="Timeout"):
        store.sync.load(secrets.token_bytes(32), time.time())
    # Not a speed goal: without the option redis-py would wait far longer than this.
    assert time.monotonic() - started < 3
    with pytest.raises(StoreUnavailable, match="Timeout"):
        asyncio.run(store.aio.exists(secrets.token_bytes(32)))
    store.close()


# --- connections ---------------------------------------------------------------------------


def connections(server: RedisServer, name: str) -> int:
    return sum(1 for client in server.client().client_list() if client["name"] == name)


def test_each_face_connects_only_when_used(owned: RedisServer) -> None:
    sync_only = open_store(f"{owned.url}?prefix=faces:&client_name=sync-only")
    assert connections(owned, "sync-only") == 0  # opening connects nothing
    stored = record(time.time())
    assert sync_only.sync.create(stored, time.time())
    assert connections(owned, "sync-only") == 1
    assert sync_only.aio._client is None  # type: ignore[attr-defined]
    sync_only.close()

    async_only = open_store(f"{owned.url}?prefix=faces:&client_name=async-only")

    async def use() -> None:
        assert await async_only.aio.load(stored.key, time.time()) is not None
        assert connections(owned, "async-only") == 1
        await async_only.aclose()

    asyncio.run(use())
    assert async_only.sync._client is None  # type: ignore[attr-defined]
    assert connections(owned, "async-only") == 0


def test_the_async_face_follows_the_event_loop(shared: tuple[Store, redis.Redis, str]) -> None:
    """A new loop (a test client per request, a worker restart) gets a new client."""
    store, _, _ = shared
    stored = record(time.time())
    assert store.sync.create(stored, time.time())
    for _ in range(3):
        assert asyncio.run(store.aio.load(stored.key, time.time())) is not None


# --- kept connections (session operations bypass redis-py's command layer) -------------


def test_a_kept_connection_the_server_closed_is_replaced_at_once(owned: RedisServer) -> None:
    store = open_store(f"{owned.url}?prefix=kept:&client_name=kept")
    stored = record(time.time())
    assert store.sync.create(stored, time.time())

    async def load_twice() -> None:
        assert await store.aio.load(stored.key, time.time()) is not None
        owned.client().client_kill_filter(_type="normal", skipme=True)
        assert await store.aio.load(stored.key, time.time()) is not None
        await store.aclose()

    assert store.sync.load(stored.key, time.time()) is not None
    owned.client().client_kill_filter(_type="normal", skipme=True)  # closes the kept one
    assert store.sync.load(stored.key, time.time()) is not None
    asyncio.run(load_twice())
    store.close()


def test_kept_connections_stay_within_max_connections(owned: RedisServer) -> None:
    store = open_store(f"{owned.url}?prefix=bounded:&client_name=bounded&max_connections=3")
    stored = record(time.time(), user="u-kept")
    assert store.sync.create(stored, time.time())
    store.sync.close()  # only the async face's connections from here on

    async def many() -> None:
        peak = 0

        async def one() -> None:
            nonlocal peak
            assert await store.aio.load(stored.key, time.time()) is not None
            peak = max(peak, connections(owned, "bounded"))

        await asyncio.gather(*(one() for _ in range(40)))
        assert peak <= 3
        assert len(store.aio._idle) <= 2  # type: ignore[attr-defined]
        # The pool's other users (listings, counts) still get a connection.
        assert len(await store.aio.user_sessions("u-kept", time.time())) == 1
        assert (await store.aio.count(time.time())).live == 1
        await store.aclose()

    asyncio.run(many())
    assert connections(owned, "bounded") == 0
    threads = [threading.Thread(target=store.sync.load, args=(stored.key, time.time())) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert connections(owned, "bounded") <= 3
    assert store.sync.count(time.time()).live == 1
    store.close()
    assert connections(owned, "bounded") == 0


def test_scripts_the_server_forgot_are_loaded_again(owned: RedisServer) -> None:
    """After SCRIPT FLUSH (or a restart) the first NOSCRIPT loads the script, on both faces."""
    store = open_store(f"{owned.url}?prefix=noscript:")
    stored = record(time.time())
    assert store.sync.create(stored, time.time())
    owned.client().script_flush()
    assert store.sync.load(stored.key, time.time()) is not None
    owned.client().script_flush()

    async def load() -> None:
        assert await store.aio.load(stored.key, time.time()) is not None
        await store.aclose()

    asyncio.run(load())
    store.close()


def test_scripts_a_cluster_forgot_are_loaded_again() -> None:
    cluster = session_cluster()
    store = open_store(f"{cluster.url}?prefix=noscript-{uuid.uuid4().hex[:8]}:")
    now = time.time()
    stored = record(now, user="noscript")
    assert store.sync.create(stored, now)
    for node in cluster.nodes:
        node.client().script_flush()
    assert store.sync.load(stored.key, now) is not None
    for node in cluster.nodes:
        node.client().script_flush()

    async def load() -> None:
        assert await store.aio.load(stored.key, now) is not None
        await store.aclose()

    asyncio.run(load())
    store.close()


def test_a_reply_that_arrives_after_its_timeout_never_answers_another_request(owned: RedisServer) -> None:
    """A load that timed out while the server was frozen leaves no reply behind on a kept
    or pooled connection: when the server wakes, the next load gets its own session."""
    import signal

    store = open_store(f"{owned.url}?prefix=late:&socket_timeout=0.2&max_connections=2")
    now = time.time()
    first, second = record(now, {"who": "first"}), record(now, {"who": "second"})
    assert store.sync.create(first, now) and store.sync.create(second, now)
    process = owned.process
    assert process is not None

    def frozen_load(load: Any) -> None:
        process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(StoreUnavailable):
                load(first.key)
        finally:
            process.send_signal(signal.SIGCONT)
        time.sleep(0.1)  # the server answers the abandoned load now

    def sync_load(key: bytes) -> Any:
        return store.sync.load(key, time.time())

    async def async_checks() -> None:
        assert (await store.aio.load(second.key, time.time())) is not None
        process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(StoreUnavailable):
                await store.aio.load(first.key, time.time())
        finally:
            process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.1)
        for _ in range(3):
            loaded = await store.aio.load(second.key, time.time())
            assert loaded is not None and loaded.data == {"who": "second"}
        await store.aclose()

    assert sync_load(second.key) is not None  # a connection is kept from here on
    frozen_load(sync_load)
    for _ in range(3):
        loaded = sync_load(second.key)
        assert loaded is not None and loaded.data == {"who": "second"}
    asyncio.run(async_checks())
    store.close()


def test_a_forked_process_never_uses_its_parents_connections(owned: RedisServer) -> None:
    """A server that loads sessions before forking its workers (a preloaded app): each
    process gets its own connections, so no process ever reads another's reply."""
    store = open_store(f"{owned.url}?prefix=forked:")
    now = time.time()
    mine, theirs = record(now, {"who": "parent"}), record(now, {"who": "child"})
    assert store.sync.create(mine, now) and store.sync.create(theirs, now)
    assert store.sync.load(mine.key, now) is not None  # a connection is kept from here on
    forked_loads_stay_apart(store, parent=mine.key, child=theirs.key)
    store.close()
