"""How much one session may hold in all: a limit on the whole session, not only on each value.

``max_value_bytes`` bounds each value; without a bound on their sum a hundred 1 MB values
make one 100 MB record that every read of it drags through the store (on a shared Redis,
seconds in which other sessions' requests time out). The check runs on the JSON texts a
save is about to send, before any store call, so a refused save writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SessionTooLarge
from .serializer import encode_mapping, utf8_size


def session_bytes(encoded: Mapping[str, str]) -> int:
    """Bytes of a session's key names and JSON values in UTF-8 (what a store keeps)."""
    return sum(
        (len(name) if name.isascii() else utf8_size(name, name, "the key"))
        + (len(text) if text.isascii() else utf8_size(name, text, "the value"))
        for name, text in encoded.items()
    )


def fits(data: Mapping[Any, Any], limit: int) -> bool:
    """A quick yes: the whole session, encoded in one call, is plainly within ``limit``
    (one JSON object's text is at least as long as its keys and values). False means
    "count exactly", key by key (which also names a value that cannot be stored)."""
    try:
        text = encode_mapping(dict(data))
    except (TypeError, ValueError, RecursionError):
        return False
    return len(text) * 4 <= limit if not text.isascii() else len(text) <= limit


def check_session_size(encoded: Mapping[str, str], limit: int | None) -> None:
    """Raise :class:`SessionTooLarge` when the session's texts exceed ``limit`` bytes."""
    if limit is None:
        return
    # Characters bound the bytes from below; count bytes only when they might matter.
    if sum(len(name) + len(text) for name, text in encoded.items()) * 4 <= limit:
        return
    size = session_bytes(encoded)
    if size > limit:
        largest = sorted(encoded, key=lambda name: len(encoded[name]), reverse=True)[:3]
        raise SessionTooLarge(size, limit, largest)
