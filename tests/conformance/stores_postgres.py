"""The PostgreSQL store in the conformance suite: fresh tables per test, dropped on exit."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from sessionary.stores import Store, open_store
from support.postgres_helpers import drop_tables, postgres_url
from support.services import POSTGRES_URL

from .stores import dumper, factory


@factory("postgres")
@contextlib.contextmanager
def postgres_store(tmp_path: Path) -> Iterator[Store]:
    prefix = f"conformance_{secrets.token_hex(6)}"
    store = open_store(postgres_url(table=prefix, pool_max_size=4))
    store.sync.migrate()  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        store.close()
        drop_tables(prefix)


@dumper("postgres")
def dump_postgres(store: Store) -> bytes:
    """Every row of both tables as PostgreSQL prints it, read by a separate connection."""
    import psycopg

    tables = store.sync.settings.tables  # type: ignore[attr-defined]
    with psycopg.connect(POSTGRES_URL) as conn:
        rows = [
            row
            for table in (tables.sessions, tables.users)
            for row in conn.execute(f"SELECT t::text FROM {table} AS t").fetchall()
        ]
    return repr(rows).encode()
