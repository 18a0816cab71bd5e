"""The store contract, run unchanged against every store, through its sync and async faces."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading

import pytest

from sessionary.stores import Store
from sessionary.stores.backend import AsyncBackend
from sessionary.stores.base import Change, Meta, Record, Rotation, Swap

pytestmark = pytest.mark.anyio

HOUR = 3600.0


def key() -> bytes:
    return secrets.token_bytes(32)


def meta(now: float, *, user: str | None = None, issued: float | None = None) -> Meta:
    return Meta(
        created_at=now,
        issued_at=now if issued is None else issued,
        last_seen=now,
        saved_deadline=now + HOUR,
        user_id=user,
    )


def record(
    now: float,
    data: dict[str, object] | None = None,
    *,
    user: str | None = None,
    expires: float | None = None,
    issued: float | None = None,
) -> Record:
    return Record(
        key(),
        dict({"a": 1} if data is None else data),
        meta(now, user=user, issued=issued),
        now + HOUR if expires is None else expires,
    )


def change(now: float, expires: float, **sets: object) -> Change:
    return Change(
        set={k: json.dumps(v) for k, v in sets.items()}, meta={"last_seen": now}, expires_at=expires
    )


# --- create and load ------------------------------------------------------------------------


async def test_create_then_load_returns_what_was_stored(backend: AsyncBackend, t0: float) -> None:
    data = {"user": "Alice", "cart": [1, 2, {"x": None}], "n": 3.5, "flag": True, "none": None, "é": "ü"}
    stored = record(t0, data, user="u1")
    assert await backend.create(stored, t0)
    loaded = await backend.load(stored.key, t0 + 1)
    assert loaded is not None
    assert loaded.key == stored.key
    assert loaded.data == data
    assert loaded.meta == stored.meta
    assert loaded.expires_at == pytest.approx(stored.expires_at, abs=0.001)


async def test_keys_of_any_shape_round_trip(backend: AsyncBackend, t0: float) -> None:
    data = {"": 0, "a.b": 1, 'q"uote': 2, "$": 3, "sp ace": 4, "{tag}": 5, "x" * 200: 6}
    stored = record(t0, data)
    assert await backend.create(stored, t0)
    loaded = await backend.load(stored.key, t0)
    assert loaded is not None and loaded.data == data


async def test_unknown_key_loads_nothing(backend: AsyncBackend, t0: float) -> None:
    assert await backend.load(key(), t0) is None
    assert not await backend.exists(key())


async def test_create_refuses_a_live_key(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"owner": "first"})
    assert await backend.create(stored, t0)
    intruder = Record(stored.key, {"owner": "second"}, meta(t0), t0 + HOUR)
    assert not await backend.create(intruder, t0)
    loaded = await backend.load(stored.key, t0)
    assert loaded is not None and loaded.data == {"owner": "first"}


async def test_record_expires_at_its_deadline(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, expires=t0 + 10)
    assert await backend.create(stored, t0)
    assert await backend.load(stored.key, t0 + 9.9) is not None
    assert await backend.load(stored.key, t0 + 10) is None
    assert await backend.load(stored.key, t0 + 11) is None


async def test_create_may_reuse_the_key_of_an_expired_record(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"old": True}, expires=t0 + 10)
    assert await backend.create(stored, t0)
    fresh = Record(stored.key, {"new": True}, meta(t0 + 20), t0 + 20 + HOUR)
    assert await backend.create(fresh, t0 + 20)
    loaded = await backend.load(stored.key, t0 + 21)
    assert loaded is not None and loaded.data == {"new": True}


# --- writes --------------------------------------------------------------------------------


async def test_write_changes_only_what_it_names(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"keep": 1, "drop": 2, "change": 3})
    assert await backend.create(stored, t0)
    delta = Change(
        set={"change": "30", "new": '"value"'},
        removed=frozenset({"drop"}),
        meta={"last_seen": t0 + 5, "auth_at": t0 + 5},
        expires_at=t0 + 2 * HOUR,
    )
    assert await backend.write(stored.key, delta, t0 + 5)
    loaded = await backend.load(stored.key, t0 + 6)
    assert loaded is not None
    assert loaded.data == {"keep": 1, "change": 30, "new": "value"}
    assert loaded.meta.last_seen == t0 + 5
    assert loaded.meta.auth_at == t0 + 5
    assert loaded.meta.created_at == t0
    assert loaded.expires_at == pytest.approx(t0 + 2 * HOUR, abs=0.001)


async def test_cleared_write_replaces_all_keys(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"a": 1, "b": 2})
    assert await backend.create(stored, t0)
    assert await backend.write(stored.key, Change(set={"c": "3"}, cleared=True, expires_at=t0 + HOUR), t0)
    loaded = await backend.load(stored.key, t0)
    assert loaded is not None and loaded.data == {"c": 3}


async def test_write_may_shorten_the_deadline(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0)
    assert await backend.create(stored, t0)
    assert await backend.write(stored.key, change(t0, t0 + 10, a=2), t0)
    assert await backend.load(stored.key, t0 + 9) is not None
    assert await backend.load(stored.key, t0 + 10) is None


async def test_write_to_a_missing_record_writes_nothing(backend: AsyncBackend, t0: float) -> None:
    missing = key()
    assert not await backend.write(missing, change(t0, t0 + HOUR, a=1), t0)
    assert await backend.load(missing, t0) is None
    assert not await backend.exists(missing)


async def test_an_expired_record_not_yet_removed_still_exists(backend: AsyncBackend, t0: float) -> None:
    """Django's ``exists``: True for a record past its deadline until it is removed (by
    ``clear_expired``, or on Redis by the server at the deadline by its own clock)."""
    stored = record(t0, expires=t0 + 60)
    assert await backend.create(stored, t0)
    assert await backend.load(stored.key, t0 + 120) is None
    assert await backend.exists(stored.key)


async def test_no_resurrection_after_delete(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0)
    assert await backend.create(stored, t0)
    assert await backend.delete(stored.key)
    assert not await backend.write(stored.key, change(t0 + 1, t0 + HOUR, a=2), t0 + 1)
    assert not await backend.touch(stored.key, t0 + 1, t0 + HOUR, t0 + HOUR, t0 + 1)
    assert await backend.load(stored.key, t0 + 1) is None
    assert not await backend.exists(stored.key)
    assert not await backend.delete(stored.key)


async def test_write_to_an_expired_record_writes_nothing(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, expires=t0 + 10)
    assert await backend.create(stored, t0)
    assert not await backend.write(stored.key, change(t0 + 11, t0 + HOUR, a=2), t0 + 11)
    assert await backend.load(stored.key, t0 + 11) is None


async def test_two_copies_changing_different_keys_both_survive(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"base": 0})
    assert await backend.create(stored, t0)
    first = await backend.load(stored.key, t0)
    second = await backend.load(stored.key, t0)
    assert first is not None and second is not None
    assert await backend.write(stored.key, change(t0 + 1, t0 + HOUR, one=1), t0 + 1)
    assert await backend.write(stored.key, change(t0 + 2, t0 + HOUR, two=2), t0 + 2)
    loaded = await backend.load(stored.key, t0 + 3)
    assert loaded is not None and loaded.data == {"base": 0, "one": 1, "two": 2}


async def test_parallel_writes_of_different_keys_all_survive(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {})
    assert await backend.create(stored, t0)
    results = await asyncio.gather(
        *(backend.write(stored.key, change(t0, t0 + HOUR, **{f"k{i}": i}), t0) for i in range(20))
    )
    assert all(results)
    loaded = await backend.load(stored.key, t0)
    assert loaded is not None and loaded.data == {f"k{i}": i for i in range(20)}


def test_threads_writing_different_keys_all_survive(store: Store, t0: float) -> None:
    stored = record(t0, {})
    assert store.sync.create(stored, t0)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for round_ in range(5):
                name = f"t{index}-{round_}"
                assert store.sync.write(stored.key, change(t0, t0 + HOUR, **{name: index}), t0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    loaded = store.sync.load(stored.key, t0)
    assert loaded is not None
    assert loaded.data == {f"t{i}-{r}": i for i in range(8) for r in range(5)}


# --- touch ---------------------------------------------------------------------------------


async def test_touch_only_moves_forward(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, expires=t0 + 100)
    assert await backend.create(stored, t0)
    assert await backend.touch(stored.key, t0 + 50, t0 + 2 * HOUR, t0 + 150, t0 + 50)
    assert await backend.touch(stored.key, t0 + 40, t0 + 1.5 * HOUR, t0 + 120, t0 + 51)
    loaded = await backend.load(stored.key, t0 + 60)
    assert loaded is not None
    assert loaded.meta.last_seen == t0 + 50
    assert loaded.meta.saved_deadline == t0 + 2 * HOUR
    assert loaded.expires_at == pytest.approx(t0 + 150, abs=0.001)
    assert await backend.load(stored.key, t0 + 149) is not None
    assert await backend.load(stored.key, t0 + 150) is None


async def test_touch_of_an_expired_record_revives_nothing(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, expires=t0 + 10)
    assert await backend.create(stored, t0)
    assert not await backend.touch(stored.key, t0 + 11, t0 + HOUR, t0 + HOUR, t0 + 11)
    assert await backend.load(stored.key, t0 + 12) is None


# --- rotation ------------------------------------------------------------------------------


async def test_rotation_without_grace_kills_the_old_key(backend: AsyncBackend, t0: float) -> None:
    old = record(t0, {"cart": [1]})
    assert await backend.create(old, t0)
    new = Record(key(), {"cart": [1], "more": 2}, meta(t0 + 1), t0 + HOUR)
    assert await backend.rotate(old.key, new, None, t0 + 1) is Rotation.ROTATED
    assert await backend.load(old.key, t0 + 1) is None
    assert not await backend.write(old.key, change(t0 + 1, t0 + HOUR, late=1), t0 + 1)
    loaded = await backend.load(new.key, t0 + 1)
    assert loaded is not None and loaded.data == {"cart": [1], "more": 2}


async def test_rotation_with_grace_keeps_the_old_key_as_an_alias(backend: AsyncBackend, t0: float) -> None:
    old = record(t0, {"a": 1})
    assert await backend.create(old, t0)
    new = Record(key(), {"a": 1}, meta(t0 + 1), t0 + HOUR)
    assert await backend.rotate(old.key, new, t0 + 31, t0 + 1) is Rotation.ROTATED
    via_alias = await backend.load(old.key, t0 + 10)
    assert via_alias is not None and via_alias.key == new.key and via_alias.data == {"a": 1}
    # A request in flight with the old token writes into the new session.
    assert await backend.write(old.key, change(t0 + 10, t0 + HOUR, inflight=True), t0 + 10)
    loaded = await backend.load(new.key, t0 + 11)
    assert loaded is not None and loaded.data == {"a": 1, "inflight": True}
    assert await backend.load(old.key, t0 + 31) is None
    assert await backend.load(new.key, t0 + 31) is not None


async def test_rotation_of_a_gone_session_creates_nothing(backend: AsyncBackend, t0: float) -> None:
    new = Record(key(), {"a": 1}, meta(t0), t0 + HOUR)
    assert await backend.rotate(key(), new, None, t0) is Rotation.GONE
    assert await backend.load(new.key, t0) is None


async def test_rotation_onto_a_taken_key_is_a_collision(backend: AsyncBackend, t0: float) -> None:
    old = record(t0, {"mine": 1})
    taken = record(t0, {"theirs": 1})
    assert await backend.create(old, t0)
    assert await backend.create(taken, t0)
    clash = Record(taken.key, {"mine": 1}, meta(t0), t0 + HOUR)
    assert await backend.rotate(old.key, clash, None, t0) is Rotation.COLLISION
    loaded = await backend.load(taken.key, t0)
    assert loaded is not None and loaded.data == {"theirs": 1}
    assert await backend.load(old.key, t0) is not None


async def test_rotation_keeps_a_write_made_after_the_request_read(backend: AsyncBackend, t0: float) -> None:
    """A rotation carries the data as stored, with only the rotating request's changes
    applied: a write that landed after that request read the session survives it."""
    old = record(t0, {"kept": 1, "mine": "old", "gone": True, "theirs": "old"})
    assert await backend.create(old, t0)
    # Another request changes a key and adds one after this request read the session.
    assert await backend.write(old.key, change(t0 + 1, t0 + HOUR, theirs="new", added=2), t0 + 1)
    view = {"kept": 1, "mine": "changed", "theirs": "old"}  # what this request saw, and did
    delta = Change(set={"mine": '"changed"'}, removed=frozenset({"gone"}))
    for grace in (None, t0 + 31):
        new = Record(key(), dict(view), meta(t0 + 2), t0 + HOUR)
        assert await backend.rotate(old.key, new, grace, t0 + 2, delta) is Rotation.ROTATED
        loaded = await backend.load(new.key, t0 + 3)
        assert loaded is not None
        assert loaded.data == {"kept": 1, "mine": "changed", "theirs": "new", "added": 2}
        old = loaded


async def test_rotation_after_clear_keeps_only_the_new_data(backend: AsyncBackend, t0: float) -> None:
    old = record(t0, {"a": 1, "b": 2})
    assert await backend.create(old, t0)
    new = Record(key(), {"c": 3}, meta(t0 + 1), t0 + HOUR)
    cleared = Change(set={"c": "3"}, cleared=True)
    assert await backend.rotate(old.key, new, None, t0 + 1, cleared) is Rotation.ROTATED
    loaded = await backend.load(new.key, t0 + 1)
    assert loaded is not None and loaded.data == {"c": 3}


# --- compare-and-set -----------------------------------------------------------------------


async def test_compare_and_set_writes_only_over_the_expected_value(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"n": 1, "other": "x", "text": "é"})
    assert await backend.create(stored, t0)
    assert await backend.compare_and_set(stored.key, "n", "1", "2", t0) is Swap.SWAPPED
    assert await backend.compare_and_set(stored.key, "n", "1", "3", t0) is Swap.CONFLICT
    assert await backend.compare_and_set(stored.key, "n", None, "3", t0) is Swap.CONFLICT
    assert await backend.compare_and_set(stored.key, "new", "0", "1", t0) is Swap.CONFLICT
    assert await backend.compare_and_set(stored.key, "new", None, '{"a":[1]}', t0) is Swap.SWAPPED
    assert await backend.compare_and_set(stored.key, "other", '"x"', None, t0) is Swap.SWAPPED
    # Compared as values: non-ASCII text as the store keeps it equals its JSON encoding.
    assert await backend.compare_and_set(stored.key, "text", '"é"', '"ü"', t0) is Swap.SWAPPED
    loaded = await backend.load(stored.key, t0 + 1)
    assert loaded is not None
    assert loaded.data == {"n": 2, "new": {"a": [1]}, "text": "ü"}
    assert loaded.meta == stored.meta  # only the data key changed
    assert loaded.expires_at == pytest.approx(stored.expires_at, abs=0.001)


async def test_compare_and_set_never_resurrects(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"n": 1}, expires=t0 + 10)
    assert await backend.create(stored, t0)
    assert await backend.compare_and_set(stored.key, "n", "1", "2", t0 + 10) is Swap.GONE
    assert await backend.delete(stored.key)
    assert await backend.compare_and_set(stored.key, "n", "1", "2", t0) is Swap.GONE
    assert await backend.compare_and_set(key(), "n", None, "2", t0) is Swap.GONE
    assert await backend.load(stored.key, t0) is None
    assert not await backend.exists(stored.key)


async def test_compare_and_set_refuses_a_revoked_session(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"n": 1}, user="alice")
    assert await backend.create(stored, t0)
    assert await backend.revoke_user("alice", t0 + 1, stored.key) == 0  # kept in the index...
    assert await backend.compare_and_set(stored.key, "n", "1", "2", t0 + 2) is Swap.GONE  # ...but refused


async def test_compare_and_set_follows_a_renewal_alias(backend: AsyncBackend, t0: float) -> None:
    old = record(t0, {"n": 1})
    assert await backend.create(old, t0)
    new = Record(key(), {"n": 1}, meta(t0 + 1), t0 + HOUR)
    assert await backend.rotate(old.key, new, t0 + 31, t0 + 1) is Rotation.ROTATED
    assert await backend.compare_and_set(old.key, "n", "1", "5", t0 + 2) is Swap.SWAPPED
    loaded = await backend.load(new.key, t0 + 3)
    assert loaded is not None and loaded.data == {"n": 5}


async def test_parallel_compare_and_set_increments_lose_nothing(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0, {"n": 0, "untouched": "yes"})
    assert await backend.create(stored, t0)

    async def increment() -> int:
        rounds = 0
        while True:
            rounds += 1
            current = await backend.load(stored.key, t0)
            assert current is not None
            value = current.data["n"]
            swapped = await backend.compare_and_set(
                stored.key, "n", json.dumps(value), json.dumps(value + 1), t0
            )
            if swapped is Swap.SWAPPED:
                return rounds
            assert swapped is Swap.CONFLICT

    rounds = await asyncio.gather(*(increment() for _ in range(30)))
    loaded = await backend.load(stored.key, t0)
    assert loaded is not None and loaded.data == {"n": 30, "untouched": "yes"}
    assert sum(rounds) >= 30


def test_threads_incrementing_with_compare_and_set_lose_nothing(store: Store, t0: float) -> None:
    stored = record(t0, {"n": 0})
    assert store.sync.create(stored, t0)
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            for _ in range(10):
                while True:
                    current = store.sync.load(stored.key, t0)
                    assert current is not None
                    value = current.data["n"]
                    result = store.sync.compare_and_set(
                        stored.key, "n", json.dumps(value), json.dumps(value + 1), t0
                    )
                    if result is Swap.SWAPPED:
                        break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=increment) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    loaded = store.sync.load(stored.key, t0)
    assert loaded is not None and loaded.data == {"n": 60}


# --- cleanup and counts --------------------------------------------------------------------


async def test_clear_expired_deletes_in_batches(backend: AsyncBackend, t0: float, native_ttl: bool) -> None:
    expired = [record(t0, expires=t0 + 5) for _ in range(25)]
    live = [record(t0, expires=t0 + HOUR) for _ in range(5)]
    for stored in expired + live:
        assert await backend.create(stored, t0)
    counts = await backend.count(t0 + 10)
    assert counts.live == 5
    batches = [count async for count in backend.clear_expired(t0 + 10, 10)]
    assert all(0 < count <= 10 for count in batches)
    if not native_ttl:
        assert sum(batches) == 25
        assert len(batches) == 3
    after = await backend.count(t0 + 10)
    assert after.live == 5 and after.expired == 0
    for stored in live:
        assert await backend.load(stored.key, t0 + 10) is not None
    for stored in expired:
        assert not await backend.exists(stored.key) or native_ttl


# --- a user's sessions ---------------------------------------------------------------------


async def test_user_index_lists_only_that_users_live_sessions(backend: AsyncBackend, t0: float) -> None:
    mine = [record(t0, user="alice") for _ in range(3)]
    short = record(t0, user="alice", expires=t0 + 10)
    other = record(t0, user="bob")
    anonymous = record(t0)
    for stored in [*mine, short, other, anonymous]:
        assert await backend.create(stored, t0)
    listed = await backend.user_sessions("alice", t0 + 1)
    assert {s.key for s in listed} == {s.key for s in mine} | {short.key}
    later = await backend.user_sessions("alice", t0 + 20)
    assert {s.key for s in later} == {s.key for s in mine}
    assert all(s.meta.user_id == "alice" for s in later)


async def test_user_index_follows_a_write_that_sets_the_user(backend: AsyncBackend, t0: float) -> None:
    stored = record(t0)
    assert await backend.create(stored, t0)
    assert await backend.write(stored.key, Change(meta={"user_id": "carol"}, expires_at=t0 + HOUR), t0)
    assert [s.key for s in await backend.user_sessions("carol", t0)] == [stored.key]


async def test_revoking_one_session_checks_its_owner(backend: AsyncBackend, t0: float) -> None:
    alices = record(t0, user="alice")
    assert await backend.create(alices, t0)
    assert not await backend.delete_user_session("mallory", alices.key)
    assert await backend.load(alices.key, t0) is not None
    assert await backend.delete_user_session("alice", alices.key)
    assert await backend.load(alices.key, t0) is None
    assert await backend.user_sessions("alice", t0) == []


async def test_revoke_user_keeps_only_the_one_asked(backend: AsyncBackend, t0: float) -> None:
    sessions = [record(t0, user="alice") for _ in range(4)]
    bobs = record(t0, user="bob")
    for stored in [*sessions, bobs]:
        assert await backend.create(stored, t0)
    keep = Record(key(), {"a": 1}, meta(t0 + 2, user="alice"), t0 + HOUR)
    assert await backend.create(keep, t0 + 2)
    deleted = await backend.revoke_user("alice", t0 + 1, keep.key)
    assert deleted == 4
    for stored in sessions:
        assert await backend.load(stored.key, t0 + 3) is None
    assert await backend.load(keep.key, t0 + 3) is not None
    assert await backend.load(bobs.key, t0 + 3) is not None
    assert [s.key for s in await backend.user_sessions("alice", t0 + 3)] == [keep.key]


async def test_valid_after_refuses_sessions_the_index_missed(backend: AsyncBackend, t0: float) -> None:
    assert await backend.revoke_user("alice", t0 + 100, None) == 0
    # Issued before the revocation but stored after it (a racing sign-in): refused.
    missed = record(t0 + 200, user="alice", issued=t0 + 50)
    assert await backend.create(missed, t0 + 200)
    assert await backend.load(missed.key, t0 + 201) is None
    assert not await backend.write(missed.key, change(t0 + 201, t0 + HOUR * 2, a=2), t0 + 201)
    # Issued after it: fine.
    fresh = record(t0 + 200, user="alice", issued=t0 + 150)
    assert await backend.create(fresh, t0 + 200)
    assert await backend.load(fresh.key, t0 + 201) is not None
