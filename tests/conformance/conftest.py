from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from sessionary.stores import Store
from sessionary.stores.backend import AsyncBackend
from sessionary.stores.inline import InlineAsync

from .stores import NATIVE_TTL


@pytest.fixture(params=["sync", "async"])
async def backend(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[AsyncBackend]:
    """The store's sync face (called through an inline shim) or its async face.

    The async face is closed on the test's own event loop: a network store's async
    connections belong to that loop and cannot be closed once it has ended.
    """
    if request.param == "sync":
        yield InlineAsync(store.sync)
    else:
        yield store.aio
        await store.aio.aclose()


@pytest.fixture
def native_ttl(store_name: str) -> bool:
    return store_name in NATIVE_TTL


@pytest.fixture
def t0() -> float:
    """A base time close to the real one, so stores that keep real TTLs agree."""
    return float(int(time.time()))
