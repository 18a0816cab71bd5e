"""The real SQLite store, with a record of the calls it gets, or with chosen calls failing.

These wrap the thing under test rather than replace it: every call still runs the real
SQLite code on a real file. The record proves what the middleware asks of a store (for
example, nothing at all for a malformed cookie); the failures stand for a store that is
down, which a local file cannot be made to do on demand.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from sessionary.errors import StoreUnavailable
from sessionary.stores import Store
from sessionary.stores.inline import InlineAsync
from sessionary.stores.sqlite import SQLiteBackend

OPERATIONS = (
    "load",
    "create",
    "write",
    "touch",
    "rotate",
    "delete",
    "exists",
    "clear_expired",
    "count",
    "user_sessions",
    "delete_user_session",
    "revoke_user",
)


def _wrapped(name: str) -> Callable[..., Any]:
    real = getattr(SQLiteBackend, name)

    def operation(self: RecordingSQLite, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(name)
        if name in self.failing:
            raise StoreUnavailable(self.name, f"{name}: connection refused (simulated outage)")
        return real(self, *args, **kwargs)

    operation.__name__ = name
    return operation


class RecordingSQLite(SQLiteBackend):
    """``SQLiteBackend`` that notes each contract call, and fails the ones in ``failing``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.calls: list[str] = []
        self.failing: set[str] = set()


for _name in OPERATIONS:
    setattr(RecordingSQLite, _name, _wrapped(_name))


def recording_store(path: str | os.PathLike[str]) -> tuple[Store, RecordingSQLite]:
    backend = RecordingSQLite(path)
    return Store(backend, InlineAsync(backend)), backend


class Counting:
    """Any store face (sync or async) that notes each contract call and passes it on.

    The note is taken when the operation is called, so an async face counts a call
    as soon as its coroutine is made; the real store does the work.
    """

    def __init__(self, backend: Any, calls: list[str]) -> None:
        self._backend = backend
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._backend, name)
        if name not in OPERATIONS:
            return attribute

        def operation(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return attribute(*args, **kwargs)

        return operation


def counting_store(store: Store) -> tuple[Store, list[str]]:
    """``store`` with both faces counted into one list of operation names."""
    calls: list[str] = []
    counted = Store(Counting(store.sync, calls), Counting(store.aio, calls), store.codec)  # type: ignore[arg-type]
    return counted, calls


class Faces:
    """A store whose sync and async faces each note the calls they get."""

    def __init__(self, store: Store) -> None:
        self.sync: list[str] = []
        self.aio: list[str] = []
        self.store = Store(Counting(store.sync, self.sync), Counting(store.aio, self.aio), store.codec)  # type: ignore[arg-type]

    def clear(self) -> None:
        self.sync.clear()
        self.aio.clear()
