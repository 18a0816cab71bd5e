"""Session tokens: made from the OS CSPRNG, checked before any store query, stored only as a hash.

A token is 32 random bytes (256 bits) in URL-safe base64: 43 characters of
``[A-Za-z0-9_-]``. The store key is SHA-256 of the token, so a dump of any store holds
nothing a browser could present. Logs and events carry a *keyed* hash instead, so that
log readers cannot even look a session up in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
TOKEN_LENGTH = 43
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
"""What a token looks like (matched whole: ``TOKEN_SHAPE.fullmatch``)."""
# Keys Django itself issues (32 characters of [a-z0-9]); accepted only when an app opts in,
# for sessions imported from Django's own tables.
_DJANGO_KEY = re.compile(r"[a-z0-9]{32}")


def new_token() -> str:
    """A fresh token with 256 bits from ``secrets`` (the OS CSPRNG)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed(value: str, *, accept_django_keys: bool = False) -> bool:
    """Whether ``value`` has the exact shape of a token; nothing else reaches a store."""
    if len(value) == TOKEN_LENGTH:
        return TOKEN_SHAPE.fullmatch(value) is not None
    return accept_django_keys and len(value) == 32 and _DJANGO_KEY.fullmatch(value) is not None


def store_key(token: str) -> bytes:
    """The SHA-256 digest under which a store keeps the session of ``token``."""
    return hashlib.sha256(token.encode("ascii")).digest()


def handle(key: bytes) -> str:
    """A non-secret, URL-safe name for a stored session, shown in device lists.

    It is the hex of the store key: it names a session to its owner but cannot be
    presented as a cookie.
    """
    return key.hex()


def key_from_handle(value: str) -> bytes | None:
    """The store key a handle names, or None when ``value`` is not a handle."""
    if len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def log_id(key: bytes, secret: bytes) -> str:
    """A keyed hash of a store key for logs and events: stable, but useless to look up."""
    return hmac.new(secret, key, hashlib.sha256).hexdigest()[:32]
