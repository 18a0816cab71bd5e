"""Stores, named by URL: ``sqlite:///sessions.db``, ``memory://``, ``redis://``, ``postgresql://``…

:func:`open_store` turns a URL into a :class:`Store`, which pairs the store's sync and
async faces. Each kind of store lives in its own module, imported only when its URL is
used, so a store's driver is needed only by apps that use that store.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .backend import AsyncBackend, Backend

if TYPE_CHECKING:
    from ..config import Config
    from .base import Record


class ClientSideCodec(Protocol):
    """How a store that keeps the session in the cookie itself turns records into cookies."""

    def decode(self, token: str, now: float) -> Record | None:
        """The record a cookie value carries, or None if it is forged, tampered or expired."""

    def encode(self, record: Record) -> str:
        """The cookie value that carries ``record`` (raises CookieTooLarge when too big)."""


@dataclass(frozen=True, slots=True)
class Store:
    """One store with both faces: ``sync`` for WSGI and scripts, ``aio`` for ASGI."""

    sync: Backend
    aio: AsyncBackend
    codec: ClientSideCodec | None = None
    """Set only for stores that keep the session in the cookie (``cookie://``)."""

    @property
    def name(self) -> str:
        return self.sync.name

    @property
    def sync_blocks_loop(self) -> bool:
        """Whether a call of the sync face on an event loop blocks it where the async face
        would not: the store waits on I/O (``memory://`` and ``cookie://`` never do) and its
        async face does not run the sync one inline on the loop anyway
        (``sqlite:///...?async=inline`` does; see ``Config.blocking_store_calls``)."""
        return self.sync.waits_on_io and not getattr(self.aio, "runs_inline", False)

    def close(self) -> None:
        self.sync.close()

    async def aclose(self) -> None:
        await self.aio.aclose()


class StoreOpener(Protocol):
    def __call__(self, url: str, *, config: Config) -> Store: ...


# scheme -> "module:function"; modules are imported on first use.
_OPENERS: dict[str, str] = {
    "memory": "sessionary.stores.memory:open_memory",
    "sqlite": "sessionary.stores.sqlite:open_sqlite",
    "redis": "sessionary.stores.redis:open_redis",
    "rediss": "sessionary.stores.redis:open_redis",
    "redis+cluster": "sessionary.stores.redis:open_redis",
    "redis+sentinel": "sessionary.stores.redis.sentinel:open_redis_sentinel",
    "rediss+sentinel": "sessionary.stores.redis.sentinel:open_redis_sentinel",
    "postgresql": "sessionary.stores.postgres:open_postgres",
    "postgres": "sessionary.stores.postgres:open_postgres",
    "cookie": "sessionary.stores.cookie:open_cookie",
}


def register_scheme(scheme: str, opener: str) -> None:
    """Make ``open_store`` accept ``scheme://`` URLs, opened by ``"module:function"``."""
    _OPENERS[scheme] = opener


def open_store(url: str | Store, *, config: Config | None = None) -> Store:
    """The store a URL names; a :class:`Store` is passed through unchanged."""
    if isinstance(url, Store):
        return url
    from ..config import Config

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme.startswith("cached+"):
        target = "sessionary.stores.cached:open_cached"
    elif scheme in _OPENERS:
        target = _OPENERS[scheme]
    else:
        known = ", ".join(sorted(f"{s}://" for s in _OPENERS))
        raise ConfigError("store", f"unknown store URL {redact(url)!r}; expected one of {known}, cached+...")
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            "store",
            f"the {scheme}:// store needs a package that is not installed ({exc.name}); "
            f"install it with: pip install 'sessionary[{_EXTRAS.get(scheme, scheme)}]'",
        ) from None
    opener: StoreOpener = getattr(module, function_name)
    store = opener(url, config=config or Config())
    if store.codec is None and scheme in _NETWORK:
        from .worker import any_event_loop

        any_event_loop(store.aio, store.sync)  # trio (anyio) apps too
    return store


_NETWORK = frozenset({"redis", "rediss", "redis+cluster", "postgresql", "postgres"})
"""Stores whose async face is an asyncio client (see :func:`.worker.any_event_loop`)."""


_EXTRAS = {
    "rediss": "redis",
    "redis+cluster": "redis",
    "redis+sentinel": "redis",
    "rediss+sentinel": "redis",
    "postgresql": "postgres",
    "postgres": "postgres",
}


def redact(url: str) -> str:
    """``url`` without its password, for error messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable store URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def option(query: dict[str, list[str]], name: str, default: Any, kind: type) -> Any:
    """One typed option from a store URL's query string, with a clear error."""
    values = query.get(name)
    if not values:
        return default
    raw = values[-1]
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError("store", f"option {name}={raw!r} is not a valid {kind.__name__}") from None


__all__ = ["ClientSideCodec", "Store", "open_store", "redact", "register_scheme"]
