"""The PostgreSQL store in the conformance suite: fresh tables per test, dropped on exit."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from postgres_helpers import drop_tables, postgres_url
from sessionary.stores import Store, open_store

from .stores import factory


@factory("postgres")
@contextlib.contextmanager
def postgres_store(tmp_path: Path) -> Iterator[Store]:
    prefix = f"conformance_{secrets.token_hex(6)}"
    store = open_store(postgres_url(table=prefix, pool_max_size=4))
    store.sync.migrate()
    try:
        yield store
    finally:
        store.close()
        drop_tables(prefix)
