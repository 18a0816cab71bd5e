"""The near-cache's decisions (sessionary.nearcache), without a store: the channel's epoch
and lease, the read race, owners, deadlines and the memory budget; and a model-based
property: whatever order writes, invalidations, reads, outages and revocations come in,
a copy served is never older than the last change whose invalidation reached the cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sessionary.errors import ConfigError
from sessionary.nearcache import DEFAULT_MAX_BYTES, ENTRY_OVERHEAD, NearCache

K1, K2 = b"\x01" * 32, b"\x02" * 32


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _up(cache: NearCache[str]) -> NearCache[str]:
    cache.channel_up()
    return cache


def _put(cache: NearCache[str], key: bytes, value: str, now: float = 0.0, **kw: object) -> bool:
    ticket = cache.ticket(key)
    options: dict[str, object] = {"expires_at": 1000.0, "owner": None, "size": 10, "now": now, **kw}
    return cache.put(ticket, value, **options)  # type: ignore[arg-type]


def test_default_budget_is_32_mib() -> None:
    assert DEFAULT_MAX_BYTES == 32 * 1024 * 1024
    assert NearCache[str]().max_bytes == DEFAULT_MAX_BYTES


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_bytes": -1}, "near_cache_bytes"),
        ({"max_bytes": 1.5}, "near_cache_bytes"),
        ({"max_bytes": True}, "near_cache_bytes"),
        ({"lease": 0}, "near_cache_lease"),
        ({"lease": float("inf")}, "near_cache_lease"),
        ({"lease": "5"}, "near_cache_lease"),
        ({"recent": 0}, "near_cache_recent"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, object], setting: str) -> None:
    with pytest.raises(ConfigError) as raised:
        NearCache(**kwargs)  # type: ignore[arg-type]
    assert raised.value.setting == setting


def test_nothing_is_kept_or_served_before_the_channel_is_up() -> None:
    cache: NearCache[str] = NearCache()
    assert not _put(cache, K1, "a")
    assert cache.get(K1, 0.0) is None
    assert cache.stats().bypassed == 1


def test_a_copy_is_served_while_the_channel_stays_up() -> None:
    cache = _up(NearCache[str]())
    assert _put(cache, K1, "a", generation=7)
    hit = cache.get(K1, 1.0)
    assert hit is not None and hit.value == "a" and hit.generation == 7
    assert cache.get(K2, 1.0) is None


def test_channel_down_drops_everything_and_bypasses() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a")
    cache.channel_down()
    assert len(cache) == 0
    assert cache.get(K1, 1.0) is None
    assert not _put(cache, K1, "a", now=1.0)


def test_a_reconnect_starts_a_new_epoch() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a")
    ticket = cache.ticket(K2)  # a read in flight across the outage
    cache.channel_down()
    cache.channel_up()
    assert cache.get(K1, 2.0) is None, "a copy from before the outage is never served"
    assert not cache.put(ticket, "b", expires_at=1000.0, owner=None, size=1, now=2.0)
    assert _put(cache, K2, "b", now=2.0)


def test_the_lease_runs_out_without_heartbeats() -> None:
    ticker = Ticker()
    cache: NearCache[str] = NearCache(lease=5.0, lease_clock=ticker)
    cache.channel_up()
    _put(cache, K1, "a")
    ticker.now = 4.9
    assert cache.get(K1, 0.0) is not None
    ticker.now = 5.0
    assert cache.get(K1, 0.0) is None, "past the lease: bypassed"
    assert not _put(cache, K2, "b")
    assert not cache.usable()
    ticker.now = 5.1
    cache.heartbeat()
    ticker.now = 10.0
    assert cache.get(K1, 0.0) is not None, "a heartbeat renews trust in the same epoch"
    ticker.now = 10.1
    assert cache.get(K1, 0.0) is None


def test_a_heartbeat_while_down_is_ignored() -> None:
    cache: NearCache[str] = NearCache()
    cache.heartbeat()
    assert not cache.usable()


def test_an_invalidation_drops_the_copy() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a")
    _put(cache, K2, "b")
    cache.invalidate(K1)
    assert cache.get(K1, 0.0) is None
    assert cache.get(K2, 0.0) is not None


def test_a_read_that_began_before_an_invalidation_is_not_kept() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K1)  # arrived while the read was on the wire
    assert not cache.put(ticket, "old", expires_at=1000.0, owner=None, size=1, now=0.0)
    assert cache.get(K1, 0.0) is None
    later = cache.ticket(K1)
    assert cache.put(later, "new", expires_at=1000.0, owner=None, size=1, now=0.0)


def test_an_invalidation_of_another_key_does_not_refuse_a_read() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K2)
    assert cache.put(ticket, "a", expires_at=1000.0, owner=None, size=1, now=0.0)


def test_a_ticket_older_than_the_window_is_refused() -> None:
    cache: NearCache[str] = NearCache(recent=2)
    cache.channel_up()
    ticket = cache.ticket(K1)
    cache.invalidate(K1)
    cache.invalidate(b"x")
    cache.invalidate(b"y")  # K1's invalidation has left the window
    assert not cache.put(ticket, "old", expires_at=1000.0, owner=None, size=1, now=0.0)


def test_revoking_an_owner_drops_its_copies_and_its_reads_in_flight() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a", owner="alice")
    _put(cache, K2, "b", owner="bob")
    in_flight = cache.ticket(b"\x03" * 32)
    cache.invalidate_owner("alice")
    assert cache.get(K1, 0.0) is None
    assert cache.get(K2, 0.0) is not None
    assert not cache.put(in_flight, "c", expires_at=1000.0, owner="alice", size=1, now=0.0)
    assert _put(cache, K1, "a2", owner="alice")
    assert cache.get(K1, 0.0) is not None


def test_a_copy_is_never_served_at_its_deadline() -> None:
    cache = _up(NearCache[str](lease=1e9))
    _put(cache, K1, "a", expires_at=10.0)
    assert cache.get(K1, 9.99) is not None
    assert cache.get(K1, 10.0) is None
    assert not _put(cache, K2, "b", expires_at=10.0, now=10.0)


def test_flush_drops_everything_and_keeps_the_channel() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a")
    ticket = cache.ticket(K2)
    cache.flush()
    assert cache.get(K1, 0.0) is None
    assert not cache.put(ticket, "b", expires_at=1000.0, owner=None, size=1, now=0.0)
    assert _put(cache, K2, "b")


def test_least_recently_used_copies_go_first_within_the_budget() -> None:
    cost = 100 + ENTRY_OVERHEAD
    cache = _up(NearCache[str](max_bytes=3 * cost))
    keys = [bytes([i]) * 32 for i in range(4)]
    for key in keys[:3]:
        assert _put(cache, key, "v", size=100)
    assert cache.get(keys[0], 0.0) is not None  # now the most recently used
    assert _put(cache, keys[3], "v", size=100)
    assert keys[1] not in cache, "the least recently used copy was evicted"
    assert all(key in cache for key in (keys[0], keys[2], keys[3]))
    assert cache.stats().bytes == 3 * cost


def test_a_copy_larger_than_the_budget_is_not_kept() -> None:
    cache = _up(NearCache[str](max_bytes=1000))
    assert not _put(cache, K1, "v", size=1000)
    assert len(cache) == 0


def test_a_zero_budget_keeps_nothing() -> None:
    cache = _up(NearCache[str](max_bytes=0))
    assert not _put(cache, K1, "v", size=0)


def test_replacing_a_copy_counts_its_size_once() -> None:
    cache = _up(NearCache[str]())
    _put(cache, K1, "a", size=100, owner="alice")
    _put(cache, K1, "b", size=50, owner="bob")
    assert cache.stats().bytes == 50 + ENTRY_OVERHEAD
    cache.invalidate_owner("alice")
    assert cache.get(K1, 0.0) is not None, "the copy now belongs to bob"
    cache.drop(K1)
    assert cache.stats().bytes == 0 and len(cache) == 0


# --- the model ------------------------------------------------------------------------

KEYS = [bytes([i]) * 32 for i in range(3)]
OWNERS = {KEYS[0]: "alice", KEYS[1]: "alice", KEYS[2]: None}
SOME_KEY = st.sampled_from([KEYS[0], KEYS[0], KEYS[0], KEYS[1], KEYS[2]])
"""Mostly one key, so that a read, a change and its invalidation meet on it."""
RARELY = st.integers(0, 3)
"""Outages and revocations act on one draw in four (2: not a value the search favours)."""


@dataclass
class _Read:
    key: bytes
    ticket: object
    value: tuple[int, int]


@dataclass
class _World:
    """The store's truth, the invalidations on their way, what reached the cache."""

    version: dict[bytes, int] = field(default_factory=lambda: dict.fromkeys(KEYS, 0))
    revoked: int = 0
    queue: list[bytes | str] = field(default_factory=list)
    delivered: dict[bytes, int] = field(default_factory=lambda: dict.fromkeys(KEYS, 0))
    delivered_revoked: int = 0
    # Version of each key at the moment of each queued message, to know what it delivers.
    pending: list[tuple[object, object]] = field(default_factory=list)
    """Messages on the channel, in order: (key or owner, version), or ("reply", (epoch,
    key, value)) for a reply on the channel's own connection whose record this process
    keeps (Redis)."""


class NearCacheModel(RuleBasedStateMachine):
    """A store with three sessions (two owned by one user), invalidations delivered late,
    reads that take their time, outages, revocations and a clock."""

    def __init__(self) -> None:
        super().__init__()
        self.ticker = Ticker()
        self.cache: NearCache[tuple[int, int]] = NearCache(
            max_bytes=2 * (10 + ENTRY_OVERHEAD), lease=4.0, recent=3, lease_clock=self.ticker
        )
        self.world = _World()
        self.reads: list[_Read] = []
        self.replies: list[tuple[object, bytes, tuple[int, int]]] = []
        self.now = 0.0
        self.up = False
        self.last_beat = -1e9

    @rule(key=SOME_KEY)
    def write(self, key: bytes) -> None:
        self.world.version[key] += 1
        if self.up:
            self.world.pending.append((key, self.world.version[key]))

    @rule(odds=RARELY)
    def revoke(self, odds: int) -> None:
        if odds != 2:
            return
        self.world.revoked += 1
        if self.up:
            self.world.pending.append(("alice", self.world.revoked))

    @precondition(lambda self: bool(self.world.pending))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        # Messages arrive in order (one connection); deliver the oldest.
        name, version = self.world.pending.pop(0)
        if name == "reply":
            epoch, key, value = version  # type: ignore[misc]
            self.cache.keep_in_order(
                key, value, epoch=epoch, expires_at=1e9, owner=OWNERS[key], size=10, now=self.now
            )
        elif isinstance(name, bytes):
            assert isinstance(version, int)
            self.world.delivered[name] = max(self.world.delivered[name], version)
            self.cache.invalidate(name)
        else:
            assert isinstance(name, str) and isinstance(version, int)
            self.world.delivered_revoked = max(self.world.delivered_revoked, version)
            self.cache.invalidate_owner(name)

    @rule(key=SOME_KEY)
    def own_write(self, key: bytes) -> None:
        # This process writes on the channel's own connection (Redis): it drops its copy,
        # then the write's reply (the record as written) and the write's own invalidation
        # (Redis cannot say whose change it was) queue on the channel.
        self.cache.invalidate(key, here=True)
        self.world.version[key] += 1
        value = (self.world.version[key], self.world.revoked)
        if self.up:
            self.world.pending.append(("reply", (self.cache.epoch, key, value)))
            self.world.pending.append((key, self.world.version[key]))

    @rule(key=SOME_KEY)
    def reread(self, key: bytes) -> None:
        # The channel reads a key again on its own connection: the reply queues behind
        # every invalidation sent so far.
        if self.up:
            value = (self.world.version[key], self.world.revoked)
            self.world.pending.append(("reply", (self.cache.epoch, key, value)))

    @rule(key=SOME_KEY)
    def own_kept_write(self, key: bytes) -> None:
        # This process writes where the channel announces each change once, in order
        # (PostgreSQL): a ticket, the write (its invalidation queued), its own drop; the
        # reply, the record as written, comes back later (own_kept_write_returns).
        ticket = self.cache.ticket(key)
        self.world.version[key] += 1
        version = self.world.version[key]
        if self.up:
            self.world.pending.append((key, version))
        self.cache.invalidate(key, here=True)
        self.replies.append((ticket, key, (version, self.world.revoked)))

    @precondition(lambda self: bool(self.replies))
    @rule(data=st.data())
    def own_kept_write_returns(self, data: st.DataObject) -> None:
        reply = data.draw(st.sampled_from(self.replies))
        self.replies.remove(reply)
        ticket, key, value = reply
        self.cache.keep_written(
            ticket,  # type: ignore[arg-type]
            value,
            expires_at=1e9,
            owner=OWNERS[key],
            size=10,
            now=self.now,
        )

    @rule(key=SOME_KEY)
    def begin_read(self, key: bytes) -> None:
        # The store answers right after the ticket: the oldest reply a read can get.
        ticket = self.cache.ticket(key)
        self.reads.append(_Read(key, ticket, (self.world.version[key], self.world.revoked)))

    @precondition(lambda self: bool(self.reads))
    @rule(data=st.data())
    def finish_read(self, data: st.DataObject) -> None:
        read = data.draw(st.sampled_from(self.reads))
        self.reads.remove(read)
        self.cache.put(
            read.ticket,  # type: ignore[arg-type]
            read.value,
            expires_at=1e9,
            owner=OWNERS[read.key],
            size=10,
            now=self.now,
        )

    @rule(odds=RARELY)
    def channel_down(self, odds: int) -> None:
        if odds != 2:
            return
        self.up = False
        self.world.pending.clear()  # lost with the connection
        self.cache.channel_down()

    @initialize()
    def start(self) -> None:
        self.channel_up()

    @rule(odds=RARELY)
    def reconnect(self, odds: int) -> None:
        if odds == 2:
            self.channel_up()

    def channel_up(self) -> None:
        # Subscribed again: the cache was emptied, so nothing missed can be served.
        self.up = True
        self.world.pending.clear()
        self.world.delivered = dict(self.world.version)
        self.world.delivered_revoked = self.world.revoked
        self.cache.channel_up()
        self.last_beat = self.now

    @precondition(lambda self: self.up)
    @rule()
    def heartbeat(self) -> None:
        self.cache.heartbeat()
        self.last_beat = self.now

    @rule(seconds=st.sampled_from([0.1, 0.1, 0.5, 3.5]))
    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.ticker.now += seconds

    @rule(key=SOME_KEY)
    def get(self, key: bytes) -> None:
        hit = self.cache.get(key, self.now)
        if hit is None:
            return
        assert self.up, "served while the channel was down"
        assert self.now < self.last_beat + self.cache.lease, "served past the lease"
        version, revoked = hit.value
        assert version >= self.world.delivered[key], "served a copy older than a delivered change"
        if OWNERS[key] is not None:
            assert revoked >= self.world.delivered_revoked, "served a copy its owner's revocation dropped"

    @invariant()
    def within_budget(self) -> None:
        assert self.cache.stats().bytes <= self.cache.max_bytes


TestNearCacheModel = NearCacheModel.TestCase
TestNearCacheModel.settings = settings(max_examples=600, stateful_step_count=20, deadline=None)


# --- this process's own writes --------------------------------------------------------


def _keep_in_order(
    cache: NearCache[str], value: str, *, epoch: int | None = None, owner: str | None = None
) -> bool:
    epoch = cache.epoch if epoch is None else epoch
    return cache.keep_in_order(K1, value, epoch=epoch, expires_at=1000.0, owner=owner, size=1, now=0.0)


def test_a_write_is_kept_as_its_reply_comes() -> None:
    cache = _up(NearCache[str]())
    cache.invalidate(K1, here=True)  # the writer drops its old copy at once
    assert _keep_in_order(cache, "written")
    hit = cache.get(K1, 0.0)
    assert hit is not None and hit.value == "written"


def test_a_read_begun_before_a_kept_write_keeps_nothing() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    assert _keep_in_order(cache, "written")
    assert not cache.put(ticket, "older", expires_at=1000.0, owner=None, size=1, now=0.0)
    hit = cache.get(K1, 0.0)
    assert hit is not None and hit.value == "written"


def test_a_write_is_not_kept_across_an_outage() -> None:
    cache = _up(NearCache[str]())
    epoch = cache.epoch  # the epoch it was sent in
    cache.channel_down()
    cache.channel_up()
    assert not _keep_in_order(cache, "written", epoch=epoch)
    assert K1 not in cache


def test_a_write_is_not_kept_while_the_channel_is_down() -> None:
    cache = NearCache[str]()
    assert not _keep_in_order(cache, "written")


def test_a_kept_write_goes_with_its_owner() -> None:
    cache = _up(NearCache[str]())
    assert _keep_in_order(cache, "written", owner="alice")
    cache.invalidate_owner("alice")
    assert cache.get(K1, 0.0) is None


def test_an_invalidation_after_the_write_was_kept_drops_it() -> None:
    cache = _up(NearCache[str]())
    assert _keep_in_order(cache, "written")
    cache.invalidate(K1)
    assert cache.get(K1, 0.0) is None


# --- this process's own writes, where each change is announced once, in order -------


def _keep(cache: NearCache[str], ticket: object, value: str, owner: str | None = None) -> bool:
    return cache.keep_written(ticket, value, expires_at=1000.0, owner=owner, size=1, now=0.0)  # type: ignore[arg-type]


def _served(cache: NearCache[str], key: bytes) -> str | None:
    hit = cache.get(key, 0.0)
    return None if hit is None else hit.value


def test_a_write_kept_before_its_announcement_outlives_that_one_only() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K1, here=True)  # the store's own drop, after the write
    assert _keep(cache, ticket, "written")
    assert _served(cache, K1) == "written"
    cache.invalidate(K1)  # the write's own announcement: the copy stays
    assert _served(cache, K1) == "written"
    cache.invalidate(K1)  # any later change drops it
    assert _served(cache, K1) is None


def test_a_write_kept_after_one_announcement_is_dropped_by_the_next() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K1)  # the write's own, or one before it
    assert _keep(cache, ticket, "written")
    assert _served(cache, K1) == "written"
    cache.invalidate(K1)  # if the first was an earlier change's, this is the write's own
    assert _served(cache, K1) is None


def test_a_write_is_not_kept_after_two_announcements() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K1)
    cache.invalidate(K1)
    assert not _keep(cache, ticket, "written")
    assert _served(cache, K1) is None


def test_this_process_dropping_its_own_copy_does_not_count_as_an_announcement() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate(K1, here=True)
    cache.invalidate(K1, here=True)
    assert _keep(cache, ticket, "written")
    cache.invalidate(K1, here=True)  # this process changed it again: the copy goes
    assert _served(cache, K1) is None


def test_a_kept_write_is_refused_after_its_owner_was_revoked_or_an_outage() -> None:
    cache = _up(NearCache[str]())
    ticket = cache.ticket(K1)
    cache.invalidate_owner("alice")
    assert not _keep(cache, ticket, "written", owner="alice")
    assert _keep(cache, ticket, "written", owner="bob")
    ticket = cache.ticket(K2)
    cache.channel_down()
    cache.channel_up()
    assert not _keep(cache, ticket, "written")
    assert _served(cache, K2) is None
