"""A cache in front of a database: reads from the cache, the database stays the truth.

``AsyncCachedBackend`` composes two stores through the ordinary store contract. The
database holds every session, the user index and ``valid_after``; the cache holds
copies of recently read sessions. Writes go to the database first and then invalidate
the copy, so a write never has to update two places atomically.

**Never older than the database.** The classic race is a reader that misses, reads the
database, stalls, and refills the cache with what it read after a writer has already
changed the database and dropped the old copy. Each cached copy is therefore stamped:

* the cache holds, beside each session ``K``, a *generation stamp* ``G(K)`` (a random
  nonce), and for each signed-in user a *user stamp* ``U(u)``;
* a refill reads the stamps first, then the database, and stores the copy together
  with the nonces it read;
* a write replaces ``G(K)`` with a fresh nonce after the database write; a delete or a
  rotation deletes it; revoking a user deletes ``U(u)``;
* a copy is served only while its nonces are still the ones in the stamps.

Nonces are random and stamps are only ever created fresh or deleted, so a stamp that a
reader sees after a writer's invalidation was created after it; a copy carrying that
nonce was read from the database after it, hence after the writer's database write. A
stalled reader's copy carries the old nonce and is never served. docs/store-cached.md
gives the full argument and the costs; tests/test_store_cached.py replays the races step
by step.

**When the cache fails** reads and writes go on against the database; a warning is
logged and the cache is left alone for ``cooldown`` seconds. A copy can outlive a
failed invalidation (a partition, a cache restarted with its data), so every copy and
stamp expires ``ttl`` seconds after it was made, and this process serves no copy until
``ttl`` seconds after its last failed or skipped invalidation: another process may serve
a stale copy for at most ``ttl``.

Written once as async code; ``scripts/unasync.py`` generates ``CachedBackend``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, replace

from ..errors import StoreError
from ..stores.base import Change, Counts, Meta, Record, Rotation, Summary, Swap
from .backend import AsyncBackend

logger = logging.getLogger("sessionary")

_GENERATION = b"sessionary.cached.generation\x00"
_USER = b"sessionary.cached.user\x00"
STAMP_LIFETIMES = 2
"""Stamps live this many ``ttl``s, so a copy expiring on time finds its stamp still there."""


def generation_key(key: bytes) -> bytes:
    """Where the cache keeps the generation stamp of the session stored under ``key``."""
    return hashlib.sha256(_GENERATION + key).digest()


def user_key(user_id: str) -> bytes:
    """Where the cache keeps the stamp of a user's sessions."""
    return hashlib.sha256(_USER + user_id.encode("utf-8")).digest()


class AsyncCachedBackend(AsyncBackend):
    """``cache`` in front of ``database``; see the module docstring for the guarantees."""

    def __init__(
        self,
        cache: AsyncBackend,
        database: AsyncBackend,
        *,
        ttl: float = 60.0,
        cooldown: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.database = database
        self.ttl = ttl
        """The longest a cached copy lives, and the longest a stale copy can be served
        by other processes after an invalidation failed."""
        self.cooldown = cooldown
        """Seconds the cache is left alone after it failed, before it is tried again."""
        self._monotonic = monotonic
        self._skip_until = -math.inf
        self._distrust_until = -math.inf
        joiner = "&" if "?" in cache.name else "?"
        self.name = f"cached+{cache.name}{joiner}backend={database.name}"

    # --- the cache's health ----------------------------------------------------------

    def _reachable(self) -> bool:
        return self._monotonic() >= self._skip_until

    def _trusted(self) -> bool:
        """Whether copies may be served: the cache works and no invalidation of this
        process failed or was skipped within the last ``ttl`` seconds."""
        moment = self._monotonic()
        return moment >= self._skip_until and moment >= self._distrust_until

    def _distrust(self) -> None:
        self._distrust_until = max(self._distrust_until, self._monotonic() + self.ttl)

    def _failed(self, doing: str, error: StoreError, *, invalidating: bool) -> None:
        self._skip_until = self._monotonic() + self.cooldown
        if invalidating:
            self._distrust()
        logger.warning(
            "session cache %s failed while %s (%s); using %s alone, retrying the cache in %gs%s",
            self.cache.name,
            doing,
            error.cause,
            self.database.name,
            self.cooldown,
            f", serving no cached copy for {self.ttl:g}s" if invalidating else "",
        )

    # --- stamps ----------------------------------------------------------------------

    def _stamp(self, key: bytes, nonce: str, now: float, user_id: str | None = None) -> Record:
        until = now + STAMP_LIFETIMES * self.ttl
        return Record(key, {"n": nonce, "u": user_id}, Meta(now, now, now, until), until)

    async def _nonce(self, key: bytes, now: float) -> tuple[str | None, str | None]:
        """The nonce of a stamp, and the user it names (None, None when absent)."""
        stamp = await self.cache.load(key, now)
        if stamp is None:
            return None, None
        nonce, user_id = stamp.data.get("n"), stamp.data.get("u")
        return (
            nonce if isinstance(nonce, str) else None,
            user_id if isinstance(user_id, str) else None,
        )

    async def _arm(self, key: bytes, now: float, user_id: str | None = None) -> str | None:
        """The nonce of the stamp at ``key``, creating the stamp if there is none."""
        nonce = secrets.token_urlsafe(16)
        if await self.cache.create(self._stamp(key, nonce, now, user_id), now):
            return nonce
        return (await self._nonce(key, now))[0]

    async def _renew(self, key: bytes, now: float) -> str | None:
        """Invalidate every copy of the session under ``key`` by giving it a fresh
        generation; returns the new nonce (None when the cache could not be told)."""
        if not self._reachable():
            self._distrust()
            return None
        nonce = secrets.token_urlsafe(16)
        stamp = self._stamp(generation_key(key), nonce, now)
        try:
            renewed = Change(
                set={"n": json.dumps(nonce)}, meta=asdict(stamp.meta), expires_at=stamp.expires_at
            )
            if await self.cache.write(stamp.key, renewed, now) or await self.cache.create(stamp, now):
                return nonce
            return None  # created by a reader meanwhile, hence after the database write
        except StoreError as error:
            self._failed("invalidating a cached session", error, invalidating=True)
            return None

    async def _forget(self, *keys: bytes) -> None:
        """Drop stamps (first: that alone invalidates) and then the copies, at ``keys``."""
        if not self._reachable():
            self._distrust()
            return
        try:
            for key in keys:
                await self.cache.delete(key)
        except StoreError as error:
            self._failed("invalidating a cached session", error, invalidating=True)

    # --- reading ---------------------------------------------------------------------

    async def load(self, key: bytes, now: float) -> Record | None:
        if not self._trusted():
            return await self.database.load(key, now)
        try:
            entry = await self.cache.load(key, now)
            generation, stamped_user = await self._nonce(generation_key(key), now)
            hint = _user_of(entry) if entry is not None else stamped_user
            user_nonce = (await self._nonce(user_key(hint), now))[0] if hint is not None else None
        except StoreError as error:
            self._failed("reading a session", error, invalidating=False)
            return await self.database.load(key, now)
        if entry is not None and generation is not None:
            copy = _copy(entry, generation, user_nonce, now)
            if copy is not None:
                return copy
        return await self._refill(key, now, generation, hint, user_nonce)

    async def _refill(
        self, key: bytes, now: float, generation: str | None, hint: str | None, user_nonce: str | None
    ) -> Record | None:
        """Read the database and cache what it says, if the stamps were read before it."""
        record = await self.database.load(key, now)
        if record is None or record.key != key:
            return record  # nothing to cache; a renewal alias is read from the database
        user_id = record.meta.user_id
        if generation is not None and (user_id is None or (user_id == hint and user_nonce is not None)):
            await self._fill(record, generation, user_nonce, now)
            return record
        # A stamp was missing, or the user was not the one guessed: take the stamps now,
        # then read again, so that what is cached was read after them.
        try:
            generation = generation or await self._arm(generation_key(key), now, user_id)
            user_nonce = await self._arm(user_key(user_id), now) if user_id is not None else None
        except StoreError as error:
            self._failed("stamping a session", error, invalidating=False)
            return record
        if generation is None or (user_id is not None and user_nonce is None):
            return record
        again = await self.database.load(key, now)
        if again is not None and again.key == key and again.meta.user_id == user_id:
            await self._fill(again, generation, user_nonce, now)
        return again

    async def _fill(self, record: Record, generation: str, user_nonce: str | None, now: float) -> None:
        """Cache ``record`` under the nonces read before it was read."""
        entry = Record(
            record.key,
            {
                "n": generation,
                "u": record.meta.user_id,
                "m": user_nonce,
                "e": record.expires_at,
                "d": record.data,
            },
            # The user lives in the copy's data: the cache keeps no user index of its own.
            replace(record.meta, user_id=None),
            min(record.expires_at, now + self.ttl),
        )
        try:
            if not await self.cache.create(entry, now):
                # An older copy is there (this is how copies are refreshed after a write).
                await self.cache.write(entry.key, _overwrite(entry), now)
        except StoreError as error:
            self._failed("caching a session", error, invalidating=False)

    async def exists(self, key: bytes) -> bool:
        return await self.database.exists(key)

    # --- writing: the database first, then the cache ----------------------------------

    async def create(self, record: Record, now: float) -> bool:
        if not await self.database.create(record, now):
            return False
        await self._prepare(record.key, now, record.meta.user_id)
        return True

    async def _prepare(self, key: bytes, now: float, user_id: str | None) -> None:
        """Stamp a new session now, so that its first read is cached after one database read."""
        if self._reachable():
            try:
                await self._arm(generation_key(key), now, user_id)
                if user_id is not None:
                    await self._arm(user_key(user_id), now)
            except StoreError as error:
                self._failed("stamping a session", error, invalidating=False)

    async def write(self, key: bytes, change: Change, now: float) -> bool:
        if not await self.database.write(key, change, now):
            return False
        await self._written(key, now)
        return True

    async def compare_and_set(
        self, key: bytes, name: str, expected: str | None, value: str | None, now: float
    ) -> Swap:
        """Decided by the database alone (a copy may be stale); a swap then invalidates
        the copies as a write does."""
        result = await self.database.compare_and_set(key, name, expected, value, now)
        if result is Swap.SWAPPED:
            await self._written(key, now)
        return result

    async def _written(self, key: bytes, now: float) -> None:
        """After the database changed the session under ``key``: invalidate its copies."""
        generation = await self._renew(key, now)
        if not self._reachable():
            return  # the cache is left alone for now, and copies are distrusted meanwhile
        # Through a renewal alias the write landed in another session: find out which.
        try:
            current = await self.database.load(key, now)
        except StoreError as error:
            logger.warning("could not re-read %s after a write (%s)", self.database.name, error.cause)
            current = None
        if current is None:
            # Gone already (deleted, expired, or an alias that ended meanwhile): the
            # session the write landed in cannot be named, so distrust copies for a while.
            self._distrust()
        elif current.key != key:
            await self._renew(current.key, now)
        elif generation is not None and current.meta.user_id is None:
            # Read after the new stamp: the fresh state can be cached right away.
            await self._fill(current, generation, None, now)

    async def touch(
        self, key: bytes, last_seen: float, saved_deadline: float, expires_at: float, now: float
    ) -> bool:
        if not await self.database.touch(key, last_seen, saved_deadline, expires_at, now):
            return False
        await self._renew(key, now)
        return True

    async def rotate(
        self,
        old_key: bytes,
        record: Record,
        grace_until: float | None,
        now: float,
        change: Change | None = None,
    ) -> Rotation:
        result = await self.database.rotate(old_key, record, grace_until, now, change)
        if result is Rotation.ROTATED:
            await self._forget(generation_key(old_key), old_key)
            await self._prepare(record.key, now, record.meta.user_id)
        return result

    async def delete(self, key: bytes) -> bool:
        if not await self.database.delete(key):
            return False
        await self._forget(generation_key(key), key)
        return True

    # --- the whole store, and users: the database alone knows --------------------------

    async def clear_expired(self, now: float, batch_size: int) -> AsyncIterator[int]:
        async for count in self.database.clear_expired(now, batch_size):
            yield count
        if self._reachable():
            # A cache without native expiry (memory://) keeps expired copies until asked.
            try:
                async for _ in self.cache.clear_expired(now, batch_size):
                    pass
            except StoreError as error:
                self._failed("clearing expired copies", error, invalidating=False)

    async def count(self, now: float) -> Counts:
        return await self.database.count(now)

    async def user_sessions(self, user_id: str, now: float) -> list[Summary]:
        return await self.database.user_sessions(user_id, now)

    async def delete_user_session(self, user_id: str, key: bytes) -> bool:
        if not await self.database.delete_user_session(user_id, key):
            return False
        await self._forget(generation_key(key), key)
        return True

    async def revoke_user(self, user_id: str, valid_after: float, keep: bytes | None) -> int:
        deleted = await self.database.revoke_user(user_id, valid_after, keep)
        # Every copy of the user's sessions carries the user stamp: dropping it invalidates
        # them all, including sessions the database index did not list.
        await self._forget(user_key(user_id))
        return deleted

    async def migrate(self) -> str:
        """Create the tables of either store, if it has any (``sessionary migrate``); what
        each did, or that neither needs a schema."""
        done = []
        for backend in (self.database, self.cache):
            migrate = getattr(backend, "migrate", None)
            if migrate is not None:
                done.append(f"{backend.name}: {await migrate()}")
        return "; ".join(done) or "nothing to migrate (neither store needs a schema)"

    async def aclose(self) -> None:
        try:
            await self.cache.aclose()
        finally:
            await self.database.aclose()


def _user_of(entry: Record) -> str | None:
    user_id = entry.data.get("u")
    return user_id if isinstance(user_id, str) else None


def _copy(entry: Record, generation: str, user_nonce: str | None, now: float) -> Record | None:
    """The session a cached copy holds, if its stamps are still current."""
    data = entry.data
    if data.get("n") != generation:
        return None
    user_id = _user_of(entry)
    if data.get("u") is not None and (user_id is None or user_nonce is None or data.get("m") != user_nonce):
        return None
    session, expires_at = data.get("d"), data.get("e")
    if not isinstance(session, dict) or not isinstance(expires_at, int | float) or expires_at <= now:
        return None
    return Record(entry.key, session, replace(entry.meta, user_id=user_id), float(expires_at))


def _overwrite(entry: Record) -> Change:
    """A change that makes an existing cache record equal to ``entry``."""
    return Change(
        set={
            name: json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            for name, value in entry.data.items()
        },
        cleared=True,
        meta=asdict(entry.meta),
        expires_at=entry.expires_at,
    )
