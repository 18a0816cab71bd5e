"""The stores the conformance suite runs against, each as a factory of fresh, isolated stores.

A factory is a context manager taking pytest's ``tmp_path`` and yielding a ``Store`` that
no other test sees; it cleans up on exit. Stores that need a service skip (or fail in
CI) through ``tests.services`` when it is absent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

from sessionary.stores import Store, open_store

StoreFactory = Callable[[Path], ContextManager[Store]]

FACTORIES: dict[str, StoreFactory] = {}
NATIVE_TTL: set[str] = set()
"""Stores whose server drops expired records by itself: ``clear_expired`` may find nothing."""
DUMPERS: dict[str, Callable[[Store], bytes]] = {}
"""How to read everything a store holds, raw, for the test that no token is in there."""


def factory(name: str, *, native_ttl: bool = False) -> Callable[[StoreFactory], StoreFactory]:
    def register(function: StoreFactory) -> StoreFactory:
        FACTORIES[name] = function
        if native_ttl:
            NATIVE_TTL.add(name)
        return function

    return register


def dumper(name: str) -> Callable[[Callable[[Store], bytes]], Callable[[Store], bytes]]:
    def register(function: Callable[[Store], bytes]) -> Callable[[Store], bytes]:
        DUMPERS[name] = function
        return function

    return register


@factory("memory")
@contextlib.contextmanager
def memory_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store("memory://")
    yield store
    store.close()


@dumper("memory")
def dump_memory(store: Store) -> bytes:
    entries = store.sync._entries  # type: ignore[attr-defined]
    return b"".join(key.hex().encode() + repr(entry).encode() for key, entry in entries.items())


@factory("sqlite")
@contextlib.contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/sessions.db")
    yield store
    store.close()


@dumper("sqlite")
def dump_sqlite(store: Store) -> bytes:
    """Every row of every table, read by a separate connection, plus the raw file bytes."""
    import sqlite3

    path = store.sync.path  # type: ignore[attr-defined]
    rows = []
    with sqlite3.connect(path) as connection:
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows.extend(connection.execute(f"SELECT * FROM {table}").fetchall())
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return repr(rows).encode() + raw


# Stores with their own modules register themselves on import.
for _module in ("stores_redis", "stores_postgres", "stores_cached"):
    with contextlib.suppress(ModuleNotFoundError):
        __import__(f"conformance.{_module}")
