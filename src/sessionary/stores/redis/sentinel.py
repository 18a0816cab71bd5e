"""Redis behind Sentinel, by URL: the master of a named service, followed through failovers.

    redis+sentinel://[[user]:password@]host:26379[,host:26379...]/service[/db][?options]
    rediss+sentinel://...        (TLS to the sentinels and to the servers)

The hosts are sentinels, never the Redis servers: each new connection asks them which
server is the service's master now. After a failover the connections to the old master
fail (the socket, or ``READONLY`` once it is demoted) and the store's immediate retry
connects to the new one, so no restart is needed. Options are those of ``redis://``
(``prefix``, timeouts, ``max_connections``, ``retries``…) plus ``sentinel_username`` and
``sentinel_password`` for sentinels that require their own credentials (the URL's are the
servers'). See docs/store-redis.md#sentinel.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from ...errors import ConfigError
from .. import Store, option, redact
from . import RedisOptions, _node, parse_redis_url

_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SCHEMES = ("redis+sentinel", "rediss+sentinel")


def parse_sentinel_url(url: str) -> RedisOptions:
    """Check a Sentinel store URL and turn it into :class:`RedisOptions` (no connection)."""
    name = redact(url)
    for secret in _SENTINEL_OPTIONS[1:]:
        name = _hide(name, secret)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError("store", f"{name!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError("store", f"{name!r}: expected redis+sentinel:// or rediss+sentinel://")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not 1 <= len(segments) <= 2:
        raise ConfigError(
            "store",
            f"{name!r}: name the service and optionally the database after the sentinels, "
            "as in redis+sentinel://host:26379/mymaster/0",
        )
    service = unquote(segments[0])
    database = segments[1] if len(segments) == 2 else "0"
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if not hosts:
        raise ConfigError("store", f"{name!r}: no sentinel host:port given")
    sentinels = tuple(_node(name, text) for text in hosts.split(","))
    query = parse_qs(parts.query, keep_blank_values=True)
    sentinel_kwargs: dict[str, Any] = {}
    for key in _SENTINEL_OPTIONS:
        value = option(query, key, None, str)
        query.pop(key, None)
        if value:
            sentinel_kwargs[key.removeprefix("sentinel_")] = value
    # Everything else means what it means for one server: checked by the same parser.
    single = urlunsplit(
        (
            "rediss" if scheme.startswith("rediss") else "redis",
            f"{userinfo}@sentinel" if userinfo else "sentinel",
            f"/{database}",
            urlencode(query, doseq=True),
            "",
        )
    )
    try:
        base = parse_redis_url(single)
    except ConfigError as exc:
        raise ConfigError("store", str(exc).split(": ", 1)[-1].replace(redact(single), name)) from None
    kwargs = dict(base.connection_kwargs)
    kwargs["db"] = int(database)
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            kwargs["username"] = unquote(user)
        if password:
            kwargs["password"] = unquote(password)
    for key in ("socket_timeout", "socket_connect_timeout"):
        sentinel_kwargs[key] = kwargs[key]
    if scheme.startswith("rediss"):
        kwargs["ssl"] = True
        sentinel_kwargs["ssl"] = True
        for key in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"):
            if key in kwargs:
                sentinel_kwargs[key] = kwargs[key]
    if "near_cache" in query and option(query, "near_cache", False, bool):
        raise ConfigError(
            "store",
            f"{name!r}: near_cache is not supported behind Sentinel (a failover would have to "
            "move the invalidation channel to the new master first); drop near_cache",
        )
    return RedisOptions(
        name=name,
        url="",
        prefix=base.prefix,
        max_connections=base.max_connections,
        retries=base.retries,
        declared_keys=base.declared_keys,
        wait_replicas=base.wait_replicas,
        wait_timeout=base.wait_timeout,
        connection_kwargs=kwargs,
        sentinels=sentinels,
        service_name=service,
        sentinel_kwargs=sentinel_kwargs,
    )


def _hide(url: str, secret: str) -> str:
    head, marker, rest = url.partition(f"{secret}=")
    if not marker:
        return url
    _, amp, tail = rest.partition("&")
    return f"{head}{marker}***{amp}{tail}"


def open_redis_sentinel(url: str, *, config: object = None) -> Store:
    """``redis+sentinel://`` or ``rediss+sentinel://``; see the module docstring."""
    from ._async import AsyncRedisBackend
    from ._sync import RedisBackend

    options = parse_sentinel_url(url)
    return Store(RedisBackend(options), AsyncRedisBackend(options))
