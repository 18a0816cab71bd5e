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


def factory(name: str, *, native_ttl: bool = False) -> Callable[[StoreFactory], StoreFactory]:
    def register(function: StoreFactory) -> StoreFactory:
        FACTORIES[name] = function
        if native_ttl:
            NATIVE_TTL.add(name)
        return function

    return register


@factory("memory")
@contextlib.contextmanager
def memory_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store("memory://")
    yield store
    store.close()


@factory("sqlite")
@contextlib.contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/sessions.db")
    yield store
    store.close()


# Stores with their own modules register themselves on import.
for _module in ("stores_redis", "stores_postgres", "stores_cached"):
    with contextlib.suppress(ModuleNotFoundError):
        __import__(f"conformance.{_module}")
