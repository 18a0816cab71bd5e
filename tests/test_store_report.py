"""What ``sessionary stats`` asks of every store: live sessions by user, and health."""

from __future__ import annotations

import time

import pytest

from conformance.test_backend import record
from services import free_port, require_module
from sessionary import SessionManager
from sessionary.errors import UnsupportedOperation
from sessionary.store_report import check_health, user_counts
from sessionary.stores import Store
from sessionary.stores.base import UserCounts

HOUR = 3600.0


def test_live_sessions_are_counted_by_user(store: Store) -> None:
    now = time.time()
    for user, count in (("alice", 3), ("bob", 1), ("ünïcode {x}", 2)):
        for _ in range(count):
            assert store.sync.create(record(now, user=user), now)
    for _ in range(2):
        assert store.sync.create(record(now), now)  # anonymous
    gone = record(now - 2 * HOUR, user="bob", expires=now - 10)
    assert store.sync.create(gone, now - 2 * HOUR)
    # A renewal leaves a grace alias behind: still one session, counted once.
    renewed = record(now, user="carol")
    assert store.sync.create(renewed, now)
    assert store.sync.rotate(renewed.key, record(now, user="carol"), now + 30, now).name == "ROTATED"

    manager = SessionManager(store, cleanup_interval=None)
    expected = UserCounts(4, 7, [("alice", 3), ("ünïcode {x}", 2), ("bob", 1), ("carol", 1)])
    assert user_counts(manager) == expected
    assert user_counts(manager, top=1) == UserCounts(4, 7, [("alice", 3)])
    assert user_counts(manager, top=0).top == []


def test_a_healthy_store_answers_a_lookup(store: Store) -> None:
    health = check_health(SessionManager(store, cleanup_interval=None))
    assert health.ok and health.error is None and 0 <= health.seconds < 10


def test_a_store_that_is_down_is_reported_not_raised() -> None:
    require_module("redis")
    manager = SessionManager(f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.5")
    try:
        health = check_health(manager)
    finally:
        manager.close()
    assert not health.ok
    assert health.error is not None and "redis://127.0.0.1:" in health.error


def test_the_cookie_store_cannot_count_by_user() -> None:
    manager = SessionManager("cookie://", secret_keys=("k" * 32,))
    with pytest.raises(UnsupportedOperation, match="cannot count sessions by user"):
        user_counts(manager)
