"""The near-cache's decisions: when a copy of a session kept in this process may be served.

A store that can tell every process about changes (Redis server-assisted client-side
caching, PostgreSQL ``LISTEN``/``NOTIFY``) keeps copies of the sessions this process has
read, so a read of a session seen before costs no round trip. Whether a copy may be
served is decided here, without I/O, with the time passed in; the store only feeds it
what its invalidation channel says (:meth:`NearCache.channel_up`, :meth:`heartbeat`,
:meth:`invalidate`, :meth:`invalidate_owner`, :meth:`channel_down`) and what it read.

The rules:

* **The channel's epoch.** A copy is served only while the invalidation channel is up
  and has been without a break since the copy was stored: every change of the
  channel's state (up after a reconnect, down, a resync) starts a new epoch and drops
  every copy. While the channel is down nothing is stored and nothing served.
* **The lease.** The channel is trusted only until its heartbeat deadline
  (``lease`` seconds after the last sign of life, on ``lease_clock``, monotonic by
  default); past it every read is bypassed, as if the channel were down, until the next
  heartbeat: a connection that hangs without closing cannot keep stale copies alive.
* **The read race.** A read that began before an invalidation of its key (or of its
  owner) reached this process must not store what it read: the reply may predate the
  change. Each read takes a :class:`Ticket` (a sequence number) before it asks the
  store; :meth:`NearCache.put` refuses a ticket older than the latest invalidation of
  that key or owner. The recent invalidations are kept in a bounded window; a ticket
  older than the window's floor is refused too (never a stale copy, at worst a miss).
* **Owners.** Each copy is indexed by its owner (the signed-in user, in whatever
  spelling the store uses for the user's revocation key); a change of that key (a
  revocation of all the user's sessions) drops every copy the user owns.
* **The deadline.** A copy is never served at or past the record's own deadline.
* **This process's own writes.** Where the channel delivers, in the order the store
  made the changes, exactly one invalidation for each (PostgreSQL's notifications; not
  Redis's, which merges those of one key made close together), what this process wrote
  may be kept (:meth:`NearCache.keep_written`): if, since the write's ticket, the channel
  announced no change of the key, the copy waits for one (the write's own, which comes
  before any later change's) and the next after it drops it; if it announced one, that
  was either the write's own (the copy is current) or an earlier change's, and the
  write's own is still to come and drops it; two or more, and nothing is kept. Where
  the channel's own connection carries the write too (Redis), its reply and the
  invalidations come in one stream in the server's order: the record is kept at the
  reply's place (:meth:`NearCache.keep_in_order`), and the next invalidation of the key
  (the write's own, merged with any other change of that moment) drops it.
* **Memory.** Copies are evicted least recently used first so that their total size
  (as the store measures it, plus a fixed overhead per copy) stays within
  ``max_bytes`` (:data:`DEFAULT_MAX_BYTES`, 32 MiB). A copy larger than the whole
  budget is never stored.

What is cached is up to the store. Redis and PostgreSQL keep what a read found decoded
and checked once (:class:`sessionary.stores.base.Kept`), each hit handing out a copy of
its own; what a save returned stays in the store's text form, decoded by each hit. Either
way no caller can change another's copy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import ConfigError

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""The default memory budget of one process's near-cache (32 MiB)."""

DEFAULT_LEASE = 5.0
"""Seconds the channel is trusted after its last heartbeat, by default."""

ENTRY_OVERHEAD = 240
"""Bytes counted for each copy beside its own size (the entry, its key, its index slots)."""

RECENT_INVALIDATIONS = 4096
"""How many recent invalidations are remembered for the read race; older tickets are refused."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Ticket:
    """Taken before a read asks the store; hands what it read to :meth:`NearCache.put`."""

    key: bytes
    sequence: int
    epoch: int


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    expires_at: float
    owner: str | None
    generation: int
    size: int
    epoch: int
    awaiting: bool = False
    """A copy of this process's own write whose invalidation has not come yet: the next
    invalidation leaves it in place (it is that one, or one before it), the one after drops it."""


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    """A copy that may be served: what the store kept, and its generation."""

    value: T
    generation: int


@dataclass(frozen=True, slots=True)
class Stats:
    entries: int
    bytes: int
    hits: int
    misses: int
    bypassed: int
    """Reads that found the channel down or its lease run out."""
    refused: int
    """Reads whose copy was not stored (the read race, the epoch, the budget)."""
    invalidations: int


class NearCache(Generic[T]):
    """One process's copies of sessions, and the invalidation channel's state.

    Thread-safe: a store's listener thread and request threads share one instance (each
    method holds the instance's lock for a few dictionary operations, never across I/O).
    """

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        lease: float = DEFAULT_LEASE,
        recent: int = RECENT_INVALIDATIONS,
        lease_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError("near_cache_bytes", f"{max_bytes!r} must be a whole number of bytes, 0 or more")
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not 0 < lease < math.inf:
            raise ConfigError("near_cache_lease", f"{lease!r} must be a number of seconds above 0")
        if isinstance(recent, bool) or not isinstance(recent, int) or recent < 1:
            raise ConfigError("near_cache_recent", f"{recent!r} must be a whole number, 1 or more")
        self.max_bytes = max_bytes
        self.lease = float(lease)
        self._clock = lease_clock
        self._recent_limit = recent
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, _Entry[T]] = OrderedDict()
        self._owners: dict[str, set[bytes]] = {}
        self._bytes = 0
        self._up = False
        self._epoch = 0
        self._deadline = -math.inf
        self._sequence = 0
        # For each recently invalidated key (bytes) or owner (str), oldest first: the
        # sequence of its latest invalidation, and of the latest two that came through the
        # channel (0: none); a ticket older than ``_floor`` predates the window.
        self._recent: OrderedDict[bytes | str, tuple[int, int, int]] = OrderedDict()
        self._floor = 0
        self._hits = self._misses = self._bypassed = self._refused = self._invalidations = 0

    # --- the channel ------------------------------------------------------------------

    def channel_up(self) -> None:
        """The invalidation channel is (again) subscribed: a new epoch, every copy
        dropped (changes made while it was down were never heard), the lease started."""
        with self._lock:
            self._new_epoch()
            self._up = True
            self._deadline = self._clock() + self.lease

    def channel_down(self) -> None:
        """The channel is lost or resyncing: every copy dropped, every read bypassed."""
        with self._lock:
            self._new_epoch()
            self._up = False
            self._deadline = -math.inf

    def heartbeat(self) -> None:
        """The channel answered: trusted for ``lease`` seconds more (ignored while down)."""
        with self._lock:
            if self._up:
                self._deadline = max(self._deadline, self._clock() + self.lease)

    def usable(self) -> bool:
        """Whether copies may be stored and served now (the channel up, its lease running)."""
        return self._up and self._clock() < self._deadline

    @property
    def epoch(self) -> int:
        return self._epoch

    def _new_epoch(self) -> None:
        self._epoch += 1
        self._sequence += 1
        self._floor = self._sequence  # every ticket taken so far is refused
        self._recent.clear()
        self._entries.clear()
        self._owners.clear()
        self._bytes = 0

    # --- invalidations ----------------------------------------------------------------

    def invalidate(self, key: bytes, *, here: bool = False) -> None:
        """The channel says the session under ``key`` changed or was deleted (``here``:
        this process changed it itself and says so before the channel does)."""
        with self._lock:
            self._invalidations += 1
            self._mark(key, here)
            entry = self._entries.get(key)
            if entry is None:
                return
            if entry.awaiting and not here:
                entry.awaiting = False  # the kept write's own announcement (or one before it)
                return
            del self._entries[key]
            self._forget(key, entry)

    def invalidate_owner(self, owner: str, *, here: bool = False) -> None:
        """The owner's revocation key changed: every copy it owns is dropped."""
        with self._lock:
            self._invalidations += 1
            self._mark(owner, here)
            for key in self._owners.pop(owner, ()):
                entry = self._entries.pop(key, None)
                if entry is not None:
                    self._bytes -= entry.size

    def flush(self) -> None:
        """Everything may have changed (the server's ``FLUSHALL``, a resync): every
        copy dropped and every read in flight refused; the channel stays up."""
        with self._lock:
            self._invalidations += 1
            self._new_epoch()

    def _mark(self, name: bytes | str, here: bool) -> None:
        self._sequence += 1
        sequence = self._sequence
        recent = self._recent
        _, latest, previous = recent.pop(name, (0, 0, 0))
        recent[name] = (sequence, latest, previous) if here else (sequence, sequence, latest)
        while len(recent) > self._recent_limit:
            _, (evicted, _, _) = recent.popitem(last=False)
            self._floor = max(self._floor, evicted)

    def _forget(self, key: bytes, entry: _Entry[T]) -> None:
        self._bytes -= entry.size
        if entry.owner is not None:
            keys = self._owners.get(entry.owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owners[entry.owner]

    # --- reads ------------------------------------------------------------------------

    def get(self, key: bytes, now: float) -> Hit[T] | None:
        """The copy of ``key`` if it may be served at ``now`` (the time the store would
        judge the record's deadline by); else None (read the store)."""
        if not (self._up and self._clock() < self._deadline):
            self._bypassed += 1
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.epoch != self._epoch:
                self._misses += 1
                return None
            if now >= entry.expires_at:
                del self._entries[key]
                self._forget(key, entry)
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return Hit(entry.value, entry.generation)

    def ticket(self, key: bytes) -> Ticket:
        """Taken before asking the store for ``key``."""
        with self._lock:
            return Ticket(key, self._sequence, self._epoch)

    def put(
        self,
        ticket: Ticket,
        value: T,
        *,
        expires_at: float,
        owner: str | None,
        size: int,
        now: float,
        generation: int = 0,
    ) -> bool:
        """Keep what a read (or this process's own write) found under the ticket's key.

        Refused (False) when the channel is not usable, its epoch changed since the
        ticket, the key or ``owner`` was invalidated after the ticket was taken, the
        record is already past its deadline, or it would not fit the budget at all.
        """
        key = ticket.key
        cost = size + ENTRY_OVERHEAD
        with self._lock:
            if (
                not self._storable(ticket.epoch, expires_at, cost, now)
                or ticket.sequence < self._floor
                or self._latest(key) > ticket.sequence
                or (owner is not None and self._latest(owner) > ticket.sequence)
            ):
                # A copy already kept stays: it was kept after any invalidation since.
                self._refused += 1
                return False
            self._store(key, _Entry(value, expires_at, owner, generation, cost, self._epoch))
            return True

    def _storable(self, epoch: int, expires_at: float, cost: int, now: float) -> bool:
        """What every copy kept must meet (under the lock): the channel usable and in the
        epoch the copy was read or written in, the record before its deadline, and its
        cost within the whole budget."""
        return self.usable() and epoch == self._epoch and now < expires_at and cost <= self.max_bytes

    def _store(self, key: bytes, entry: _Entry[T]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._forget(key, old)
        self._entries[key] = entry
        self._bytes += entry.size
        if entry.owner is not None:
            self._owners.setdefault(entry.owner, set()).add(key)
        while self._bytes > self.max_bytes:
            evicted, dropped = self._entries.popitem(last=False)
            self._forget(evicted, dropped)

    def _latest(self, name: bytes | str) -> int:
        found = self._recent.get(name)
        return -1 if found is None else found[0]

    # --- this process's own writes ----------------------------------------------------

    def keep_written(
        self,
        ticket: Ticket,
        value: T,
        *,
        expires_at: float,
        owner: str | None,
        size: int,
        now: float,
    ) -> bool:
        """Keep the record as this process's own write left it (the store checked, in the
        write itself, that the session is live and not revoked), the ticket taken before
        the write was sent. Only for a channel that announces each change exactly once and
        in order (see the module's rules).

        Kept if, since the ticket, the channel announced at most one change of the key
        (none: the copy waits for the write's own) and none of ``owner``; refused as
        :meth:`put` refuses."""
        key, since = ticket.key, ticket.sequence
        cost = size + ENTRY_OVERHEAD
        with self._lock:
            heard = self._recent.get(key)
            latest, previous = (0, 0) if heard is None else heard[1:]
            announced = latest > since
            if (
                not self._storable(ticket.epoch, expires_at, cost, now)
                or since < self._floor
                or previous > since
                or (owner is not None and self._latest(owner) > since)
            ):
                self._refused += 1
                return False
            self._store(key, _Entry(value, expires_at, owner, 0, cost, self._epoch, not announced))
            return True

    def keep_in_order(
        self,
        key: bytes,
        value: T,
        *,
        epoch: int,
        expires_at: float,
        owner: str | None,
        size: int,
        now: float,
    ) -> bool:
        """Keep the record under ``key`` (``value``, as a read would find it) that a reply
        read on the channel's own connection carries: a write's record as written, or a
        read the channel made itself (Redis: one connection carries both the
        invalidations and those commands, so their order is the server's).

        Called by the channel's reader at that reply's place in the stream (``epoch``:
        the channel's epoch when the command was sent): every invalidation sent before
        the reply has been applied, and every change made after the command will be
        announced after it, and drop the copy. A read through another connection that
        began before now may have read an older record: its ticket is refused, as after
        an invalidation. Refused (False) when the channel is not usable, its epoch
        changed, the record is past its deadline, or it would not fit the budget at all.
        """
        cost = size + ENTRY_OVERHEAD
        with self._lock:
            if not self._storable(epoch, expires_at, cost, now):
                self._refused += 1
                return False
            self._mark(key, True)
            self._store(key, _Entry(value, expires_at, owner, 0, cost, self._epoch))
            return True

    def drop(self, key: bytes) -> None:
        """Forget this process's copy of ``key`` (it deleted or rotated it itself)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._forget(key, entry)

    # --- reports ----------------------------------------------------------------------

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                len(self._entries),
                self._bytes,
                self._hits,
                self._misses,
                self._bypassed,
                self._refused,
                self._invalidations,
            )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
