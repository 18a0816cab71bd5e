"""Sessions in Redis or Redis Cluster, by URL.

    redis://[[user]:password@]host[:port][/db][?options]
    rediss://...                                   (TLS)
    redis+cluster://[[user]:password@]host:port[,host:port...][?options]

Options: ``prefix`` (key prefix, default ``sessionary:``), ``socket_timeout`` and
``socket_connect_timeout`` (seconds, default 2), ``max_connections`` (per server,
default 50), ``retries`` (immediate retries after a lost connection, default 1),
``ssl`` (cluster only: TLS), ``health_check_interval``, ``client_name`` and the TLS
options ``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``,
``ssl_check_hostname``; ``declared_keys=true`` makes every script touch only the keys it
declares, for Redis-compatible services that require it; ``wait_replicas=N`` (and
``wait_timeout``, ms) makes deletions and revocations wait until N replicas have them;
``near_cache`` (default true on a single server, false elsewhere), ``near_cache_bytes``
(default 32 MiB), ``near_cache_lease`` (seconds, default 5) and ``near_cache_writes``
(default true: keep what this process saves too, its saves sent on the channel's
connection; false: a save drops this process's copy) set the near-cache (``tracking.py``
beside this file). Nothing connects until the first session operation, and each
face (sync, async) opens its own connections only when it is used.
See docs/store-redis.md for the key layout and what each operation costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from ...errors import ConfigError
from ...nearcache import DEFAULT_LEASE, DEFAULT_MAX_BYTES
from .. import Store, option, redact
from .scripts import DEFAULT_PREFIX


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """A parsed Redis store URL: everything the backends need to make their clients."""

    name: str
    """The URL without its password, for errors and logs."""
    url: str
    """Single server: the URL for redis-py (scheme, credentials, host, port, db)."""
    nodes: tuple[tuple[str, int], ...] = ()
    """Cluster: the startup nodes."""
    prefix: str = DEFAULT_PREFIX
    max_connections: int = 50
    retries: int = 1
    connection_kwargs: dict[str, Any] = field(default_factory=dict)
    """Passed to every connection: timeouts, credentials (cluster), TLS, client name."""
    declared_keys: bool = False
    """Scripts touch only the keys they declare (the cluster code path on one server), for
    services that refuse others (ElastiCache Serverless, Dragonfly, Upstash)."""
    wait_replicas: int = 0
    """Durable revocation: deletions and revocations wait (``WAIT``) until this many
    replicas have them, or fail (single server and Sentinel)."""
    wait_timeout: int = 1000
    """Milliseconds a deletion or revocation waits for its replicas."""
    sentinels: tuple[tuple[str, int], ...] = ()
    """Sentinel: the sentinels to ask for ``service_name``'s master (stores/redis/sentinel.py)."""
    service_name: str = ""
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)
    """Passed to the connections to the sentinels themselves."""
    near_cache: bool = False
    """Keep copies of the sessions read, kept coherent by Redis's invalidations
    (``CLIENT TRACKING``); on by default on a single server (stores/redis/tracking.py)."""
    near_cache_bytes: int = DEFAULT_MAX_BYTES
    near_cache_lease: float = DEFAULT_LEASE
    near_cache_writes: bool = True
    """Also keep what this process saves (with the near-cache on): its saves of sessions
    are sent on the near-cache channel's connection and the record as written is kept, so
    the next read here costs no round trip. Off, a save drops this process's copy."""

    @property
    def cluster(self) -> bool:
        return bool(self.nodes)


# name -> (type, default); those with a default of None are passed on only when given.
_CONNECTION_OPTIONS: dict[str, tuple[type, Any]] = {
    "socket_timeout": (float, 2.0),
    "socket_connect_timeout": (float, 2.0),
    "health_check_interval": (int, None),
    "client_name": (str, None),
    "ssl_cert_reqs": (str, None),
    "ssl_ca_certs": (str, None),
    "ssl_certfile": (str, None),
    "ssl_keyfile": (str, None),
    "ssl_check_hostname": (bool, None),
}
_STORE_OPTIONS = {
    "prefix",
    "max_connections",
    "retries",
    "ssl",
    "declared_keys",
    "wait_replicas",
    "wait_timeout",
    "near_cache",
    "near_cache_bytes",
    "near_cache_lease",
    "near_cache_writes",
}


def parse_redis_url(url: str) -> RedisOptions:
    """Check a Redis store URL and turn it into :class:`RedisOptions` (no connection made)."""
    name = redact(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError("store", f"{name!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _STORE_OPTIONS - set(_CONNECTION_OPTIONS))
    if unknown:
        known = ", ".join(sorted(_STORE_OPTIONS | set(_CONNECTION_OPTIONS)))
        raise ConfigError("store", f"{name!r}: unknown option {unknown[0]!r}; known options: {known}")

    prefix = option(query, "prefix", DEFAULT_PREFIX, str)
    if "{" in prefix or "}" in prefix:
        raise ConfigError(
            "store",
            f"{name!r}: prefix {prefix!r} must not contain braces (they set Redis Cluster hash slots)",
        )
    max_connections = option(query, "max_connections", 50, int)
    if max_connections < 1:
        raise ConfigError("store", f"{name!r}: max_connections={max_connections} must be at least 1")
    retries = option(query, "retries", 1, int)
    if not 0 <= retries <= 10:
        raise ConfigError("store", f"{name!r}: retries={retries} must be between 0 and 10")
    kwargs: dict[str, Any] = _driver_info()
    for key, (kind, default) in _CONNECTION_OPTIONS.items():
        value = option(query, key, default, kind)
        if value is not None:
            kwargs[key] = value
    for key in ("socket_timeout", "socket_connect_timeout"):
        if not kwargs[key] > 0:
            raise ConfigError("store", f"{name!r}: {key}={kwargs[key]} must be a positive number of seconds")
    wait_replicas, wait_timeout = (
        option(query, "wait_replicas", 0, int),
        option(query, "wait_timeout", 1000, int),
    )
    if wait_replicas and wait_timeout / 1000 >= kwargs["socket_timeout"]:
        raise ConfigError(
            "store",
            f"{name!r}: wait_timeout={wait_timeout} ms must be shorter than "
            f"socket_timeout={kwargs['socket_timeout']} s (the reply would time out first)",
        )

    common = {
        "name": name,
        "prefix": prefix,
        "max_connections": max_connections,
        "retries": retries,
        "declared_keys": option(query, "declared_keys", False, bool),
        "wait_replicas": wait_replicas,
        "wait_timeout": wait_timeout,
    }
    if not 0 <= common["wait_replicas"] <= 100:
        raise ConfigError(
            "store", f"{name!r}: wait_replicas={common['wait_replicas']} must be between 0 and 100"
        )
    if common["wait_timeout"] < 1:
        raise ConfigError("store", f"{name!r}: wait_timeout={common['wait_timeout']} must be at least 1 ms")
    near_bytes = option(query, "near_cache_bytes", DEFAULT_MAX_BYTES, int)
    near_lease = option(query, "near_cache_lease", DEFAULT_LEASE, float)
    if near_bytes < 0:
        raise ConfigError("store", f"{name!r}: near_cache_bytes={near_bytes} must be 0 or more")
    if not 0 < near_lease < 3600:
        raise ConfigError(
            "store", f"{name!r}: near_cache_lease={near_lease} must be between 0 and 3600 seconds"
        )
    common["near_cache_bytes"] = near_bytes
    common["near_cache_lease"] = near_lease
    common["near_cache_writes"] = option(query, "near_cache_writes", True, bool)
    if scheme == "redis+cluster":
        if option(query, "near_cache", False, bool):
            raise ConfigError(
                "store",
                f"{name!r}: near_cache is not supported on Redis Cluster yet (each node would need "
                "an invalidation channel of its own); drop near_cache",
            )
        if common["wait_replicas"]:
            raise ConfigError(
                "store",
                f"{name!r}: wait_replicas is not supported on Redis Cluster (each node has its own replicas)",
            )
        if parts.path not in ("", "/", "/0"):
            raise ConfigError("store", f"{name!r}: Redis Cluster has only database 0; drop {parts.path!r}")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        if user:
            kwargs["username"] = unquote(user)
        if password:
            kwargs["password"] = unquote(password)
        if option(query, "ssl", False, bool):
            kwargs["ssl"] = True
        nodes = tuple(_node(name, text) for text in hosts.split(","))
        return RedisOptions(url="", nodes=nodes, connection_kwargs=kwargs, **common)

    if scheme not in ("redis", "rediss"):
        raise ConfigError("store", f"{name!r}: expected redis://, rediss:// or redis+cluster://")
    if "ssl" in query:
        raise ConfigError("store", f"{name!r}: use rediss:// for TLS (ssl= is for redis+cluster://)")
    if "," in parts.netloc:
        raise ConfigError("store", f"{name!r}: several hosts need redis+cluster://")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ConfigError("store", f"{name!r}: {exc}") from None
    database = parts.path.lstrip("/") or "0"
    if not database.isdigit():
        raise ConfigError(
            "store", f"{name!r}: database {database!r} must be a number, as in redis://host:6379/0"
        )
    base = urlunsplit((scheme, parts.netloc, f"/{int(database)}", "", ""))
    # Off with declared_keys: the read checks the user's valid_after in a call of its own
    # there, and the services that need it (serverless, proxies) mostly refuse tracking.
    common["near_cache"] = option(query, "near_cache", not common["declared_keys"], bool)
    if common["near_cache"] and common["declared_keys"]:
        raise ConfigError("store", f"{name!r}: near_cache is not supported with declared_keys; drop one")
    return RedisOptions(url=base, connection_kwargs=kwargs, **common)


def _node(name: str, text: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon:
        host, port = port, "6379"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("store", f"{name!r}: cluster node {text!r} is not host:port")
    return host, int(port)


def open_redis(url: str, *, config: object = None) -> Store:
    """``redis://``, ``rediss://`` or ``redis+cluster://``; see the module docstring."""
    from ._async import AsyncRedisBackend
    from ._sync import RedisBackend

    options = parse_redis_url(url)
    tracker = near_cache(options)
    return Store(RedisBackend(options, tracker), AsyncRedisBackend(options, tracker))


def near_cache(options: RedisOptions) -> Any:
    """The near-cache and its invalidation listener both faces share, if the options
    ask for one (a single server only)."""
    if not options.near_cache or options.cluster or options.sentinels:
        return None
    from ...nearcache import NearCache
    from ..base import Kept
    from .tracking import Tracker

    cache: NearCache[Kept | str] = NearCache(
        max_bytes=options.near_cache_bytes, lease=options.near_cache_lease
    )
    return Tracker(options, cache)


def _driver_info() -> dict[str, Any]:
    """redis-py 7 and later read their own version from the installed package's metadata
    (files on disk) for every new connection unless given it; given here (the version
    redis-py read once, at import), an async app's event loop never waits on that (a
    blocking-call detector flags it)."""
    import redis

    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py 5 and 6 read it once, at import
        return {}
    return {"driver_info": DriverInfo(name="redis-py", lib_version=redis.__version__)}
