"""The Redis store through redis-py's asyncio client (``_sync.py`` beside it is generated from it).

Every operation on one session is one Lua script, so it is atomic and, on a single
server, one round trip. On Redis Cluster a script may touch only one hash slot: the
session and its user's keys are then separate calls, ordered so that a crash in between
never revives a deleted session (see ``scripts.py`` beside it and docs/store-redis.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from ...errors import StoreCorrupted, StoreUnavailable
from ...serializer import decode_value, same_value
from ..backend._async import AsyncBackend
from ..base import Change, Counts, Kept, Record, Rotation, Summary, Swap, UserCounts
from . import scripts as lua
from .tracking import AsyncWritten
from .wire import AsyncExchange, Packer, pack

if TYPE_CHECKING:
    from . import RedisOptions
    from .tracking import Tracker

Client = Redis | AsyncRedisCluster
_node: Callable[[str, int], ClusterNode] = ClusterNode
_sentinel: Callable[..., Any] = Sentinel
_sentinel_pool: Callable[..., Any] = SentinelConnectionPool


def _no_keep(reply: Any, epoch: int) -> None:
    """A read waiting for the channel's read again keeps nothing itself."""


UNSENT: Any = object()
"""A save the near-cache channel could not take (see ``_kept``)."""

HOPS = 4
"""Calls a Redis Cluster operation may need (alias, user lookups) before it gives up."""


class AsyncRedisBackend(AsyncBackend):
    """Sessions in Redis or Redis Cluster; the client is created on first use.

    The client belongs to the event loop it was first used on; a call from another loop
    gets a new client (a connection cannot move between loops).
    """

    def __init__(self, options: RedisOptions, tracker: Tracker | None = None) -> None:
        self.options = options
        # The near-cache both faces share (single server): copies of LOAD replies kept
        # coherent by Redis's invalidations (tracking.py beside this file).
        self.tracker = tracker
        self.name = options.name
        self.prefix = options.prefix
        # With declared_keys a single server takes the cluster's path: each script touches
        # only its KEYS, and the user's keys are reached in calls of their own.
        self.cluster = options.cluster or options.declared_keys
        self._standalone = "0" if self.cluster else "1"
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._loop: object = None
        self._loop_end: Any = None
        self._pid = os.getpid()
        # Session operations on a single server skip redis-py's command layer (its pool's
        # lock, wait and readiness check, its retry wrapper and its metrics hooks): they
        # borrow a connection from the pool and keep it in ``_idle`` for the next one.
        # At most ``max_connections - 1`` wait there, so the pool always has room for its
        # other users; all are borrowed from the pool, so its limit bounds them all.
        self._pool: Any = None
        self._idle: list[Any] = []
        self._keep = options.max_connections - 1
        self._timeout: float = options.connection_kwargs["socket_timeout"]
        self._packer = Packer((self.prefix, self._standalone))

    # --- the client -------------------------------------------------------------------

    def _connect(self) -> Client:
        options = self.options
        # Retried at once: a lost connection (a pooled one the server closed). Never a
        # timeout, which would only double the wait of a request already late.
        retry = Retry(NoBackoff(), options.retries, supported_errors=(RedisConnectionError,))
        if options.cluster:
            return AsyncRedisCluster(
                startup_nodes=[_node(host, port) for host, port in options.nodes],
                retry=retry,
                decode_responses=True,
                max_connections=options.max_connections,
                **options.connection_kwargs,
            )
        if options.sentinels:
            # Each new connection asks the sentinels for the master; one to a master that
            # was demoted fails (READONLY, or the socket) and is made again to the new one.
            sentinel = _sentinel(list(options.sentinels), sentinel_kwargs=options.sentinel_kwargs)
            sentinel_pool = _sentinel_pool(
                options.service_name,
                sentinel,
                max_connections=options.max_connections,
                retry=retry,
                decode_responses=True,
                **options.connection_kwargs,
            )
            return Redis.from_pool(sentinel_pool)
        pool = BlockingConnectionPool.from_url(
            options.url,
            max_connections=options.max_connections,
            timeout=options.connection_kwargs["socket_timeout"],
            retry=retry,
            decode_responses=True,
            **options.connection_kwargs,
        )
        return Redis.from_pool(pool)

    def _redis(self) -> Client:
        loop = asyncio.get_running_loop()
        client = self._client
        pid = os.getpid()
        if client is not None and self._loop is loop and self._pid == pid:
            return client
        with self._lock:
            # A forked process never uses its parent's connections (kept ones included:
            # two processes reading one socket would take each other's replies).
            if self._client is None or self._loop is not loop or self._pid != pid:
                self._abandon_finished_loop()
                self._client = self._connect()
                self._loop = loop
                self._pid = pid
                self._idle = []
                self._pool = self._client.connection_pool if isinstance(self._client, Redis) else None
                self._loop_end = AsyncExchange.close_at_loop_end(self, self._client)
            return self._client

    def _abandon_finished_loop(self) -> None:
        """The sockets of a client whose event loop has closed are closed here (its loop
        cannot, and the garbage collector would warn); a live loop keeps its own."""
        loop: Any = self._loop
        if self._client is not None and self._pid == os.getpid() and loop is not None and loop.is_closed():
            AsyncExchange.abandon(self._connections())

    def __del__(self) -> None:
        # The last loop's client (a test client used without ``with`` never runs the
        # shutdown that closes the store).
        if getattr(self, "_client", None) is not None:
            self._abandon_finished_loop()

    def _connections(self) -> list[Any]:
        """Every connection of the current single-server client (a cluster's stay with
        its nodes)."""
        pool = self._pool
        if pool is None:
            return []
        return [*self._idle, *pool._available_connections, *pool._in_use_connections]

    async def _command(self, *args: str | int, durable: bool = False) -> Any:
        """One command and its reply; on a single server, over a kept connection.

        ``durable`` (a deletion or revocation, with ``wait_replicas``): then ``WAIT`` on
        the same connection, so the reply means the replicas have it too."""
        client = self._redis()
        if self._pool is None:  # a cluster: redis-py routes each command to its slot's node
            execute: Callable[..., Any] = client.execute_command
            return await execute(*args)
        return await self._send(pack(*args), durable)

    async def _send(self, packed: bytes, durable: bool = False) -> Any:
        """A packed command on a single server, over a kept connection (``_redis()`` was
        called for this event loop)."""
        pool = self._pool
        idle = self._idle
        try:
            connection = idle.pop()
        except IndexError:
            connection = await pool.get_connection()
            AsyncExchange.borrowed(connection)
        timeout = self._timeout
        try:
            try:
                reply = await AsyncExchange.call(connection, packed, timeout)
            except RedisConnectionError:
                # A lost connection (one the server closed while it waited): it is
                # closed now; sending again reconnects. Never a timeout.
                for attempt in range(self.options.retries):
                    try:
                        reply = await AsyncExchange.call(connection, packed, timeout)
                        break
                    except RedisConnectionError:
                        if attempt == self.options.retries - 1:
                            raise
                else:
                    raise
            if durable:  # not retried: the write is done, only its replicas are unknown
                await self._wait(connection)
        except BaseException:
            AsyncExchange.returned(connection, timeout)
            await pool.release(connection)
            raise
        if len(idle) < self._keep and idle is self._idle:
            idle.append(connection)
        else:
            AsyncExchange.returned(connection, timeout)
            await pool.release(connection)
        return reply

    async def _wait(self, connection: Any) -> None:
        """``WAIT`` for ``wait_replicas`` replicas to have this connection's writes."""
        replicas, milliseconds = self.options.wait_replicas, self.options.wait_timeout
        packed = pack("WAIT", replicas, milliseconds)
        acknowledged = await AsyncExchange.call(connection, packed, self._timeout + milliseconds / 1000)
        if int(acknowledged) < replicas:
            raise StoreUnavailable(
                self.name,
                f"only {acknowledged} of {replicas} replicas acknowledged the deletion within "
                f"{milliseconds} ms: it is applied on the master but a failover may undo it",
            )

    async def _eval(
        self, script: lua.Lua, keys: list[str], now: float, *args: str | int, durable: bool = False
    ) -> Any:
        """Run a script with the prelude's arguments (prefix, single server?, now) first."""
        durable = durable and self.options.wait_replicas > 0
        try:
            client = self._redis()
            if self._pool is not None:  # a single server: the command packed from its cached parts
                packed = self._packer.evalsha(script.sha, keys, lua.number(now), args)
                try:
                    return await self._send(packed, durable)
                except NoScriptError:
                    await self._send(pack("SCRIPT LOAD", script.text))
                    return await self._send(packed, durable)
            argv = (self.prefix, self._standalone, lua.number(now), *args)
            execute: Callable[..., Any] = client.execute_command
            try:
                return await execute("EVALSHA", script.sha, len(keys), *keys, *argv)
            except NoScriptError:
                await execute("SCRIPT LOAD", script.text)  # to every node
                return await execute("EVALSHA", script.sha, len(keys), *keys, *argv)
        except (RedisError, RedisClusterException, OSError):
            with lua.translated(self.name):  # the error as sessionary's, naming the store
                raise

    async def _user(
        self,
        tag: str,
        now: float,
        *,
        add: str = "",
        score: float = 0.0,
        listing: bool = False,
        remove: list[str] | tuple[str, ...] = (),
    ) -> tuple[str | None, list[str]]:
        """One call on a user's slot: index the member ``add``, drop ``remove``, prune;
        returns the user's valid_after and (with ``listing``) the index's members."""
        keys = [lua.index_key(self.prefix, tag), lua.valid_after_key(self.prefix, tag)]
        valid_after, members = await self._eval(
            lua.USER, keys, now, add, lua.number(score), "1" if listing else "0", *remove
        )
        return valid_after or None, list(members)

    def _key(self, key: bytes) -> str:
        return lua.session_key(self.prefix, key.hex())

    # --- reading ----------------------------------------------------------------------

    async def load(self, key: bytes, now: float) -> Record | None:
        tracker = self.tracker
        if tracker is not None:
            cache = tracker.cache_for_reads()
            hit = cache.get(key, now)
            if hit is None and tracker.reloading(key):
                # This process saved it, and the channel is reading it again: that reply
                # is on its way, sooner than one asked for now.
                waiter = AsyncWritten(key, _no_keep)
                if tracker.join_reload(key, waiter):
                    with contextlib.suppress(RedisError):  # too slow: ask Redis after all
                        await waiter.wait(self._timeout)
                    hit = cache.get(key, now)
            if hit is not None:  # no round trip: no change to it has been announced
                copy = hit.value  # decoded by the read that kept it, or a write's reply text
                return copy.served() if isinstance(copy, Kept) else lua.decode_loaded(key, copy, self.name)[0]
            ticket = cache.ticket(key)  # before asking: a change announced meanwhile wins
            reply = await self._eval(lua.LOAD, [self._key(key)], now, "")
            if reply is None or isinstance(reply, list):
                return None
            record, tag = lua.decode_loaded(key, reply, self.name)
            if record.key == key:  # never a copy reached through a renewal alias
                kept = Kept(record)
                size = kept.size(len(reply))
                cache.put(ticket, kept, expires_at=record.expires_at, owner=tag, size=size, now=now)
            return record
        via = ""
        for _ in range(2):
            reply = await self._eval(lua.LOAD, [self._key(key)], now, via)
            if reply is None:
                return None
            if isinstance(reply, list):  # ['alias', hex]: a cluster follows it itself
                if via:
                    return None  # an alias of an alias: not something a rotation makes
                via, key = key.hex(), self._hex(reply[1])
                continue
            record, tag = lua.decode_loaded(key, reply, self.name)
            if self.cluster and tag is not None and await self._revoked(tag, record.meta.issued_at):
                return None
            return record
        return None

    def _changed(self, key: bytes) -> None:
        """This process changed or deleted ``key``: its copy goes now, before the write's
        own invalidation comes back (a read right after the write must not see the copy)."""
        tracker = self.tracker
        if tracker is not None:
            tracker.cache.invalidate(key, here=True)

    async def _kept(
        self,
        tracker: Tracker,
        key: bytes,
        script: lua.Lua,
        now: float,
        args: tuple[str | int, ...],
    ) -> Any:
        """Run a save of ``key`` on the near-cache channel's own connection and keep the
        record as written (``script`` answers with it), at the reply's place in the
        channel's stream; it stays when Redis announces the save as this process's
        alone, else the channel reads it again (tracking.py). Returns ``UNSENT`` when
        the channel cannot take it (down, or lost before the reply came): the caller
        then takes the pool."""
        cache = tracker.cache

        def kept(text: str | None, epoch: int) -> bool:
            if text is None:
                return False
            alias, expires_at, tag = lua.loaded_head(text)
            return not alias and cache.keep_in_order(  # never one reached through an alias
                key, text, epoch=epoch, expires_at=expires_at, owner=tag, size=len(text), now=now
            )

        def keep_loaded(reply: Any, epoch: int) -> None:
            if not kept(reply if isinstance(reply, str) else None, epoch):
                cache.invalidate(key, here=True)

        def keep(reply: Any, epoch: int) -> None:
            if kept(reply if isinstance(reply, str) else None, epoch):
                # Redis announces this write's key after the reply, in one message with
                # any other client's change of it in the same turn: unless the message
                # names this process as its only writer, the copy goes then and the
                # channel reads the record again, in order.
                load = self._packer.evalsha(lua.LOAD.sha, [self._key(key)], lua.number(now), ("",))
                tracker.reload_when_announced(key, load, keep_loaded)
            else:
                cache.invalidate(key, here=True)  # a copy a read kept meanwhile goes, in order

        packed = self._packer.evalsha(script.sha, [self._key(key)], lua.number(now), args)
        for _ in range(2):
            written = AsyncWritten(key, keep)
            if not tracker.send(packed, written):
                return UNSENT
            try:
                return await written.wait(self._timeout)
            except NoScriptError:
                with lua.translated(self.name):
                    await self._command("SCRIPT LOAD", script.text)
            except RedisConnectionError:
                return UNSENT
            except (RedisError, OSError):
                with lua.translated(self.name):
                    raise
        return UNSENT

    async def _revoked(self, tag: str, issued_at: float) -> bool:
        """Whether the user's valid_after refuses a session issued at ``issued_at``."""
        client = self._redis()
        with lua.translated(self.name):
            valid_after = await client.get(lua.valid_after_key(self.prefix, tag))
        try:
            return valid_after is not None and issued_at < float(valid_after)
        except ValueError:
            raise StoreCorrupted(
                self.name, f"valid_after {str(valid_after)[:20]!r} is not a number"
            ) from None

    def _hex(self, text: str) -> bytes:
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise StoreCorrupted(self.name, f"alias target {text[:20]!r} is not a hex key") from None

    async def exists(self, key: bytes) -> bool:
        with lua.translated(self.name):
            return bool(await self._command("EXISTS", self._key(key)))

    # --- writing ----------------------------------------------------------------------

    async def create(self, record: Record, now: float) -> bool:
        tag = lua.user_tag(record.meta.user_id) if record.meta.user_id is not None else ""
        # Not kept in the near-cache: most new sessions are never read again (a first
        # visit), and keeping one costs more than the read it may spare.
        created = await self._eval(
            lua.CREATE,
            [self._key(record.key)],
            now,
            lua.number(record.expires_at),
            tag,
            record.key.hex(),
            *lua.record_fields(record),
        )
        if created and self.cluster and tag:
            # The session first, then its index entry: a listing drops entries whose
            # session it cannot find, and must never drop one still being created. A
            # crash in between leaves a session the index misses until its next write
            # or touch re-indexes it; its user's valid_after refuses it all the same.
            await self._user(tag, now, add=record.key.hex(), score=record.expires_at)
        return bool(created)

    async def write(self, key: bytes, change: Change, now: float) -> bool:
        tracker = self.tracker
        if tracker is not None and self.options.near_cache_writes and tracker.cache_for_reads().usable():
            # One server: one script, which answers with the record as written (its
            # user's valid_after checked), sent on the channel's connection.
            removed, fields = lua.change_fields(change)
            args = (
                "",
                "",
                "",
                lua.number(change.expires_at),
                "1" if change.cleared else "0",
                lua.change_user(change),
                key.hex(),
                tracker.writer,
                len(removed),
                *removed,
                *fields,
            )
            tracker.cache.invalidate(key, here=True)  # the old copy goes; a read begun before keeps nothing
            reply = await self._kept(tracker, key, lua.WRITE, now, args)
            if reply is not UNSENT:
                return bool(reply)
        try:
            return await self._write(key, change, now)
        finally:
            self._changed(key)

    async def _write(self, key: bytes, change: Change, now: float) -> bool:
        removed, fields = lua.change_fields(change)
        user = lua.change_user(change)
        via = checked_tag = checked = indexed = ""
        for _ in range(HOPS):
            if self.cluster and user not in ("", "-") and indexed != key.hex():
                await self._user(user, now, add=key.hex(), score=change.expires_at)
                indexed = key.hex()
            reply = await self._eval(
                lua.WRITE,
                [self._key(key)],
                now,
                via,
                checked_tag,
                checked,
                lua.number(change.expires_at),
                "1" if change.cleared else "0",
                user,
                key.hex(),
                "0",
                len(removed),
                *removed,
                *fields,
            )
            if not isinstance(reply, list):
                return bool(reply)
            if reply[0] == "alias":
                if via:
                    return False
                via, key = key.hex(), self._hex(reply[1])
            else:  # 'user': read that user's valid_after (and index the new deadline)
                checked_tag = reply[1]
                valid_after, _ = await self._user(checked_tag, now, add=key.hex(), score=change.expires_at)
                checked = valid_after or ""
        return False

    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        try:
            reply = await self._eval(
                lua.TOUCH,
                [self._key(key)],
                now,
                lua.number(last_seen),
                lua.number(saved_deadline),
                lua.number(expires_at),
                key.hex(),
            )
        finally:
            self._changed(key)
        if isinstance(reply, list):  # cluster: the deadline moved, move the index entry too
            await self._user(reply[1], now, add=key.hex(), score=expires_at)
            return True
        return bool(reply)

    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        try:
            return await self._compare_and_set(key, name, expected, value, now)
        finally:
            self._changed(key)

    async def _compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        field = f"d:{name}"
        via = checked_tag = checked = ""
        for _ in range(HOPS):
            reply = await self._eval(
                lua.SWAP,
                [self._key(key)],
                now,
                via,
                checked_tag,
                checked,
                field,
                "0" if expected is None else "1",
                expected or "",
                "0" if value is None else "1",
                value or "",
            )
            if reply in ("swapped", "gone"):
                return Swap(reply)
            if reply[0] == "alias":
                if via:
                    return Swap.GONE
                via, key = key.hex(), self._hex(reply[1])
            elif reply[0] == "user":
                checked_tag = reply[1]
                valid_after, _ = await self._user(checked_tag, now)
                checked = valid_after or ""
            else:  # 'conflict': the same value, stored as other text, is no conflict
                stored = reply[1] if len(reply) > 1 else None
                try:
                    same = stored is not None and stored != expected and same_value(stored, expected)
                except ValueError as exc:
                    raise StoreCorrupted(
                        self.name, f"session key {name!r} is not valid JSON ({exc})"
                    ) from None
                if not same:
                    return Swap.CONFLICT
                expected = stored
        return Swap.CONFLICT

    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        tag = lua.user_tag(record.meta.user_id) if record.meta.user_id is not None else ""
        grace = "" if grace_until is None else lua.number(grace_until)
        change = change or Change.replacing(record.data)
        try:
            return await self._rotate(old_key, record, change, tag, grace, now)
        finally:
            self._changed(old_key)

    async def _rotate(
        self, old_key: bytes, record: Record, change: Change, tag: str, grace: str, now: float
    ) -> Rotation:
        if not self.cluster:
            result = await self._eval(
                lua.ROTATE,
                [self._key(old_key), self._key(record.key)],
                now,
                grace,
                lua.number(record.expires_at),
                old_key.hex(),
                record.key.hex(),
                tag,
                *lua.rotation_arguments(record, change),
            )
            return Rotation(result)
        return await self._rotate_across_slots(old_key, record, change, tag, grace, now)

    async def _rotate_across_slots(
        self, old_key: bytes, record: Record, change: Change, tag: str, grace: str, now: float
    ) -> Rotation:
        """RESERVE the new key, RETIRE the old one, ACTIVATE the new one (see scripts.py)."""
        new = [self._key(record.key)]
        reserved = await self._eval(lua.RESERVE, new, now, old_key.hex(), *lua.record_fields(record))
        if reserved == "collision":
            return Rotation.COLLISION
        checked_tag = checked = ""
        if tag:  # indexed once reserved: a listing keeps (and skips) a pending entry
            valid_after, _ = await self._user(tag, now, add=record.key.hex(), score=record.expires_at)
            checked_tag, checked = tag, valid_after or ""
        old_tag = None
        stored: dict[str, str] = {}
        for _ in range(HOPS):
            reply = await self._eval(
                lua.RETIRE, [self._key(old_key)], now, checked_tag, checked, grace, record.key.hex()
            )
            if reply == "gone":
                break
            if reply[0] == "user":
                checked_tag = reply[1]
                valid_after, _ = await self._user(checked_tag, now)
                checked = valid_after or ""
                continue
            old_tag = reply[1]
            stored = dict(zip(reply[2::2], reply[3::2], strict=True))
            break
        if old_tag is None:
            await self._eval(lua.ABANDON, new, now, old_key.hex())
            return Rotation.GONE
        triples = lua.merge_triples(record, change, stored)
        if not await self._eval(lua.ACTIVATE, new, now, old_key.hex(), *triples):
            return Rotation.GONE  # revoked or deleted while pending
        if old_tag:
            await self._user(old_tag, now, remove=[old_key.hex()])
        return Rotation.ROTATED

    async def delete(self, key: bytes) -> bool:
        return await self._delete(key, "")

    async def _delete(self, key: bytes, owner: str) -> bool:
        try:
            reply = await self._eval(lua.DELETE, [self._key(key)], 0.0, key.hex(), owner, durable=True)
        finally:
            self._changed(key)
        if isinstance(reply, list):  # cluster: deleted; now drop its index entry
            await self._user(reply[1], 0.0, remove=[key.hex()])
            return True
        return bool(reply)

    # --- the whole store --------------------------------------------------------------

    async def _scan(self, batch_size: int) -> AsyncIterator[list[str]]:
        """Every session key under the prefix, in batches (SCAN: O(n), never blocking)."""
        client = self._redis()
        batch: list[str] = []
        with lua.translated(self.name):
            async for name in client.scan_iter(
                match=lua.session_pattern(self.prefix), count=max(batch_size, 100), _type="hash"
            ):
                batch.append(name)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    async def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        """Redis drops expired keys by itself; this removes those already past ``now``
        that it has not dropped yet (a caller's clock ahead of the server's)."""
        client = self._redis()
        async for batch in self._scan(batch_size):
            with lua.translated(self.name):
                pipe = client.pipeline(transaction=False)
                for name in batch:
                    pipe.execute_command("EVAL", lua.REAP.text, 1, name, lua.number(now))
                deleted = sum(int(count) for count in await pipe.execute())
            if deleted:
                yield deleted

    async def count(self, now: float) -> Counts:
        client = self._redis()
        live = expired = 0
        async for batch in self._scan(1000):
            with lua.translated(self.name):
                pipe = client.pipeline(transaction=False)
                for name in batch:
                    pipe.hget(name, "x")
                deadlines = await pipe.execute()
            for deadline in deadlines:
                if deadline is None:
                    continue  # dropped since the scan saw it
                try:
                    is_live = float(deadline) > now
                except ValueError:
                    raise StoreCorrupted(self.name, f"deadline {deadline[:20]!r} is not a number") from None
                live, expired = live + is_live, expired + (not is_live)
        return Counts(live=live, expired=expired)

    async def user_counts(self, now: float, limit: int) -> UserCounts:
        """Live sessions by user, from a SCAN of every session (O(n), for operators)."""
        client = self._redis()
        counts: dict[str, int] = {}
        async for batch in self._scan(1000):
            with lua.translated(self.name):
                pipe = client.pipeline(transaction=False)
                for name in batch:
                    pipe.hmget(name, ["x", "a", "m:user_id"])
                rows = await pipe.execute()
            for deadline, alias, user_json in rows:
                if deadline is None or alias is not None or user_json is None:
                    continue
                try:
                    user_id = decode_value(user_json)
                    is_live = float(deadline) > now
                except ValueError:
                    raise StoreCorrupted(self.name, f"deadline {deadline[:20]!r} is not a number") from None
                if is_live and isinstance(user_id, str):
                    counts[user_id] = counts.get(user_id, 0) + 1
        top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return UserCounts(len(counts), sum(counts.values()), top)

    # --- users ------------------------------------------------------------------------

    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        tag = lua.user_tag(user_id)
        valid_after, members = await self._user(tag, now, listing=True)
        if not members:
            return []
        client = self._redis()
        with lua.translated(self.name):
            pipe = client.pipeline(transaction=False)
            for member in members:
                pipe.hmget(lua.session_key(self.prefix, member), lua.SUMMARY_FIELDS)
            rows = await pipe.execute()
        found: list[Summary] = []
        gone: list[str] = []
        for member, row in zip(members, rows, strict=True):
            if row[0] is not None and row[3] is not None:
                continue  # a cluster rotation in flight: neither listed nor forgotten
            summary = lua.decode_summary(member, row, tag, valid_after, now, self.name)
            if summary is None:
                gone.append(member)
            else:
                found.append(summary)
        if gone:
            await self._user(tag, now, remove=gone)
        return found

    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        return await self._delete(key, lua.user_tag(user_id))

    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        tag = lua.user_tag(user_id)
        keys = [lua.index_key(self.prefix, tag), lua.valid_after_key(self.prefix, tag)]
        # The user's valid_after refuses every session already (durable: on the replicas
        # too before this returns); the deletions that follow only free the memory.
        try:
            doomed = await self._eval(
                lua.REVOKE,
                keys,
                valid_after,
                lua.number(valid_after),
                "" if keep is None else keep.hex(),
                durable=True,
            )
        finally:
            if self.tracker is not None:
                self.tracker.cache.invalidate_owner(tag)
        if not doomed:
            return 0
        client = self._redis()
        with lua.translated(self.name):
            pipe = client.pipeline(transaction=False)
            for member in doomed:
                pipe.execute_command(
                    "EVAL", lua.DELETE_OWNED.text, 1, lua.session_key(self.prefix, member), tag
                )
            return sum(int(deleted) for deleted in await pipe.execute())

    async def aclose(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()
        with self._lock:
            client, self._client = self._client, None
            self._idle = []
        # A client of another (likely finished) event loop cannot be closed from this one;
        # its sockets close when it is collected.
        if client is not None and self._loop is asyncio.get_running_loop():
            with lua.translated(self.name):
                await client.aclose()
