"""The Redis connection an old library's reader uses (redis-py's sync client)."""

from __future__ import annotations

from typing import Any


def client_for(url: str | None, client: Any) -> Any:
    """``client`` as given, or one opened from ``url``; one of the two is needed."""
    if client is not None:
        return client
    if not url:
        raise ValueError("a Redis source needs url= or client=")
    try:
        import redis
    except ImportError:  # pragma: no cover - the redis extra is missing
        raise ImportError(
            "reading an old Redis store needs redis-py: pip install 'sessionary[redis]'"
        ) from None
    return redis.Redis.from_url(url)


def get_with_ttl(client: Any, key: str) -> tuple[bytes | None, int]:
    """The value under ``key`` and its remaining lifetime in milliseconds, read at once
    (PTTL: -1 for no expiry, -2 for no key)."""
    pipe = client.pipeline(transaction=True)
    pipe.get(key)
    pipe.pttl(key)
    value, ttl = pipe.execute()
    return value, int(ttl)
