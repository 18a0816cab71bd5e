"""Reading the session cookie from a ``Cookie`` header and writing ``Set-Cookie`` headers.

The parser is deliberately small and strict: it looks only for the session cookie, never
fails on someone else's malformed cookie, and returns every value sent under the
session's name (browsers send several when a parent domain or another path sets one
too), so the caller can try them in order instead of trusting the first.
"""

from __future__ import annotations

import math
import re
from email.utils import formatdate

from .config import Config
from .tokens import TOKEN_SHAPE

MAX_COOKIE_BYTES = 4096
"""What browsers keep of one cookie (name, value and attributes)."""

PLAIN_VALUE_SHAPE = re.compile(r"[!#-+\--:<-\[\]-~]{1," + str(MAX_COOKIE_BYTES) + "}")
"""A cookie value :func:`cookie_values` returns as it is sent: printable ASCII without
space, quote, comma, semicolon or backslash, 1 to ``MAX_COOKIE_BYTES`` long (the shape
:func:`session_token` checks for a signed-cookie store's values)."""


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value the ``Cookie`` header carries for ``name``, in the order sent.

    Every request comes through here. A header that cannot hold the name is answered at
    once. Where the name occurs once (most headers), only the cookie around it can be
    the session's, so only that one is parsed; otherwise every cookie is (``split`` and
    ``partition`` measured faster than a precompiled regex on typical headers: a regex
    tries its anchor at every position). ``name`` is an RFC 6265 token (the config
    checks it), so it holds no ``;`` and no ``=``.
    """
    if not header or name not in header:
        return []
    if ";" not in header:
        parts = [header]  # one cookie
    elif header.count(name) == 1:
        at = header.find(name)
        end = header.find(";", at)
        parts = [header[header.rfind(";", 0, at) + 1 : end if end >= 0 else len(header)]]
    else:
        parts = header.split(";")
    values = []
    for part in parts:
        cookie_name, separator, value = part.partition("=")
        if separator and cookie_name.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            values.append(value)
    return values


def session_token(header: str, name: str, plain: bool = False) -> str | None:
    """The token of the one ``name`` cookie in ``header`` when the header plainly holds
    it (the whole header, its first cookie, or after ``"; "`` as browsers join cookies)
    and its value has a token's exact shape (``plain``: :data:`PLAIN_VALUE_SHAPE`, a
    signed-cookie store's values); None for anything else, which :func:`cookie_values`
    then parses.

    A shortcut for every request that brings a session: what it returns is what
    :func:`cookie_values` would return, alone (a token has no space or quote to trim).
    A header that holds ``name`` anywhere else too (a second cookie of that name, or the
    name inside another cookie's value) is left to :func:`cookie_values`, which reads
    every cookie. One precompiled match does the finding and the shape check (a string
    method called with arguments costs about as much as the match).
    """
    known = _plain_patterns if plain else _token_patterns
    patterns = known.get(name)
    if patterns is None:
        patterns = _patterns_for(name, PLAIN_VALUE_SHAPE if plain else TOKEN_SHAPE, known)
    alone, first, later = patterns
    if ";" not in header:
        match = alone.fullmatch(header)
        return None if match is None else match[1]
    match = first.match(header) or later.search(header)
    if match is None or header.count(name) != 1:
        return None
    return match[1]


_Patterns = tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]
_token_patterns: dict[str, _Patterns] = {}
_plain_patterns: dict[str, _Patterns] = {}
"""By cookie name, for each shape (one dictionary each: a lookup by name alone)."""


def _patterns_for(name: str, shape: re.Pattern[str], known: dict[str, _Patterns]) -> _Patterns:
    """For :func:`session_token`: ``name=<value of shape>`` as the whole header, as its
    first cookie, and after ``"; "`` (up to the next ``;`` or the end)."""
    cookie = f"{re.escape(name)}=({shape.pattern})"
    patterns = (re.compile(cookie), re.compile(cookie + ";"), re.compile(rf"; {cookie}(?:;|\Z)"))
    if len(known) >= 64:  # a few names per process; never unbounded
        known.clear()
    known[name] = patterns
    return patterns


_last_date: tuple[int, str] = (-1, "")


def http_date(epoch_seconds: float) -> str:
    """An ``Expires`` date: ``Wdy, DD Mon YYYY HH:MM:SS GMT``.

    The last one made is kept: with a sliding expiry every response sets the cookie,
    and all the responses of one second share the date (``formatdate`` is slow).
    """
    global _last_date
    second = math.floor(epoch_seconds)
    cached_second, text = _last_date
    if second != cached_second:
        text = formatdate(second, usegmt=True)
        _last_date = (second, text)
    return text


def _attributes(config: Config) -> list[str]:
    attributes = []
    if config.cookie_domain is not None:
        attributes.append(f"Domain={config.cookie_domain}")
    return attributes


def set_cookie(config: Config, value: str, *, max_age: int | float | None, now: float) -> str:
    """The ``Set-Cookie`` value that stores the session token (no expiry: a browser-session cookie).

    Everything but the token is the same for all the responses of one second under one
    config, so the last one made is kept (a sliding expiry sets the cookie every time).
    """
    global _last_cookie
    second = -1 if max_age is None else math.floor(now + max_age)
    cached_config, cached_age, cached_second, name, attributes = _last_cookie
    if cached_config is not config or cached_age != max_age or cached_second != second:
        name = f"{config.session_cookie_name}="
        attributes = _cookie_attributes(config, max_age, now)
        _last_cookie = (config, max_age, second, name, attributes)
    return f"{name}{value}{attributes}"


_last_cookie: tuple[Config | None, int | float | None, int, str, str] = (None, None, -1, "", "")


def _cookie_attributes(config: Config, max_age: int | float | None, now: float) -> str:
    """What follows the token in the session cookie, from ``"; "`` on."""
    parts = ["", *_attributes(config)]
    if max_age is not None:
        parts.append(f"expires={http_date(now + max_age)}")
    if config.cookie_httponly:
        parts.append("HttpOnly")
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    parts.append(f"Path={config.cookie_path}")
    if config.cookie_samesite is not None:
        parts.append(f"SameSite={config.cookie_samesite}")
    if config.cookie_secure:
        parts.append("Secure")
    if config.cookie_partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def delete_cookie(config: Config) -> str:
    """The ``Set-Cookie`` value that makes the browser drop the session cookie.

    Same name, path and domain as when it was set, an empty value and a date in the past.
    """
    parts = [
        f'{config.session_cookie_name}=""',
        *_attributes(config),
        "expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "Max-Age=0",
        f"Path={config.cookie_path}",
    ]
    if config.cookie_samesite is not None:
        parts.append(f"SameSite={config.cookie_samesite}")
    if config.cookie_secure:
        parts.append("Secure")
    if config.cookie_partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def expire_named(name: str, path: str = "/") -> str:
    """The ``Set-Cookie`` value that drops another library's cookie (its default path)."""
    return f'{name}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path={path}'


def add_vary_cookie(vary: str | None) -> str:
    """``vary`` with ``Cookie`` added once (Django's ``patch_vary_headers``)."""
    if not vary:
        return "Cookie"
    present = {item.strip().lower() for item in vary.split(",")}
    if "cookie" in present or "*" in present:
        return vary
    return f"{vary}, Cookie"


TEST_CLIENT_HOSTS = frozenset({"testserver", "testserver.local"})
"""The hosts the ASGI frameworks' test clients send by default: Starlette's and FastAPI's
``TestClient`` (``http://testserver``) and Litestar's (``http://testserver.local``)."""


def is_test_client_request(scheme: str | None, host: str | None) -> bool:
    """A plain-http request to a test client's default host.

    Such a client (httpx) keeps a ``Secure`` cookie but never sends it back over http,
    so a session would vanish silently between two requests of a test. Nothing else is
    treated this way: a proxy that rewrites the host (to ``127.0.0.1`` or anything
    else) and every https request keep ``Secure``.
    """
    if scheme not in ("http", "ws") or not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in TEST_CLIENT_HOSTS


_STARLETTE_SPELLING = (
    ("; SameSite=Lax", "; samesite=lax"),
    ("; SameSite=Strict", "; samesite=strict"),
    ("; SameSite=None", "; samesite=none"),
    ("; Secure", "; secure"),
    ("; Partitioned", "; partitioned"),
)
_spelled_attributes: dict[str, str] = {}


def starlette_spelling(set_cookie: str) -> str:
    """``set_cookie`` (as :func:`set_cookie` / :func:`delete_cookie` write it) with its
    attributes spelled as Starlette's ``SessionMiddleware`` writes them: ``path=/;
    httponly; samesite=lax; secure; domain=...; partitioned`` (``Max-Age`` and
    ``expires`` as they are). Names and the SameSite value are case-insensitive (RFC 6265
    §5.2, RFC 6265bis), so browsers read both spellings alike; tests and tools written
    against Starlette's header look for this one.

    No value can hold ``;`` (the config checks the domain and the path; a token is
    base64url), so each ``"; Name"`` starts an attribute. Everything after the token is
    the same for all the cookies of one config set in one second (a sliding expiry sets
    one on every response), so the last spellings worked out are kept.
    """
    at = set_cookie.find("; ")
    if at < 0:
        return set_cookie
    attributes = set_cookie[at:]
    spelled = _spelled_attributes.get(attributes)
    if spelled is None:
        head, _, tail = attributes.partition("; Path=")
        for django, starlette in _STARLETTE_SPELLING:
            tail = tail.replace(django, starlette)
        head = head.replace("; HttpOnly", "; httponly").replace("; Domain=", "; domain=")
        spelled = f"{head}; path={tail}"
        if len(_spelled_attributes) >= 64:  # a few configs and seconds at a time; never unbounded
            _spelled_attributes.clear()
        _spelled_attributes[attributes] = spelled
    return set_cookie[:at] + spelled


def without_secure(set_cookie: str) -> str:
    """``set_cookie`` without its ``Secure`` attribute."""
    return "; ".join(part for part in set_cookie.split("; ") if part != "Secure")
