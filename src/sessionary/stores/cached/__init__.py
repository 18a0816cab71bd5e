"""A cache in front of a database, by URL or by constructor.

    cached+redis://cache:6379/0?prefix=app:&backend=postgresql%3A%2F%2Fdb%2Fapp
    cached(open_store("redis://cache:6379/0"), open_store("postgresql://db/app"))

Everything after ``cached+`` is the cache's URL, with the cached store's own options
(``backend``, ``cache_ttl``, ``cache_cooldown``) taken out of its query; the rest of the
query stays the cache's. ``backend`` is the database's URL, percent-encoded when it has
a query of its own (its ``&`` would otherwise split it). How reads, writes and failures
behave is in :mod:`sessionary.stores.cached._async` and docs/store-cached.md.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, unquote_plus

from ...config import Config
from ...errors import ConfigError
from .. import Store, open_store, option, redact
from ._async import AsyncCachedBackend
from ._sync import CachedBackend

OPTIONS = ("backend", "cache_ttl", "cache_cooldown")


def cached(cache: Store, database: Store, *, ttl: float = 60.0, cooldown: float = 5.0) -> Store:
    """``database`` with ``cache`` in front of it.

    ``ttl``: the longest a cached copy lives, hence the longest another process can
    serve a stale copy after this one failed to invalidate it. ``cooldown``: seconds the
    cache is left alone after a failure. The cache must be shared by every process that
    writes to the database (``memory://`` is right only for a single process).
    """
    for role, store in (("cache", cache), ("database", database)):
        if store.codec is not None:
            raise ConfigError(
                "store",
                f"{store.name} cannot be the {role} of a cached store: it keeps nothing on the server",
            )
    if cache is database or cache.sync is database.sync:
        raise ConfigError("store", "the cache and the database of a cached store must be two stores")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise ConfigError("store", f"cache_ttl={ttl!r} must be a number of seconds above 0")
    if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or not 0 <= cooldown < math.inf:
        raise ConfigError("store", f"cache_cooldown={cooldown!r} must be a number of seconds, 0 or more")
    return Store(
        CachedBackend(cache.sync, database.sync, ttl=ttl, cooldown=cooldown),
        AsyncCachedBackend(cache.aio, database.aio, ttl=ttl, cooldown=cooldown),
    )


def open_cached(url: str, *, config: Config | None = None) -> Store:
    """``cached+<cache URL>?backend=<database URL>[&cache_ttl=60][&cache_cooldown=5]``."""
    base, _, query = url.split("+", 1)[1].partition("?")
    ours: dict[str, list[str]] = {}
    theirs: list[str] = []
    for pair in query.split("&") if query else []:
        name = unquote_plus(pair.split("=", 1)[0])
        if name in OPTIONS:
            ours.update({name: [*ours.get(name, []), *parse_qs(pair, keep_blank_values=True)[name]]})
        else:
            theirs.append(pair)
    backend = ours.get("backend", [""])[-1]
    if not backend:
        raise ConfigError(
            "store",
            f"{redact(url)!r} names no database; add ?backend=<database URL> "
            "(percent-encoded when it has a query of its own)",
        )
    cache_url = f"{base}?{'&'.join(theirs)}" if theirs else base
    for role, target in (("cache", cache_url), ("database", backend)):
        scheme = target.split("://", 1)[0].lower()
        if scheme.startswith("cached+") or scheme == "cookie":
            raise ConfigError(
                "store",
                f"{redact(target)!r} cannot be the {role} of a cached store; name a server-side store",
            )
    ttl = option(ours, "cache_ttl", 60.0, float)
    cooldown = option(ours, "cache_cooldown", 5.0, float)
    config = config or Config()
    cache = open_store(cache_url, config=config)
    try:
        database = open_store(backend, config=config)
    except BaseException:
        cache.close()
        raise
    return cached(cache, database, ttl=ttl, cooldown=cooldown)
