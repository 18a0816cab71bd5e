"""Reaching the shared PostgreSQL server in tests, each test with its own tables."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from services import POSTGRES_HOST, POSTGRES_PORT, POSTGRES_URL, port_open, require_module, require_port


def with_options(url: str, **options: Any) -> str:
    """``url`` with store options added to its query string."""
    if not options:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(options)


def postgres_url(**options: Any) -> str:
    """The shared test server's URL with ``options``; skips (fails in CI) when it is absent."""
    require_module("psycopg")
    require_module("psycopg_pool")
    require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    return with_options(POSTGRES_URL, **options)


def drop_tables(prefix: str, url: str = POSTGRES_URL) -> None:
    """Drop the tables a store with ``?table=prefix`` uses (a test's own, never shared ones).

    Nothing to drop on a server that is not there (the test skipped before making any).
    """
    import psycopg

    address = urlsplit(url)
    if not port_open(address.hostname or "127.0.0.1", address.port or 5432):
        return

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{prefix}_sessions", "{prefix}_users", "{prefix}_leases"')
